"""hydra/launcher=alchemy with start_method=fork_server (the default): each job is forked
from a zygote that imported Hydra and the task's modules once, and is still a fresh
process: its own pid and session, module state unseen by the next job, its own
CUDA_VISIBLE_DEVICES, a crash of its interpreter a FAILED result. Where forking is unsafe
(a thread started at import) or start_method=spawn, jobs start as fresh interpreters.

Real Hydra apps (tests/apps/launcher_app) in subprocesses, as in test_local_launcher.py.
"""
import os
import sys
import threading

import pytest

from test_local_launcher import APP, _free, records, run_app

THREAD_APP = APP.parent / "thread_app.py"
FALLBACK = "Not forking jobs from a zygote"

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin",
                                reason="the fork server needs os.fork (not macOS)")


def test_each_forked_job_is_a_fresh_process_with_its_own_gpu(tmp_path):
    p = run_app(tmp_path, "hydra.launcher.gpus_per_job=1", "hydra.launcher.gpus=[0,1]",
                "job=0,1,2,3,4,5", "dur=0.2")
    out = p.stdout + p.stderr
    assert "start_method=fork_server" in out and FALLBACK not in out
    recs = records(tmp_path)
    assert sorted(recs) == list(range(6))
    assert all(r["forked"] for r in recs.values()), recs  # forked, not a new interpreter
    assert len({r["pid"] for r in recs.values()}) == 6
    assert all(r["seen"] == [r["job"]] for r in recs.values())  # no job sees another's state
    assert all(r["pgid"] == r["pid"] for r in recs.values())  # own session / process group
    assert {r["cvd"] for r in recs.values()} == {"0", "1"}
    for num in range(6):
        log = (tmp_path / "sweep" / str(num) / "job.log").read_text()
        assert f"job start job={num} mode=ok cvd={recs[num]['cvd']}" in log
        assert f"stderr line of job={num}" in log
    assert all(_free(x) for x in (tmp_path / "leases").glob("*.lease"))


