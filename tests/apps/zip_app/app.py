"""A tiny app for zipped sweeps (hydra.sweeper.zip, Param2Tune.zip).

Every run appends its job folder to runs.log in the original working dir and returns
metrics computed from the values it got, so tests can check which values ran together.
"""
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> object:
    folder = os.path.basename(HydraConfig.get().runtime.output_dir)
    with open(Path(get_original_cwd()) / "runs.log", "a", encoding="utf-8") as f:
        f.write(folder + "\n")
    out = {"run_lr": cfg.opt.lr, "run_warmup": cfg.sched.warmup, "run_seed": cfg.seed}
    if "model" in cfg:
        out["width"] = cfg.model.width * cfg.loader.batch_size
    return out


if __name__ == "__main__":
    main()
