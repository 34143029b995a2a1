"""The app of the resume-and-safety tests (#13): each job does what SAFETY_<x> says.

``exit0``/``exit3``: ``sys.exit``; ``kbint``: raises KeyboardInterrupt; ``os_exit``:
``os._exit(7)`` once (a marker file makes the rerun pass); ``sleep``: writes
``started.<x>`` and sleeps SAFETY_SLEEP seconds; ``strange``: returns metrics whose
names and values hold every troublesome code point; ``raise_strange``: raises with one.
Every run appends ``x=<x>`` to runs.log in the original working dir.
"""
import os
import sys
import time
from pathlib import Path

import hydra
from hydra.utils import get_original_cwd
from omegaconf import DictConfig
from trouble import TROUBLE, strange_metrics


@hydra.main(version_base=None, config_path="conf", config_name="safety")
def main(cfg: DictConfig) -> object:
    root = Path(get_original_cwd())
    with open(root / "runs.log", "a", encoding="utf-8") as f:
        f.write(f"x={cfg.x}\n")
    action = os.environ.get(f"SAFETY_{cfg.x}", "")
    if action == "exit0":
        sys.exit(0)
    if action == "exit3":
        sys.exit(3)
    if action == "kbint":
        raise KeyboardInterrupt
    if action == "os_exit" and not (root / "os_exit.marker").exists():
        (root / "os_exit.marker").write_text("x")
        os._exit(7)
    if action == "sleep":
        (root / f"started.{cfg.x}").write_text(str(os.getpid()))
        time.sleep(float(os.environ.get("SAFETY_SLEEP", "60")))
    if action == "strange":
        return strange_metrics()
    if action == "raise_strange":
        raise ValueError("bad " + "".join(TROUBLE[:8]))
    return {"score": cfg.x * cfg.scale}


if __name__ == "__main__":
    main()
