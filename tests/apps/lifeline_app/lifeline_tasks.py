"""The task of lifeline_app/app.py, a module of its own so that tests can also hand it
to the launcher in-process: jobs that must die with their sweep, never run twice at
once, and rerun after a crash (tests/test_launcher_orphans.py, tests/test_retries.py).

Everything a test reads goes to ``out`` (outside the job directories, which a retry
moves aside): ``<job>.pids`` (the job's pid and its child's), ``<job>.json`` (what a
finished run saw), ``<job>.runs`` (one line per run that started).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def crash(how: str) -> None:
    sys.stdout.flush()
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "segv":
        import ctypes

        ctypes.string_at(0)
    os._exit(1)


def run(cfg: DictConfig) -> dict:
    t0 = time.time()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    job_dir = Path(HydraConfig.get().runtime.output_dir)
    attempt = int(os.environ.get("HYDRA_ALCHEMY_ATTEMPT", "0"))
    _append(out / f"{cfg.job}.runs", f"{os.getpid()} {attempt}")
    (job_dir / "attempt_output.txt").write_text(f"attempt {attempt}\n")
    print(f"job {cfg.job} attempt {attempt} mode {cfg.mode}", flush=True)
    if cfg.mode == "hang_closing_fds":
        # a task that closes every descriptor it did not open (some daemon helpers do),
        # the sweep's lifeline included, and opens a file under that number
        os.closerange(3, 1024)
        opened = [open(os.devnull) for _ in range(8)]  # noqa: F841 - kept open
    if cfg.mode in ("hang", "hang_closing_fds"):
        # a child in the job's process group: it must die with the job
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        tmp = out / f".{cfg.job}.pids"
        tmp.write_text(f"{os.getpid()} {child.pid}")
        tmp.replace(out / f"{cfg.job}.pids")
        time.sleep(300)
    if cfg.mode == "crash_once" and not (out / f"{cfg.job}.crashed").exists():
        (out / f"{cfg.job}.crashed").write_text("")
        crash(cfg.crash)
    if cfg.mode == "crash_always":
        crash(cfg.crash)
    if cfg.mode == "raise":
        raise ValueError(f"a bug in job {cfg.job}")
    if cfg.mode == "raise_once" and not (out / f"{cfg.job}.raised").exists():
        (out / f"{cfg.job}.raised").write_text("")
        raise ConnectionResetError(f"flaky network in job {cfg.job}")
    if cfg.mode == "wait_file":
        deadline = time.time() + 120
        while not (out / "go").exists() and time.time() < deadline:
            time.sleep(0.05)
    time.sleep(cfg.dur)
    result = {"job": cfg.job, "pid": os.getpid(), "attempt": attempt, "t0": t0, "t": time.time()}
    tmp = out / f".{cfg.job}.json"
    tmp.write_text(json.dumps(result))
    tmp.replace(out / f"{cfg.job}.json")
    return result
