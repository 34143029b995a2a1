"""An app for the checks before launch (tests/test_dry_run.py).

The task records that it ran (its job folder, in runs.log in the original working
dir; a test asserts that a sweep with a problem ran nothing) and reads its whole
config, so a config problem the checks were told to skip fails the job.
"""
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd
from omegaconf import DictConfig, OmegaConf


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> object:
    folder = os.path.basename(HydraConfig.get().runtime.output_dir)
    with open(Path(get_original_cwd()) / "runs.log", "a", encoding="utf-8") as f:
        f.write(folder + "\n")
    OmegaConf.to_container(cfg, resolve=True)  # a task reads its whole config
    return {"score": float(cfg.x)}


if __name__ == "__main__":
    main()
