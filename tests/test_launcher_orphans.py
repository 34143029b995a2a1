"""hydra/launcher=alchemy leaves no orphans and never runs one combination twice at once
(#13): jobs die with their sweep however it dies (SIGKILL included), and a job's
directory lock keeps a resume from starting a combination whose earlier process still
runs. Real Hydra apps (tests/apps/lifeline_app) in subprocesses; job pids come from the
files the jobs write."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from conftest import APPS_DIR

APP = APPS_DIR / "lifeline_app" / "app.py"
LOCK = ".alchemy_job.lock"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="parent-death signals and /proc are Linux's")


def sweep_cmd(tmp_path: Path, *overrides: str) -> List[str]:
    return [sys.executable, str(APP), "-m", "hydra/launcher=alchemy",
            "hydra.launcher.gpus_per_job=0", f"hydra.sweep.dir={tmp_path / 'sweep'}",
            f"out={tmp_path / 'out'}", *overrides]


def env() -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "HYDRA_FULL_ERROR")}
    e["HYDRA_ALCHEMY_FAKE_GPUS"] = "0"
    return e


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def wait_until(cond, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def kill_pids(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("start_method", ["fork_server", "spawn"])
@pytest.mark.parametrize("mode", ["hang", "hang_closing_fds"])
def test_sigkilled_sweep_takes_its_jobs_and_their_children_with_it(tmp_path, start_method, mode):
    """hang_closing_fds: the task closed the lifeline; the parent-death signal still acts."""
    proc = subprocess.Popen(sweep_cmd(tmp_path, f"mode={mode}", "job=0,1,2", "hydra.launcher.n_jobs=3",
                                      f"hydra.launcher.start_method={start_method}"),
                            cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    out = tmp_path / "out"
    pids: List[int] = []
    try:
        wait_until(lambda: len(list(out.glob("*.pids"))) == 3 or proc.poll() is not None, 120,
                   "the jobs never started")
        assert proc.poll() is None, proc.stderr.read()
        for f in out.glob("*.pids"):
            pids += [int(p) for p in f.read_text().split()]
        assert len(pids) == 6 and all(alive(p) for p in pids)
        if mode == "hang":  # each job holds its folder's lock and beats its heartbeat
            job_pid = int((out / "0.pids").read_text().split()[0])
            lock = tmp_path / "sweep" / "0" / LOCK
            held = json.loads(lock.read_text())
            assert (held["pid"], held["role"]) == (job_pid, "job")
            seen = lock.stat().st_mtime
            wait_until(lambda: lock.stat().st_mtime > seen, 10, "no heartbeat")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wait_until(lambda: not any(alive(p) for p in pids), 10,
                   f"job processes outlived their sweep: {[p for p in pids if alive(p)]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_pids(pids)
    # the dead jobs' locks are stale: a resume runs them at once
    locks = list((tmp_path / "sweep").glob(f"*/{LOCK}"))
    assert len(locks) == 3 and {json.loads(x.read_text())["pid"] for x in locks} <= set(pids)
    p = subprocess.run(sweep_cmd(tmp_path, "mode=ok", "job=0,1,2", "hydra.launcher.n_jobs=3",
                                 f"hydra.launcher.start_method={start_method}"),
                       cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert sorted(f.name for f in out.glob("*.json")) == ["0.json", "1.json", "2.json"]
    assert not list((tmp_path / "sweep").glob(f"*/{LOCK}"))  # given back after each job


def write_lock(job_dir: Path, pid: int) -> None:
    """The lock a job of another sweep holds, as that sweep wrote it."""
    from alchemy_resolvers.dispatch.joblock import Holder

    from dataclasses import asdict

    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / LOCK).write_text(json.dumps(asdict(Holder.of(pid, "job"))) + "\n")


def test_a_combination_still_running_elsewhere_is_not_started_again(tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        write_lock(tmp_path / "sweep" / "0", other.pid)
        p = subprocess.run(sweep_cmd(tmp_path, "job=0,1"), cwd=tmp_path, env=env(),
                           capture_output=True, text=True, timeout=300)
    finally:
        other.kill()
        other.wait()
    text = p.stdout + p.stderr
    assert p.returncode != 0
    assert f"still running in pid {other.pid} from an earlier sweep" in text, text
    assert "FAILED #0" in text
    out = tmp_path / "out"
    assert not (out / "0.runs").exists()  # never started next to the other process
    assert (out / "1.json").exists()  # the other combination ran
    # the other process's lock is left alone
    assert json.loads((tmp_path / "sweep" / "0" / LOCK).read_text())["pid"] == other.pid


def test_a_live_lock_is_waited_for_and_then_taken(tmp_path):
    # the earlier process ends a moment after the sweep starts (as a job of a killed
    # sweep does): the job waits for it instead of failing
    ended = tmp_path / "other_ended"
    other = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(3); "
                              "open(sys.argv[1], 'w').write(repr(time.time()))", str(ended)])
    try:
        write_lock(tmp_path / "sweep" / "0", other.pid)
        p = subprocess.run(sweep_cmd(tmp_path, "job=0"), cwd=tmp_path, env=env(),
                           capture_output=True, text=True, timeout=300)
    finally:
        other.kill()
        other.wait()
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"waiting for pid {other.pid}" in p.stdout + p.stderr
    ran = json.loads((tmp_path / "out" / "0.json").read_text())
    assert ran["t0"] > float(ended.read_text())  # it started after the other one ended
    assert not (tmp_path / "sweep" / "0" / LOCK).exists()


def test_a_stale_lock_is_taken_over(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid is dead (or, if reused, has another start time)
    write_lock(tmp_path / "sweep" / "0", gone.pid)
    lock = tmp_path / "sweep" / "0" / LOCK
    data = json.loads(lock.read_text())
    data["start"] = "1"  # whatever runs under that pid now, it is not the holder
    lock.write_text(json.dumps(data))
    p = subprocess.run(sweep_cmd(tmp_path, "job=0"), cwd=tmp_path, env=env(),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / "out" / "0.json").exists()
    assert not lock.exists()


def test_two_takers_never_both_get_a_lock(tmp_path):
    """Many processes race for one job's lock at once: exactly one gets it."""
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from alchemy_resolvers.dispatch.joblock import JobLock, JobStillRunningError\n"
        "try:\n"
        "    JobLock.acquire(Path(sys.argv[1]), wait_s=0)\n"
        "    print('got', flush=True)\n"
        "    time.sleep(5)\n"
        "except JobStillRunningError:\n"
        "    print('refused', flush=True)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "job")],
                              stdout=subprocess.PIPE, text=True) for _ in range(6)]
    answers = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert sorted(answers) == ["got"] + ["refused"] * 5, answers


def test_a_lock_from_another_machine_is_live_while_its_heartbeat_is(tmp_path):
    """Where the pid cannot be checked (a shared file system), the heartbeat decides."""
    from alchemy_resolvers.dispatch.joblock import STALE_AFTER_S, JobLock, JobStillRunningError

    job_dir = tmp_path / "job"
    job_dir.mkdir()
    lock = job_dir / LOCK
    lock.write_text(json.dumps({"pid": 4242, "start": "1", "boot": "b", "host": "elsewhere",
                                "role": "job"}))
    with pytest.raises(JobStillRunningError, match="still running in pid 4242 on elsewhere") as e:
        JobLock.acquire(job_dir, wait_s=0)
    assert e.value.pid == 4242 and "kill 4242" in str(e.value)
    old = time.time() - STALE_AFTER_S - 5
    os.utime(lock, (old, old))  # its holder stopped beating
    taken = JobLock.acquire(job_dir, wait_s=0)
    assert json.loads(lock.read_text())["pid"] == os.getpid()
    taken.release()
    assert not lock.exists()
