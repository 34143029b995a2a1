"""hydra/launcher=alchemy end to end: a real Hydra app (tests/apps/launcher_app) run as
`python app.py -m hydra/launcher=alchemy ...` in a subprocess, GPUs simulated with
HYDRA_ALCHEMY_FAKE_GPUS and leases in a tmp dir; results read back from the files the
jobs wrote, their logs and the launcher's output."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

APP = Path(__file__).parent / "apps" / "launcher_app" / "app.py"


def run_app(tmp_path, *overrides, env=None, fake_gpus="2", check=True, app=APP):
    e = {k: v for k, v in os.environ.items()
         if k not in ("CUDA_VISIBLE_DEVICES", "HYDRA_ALCHEMY_FAKE_GPUS")}
    e["HYDRA_ALCHEMY_LEASE_DIR"] = str(tmp_path / "leases")
    if fake_gpus is not None:
        e["HYDRA_ALCHEMY_FAKE_GPUS"] = fake_gpus
    e.update(env or {})
    cmd = [sys.executable, "-Werror", str(app), "-m", "hydra/launcher=alchemy",
           f"hydra.sweep.dir={tmp_path / 'sweep'}", f"out={tmp_path / 'records'}",
           "hydra.launcher.poll_interval=0.1", *overrides]
    p = subprocess.run(cmd, cwd=tmp_path, env=e, capture_output=True, text=True, timeout=300)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


def records(tmp_path):
    return {int(f.stem): json.loads(f.read_text()) for f in (tmp_path / "records").glob("*.json")}


def overlapping(a, b):
    return a["t0"] < b["t1"] and b["t0"] < a["t1"]


def test_each_job_gets_its_own_gpu_and_a_log(tmp_path):
    run_app(tmp_path, "hydra.launcher.gpus_per_job=1", "hydra.launcher.gpus=[0,1]",
            "job=0,1,2,3,4", "dur=0.4")
    recs = records(tmp_path)
    assert sorted(recs) == [0, 1, 2, 3, 4]
    assert all(r["cvd"] in ("0", "1") for r in recs.values())
    assert {r["cvd"] for r in recs.values()} == {"0", "1"}
    for a in recs.values():
        for b in recs.values():
            if a is not b and overlapping(a, b):
                assert a["cvd"] != b["cvd"], (a, b)
    for num in range(5):
        log = (tmp_path / "sweep" / str(num) / "job.log").read_text()
        assert f"job start job={num} mode=ok cvd={recs[num]['cvd']}" in log
        assert f"stderr line of job={num}" in log
    # every lease was given back
    assert not [p for p in (tmp_path / "leases").glob("*.lease") if not _free(p)]


def _free(path):
    import fcntl

    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            return False


def test_multi_gpu_jobs_see_disjoint_gpu_sets(tmp_path):
    run_app(tmp_path, "hydra.launcher.gpus_per_job=2", "hydra.launcher.gpus=[0,1,2,3,4]",
            "job=0,1,2,3", "dur=0.4", fake_gpus="5")
    recs = records(tmp_path)
    assert len(recs) == 4
    for r in recs.values():
        gpus = r["cvd"].split(",")
        assert len(gpus) == 2 and len(set(gpus)) == 2 and set(gpus) <= set("01234")
    for a in recs.values():
        for b in recs.values():
            if a is not b and overlapping(a, b):
                assert not set(a["cvd"].split(",")) & set(b["cvd"].split(","))


def test_failures_become_failed_results_and_the_others_finish(tmp_path):
    # one sweep over modes: job number = position in the sweep
    p = run_app(tmp_path, "hydra.launcher.gpus_per_job=1", "hydra.launcher.gpus=[0,1]",
                "hydra.launcher.timeout_min=0.15", "mode=ok,raise,exit,kill,hang,ok",
                check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0  # Hydra's basic sweeper re-raises the first failure
    sweep = tmp_path / "sweep"
    lab = f"out={tmp_path / 'records'} mode="
    assert f"FAILED #1 ({lab}raise): raised ValueError: boom from job 1 (log: {sweep}/1/job.log)" in out
    assert f"FAILED #2 ({lab}exit): exited with code 3 (sys.exit in the task) (log: {sweep}/2/job.log)" in out
    assert f"FAILED #3 ({lab}kill): was killed by SIGKILL (signal 9) (log: {sweep}/3/job.log)" in out
    assert f"FAILED #4 ({lab}hang): timed out after 0.15 min (timeout_min) and was killed" in out
    assert "JobFailedError: job #1 on GPU" in out and "raised ValueError: boom" in out
    # the ok jobs before and after the failures both ran to the end
    assert sorted(records(tmp_path)) == [0, 5]
    assert "job start job=5 mode=ok" in (sweep / "5" / "job.log").read_text()
    # the killed job's output before its death is in its log, and the traceback of the raise
    assert "job start job=3 mode=kill" in (sweep / "3" / "job.log").read_text()
    raised = (sweep / "1" / "job.log").read_text()
    assert "ValueError: boom from job 1" in raised and "app.py" in raised
    # the traceback names the task's own file and line (not cloudpickle's <dynamic-code>),
    # and the failure says where in the user's files it was raised
    line = _line_of(APP, 'raise ValueError(f"boom')
    assert f'File "{APP}", line {line}, in main' in raised and "<dynamic-code>" not in raised
    assert f"raised ValueError: boom from job 1 at {APP}:{line}" in out


def test_job_failed_error_keeps_its_fields_across_processes():
    import pickle

    from alchemy_resolvers.errors import AlchemyError
    from hydra_plugins.alchemy_launcher._impl import JobFailedError

    err = JobFailedError("job #1 raised ValueError: boom", job_idx=1, reason="raised ValueError",
                         log_path="/x/job.log", task_location="/x/app.py:20")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, AlchemyError) and isinstance(back, RuntimeError)
    assert (back.job_idx, back.task_location, back.file, str(back)) == (
        1, "/x/app.py:20", "/x/app.py", "job #1 raised ValueError: boom")


def test_task_location_is_the_innermost_frame_in_the_users_files(tmp_path):
    from alchemy_resolvers.dispatch.payload import dumps, loads, task_location

    mod = tmp_path / "user_task.py"
    mod.write_text("def inner():\n    raise KeyError('k')\n\ndef main():\n    return dict(a=1)['b'] if 0 else inner()\n")
    ns = {}
    exec(compile(mod.read_text(), str(mod), "exec"), ns)
    fn = loads(dumps(ns["main"]))  # by value, as a task from __main__ travels
    with pytest.raises(KeyError) as e:
        fn()
    assert task_location(e.value) == f"{mod}:2"
    assert fn.__code__.co_filename == str(mod)


def _line_of(path, text):
    return next(i for i, s in enumerate(Path(path).read_text().splitlines(), 1) if text in s)


def test_busy_gpu_is_skipped_until_it_frees_up(tmp_path):
    spec = tmp_path / "gpus.json"
    spec.write_text('[{"procs": 3}, {"procs": 0}]')  # another user's processes on GPU 0
    run_app(tmp_path, "hydra.launcher.gpus_per_job=1", "hydra.launcher.gpus=[0,1]",
            "hydra.launcher.max_process=0", "hydra.launcher.memory_need=100",
            "mode=free_gpu0,ok", "dur=3", fake_gpus=f"@{spec}")
    recs = records(tmp_path)
    # job #0 waits for nobody: GPU 1 is the idle one; it then frees GPU 0 while running
    assert recs[0]["cvd"] == "1" and recs[0]["freed"]
    # job #1 could not take GPU 0 while it was busy, nor GPU 1 (held by job #0); it
    # starts on GPU 0 once it is free, while job #0 still holds GPU 1
    assert recs[1]["cvd"] == "0"
    assert recs[1]["t0"] > recs[0]["t0"]


def test_cpu_only_leaves_cuda_visible_devices_unless_gpus_given(tmp_path):
    run_app(tmp_path, "hydra.launcher.gpus_per_job=0", "hydra.launcher.n_jobs=2",
            "job=0,1,2", "dur=0.1", env={"CUDA_VISIBLE_DEVICES": "7"}, fake_gpus=None)
    assert {r["cvd"] for r in records(tmp_path).values()} == {"7"}
    run_app(tmp_path, "hydra.launcher.gpus_per_job=0", "hydra.launcher.gpus=[]",
            "job=3", "dur=0.1", env={"CUDA_VISIBLE_DEVICES": "7"}, fake_gpus=None)
    assert records(tmp_path)[3]["cvd"] == ""


def _nvml_works():
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except Exception:  # noqa: BLE001
        return False


@pytest.mark.skipif(_nvml_works(), reason="NVML works here; this checks the no-NVML error")
def test_without_nvml_gpu_jobs_fail_plainly_or_use_named_gpus(tmp_path):
    p = run_app(tmp_path, "hydra.launcher.gpus_per_job=1", "job=0", fake_gpus=None, check=False)
    assert p.returncode != 0
    err = p.stderr
    assert "NVML" in err and "hydra.launcher.gpus_per_job=0" in err and "hydra.launcher.gpus=" in err
    assert not (tmp_path / "records").exists()
    # naming the GPUs is enough: handed out in order, never shared
    p = run_app(tmp_path, "hydra.launcher.gpus_per_job=1", "hydra.launcher.gpus=[0,1]",
                "job=0,1", "dur=0.3", fake_gpus=None)
    assert "without checking memory or foreign processes" in p.stdout + p.stderr
    assert {r["cvd"] for r in records(tmp_path).values()} <= {"0", "1"}


@pytest.mark.skipif(_nvml_works(), reason="NVML works here; this checks the no-GPU default")
def test_default_gpus_per_job_auto_runs_cpu_jobs_where_nvml_sees_no_gpu(tmp_path):
    p = run_app(tmp_path, "job=0,1", "dur=0.1", fake_gpus=None)
    assert sorted(records(tmp_path)) == [0, 1]
    assert {r["cvd"] for r in records(tmp_path).values()} == {None}
    said = [ln for ln in (p.stdout + p.stderr).splitlines() if "gpus_per_job=auto" in ln]
    assert len(said) == 1 and "CPU only" in said[0] and "NVML" in said[0], said


def _refused_before_any_job(tmp_path, p, *words):
    """One message, nonzero exit, no traceback, no job folder, no job started."""
    assert p.returncode != 0
    assert "Traceback" not in p.stderr, p.stderr
    for word in words:
        assert word in p.stderr, p.stderr
    sweep = tmp_path / "sweep"
    assert not sweep.exists() or not [d for d in sweep.iterdir() if d.is_dir()]
    assert not (tmp_path / "records").exists() and "started #" not in p.stdout + p.stderr


@pytest.mark.skipif(_nvml_works(), reason="NVML works here; this checks the no-NVML error")
@pytest.mark.parametrize("sweeper", ["basic", "alchemy"])
def test_explicit_gpus_per_job_without_nvml_fails_once_before_any_job(tmp_path, sweeper):
    p = run_app(tmp_path, f"hydra/sweeper={sweeper}", "hydra.launcher.gpus_per_job=2", "job=0,1,2",
                fake_gpus=None, check=False)
    _refused_before_any_job(tmp_path, p, "hydra.launcher.gpus_per_job=0", "NVML")
    assert "FAILED" not in p.stdout + p.stderr  # no FAILED rows either
    frame = tmp_path / "sweep" / "metric_frame.csv"
    assert not frame.exists() or "FAILED" not in frame.read_text()


@pytest.mark.parametrize("overrides, words", [
    (["hydra.launcher.gpus_per_job=1", "hydra.launcher.gpus=[0,5]"], ["'5'", "hydra.launcher.gpus"]),
    (["hydra.launcher.gpus_per_job=3"], ["gpus_per_job=3", "only 2 GPU(s)"]),
    (["hydra.launcher.n_jobs=-3"], ["hydra.launcher.n_jobs must be"]),
    (["hydra.launcher.jobs_per_gpu=0"], ["hydra.launcher.jobs_per_gpu must be", "fix:"]),
    (["hydra.launcher.timeout_min=0"], ["hydra.launcher.timeout_min must be"]),
])
def test_settings_wrong_for_the_whole_sweep_fail_once_before_any_job(tmp_path, overrides, words):
    p = run_app(tmp_path, *overrides, "job=0,1", check=False)  # two fake GPUs
    _refused_before_any_job(tmp_path, p, *words)


PY_APP = APP.parent / "py_app.py"


@pytest.mark.parametrize("sweeper", ["basic", "alchemy"])
def test_python_config_runs_in_the_sweep_process_only(tmp_path, sweeper):
    """Each job gets the config composed in the launcher, with the Python objects it
    refers to: the config file never runs in a job's process."""
    exec_log = tmp_path / "exec.log"
    cmd = [sys.executable, "-Werror", str(PY_APP), "-m", f"hydra/sweeper={sweeper}",
           "hydra/launcher=alchemy", "hydra.launcher.gpus_per_job=0", "hydra.launcher.n_jobs=2",
           "x=1,2,3", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    env = {**os.environ, "LAUNCHER_APP_EXEC_LOG": str(exec_log)}
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    # (resolved: a sweeper may link job folders under a second name)
    files = {f.resolve() for f in (tmp_path / "sweep").glob("*/seen.json")}
    seen = [json.loads(f.read_text()) for f in files]
    assert sorted((s["x"], s["double"], s["triple"]) for s in seen) == [(1, 2, 3), (2, 4, 6), (3, 6, 9)]
    runs = exec_log.read_text().split()
    assert runs and len(set(runs)) == 1, runs  # all in one process, the sweep's
    assert not set(runs) & {str(s["pid"]) for s in seen}


def test_unpicklable_config_object_fails_its_job_naming_file_and_key(tmp_path):
    cmd = [sys.executable, str(PY_APP), "-m", "hydra/launcher=alchemy",
           "hydra.launcher.gpus_per_job=0", "x=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    env = {**os.environ, "LAUNCHER_APP_EXEC_LOG": str(tmp_path / "exec.log"),
           "LAUNCHER_APP_UNPICKLABLE": "1"}
    p = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode != 0
    conf = APP.parent / "pyconf" / "counted.py"
    assert f"{conf}: entry `lock` (lock) cannot be sent to the job's process" in p.stderr
    assert not list((tmp_path / "sweep").glob("*/seen.json"))


# ------------------------------------------------------- the dispatch loop itself


def _sleep_job(i, seconds, tmp_path):
    from alchemy_resolvers.dispatch import Prepared, ProcessJob

    code = f"import os, time; print('gpu', os.environ.get('CUDA_VISIBLE_DEVICES')); time.sleep({seconds})"
    return ProcessJob(i, f"#{i}", lambda gpus: Prepared(
        [sys.executable, "-c", code], tmp_path / f"{i}.log",
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ",".join(gpus)}))


