"""Sweeps Python (AlchemyCat) configs: the config dir is given by SWEEP_APP_PYCONF."""
import os

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path=os.environ.get("SWEEP_APP_PYCONF", "pyconf"), config_name=None)
def main(cfg: DictConfig) -> object:
    out = {"bs": cfg.loader.ini.batch_size}
    if "sched" in cfg and "epochs" in cfg.sched:
        out["epochs"] = cfg.sched.epochs
    if "model" in cfg and "cls" in cfg.model:
        cls = cfg.model.cls
        print(f"MODEL_CLS {type(cls).__name__} {cls!r}", flush=True)
    if "opt" in cfg and "lr" in cfg.opt and "ini" not in cfg.opt:
        out["lr"] = cfg.opt.lr
    return out


if __name__ == "__main__":
    main()
