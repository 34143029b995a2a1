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


# ------------------------------------------- the same under hydra/launcher=alchemy

ALCHEMY_COMBOS = [f"c={i}" for i in range(100)]
ORPHAN_AFTER_S = 5.0  # a job process alive this long after its sweep's SIGKILL is an orphan
STRAGGLER_S = 0.2  # after a kill: stamps of jobs forked just before it are in by then


@pytest.fixture
def lifeline_app(app_copy):
    return app_copy("lifeline_app")


def start_alchemy(app: Path, start_method: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return subprocess.Popen([sys.executable, str(app / "stamp_app.py"), "-m", "hydra.sweep.dir=out",
                             "hydra.sweeper.resume=true", "hydra.sweeper.progress=false",
                             f"hydra.launcher.start_method={start_method}"],
                            cwd=app, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


class DeathWatch:
    """Polls job pids from a background thread and notes when each was first seen dead."""

    def __init__(self) -> None:
        import threading

        self.watched: Dict[int, float] = {}  # pid -> when its sweep was killed
        self.died: Dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def watch(self, pid: int, killed_at: float) -> None:
        with self._lock:
            self.watched.setdefault(pid, killed_at)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                todo = [p for p in self.watched if p not in self.died]
            for pid in todo:
                if not _alive(pid):
                    self.died[pid] = time.time()
            time.sleep(0.005)

    def orphans(self) -> List[int]:
        """Pids that outlived their sweep by ORPHAN_AFTER_S (waiting that long first)."""
        deadline = time.time() + ORPHAN_AFTER_S
        while time.time() < deadline and len(self.died) < len(self.watched):
            time.sleep(0.05)
        self._stop.set()
        self._thread.join()
        return [p for p, t in self.watched.items()
                if self.died.get(p, float("inf")) - t > ORPHAN_AFTER_S]


def open_runs(app: Path, first_line: int) -> List[Tuple[int, str]]:
    """(pid, combo) of runs that stamped their start (at ``first_line`` or later) but
    not their end."""
    path = app / "stamps.log"
    if not path.exists():
        return []
    started: Dict[Tuple[int, str], None] = {}
    for line in path.read_text().splitlines()[first_line:]:
        what, pid, combo, _ = line.split()
        if what == "start":
            started[(int(pid), combo)] = None
        else:
            started.pop((int(pid), combo), None)
    return list(started)


def lines(app: Path) -> List[str]:
    path = app / "stamps.log"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("start_method, trials", [("fork_server", 22), ("spawn", 6)])
def test_alchemy_launcher_sigkills_leave_no_orphan_and_run_nothing_twice(lifeline_app, start_method, trials):
    """SIGKILL the sweep while several jobs run, resume at once (the killed jobs may still
    be dying), again and again, then resume to completion: every combination completed
    exactly once, never two runs of one at the same time, no job outlives its sweep."""
    app = lifeline_app
    seed = int(os.environ.get("FAULT_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    print(f"fault injection seed {seed} (FAULT_SEED={seed} repeats it), start_method={start_method}")
    t_begin = time.monotonic()
    watch = DeathWatch()
    kills = 0
    running_at_kill: List[int] = []
    proc = None
    for _ in range(trials):
        first = len(lines(app))
        proc = start_alchemy(app, start_method)
        deadline = time.monotonic() + 120
        while (proc.poll() is None and time.monotonic() < deadline
               and sum(ln.startswith("start") for ln in lines(app)[first:]) < 2):
            time.sleep(0.02)
        if proc.poll() is None:
            time.sleep(rng.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
            killed_at = time.time()
            kills += 1
            proc.wait()
            # A job forked just before the kill may stamp its start a few ms after it
            # (then its parent-death signal or lifeline ends it): read the open runs
            # once those stamps are in, so that every one is watched from now on
            # (one read later would be watched from the next kill: its life taken for
            # a second longer than it was).
            time.sleep(STRAGGLER_S)
            runs = open_runs(app, first)
            running_at_kill.append(len(runs))
            for pid, _ in runs:
                watch.watch(pid, killed_at)
        else:
            proc.wait()
            if proc.returncode == 0:
                break
    for _ in range(5):  # resume until complete
        proc = start_alchemy(app, start_method)
        _, err = proc.communicate(timeout=300)
        if proc.returncode == 0:
            break
    assert proc is not None and proc.returncode == 0, err
    orphans = watch.orphans()

    log = stamps(app)
    done = completed_at(app)
    ends = defaultdict(int)
    intervals = defaultdict(list)
    open_: Dict[Tuple[int, str], float] = {}
    duplicated = set()
    for what, pid, combo, t in log:
        if what == "start":
            open_[(pid, combo)] = t
            if combo in done and t > done[combo]:
                duplicated.add(combo)
        else:
            ends[combo] += 1
            intervals[combo].append((open_.pop((pid, combo)), t))
    for (pid, combo), t in open_.items():  # killed mid-way: ran until seen dead
        intervals[combo].append((t, watch.died.get(pid, float("inf"))))
    concurrent = {c for c, spans in intervals.items()
                  if any(a[1] > b[0] for a, b in zip(sorted(spans), sorted(spans)[1:]))}
    lost = [c for c in ALCHEMY_COMBOS if c not in done]
    with open(app / "out" / "metric_frame.csv", encoding="utf-8") as f:
        frame_rows = f.read().splitlines()[1:]
    print(f"alchemy launcher ({start_method}): trials {trials}, kills {kills}, "
          f"jobs running at each kill {min(running_at_kill, default=0)}-"
          f"{max(running_at_kill, default=0)} ({sum(running_at_kill)} in all), "
          f"combinations {len(ALCHEMY_COMBOS)}, lost {len(lost)}, duplicated {len(duplicated)}, "
          f"concurrent duplicates {len(concurrent)}, orphans {len(orphans)}, "
          f"runs killed mid-way (rerun, expected) {len(open_)}, "
          f"runtime {time.monotonic() - t_begin:.0f} s")
    assert not lost and not duplicated and not concurrent and not orphans, \
        (lost, duplicated, {c: [(pid, t) for what, pid, combo, t in log if combo == c] for c in concurrent},
         {c: sorted(intervals[c]) for c in concurrent}, orphans)
    assert len(frame_rows) == len(ALCHEMY_COMBOS) and all(",COMPLETED," in r for r in frame_rows)
    assert set(ends) == set(ALCHEMY_COMBOS)
    # the kills hit running jobs (stamped ones; a loaded machine may delay a few)
    assert kills >= trials // 2 and sum(n > 0 for n in running_at_kill) >= kills // 2
