"""The fault-injection app for hydra/launcher=alchemy (#13): as sweep_app/stamp_app.py,
each job appends ``start <pid> <combo> <time>`` and ``end <pid> <combo> <time>`` to
stamps.log in the original working dir (O_APPEND: one write a line), but runs long
enough (0.2-0.5 s) that several jobs run whenever the sweep is killed."""
import os
import random
import time
from pathlib import Path

import hydra
from hydra.utils import get_original_cwd
from omegaconf import DictConfig


def stamp(root: Path, what: str, combo: str) -> None:
    fd = os.open(root / "stamps.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{what} {os.getpid()} {combo} {time.time():.6f}\n".encode())
    finally:
        os.close(fd)


@hydra.main(version_base=None, config_path=".", config_name="stamp")
def main(cfg: DictConfig) -> object:
    root = Path(get_original_cwd())
    combo = f"c={cfg.c}"
    stamp(root, "start", combo)
    time.sleep(random.uniform(0.2, 0.5))
    stamp(root, "end", combo)
    return {"c": cfg.c}


if __name__ == "__main__":
    main()
