"""hydra.launcher.retries and retry_on for hydra/launcher=alchemy (#14), and the stop hook
the sweeper's max_failures uses.

The launcher is driven as a sweeper drives it: instantiated by Hydra from a real app's
config (tests/apps/lifeline_app), ``launch`` called with job overrides, in this process,
so the ``JobReturn`` s (``attempts``, ``skipped``) can be read; the jobs are real
processes (forked from the zygote, or fresh interpreters). Settings errors are checked
through the app's command line, as a user meets them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence

import pytest

from conftest import APPS_DIR

APP_DIR = APPS_DIR / "lifeline_app"
START_METHODS = ["fork_server", "spawn"]


def launch(tmp_path: Path, jobs: Sequence[Sequence[str]], launcher: Sequence[str] = (),
           stop_check: Optional[Callable[[], bool]] = None,
           on_done: Optional[Callable[[int, Any], None]] = None) -> List[Any]:
    """``launch(jobs)`` of hydra/launcher=alchemy configured by ``launcher`` overrides."""
    from hydra._internal.callbacks import Callbacks
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from hydra.types import HydraContext, RunMode

    import lifeline_tasks

    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(APP_DIR)))
    config = loader.load_configuration(
        config_name="config",
        overrides=["hydra/launcher=alchemy", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                   "hydra.launcher.gpus_per_job=0", "hydra.launcher.poll_interval=0.1",
                   *launcher],
        run_mode=RunMode.MULTIRUN,
    )
    ctx = HydraContext(config_loader=loader, callbacks=Callbacks())
    try:
        plugin = Plugins.instance().instantiate_launcher(
            hydra_context=ctx, task_function=lifeline_tasks.run, config=config)
        plugin.set_job_done_callback(on_done)
        plugin.set_stop_check(stop_check)
        return list(plugin.launch([[f"out={tmp_path / 'out'}", *j] for j in jobs],
                                  initial_job_idx=0))
    finally:
        GlobalHydra.instance().clear()


@pytest.fixture
def in_process(monkeypatch, tmp_path, hydra_restore_singletons):
    """The app's folder importable here and in the jobs; the cwd a tmp dir."""
    monkeypatch.syspath_prepend(str(APP_DIR))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(APP_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def runs(tmp_path: Path, job: int) -> List[str]:
    f = tmp_path / "out" / f"{job}.runs"
    return f.read_text().splitlines() if f.exists() else []


@pytest.mark.parametrize("start_method, crash", [
    ("fork_server", "exit"), ("fork_server", "segv"), ("spawn", "kill"), ("spawn", "exit"),
])
def test_a_crash_is_rerun_in_the_same_folder_and_its_output_kept_aside(in_process, start_method, crash):
    tmp_path = in_process
    returns = launch(tmp_path, [["mode=crash_once", f"crash={crash}"], ["mode=ok"]],
                     ["hydra.launcher.retries=1", f"hydra.launcher.start_method={start_method}"])
    from hydra.core.utils import JobStatus

    assert [r.status for r in returns] == [JobStatus.COMPLETED, JobStatus.COMPLETED]
    assert [r.attempts for r in returns] == [2, 1]
    assert returns[0].return_value["attempt"] == 2
    job_dir = tmp_path / "sweep" / "0"
    # the first run's output and log moved aside, its config kept; the rerun's in place
    first = job_dir / ".attempts" / "1"
    assert (first / "attempt_output.txt").read_text() == "attempt 1\n"
    assert "job 0 attempt 1 mode crash_once" in (first / "job.log").read_text()
    assert (first / ".hydra" / "config.yaml").is_file()
    assert (job_dir / "attempt_output.txt").read_text() == "attempt 2\n"
    assert "job 0 attempt 2" in (job_dir / "job.log").read_text()
    assert "attempt 1" not in (job_dir / "job.log").read_text()
    assert (job_dir / ".hydra" / "config.yaml").is_file()
    assert len(runs(tmp_path, 0)) == 2 and len(runs(tmp_path, 1)) == 1
    assert not (tmp_path / "sweep" / "1" / ".attempts").exists()


@pytest.mark.parametrize("start_method", START_METHODS)
def test_a_bug_in_the_task_is_not_rerun(in_process, start_method):
    tmp_path = in_process
    returns = launch(tmp_path, [["mode=raise"]],
                     ["hydra.launcher.retries=3", f"hydra.launcher.start_method={start_method}"])
    from hydra.core.utils import JobStatus

    assert returns[0].status == JobStatus.FAILED and returns[0].attempts == 1
    assert "a bug in job 0" in str(returns[0]._return_value)
    assert len(runs(tmp_path, 0)) == 1
    assert not (tmp_path / "sweep" / "0" / ".attempts").exists()


@pytest.mark.parametrize("start_method", START_METHODS)
def test_an_exception_listed_in_retry_on_is_rerun(in_process, start_method):
    tmp_path = in_process
    # the task raises ConnectionResetError once: a subclass of the listed ConnectionError
    returns = launch(tmp_path, [["mode=raise_once"]],
                     ["hydra.launcher.retries=1", "hydra.launcher.retry_on=[builtins.ConnectionError]",
                      f"hydra.launcher.start_method={start_method}"])
    from hydra.core.utils import JobStatus

    assert returns[0].status == JobStatus.COMPLETED and returns[0].attempts == 2
    assert "flaky network" in (tmp_path / "sweep" / "0" / ".attempts" / "1" / "job.log").read_text()


@pytest.mark.parametrize("start_method", START_METHODS)
def test_when_retries_run_out_the_job_fails_after_k_plus_one_runs(in_process, start_method):
    tmp_path = in_process
    done: List[Any] = []
    returns = launch(tmp_path, [["mode=crash_always"]],
                     ["hydra.launcher.retries=2", f"hydra.launcher.start_method={start_method}"],
                     on_done=lambda idx, ret: done.append((idx, ret.attempts)))
    from hydra.core.utils import JobStatus

    assert returns[0].status == JobStatus.FAILED and returns[0].attempts == 3
    assert "exited with code 1" in str(returns[0]._return_value)
    assert len(runs(tmp_path, 0)) == 3
    assert sorted(p.name for p in (tmp_path / "sweep" / "0" / ".attempts").iterdir()) == ["1", "2"]
    assert done == [(0, 3)]  # the sweeper hears of the job once, when it is over


def test_a_timeout_is_rerun(in_process):
    tmp_path = in_process
    returns = launch(tmp_path, [["mode=hang"]],
                     ["hydra.launcher.retries=1", "hydra.launcher.timeout_min=0.03"])
    from hydra.core.utils import JobStatus

    assert returns[0].status == JobStatus.FAILED and returns[0].attempts == 2
    assert "timed out" in str(returns[0]._return_value)
    assert len(runs(tmp_path, 0)) == 2


@pytest.mark.parametrize("start_method", START_METHODS)
def test_stop_check_starts_no_new_job_and_lets_running_ones_finish(in_process, start_method):
    """As max_failures uses it: after the first failure no job starts; the one running
    finishes; the rest come back skipped, unannounced."""
    tmp_path = in_process
    failures: List[int] = []
    done: List[int] = []
    asked: List[bool] = []

    def on_done(idx: int, ret: Any) -> None:
        done.append(idx)
        if ret.status.name == "FAILED":
            failures.append(idx)
        (tmp_path / "out" / "go").write_text("")  # job 1 may end now, not before

    def stop() -> bool:
        asked.append(bool(failures))
        return bool(failures)

    returns = launch(tmp_path, [["mode=raise"], ["mode=wait_file"], ["mode=ok"], ["mode=crash_always"]],
                     ["hydra.launcher.n_jobs=2", "hydra.launcher.retries=2",
                      f"hydra.launcher.start_method={start_method}"],
                     stop_check=stop, on_done=on_done)
    from hydra.core.utils import JobStatus

    assert [r.status for r in returns] == [JobStatus.FAILED, JobStatus.COMPLETED,
                                           JobStatus.UNKNOWN, JobStatus.UNKNOWN]
    assert [getattr(r, "skipped", False) for r in returns] == [False, False, True, True]
    assert [r.attempts for r in returns] == [1, 1, 0, 0]
    assert [r._return_value for r in returns[2:]] == [None, None]
    assert [list(r.overrides) for r in returns[2:]] == [[f"out={tmp_path / 'out'}", "mode=ok"],
                                                        [f"out={tmp_path / 'out'}", "mode=crash_always"]]
    assert sorted(done) == [0, 1]
    assert runs(tmp_path, 2) == [] and runs(tmp_path, 3) == []
    assert not (tmp_path / "sweep" / "2").exists()
    assert asked[-1] is True


def test_no_rerun_once_a_stop_is_requested(in_process):
    tmp_path = in_process
    stop = {"now": False}

    def on_done(idx: int, ret: Any) -> None:
        stop["now"] = True

    returns = launch(tmp_path, [["mode=ok"], ["mode=crash_always", "dur=0"]],
                     ["hydra.launcher.n_jobs=1", "hydra.launcher.retries=3"],
                     stop_check=lambda: stop["now"], on_done=on_done)
    from hydra.core.utils import JobStatus

    # job 0 ends, the stop is requested: job 1 is never started
    assert [r.status for r in returns] == [JobStatus.COMPLETED, JobStatus.UNKNOWN]
    second = tmp_path / "second"
    returns = launch(second, [["mode=crash_always"]], ["hydra.launcher.retries=3"],
                     stop_check=lambda: len(runs(second, 0)) >= 1)
    # the crash would be retried three times; the stop came after its first run
    assert returns[0].status == JobStatus.FAILED and returns[0].attempts == 1
    assert len(runs(second, 0)) == 1


def test_a_stop_between_a_crash_and_its_rerun_reports_the_crash(in_process):
    """The stop comes after the crash was queued to run again, before it starts: the
    rerun never starts and the job's one run is its result, reported as usual."""
    import itertools

    tmp_path = in_process
    calls = itertools.count()
    done: List[Any] = []
    # asked before the start (no), after the crash (no: queued again), before the rerun (yes)
    returns = launch(tmp_path, [["mode=crash_always"]], ["hydra.launcher.retries=3"],
                     stop_check=lambda: next(calls) >= 2,
                     on_done=lambda idx, ret: done.append((idx, ret.attempts)))
    from hydra.core.utils import JobStatus

    assert returns[0].status == JobStatus.FAILED and returns[0].attempts == 1
    assert not getattr(returns[0], "skipped", False)
    assert "exited with code 1" in str(returns[0]._return_value)
    assert done == [(0, 1)] and len(runs(tmp_path, 0)) == 1


@pytest.mark.parametrize("overrides, words", [
    (["hydra.launcher.retries=-1"], ["hydra.launcher.retries must be an integer >= 0"]),
    (["hydra.launcher.retries=1", "hydra.launcher.retry_on=[no_such_module.Boom]"],
     ["hydra.launcher.retry_on", "no_such_module.Boom", "cannot be imported"]),
    (["hydra.launcher.retry_on=[os.path]"], ["is not an exception class"]),
])
def test_wrong_retry_settings_stop_the_sweep_before_any_job(tmp_path, overrides, words):
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    p = subprocess.run([sys.executable, str(APP_DIR / "app.py"), "-m", "hydra/launcher=alchemy",
                        "hydra.launcher.gpus_per_job=0", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                        f"out={tmp_path / 'out'}", "job=0,1", *overrides],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0
    assert "Traceback" not in p.stderr, p.stderr
    for word in words:
        assert word in p.stderr, p.stderr
    assert not (tmp_path / "out").exists()
    sweep = tmp_path / "sweep"
    assert not sweep.exists() or not [d for d in sweep.iterdir() if d.is_dir()]


def test_results_say_how_many_times_each_job_ran(in_process):
    tmp_path = in_process
    returns = launch(tmp_path, [["mode=ok"], ["mode=raise"]])
    assert [r.attempts for r in returns] == [1, 1]
    assert json.loads((tmp_path / "out" / "0.json").read_text())["attempt"] == 1
