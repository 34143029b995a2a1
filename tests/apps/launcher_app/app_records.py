"""Beside app.py, imported by the task: the job's process must find the script's dir."""
import json
import os
import time
from pathlib import Path


def record(out: str, job: int, **fields) -> None:
    Path(out).mkdir(parents=True, exist_ok=True)
    data = {"job": job, "cvd": os.environ.get("CUDA_VISIBLE_DEVICES"), "pid": os.getpid(), **fields}
    tmp = Path(out) / f".{job}.tmp"
    tmp.write_text(json.dumps(data))
    tmp.replace(Path(out) / f"{job}.json")


def now() -> float:
    return time.time()
