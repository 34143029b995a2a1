"""Test app for hydra/launcher=alchemy with a Python config (pyconf/counted.py): each
job writes what it saw, and its pid, to seen.json in its job dir."""
import json
import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="pyconf", config_name="counted")
def main(cfg: DictConfig) -> int:
    seen = {"pid": os.getpid(), "x": cfg.x, "double": cfg.double, "triple": cfg.fn(cfg.x)}
    Path(HydraConfig.get().runtime.output_dir, "seen.json").write_text(json.dumps(seen))
    return seen["triple"]


if __name__ == "__main__":
    main()
