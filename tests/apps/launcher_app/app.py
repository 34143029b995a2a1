"""Test app for hydra/launcher=alchemy: records the GPUs it saw and when it ran."""
import os
import signal
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from app_records import now, record


@hydra.main(version_base=None, config_path=".", config_name="config")
def main(cfg: DictConfig) -> int:
    t0 = now()
    print(f"job start job={cfg.job} mode={cfg.mode} cvd={os.environ.get('CUDA_VISIBLE_DEVICES')}")
    print(f"stderr line of job={cfg.job}", file=sys.stderr)
    if cfg.mode == "raise":
        raise ValueError(f"boom from job {cfg.job}")
    if cfg.mode == "exit":
        sys.exit(3)
    if cfg.mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if cfg.mode == "segv":
        import ctypes

        ctypes.string_at(0)  # crashes the interpreter
    if cfg.mode == "os_exit":
        os._exit(0)
    if cfg.mode == "hang":
        time.sleep(120)
    if cfg.mode == "free_gpu0":
        # Simulate another user's process on GPU 0 ending: rewrite the fake-GPU spec.
        spec = Path(os.environ["HYDRA_ALCHEMY_FAKE_GPUS"][1:])
        spec.write_text('[{"procs": 0}, {"procs": 0}]')
        record(cfg.out, cfg.job, t0=t0, t1=now(), freed=True)
        time.sleep(cfg.dur)
        return cfg.job
    time.sleep(cfg.dur)
    record(cfg.out, cfg.job, t0=t0, t1=now())
    return cfg.job * 10


if __name__ == "__main__":
    main()