def test_uneven_jobs_reuse_a_freed_gpu_without_waiting_for_the_long_one(tmp_path):
    from alchemy_resolvers.gpu import FakeProbe, LeaseDir, SlotAllocator
    from alchemy_resolvers.dispatch import Dispatcher

    alloc = SlotAllocator(["0", "1"], 1, memory_need=1, probe=FakeProbe.from_spec("2"),
                          lease_dir=LeaseDir(tmp_path / "leases"))
    jobs = [_sleep_job(0, 4.0, tmp_path)] + [_sleep_job(i, 0.05, tmp_path) for i in range(1, 5)]
    outs = Dispatcher(jobs, allocator=alloc, poll_interval=0.5).run()
    assert [o.index for o in outs] == [0, 1, 2, 3, 4] and all(o.ok for o in outs)
    assert outs[0].gpus == ["0"]
    # the short jobs take turns on GPU 1 while the long job still holds GPU 0
    assert all(o.gpus == ["1"] for o in outs[1:])
    assert all(o.ended < outs[0].ended for o in outs[1:])
    assert (tmp_path / "3.log").read_text().strip() == "gpu 1"


def test_progress_bar_on_a_terminal_and_lines_otherwise(caplog):
    import io
    import logging

    from alchemy_resolvers.dispatch import Progress

    stream = io.StringIO()
    p = Progress(2, 4, stream=stream, tty=True)
    p.started("#0", ["0"], Path("a.log"))
    p.gpus_in_use = 1
    p.finished("#0", True, 1.0, "", Path("a.log"))
    p.close()
    screen = stream.getvalue()
    assert "1/2 done | 0 running | 0 failed | GPUs 1/4 in use" in screen
    assert "\r\x1b[K" in screen
    with caplog.at_level(logging.INFO):
        q = Progress(1, None, stream=io.StringIO(), tty=False)
        q.started("#0", [], Path("a.log"))
        q.finished("#0", False, 0.5, "exited with code 3", Path("a.log"))
    assert "started #0 (log: a.log)" in caplog.text
    assert "FAILED #0: exited with code 3 (log: a.log)" in caplog.text


