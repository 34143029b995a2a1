"""A tiny Hydra app for tests/test_slurm_launcher.py: each job records where and how it
ran in result.json in its job dir, and returns the same dict.

``record`` is a plain module-level function so that an in-process test can hand it to the
launcher directly (the Slurm job imports it from PYTHONPATH).
"""
import json
import os
import subprocess
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


def record(cfg: DictConfig) -> dict:
    hydra_cfg = HydraConfig.get()
    job_dir = Path(hydra_cfg.runtime.output_dir)
    started = time.time()
    restarts = int(os.environ.get("SLURM_RESTART_COUNT", "0"))
    if cfg.wait_for_signal and restarts == 0:
        # The test sees this file and preempts the job; Slurm runs it again.
        (job_dir / "waiting").write_text(os.environ.get("SLURM_JOB_ID", ""))
        time.sleep(120)
    if cfg.fail_on is not None and cfg.x == cfg.fail_on:
        raise RuntimeError(f"job asked to fail at x={cfg.x}")
    if cfg.cancel_on is not None and cfg.x == cfg.cancel_on:
        # As a user's scancel or an out-of-memory kill would: no result, no traceback.
        # (by the array task's name: Slurm 22.05 refuses some array tasks' raw job ids)
        env = os.environ
        job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
        subprocess.run(["scancel", job], check=True)
        time.sleep(120)
    time.sleep(cfg.sleep_s)  # long enough that jobs running at once would overlap
    saw_frame = 0
    if cfg.wait_for_frame_on is not None and cfg.x == cfg.wait_for_frame_on:
        # Did the sweeper record a job that ended while this one still runs?
        frame = Path(hydra_cfg.sweep.dir) / "metric_frame.csv"
        deadline = time.time() + 180  # squeue is polled: allow for a loaded machine
        while time.time() < deadline and not saw_frame:
            saw_frame = int(frame.exists() and "COMPLETED" in frame.read_text())
            time.sleep(0.2)
    result = {
        "x": cfg.x,
        "square": cfg.x * cfg.x,
        "hydra_job_id": hydra_cfg.job.id,
        "hydra_job_num": hydra_cfg.job.num,
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "slurm_array_job_id": os.environ.get("SLURM_ARRAY_JOB_ID"),
        "slurm_array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "restart_count": restarts,
        "saw_frame": saw_frame,
        "started": started,
        "ended": time.time(),
    }
    (job_dir / "result.json").write_text(json.dumps(result))
    return result


@hydra.main(version_base=None, config_path=".", config_name="config")
def main(cfg: DictConfig) -> dict:
    return record(cfg)


if __name__ == "__main__":
    main()
