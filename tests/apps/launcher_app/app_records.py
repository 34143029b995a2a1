"""Beside app.py, imported by the task: the job's process must find the script's dir."""
import json
import os
import sys
import time
from pathlib import Path

#: Module state a job changes: a fresh process per job never sees another job's change.
JOBS_SEEN = []


def record(out: str, job: int, **fields) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    JOBS_SEEN.append(job)
    data = {"job": job, "cvd": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid(),
            "seen": list(JOBS_SEEN), "pgid": os.getpgid(0),
            "forked": _main_module().endswith("._zygote"), **fields}
    tmp = Path(out) / f".{job}.tmp"
    tmp.write_text(json.dumps(data))
    tmp.replace(Path(out) / f"{job}.json")


def _main_module() -> str:
    """The module run with ``python -m``: the worker for a fresh interpreter, the
    zygote for a forked job."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", "") or ""


def now() -> float:
    return time.time()
