"""A tiny "training" app for the alchemy sweeper tests.

It returns metrics computed from its config, and can be told through environment
variables to fail (SWEEP_APP_FAIL=<folder>) or to SIGKILL its own process, i.e. the
sweep process under the basic launcher (SWEEP_APP_KILL=<folder>, once: a marker file
makes the rerun pass). Every run appends its job folder to runs.log in the
original working dir, so tests can count how often each combination ran.
"""
import os
import signal
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> object:
    folder = os.path.basename(HydraConfig.get().runtime.output_dir)
    root = Path(get_original_cwd())
    with open(root / "runs.log", "a", encoding="utf-8") as f:
        f.write(folder + "\n")
    if os.environ.get("SWEEP_APP_KILL") == folder and not (root / "killed.marker").exists():
        (root / "killed.marker").write_text("x")
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("SWEEP_APP_FAIL") == folder:
        raise RuntimeError(f"planned failure in {folder}")
    if cfg.get("return_mode") == "number":
        return cfg.loader.ini.batch_size * cfg.sched.epochs
    if cfg.get("return_mode") == "file":
        Path(HydraConfig.get().runtime.output_dir, "eval.json").write_text(
            '{"acc": %d}' % (cfg.loader.ini.batch_size + cfg.sched.epochs), encoding="utf-8"
        )
        return None
    bs, ep = cfg.loader.ini.batch_size, cfg.sched.epochs
    return {"acc": round(100 - 1000.0 / (bs * ep) ** 0.5, 4), "test_loss": round(1.0 / ep + bs / 1e4, 6), "lr": cfg.opt.lr}


def gather_metric(cfg, job_dir, return_value, params):
    import json

    out = json.loads(Path(job_dir, "eval.json").read_text(encoding="utf-8"))
    out["bs_name"] = params["loader.ini.batch_size"][1]
    return out


if __name__ == "__main__":
    main()