def test_crashing_forked_jobs_become_failed_results(tmp_path):
    p = run_app(tmp_path, "hydra.launcher.gpus_per_job=0", "hydra.launcher.n_jobs=2",
                "hydra.launcher.timeout_min=0.1", "mode=ok,segv,raise,os_exit,hang,ok",
                fake_gpus=None, check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0 and FALLBACK not in out
    lab = f"out={tmp_path / 'records'} mode="
    sweep = tmp_path / "sweep"
    assert f"FAILED #1 ({lab}segv): was killed by SIGSEGV (signal 11) (log: {sweep}/1/job.log)" in out
    assert f"FAILED #2 ({lab}raise): raised ValueError: boom from job 2" in out
    assert f"FAILED #3 ({lab}os_exit): exited with code 0 without a result" in out
    assert f"FAILED #4 ({lab}hang): timed out after 0.1 min (timeout_min) and was killed" in out
    assert sorted(records(tmp_path)) == [0, 5]
    raised = (sweep / "2" / "job.log").read_text()
    assert f'File "{APP}", line' in raised and "<dynamic-code>" not in raised
    assert "job start job=1 mode=segv" in (sweep / "1" / "job.log").read_text()


def test_start_method_spawn_starts_fresh_interpreters(tmp_path):
    p = run_app(tmp_path, "hydra.launcher.gpus_per_job=1", "hydra.launcher.start_method=spawn",
                "job=0,1,2", "dur=0.1")
    assert "start_method=spawn" in p.stdout + p.stderr
    recs = records(tmp_path)
    assert sorted(recs) == [0, 1, 2] and not any(r["forked"] for r in recs.values())
    assert {r["cvd"] for r in recs.values()} <= {"0", "1"}


def test_a_thread_started_at_import_falls_back_to_fresh_interpreters(tmp_path):
    p = run_app(tmp_path, "hydra.launcher.gpus_per_job=1", "job=0,1,2", "dur=0.1",
                app=THREAD_APP)
    out = p.stdout + p.stderr
    said = [ln for ln in out.splitlines() if FALLBACK in ln]
    assert len(said) == 1 and "watcher-at-import" in said[0], out
    recs = records(tmp_path)
    assert sorted(recs) == [0, 1, 2] and not any(r["forked"] for r in recs.values())
    assert {r["cvd"] for r in recs.values()} <= {"0", "1"}


def test_bad_start_method_fails_once_before_any_job(tmp_path):
    p = run_app(tmp_path, "hydra.launcher.start_method=forkserver", "job=0,1", check=False)
    assert p.returncode != 0 and "hydra.launcher.start_method must be" in p.stderr
    assert "Traceback" not in p.stderr and not (tmp_path / "records").exists()


# ------------------------------------------------------ the library, without Hydra


def test_zygote_refuses_to_fork_with_threads_or_cuda(monkeypatch):
    from alchemy_resolvers.dispatch.zygote import fork_unsafe_reason

    assert fork_unsafe_reason() == "" or threading.active_count() > 1

    class FakeCuda:
        @staticmethod
        def is_initialized():
            return True

    class FakeTorch:
        cuda = FakeCuda

    if threading.active_count() == 1:
        monkeypatch.setitem(sys.modules, "torch", FakeTorch)
        assert "CUDA is initialised" in fork_unsafe_reason()
        monkeypatch.delitem(sys.modules, "torch")
    ev = threading.Event()
    t = threading.Thread(target=ev.wait, name="busy-thread")
    t.start()
    try:
        assert "busy-thread" in fork_unsafe_reason()
    finally:
        ev.set()
        t.join()


ZYGOTE = """
import socket, sys
from alchemy_resolvers.dispatch.zygote import serve

def run(job):
    import os
    print("child", job, os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
    if job == "crash":
        os.kill(os.getpid(), 11)
    if job.startswith("sleep:"):
        import time
        time.sleep(float(job[6:]))
    if job == "env":
        import json
        print(json.dumps(dict(os.environ)), flush=True)
    return int(job) if job.isdigit() else 0

serve(socket.socket(fileno=int(sys.argv[1])), run)
"""


def test_dispatcher_forks_jobs_and_sees_their_exit_status(tmp_path):
    from alchemy_resolvers.dispatch import Dispatcher, ForkServer, Prepared, ProcessJob

    (tmp_path / "zygote.py").write_text(ZYGOTE)
    server = ForkServer([sys.executable, str(tmp_path / "zygote.py")], tmp_path / "zygote.log")
    server.start()
    jobs = [ProcessJob(i, f"#{i}", lambda gpus, i=i, j=j: Prepared(
        [sys.executable, "-c", "raise SystemExit(9)"], tmp_path / f"{i}.log",
        env={**os.environ, "CUDA_VISIBLE_DEVICES": str(i)}, fork_job=j))
        for i, j in enumerate(["0", "3", "crash"])]
    try:
        outs = Dispatcher(jobs, max_parallel=2, fork_server=server).run()
    finally:
        server.close()
    assert [o.returncode for o in outs] == [0, 3, -11]
    assert (tmp_path / "1.log").read_text() == "child 3 1\n"


def test_short_forked_jobs_reuse_a_slot_while_a_long_one_runs(tmp_path):
    """A job's end read while the next fork was being answered must not wait for the
    next event: the short jobs all end long before the long one."""
    from alchemy_resolvers.dispatch import Dispatcher, ForkServer, Prepared, ProcessJob

    (tmp_path / "zygote.py").write_text(ZYGOTE)
    server = ForkServer([sys.executable, str(tmp_path / "zygote.py")], tmp_path / "zygote.log")
    server.start()
    work = ["sleep:4"] + ["sleep:0.05"] * 8
    jobs = [ProcessJob(i, f"#{i}", lambda gpus, i=i, j=j: Prepared(
        [sys.executable, "-c", "raise SystemExit(9)"], tmp_path / f"{i}.log", fork_job=j))
        for i, j in enumerate(work)]
    try:
        outs = Dispatcher(jobs, max_parallel=2, fork_server=server).run()
    finally:
        server.close()
    assert all(o.ok for o in outs)
    assert all(o.ended < outs[0].ended - 1.0 for o in outs[1:]), [o.ended for o in outs]


def test_the_zygote_warms_the_parser_without_resolving_anything():
    """The zygote parses the sweep config's interpolations once, so forked jobs start
    with OmegaConf's parser warm; parsing never runs a resolver."""
    from omegaconf import OmegaConf

    from hydra_plugins.alchemy_launcher._impl import interpolations
    from hydra_plugins.alchemy_launcher._zygote import warm_up_parser

    calls = []
    OmegaConf.register_new_resolver("warm_probe", lambda x: calls.append(x) or x, replace=True)
    try:
        cfg = OmegaConf.create({"a": "${warm_probe:1}", "b": ["x", "${a}/${warm_probe:2}"], "c": 3,
                                "hydra": {"sweep": {"dir": "multirun/${now:%Y}"}}, "d": "${a}"})
        found = interpolations(cfg)
        assert found == ["${warm_probe:1}", "${a}/${warm_probe:2}", "multirun/${now:%Y}", "${a}"]
        warm_up_parser(found + ["${unclosed", "$<dep:1 +>"])  # broken text is the job's to report
        assert calls == []
    finally:
        OmegaConf.clear_resolver("warm_probe")


def test_a_forked_job_has_exactly_the_environment_it_was_given(tmp_path, monkeypatch):
    """The zygote's own variables a job was not given are gone, changed ones changed,
    new ones there."""
    import json

    from alchemy_resolvers.dispatch import Dispatcher, ForkServer, Prepared, ProcessJob

    monkeypatch.setenv("ZYGOTE_ONLY", "1")
    monkeypatch.setenv("CHANGED", "old")
    (tmp_path / "zygote.py").write_text(ZYGOTE)
    server = ForkServer([sys.executable, str(tmp_path / "zygote.py")], tmp_path / "zygote.log")
    server.start()
    env = {k: v for k, v in os.environ.items() if k != "ZYGOTE_ONLY"}
    env.update(CHANGED="new", ADDED="x y=z")
    jobs = [ProcessJob(0, "#0", lambda gpus: Prepared([sys.executable, "-c", "0"],
                                                     tmp_path / "0.log", env=env, fork_job="env"))]
    try:
        outs = Dispatcher(jobs, max_parallel=1, fork_server=server).run()
    finally:
        server.close()
    assert outs[0].ok, (tmp_path / "0.log").read_text()
    seen = json.loads((tmp_path / "0.log").read_text().splitlines()[-1])
    assert seen == env


NUMPY_ZYGOTE = """
import os, socket, sys
import numpy
if os.environ["ZYGOTE_NUMPY"] == "numpy.random":
    import numpy.random
from alchemy_resolvers.dispatch.zygote import serve

print("zygote has numpy.random:", "numpy.random" in sys.modules, file=sys.stderr, flush=True)

def run(job):
    had = "numpy.random" in sys.modules
    print(had, numpy.random.randint(1 << 62), flush=True)
    return 0

serve(socket.socket(fileno=int(sys.argv[1])), run)
"""


@pytest.mark.parametrize("zygote_has", ["numpy", "numpy.random"])
def test_forked_jobs_get_fresh_random_states_without_importing_numpy_random(
        tmp_path, monkeypatch, zygote_has):
    """numpy's global generator is reseeded in each job where the zygote has one (else
    every job would draw the zygote's numbers); where it has not (numpy >= 1.25 imports
    it on first use), a job imports it (seeded from the OS) only if it uses it, rather
    than every job importing it."""
    from alchemy_resolvers.dispatch import Dispatcher, ForkServer, Prepared, ProcessJob

    monkeypatch.setenv("ZYGOTE_NUMPY", zygote_has)
    (tmp_path / "zygote.py").write_text(NUMPY_ZYGOTE)
    server = ForkServer([sys.executable, str(tmp_path / "zygote.py")], tmp_path / "zygote.log")
    server.start()
    jobs = [ProcessJob(i, f"#{i}", lambda gpus, i=i: Prepared(
        [sys.executable, "-c", "raise SystemExit(9)"], tmp_path / f"{i}.log", fork_job=str(i)))
        for i in range(3)]
    try:
        outs = Dispatcher(jobs, max_parallel=2, fork_server=server).run()
    finally:
        server.close()
    assert all(o.ok for o in outs), (tmp_path / "zygote.log").read_text()  # forked: spawn exits 9
    zygote_had = (tmp_path / "zygote.log").read_text().split("zygote has numpy.random:")[1].split()[0]
    if zygote_has == "numpy.random":
        assert zygote_had == "True"
    seen = [(tmp_path / f"{i}.log").read_text().split() for i in range(3)]
    assert {had for had, _ in seen} == {zygote_had}
    assert len({number for _, number in seen}) == 3, seen


@pytest.mark.parametrize("task_imports", ["numpy", "nothing"])
def test_the_zygote_imports_numpy_random_only_where_numpy_is(task_imports):
    import subprocess

    code = ("import sys\n" + ("import numpy\n" if task_imports == "numpy" else "")
            + "from hydra_plugins.alchemy_launcher._zygote import import_numpy_random\n"
              "import_numpy_random()\n"
              "print('numpy' in sys.modules, 'numpy.random' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ([str(task_imports == "numpy")] * 2)


def test_the_next_job_is_prepared_ahead_while_the_slots_are_busy(tmp_path):
    """``look_ahead`` of the job next in line runs while the running ones run (not after
    a slot frees), once; its error is the job's failure through ``prepare``."""
    import time

    from alchemy_resolvers.dispatch import Dispatcher, Prepared, ProcessJob

    looked: dict = {}
    ended: dict = {}

    def ahead(i: int) -> None:
        looked.setdefault(i, []).append(time.time())
        if i == 2:
            raise ValueError("cannot compose job 2")

    def prepare(i: int) -> Prepared:
        if i == 2:
            raise ValueError("cannot compose job 2")
        return Prepared([sys.executable, "-c", "import time; time.sleep(0.5)"], tmp_path / f"{i}.log")

    jobs = [ProcessJob(i, f"#{i}", lambda gpus, i=i: prepare(i), look_ahead=lambda i=i: ahead(i))
            for i in range(4)]
    outs = Dispatcher(jobs, max_parallel=1, poll_interval=0.05).run()
    for o in outs:
        ended[o.index] = o.ended
    assert [o.ok for o in outs] == [True, True, False, True]
    assert "cannot compose job 2" in str(outs[2].error)
    # 1 while 0 ran, 2 while 1 ran; 3 started in the slot 2 never took (no job ran
    # while it was next in line)
    assert sorted(looked) == [1, 2] and all(len(v) == 1 for v in looked.values())
    assert looked[1][0] < ended[0] and looked[2][0] < ended[1], (looked, ended)


def test_the_c_library_is_loaded_once_without_a_subprocess():
    """``prctl`` comes from the running program's own symbols, loaded once per process
    (forked jobs inherit it): ``ctypes.util.find_library`` would run ``ldconfig -p`` in
    a subprocess for every job."""
    import subprocess
    from unittest import mock

    from alchemy_resolvers.dispatch import lifeline

    lifeline._libc.cache_clear()
    with mock.patch.object(subprocess, "Popen", side_effect=AssertionError("a subprocess")):
        assert lifeline._libc() is lifeline._libc() is not None
        if sys.platform.startswith("linux"):
            assert lifeline._prctl_pdeathsig(0)  # 0: clear this process's signal


PAYLOAD_SCRIPT = """
import pickle, sys
from alchemy_resolvers.dispatch.payload import dumps

class Point:  # defined in __main__: another process has no such class to import
    def __init__(self, x):
        self.x = x

data = dumps({"point": Point(3), "square": lambda v: v * v, "plain": [1, "a"]})
open(sys.argv[1], "wb").write(data)
"""


def test_payloads_naming_main_or_code_go_by_value_plain_data_by_the_c_pickler(tmp_path):
    import pickle
    import subprocess

    from alchemy_resolvers.dispatch.payload import dumps, loads

    plain = {"cfg": {"lr": 0.1, "name": "a"}, "n": [1, 2.5, None, True]}
    assert dumps(plain) == pickle.dumps(plain, protocol=pickle.HIGHEST_PROTOCOL)
    (tmp_path / "make.py").write_text(PAYLOAD_SCRIPT)
    subprocess.run([sys.executable, str(tmp_path / "make.py"), str(tmp_path / "p.pkl")],
                   check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    got = loads((tmp_path / "p.pkl").read_bytes())  # this process's __main__ is pytest
    assert got["point"].x == 3 and got["square"](4) == 16 and got["plain"] == [1, "a"]
