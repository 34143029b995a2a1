"""Job x=1 ends at once; job x=2 waits until the sweep's metric frame shows x=1's row.

So x=2 returns ``saw_first=1`` only if the frame was written while it still ran.
The job with x == fail raises.
"""
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path=".", config_name="config")
def main(cfg: DictConfig) -> dict:
    if cfg.x == cfg.fail:
        raise ValueError(f"boom {cfg.x}")
    if cfg.x == 1:
        return {"y": 1, "saw_first": 0}
    frame = Path(HydraConfig.get().sweep.dir) / "metric_frame.csv"
    deadline = time.monotonic() + cfg.wait_s
    while time.monotonic() < deadline:
        if frame.exists() and "COMPLETED" in frame.read_text():
            return {"y": cfg.x, "saw_first": 1}
        time.sleep(0.1)
    return {"y": cfg.x, "saw_first": 0}


if __name__ == "__main__":
    main()
