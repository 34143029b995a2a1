"""Kill-and-resume trials under Hydra's basic launcher (#13): nothing lost, nothing run
twice. A real sweep in a subprocess is SIGKILLed at random moments (seeded; the seed is
printed), resumed each time, then resumed to completion; the jobs' stamps and the state
file must show every combination completed exactly once and never two runs of one
combination at the same time."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

TRIALS = 20
COMBOS = [f"c={i}" for i in range(150)]


@pytest.fixture
def app(app_copy):
    return app_copy("sweep_app")


def start(app: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen([sys.executable, str(app / "stamp_app.py"), "-m", "hydra.sweep.dir=out",
                             "hydra.sweeper.resume=true", "hydra.sweeper.progress=false"],
                            cwd=app, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stamps(app: Path) -> List[Tuple[str, int, str, float]]:
    out = []
    for line in (app / "stamps.log").read_text().splitlines():
        what, pid, combo, t = line.split()
        out.append((what, int(pid), combo, float(t)))
    return out


def completed_at(app: Path) -> Dict[str, float]:
    """When each combination's first COMPLETED record was written."""
    first: Dict[str, float] = {}
    for line in (app / "out" / "sweep_state.jsonl").read_bytes().splitlines():
        try:
            r = json.loads(line)
        except ValueError:
            continue  # a torn line of a killed sweep
        if r.get("kind") == "job" and r.get("status") == "COMPLETED":
            first.setdefault(r["folder"], r["time"])
    return first


@pytest.mark.slow
def test_random_sigkills_lose_nothing_and_run_nothing_twice(app):
    seed = int(os.environ.get("FAULT_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    print(f"fault injection seed {seed} (FAULT_SEED={seed} repeats it)")
    died: Dict[int, float] = {}  # sweep pid -> when it was killed
    kills = 0
    for _ in range(TRIALS):
        proc = start(app)
        try:
            proc.wait(timeout=rng.uniform(0.4, 2.2))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        died[proc.pid] = time.time()
        if proc.returncode == 0:
            break
    for _ in range(5):  # resume until complete
        proc = start(app)
        _, err = proc.communicate(timeout=300)
        died[proc.pid] = time.time()
        if proc.returncode == 0:
            break
    assert proc.returncode == 0, err

    log = stamps(app)
    done = completed_at(app)
    ends = defaultdict(int)
    intervals = defaultdict(list)
    open_runs: Dict[Tuple[int, str], float] = {}
    duplicated = set()
    for what, pid, combo, t in log:
        if what == "start":
            open_runs[(pid, combo)] = t
            if combo in done and t > done[combo]:
                duplicated.add(combo)  # a run started after its COMPLETED row was written
        else:
            ends[combo] += 1
            intervals[combo].append((open_runs.pop((pid, combo)), t))
    for (pid, combo), t in open_runs.items():  # killed mid-way: ran until its process died
        intervals[combo].append((t, died.get(pid, t)))
    concurrent = {c for c, spans in intervals.items()
                  if any(a[1] > b[0] for a, b in zip(sorted(spans), sorted(spans)[1:]))}
    lost = [c for c in COMBOS if c not in done]
    with open(app / "out" / "metric_frame.csv", encoding="utf-8") as f:
        frame_rows = f.read().splitlines()[1:]
    reruns = sum(ends.values()) - len(COMBOS)
    print(f"trials {TRIALS}, kills {kills}, combinations {len(COMBOS)}, lost {len(lost)}, "
          f"duplicated {len(duplicated)}, concurrent duplicates {len(concurrent)}, "
          f"runs ended but killed before their record (rerun, expected) {reruns}")
    assert not lost and not duplicated and not concurrent
    assert len(frame_rows) == len(COMBOS) and all(",COMPLETED," in r for r in frame_rows)
    assert set(ends) == set(COMBOS)