def test_stopping_the_launcher_stops_its_jobs_and_frees_their_gpus(tmp_path):
    e = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    e.update(HYDRA_ALCHEMY_FAKE_GPUS="2", HYDRA_ALCHEMY_LEASE_DIR=str(tmp_path / "leases"))
    cmd = [sys.executable, str(APP), "-m", "hydra/launcher=alchemy", "mode=hang,hang",
           f"hydra.sweep.dir={tmp_path / 'sweep'}", f"out={tmp_path / 'records'}"]
    p = subprocess.Popen(cmd, cwd=tmp_path, env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        started = 0
        for line in p.stdout:  # wait until both jobs run
            started += "started #" in line
            if started == 2:
                break
        logs = [tmp_path / "sweep" / str(i) / "job.log" for i in range(2)]
        while not all(log.exists() and "job start" in log.read_text() for log in logs):
            assert p.poll() is None, p.stdout.read()
            time.sleep(0.05)
        leases = list((tmp_path / "leases").glob("*.lease"))
        assert len(leases) == 2 and not any(_free(x) for x in leases)
        p.terminate()
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode != 0
    # the hanging jobs were killed: they would otherwise still hold their leases
    assert all(_free(x) for x in leases)


@pytest.mark.gpu
@pytest.mark.skipif(not _nvml_works(), reason="needs NVML and an NVIDIA GPU (NVML not available here)")
def test_real_gpus_through_nvml(tmp_path):
    import pynvml

    pynvml.nvmlInit()
    try:
        n = pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()
    if n == 0:
        pytest.skip("NVML finds no GPU on this machine")
    run_app(tmp_path, "hydra.launcher.gpus_per_job=1", "hydra.launcher.memory_need=1",
            "job=0,1", "dur=0.2", fake_gpus=None)
    recs = records(tmp_path)
    assert len(recs) == 2 and all(r["cvd"] in {str(i) for i in range(n)} for r in recs.values())
