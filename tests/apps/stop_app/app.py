"""A task that fails for odd ``x`` (unless STOP_APP_PASS is set) and logs every run
to runs.log in the original working dir: the max_failures tests count what ran. With
STOP_APP_CRASH=<x>, that job's process dies on its first attempt (a retry passes)."""
import os
from pathlib import Path

import hydra
from hydra.utils import get_original_cwd
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg: DictConfig) -> dict:
    with open(Path(get_original_cwd()) / "runs.log", "a", encoding="utf-8") as f:
        f.write(f"{cfg.x}\n")
    if os.environ.get("STOP_APP_CRASH") == str(cfg.x) and os.environ.get("HYDRA_ALCHEMY_ATTEMPT", "1") == "1":
        os._exit(3)
    if cfg.x % 2 and not os.environ.get("STOP_APP_PASS"):
        raise ValueError(f"odd x={cfg.x}")
    return {"x2": cfg.x * 2}


if __name__ == "__main__":
    main()
