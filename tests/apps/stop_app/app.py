"""A task that fails for odd ``x`` (unless STOP_APP_PASS is set) and logs every run
to runs.log in the original working dir: the max_failures tests count what ran."""
import os
from pathlib import Path

import hydra
from hydra.utils import get_original_cwd
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg: DictConfig) -> dict:
    with open(Path(get_original_cwd()) / "runs.log", "a", encoding="utf-8") as f:
        f.write(f"{cfg.x}\n")
    if cfg.x % 2 and not os.environ.get("STOP_APP_PASS"):
        raise ValueError(f"odd x={cfg.x}")
    return {"x2": cfg.x * 2}


if __name__ == "__main__":
    main()
