"""``hydra/launcher=alchemy_slurm`` against a real one-node Slurm cluster.

The cluster (munged, slurmctld, slurmd; see slurm_cluster.py) starts once per session.
Sweeps run as a user runs them: tests/apps/slurm_app in a subprocess with
``-m hydra/launcher=alchemy_slurm``; each job writes result.json in its job dir, and the
test reads those back with the batch script submitit wrote and what ``scontrol`` says.
One test drives the launcher in-process to check the ``JobReturn`` s a sweeper gets.

To add a sweeper-based variant: call ``run_slurm_sweep`` with the sweeper's overrides
(``hydra/sweeper=...``) and read the sweeper's files from ``SlurmSweep.sweep_dir``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence

import pytest

from conftest import APPS_DIR
from slurm_cluster import PARTITION, SlurmCluster, slurm_cluster  # noqa: F401 (fixture)

APP_DIR = APPS_DIR / "slurm_app"
APP = APP_DIR / "my_app.py"
SWEEP_TIMEOUT_S = 240

slow = pytest.mark.slow


@dataclass
class SlurmSweep:
    proc: subprocess.CompletedProcess
    sweep_dir: Path
    results: Dict[int, dict] = field(default_factory=dict)  # hydra.job.num -> result.json

    @property
    def array_id(self) -> str:
        ids = {r["slurm_array_job_id"] for r in self.results.values()}
        assert len(ids) == 1, f"jobs of one sweep in several arrays: {ids}"
        return ids.pop()

    def batch_script(self) -> str:
        """The sbatch script submitit wrote for the sweep's job array."""
        path = self.sweep_dir / ".submitit" / self.array_id / f"{self.array_id}_submission.sh"
        return path.read_text()

    def sbatch_lines(self) -> List[str]:
        return [ln for ln in self.batch_script().splitlines() if ln.startswith("#SBATCH ")]


def run_slurm_sweep(cluster: SlurmCluster, cwd: Path, overrides: Sequence[str], *,
                    check: bool = True, popen_hook=None) -> SlurmSweep:
    """``python my_app.py -m hydra/launcher=alchemy_slurm OVERRIDES`` in ``cwd``.

    ``popen_hook(sweep_dir)`` runs while the app runs (to act on its jobs). A failed sweep
    fails the test with the app's output and the Slurm daemons' logs.
    """
    cluster.check_alive()
    sweep_dir = cwd / "sweep"
    # -W error as Hydra's own test helpers: a warning from the plugins fails the sweep.
    argv = [sys.executable, "-W", "error", str(APP), "-m", "hydra/launcher=alchemy_slurm",
            f"hydra.sweep.dir={sweep_dir}", *overrides]
    env = dict(os.environ)
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.Popen(argv, cwd=str(cwd), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        if popen_hook is not None:
            popen_hook(sweep_dir)
        out, err = proc.communicate(timeout=SWEEP_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    done = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    if check and done.returncode != 0:
        pytest.fail(f"sweep exited {done.returncode}\nargs: {overrides}\n--- stdout ---\n"
                    f"{out}\n--- stderr ---\n{err}\n--- Slurm ---\n{cluster.logs(tail=30)}")
    sweep = SlurmSweep(done, sweep_dir)
    # Keyed by the job's number, not its folder: a sweeper may name folders its own way.
    for path in sorted(sweep_dir.glob("*/result.json")):
        res = json.loads(path.read_text())
        sweep.results[res["hydra_job_num"]] = res
    return sweep


def scontrol_job(cluster: SlurmCluster, job_id: str) -> Dict[str, str]:
    out = cluster.run(["scontrol", "--oneliner", "show", "job", job_id])
    assert out.returncode == 0, out.stderr
    return dict(re.findall(r"(\S+?)=(\S*)", out.stdout))


@slow
def test_sweep_runs_as_one_job_array_with_the_requested_resources(
    slurm_cluster: SlurmCluster, tmp_path: Path  # noqa: F811
) -> None:
    sweep = run_slurm_sweep(slurm_cluster, tmp_path, [
        "x=1,2,3",
        "hydra.launcher.array_parallelism=1",
        "hydra.launcher.timeout_min=7",
        "hydra.launcher.mem_gb=1",
        f"hydra.launcher.partition={PARTITION}",
        "+hydra.launcher.additional_parameters.nice=7",
    ])

    assert sorted(sweep.results) == [0, 1, 2]
    for num, res in sweep.results.items():
        assert res["x"] == num + 1 and res["square"] == (num + 1) ** 2
        assert res["hydra_job_num"] == num
        assert res["slurm_array_task_id"] == str(num)
        assert res["hydra_job_id"] == f"{sweep.array_id}_{num}"
        # submitit's per-job logs, next to the pickles it exchanged with the job
        logs = sweep.sweep_dir / ".submitit" / res["hydra_job_id"]
        assert (logs / f"{res['hydra_job_id']}_0_log.err").is_file()
        assert "Job completed successfully" in (logs / f"{res['hydra_job_id']}_0_log.out").read_text()

    lines = sweep.sbatch_lines()
    for expected in ("--array=0-2%1", "--time=7", "--mem=1GB", f"--partition={PARTITION}",
                     "--nice=7"):
        assert f"#SBATCH {expected}" in lines, lines
    job = scontrol_job(slurm_cluster, f"{sweep.array_id}_0")
    assert (job["TimeLimit"], job["Partition"], job["Nice"]) == ("00:07:00", PARTITION, "7")
    assert job["JobState"] == "COMPLETED"

    # array_parallelism=1: Slurm ran the jobs one after the other.
    spans = sorted((r["started"], r["ended"]) for r in sweep.results.values())
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end, f"jobs overlapped despite array_parallelism=1: {spans}"


@slow
@pytest.mark.parametrize(
    "override, sbatch_line, tres, gpus_seen",
    [
        ("hydra.launcher.gpus_per_job=1", "--gpus=1", "TresPerJob", 1),
        ("hydra.launcher.gpus_per_node=2", "--gpus-per-node=2", "TresPerNode", 2),
    ],
)
def test_gpus_are_requested_from_slurm(
    slurm_cluster: SlurmCluster, tmp_path: Path,  # noqa: F811
    override: str, sbatch_line: str, tres: str, gpus_seen: int,
) -> None:
    # The test cluster's node has 2 fake GPUs (gres on /dev/null): Slurm schedules them
    # and sets CUDA_VISIBLE_DEVICES as on a GPU node.
    sweep = run_slurm_sweep(slurm_cluster, tmp_path, ["x=1,2", override])

    assert f"#SBATCH {sbatch_line}" in sweep.sbatch_lines()
    job = scontrol_job(slurm_cluster, f"{sweep.array_id}_0")
    assert job[tres] == f"gres:gpu:{gpus_seen}"
    for res in sweep.results.values():
        devices = res["cuda_visible_devices"].split(",")
        assert len(devices) == gpus_seen and set(devices) <= {"0", "1"}, res


@slow
@pytest.mark.usefixtures("hydra_restore_singletons")  # Hydra's global state is set in-process
def test_failed_and_killed_jobs_come_back_as_failed_returns_in_order(
    slurm_cluster: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    """What a sweeper gets from ``launch``: one JobReturn per job, in job order; a job that
    raised or that Slurm cancelled is FAILED and does not hide the others."""
    from hydra._internal.callbacks import Callbacks
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from hydra.core.utils import JobStatus
    from hydra.types import HydraContext, RunMode

    slurm_cluster.check_alive()
    monkeypatch.syspath_prepend(str(APP_DIR))
    # The jobs unpickle my_app.record by reference: give them the module's folder.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(APP_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    monkeypatch.chdir(tmp_path)
    import my_app

    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(APP_DIR)))
    config = loader.load_configuration(
        config_name="config",
        overrides=["hydra/launcher=alchemy_slurm", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        run_mode=RunMode.MULTIRUN,
    )
    ctx = HydraContext(config_loader=loader, callbacks=Callbacks())
    try:
        launcher = Plugins.instance().instantiate_launcher(
            hydra_context=ctx, task_function=my_app.record, config=config)
        # As a sweeper passes them: every job's full list of task overrides.
        jobs = [["fail_on=2", "cancel_on=3", "sleep_s=0", f"x={x}"] for x in (1, 2, 3, 4)]
        returns = launcher.launch(jobs, initial_job_idx=10)
    finally:
        GlobalHydra.instance().clear()

    assert [r.overrides for r in returns] == jobs
    assert [r.status for r in returns] == [
        JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.FAILED, JobStatus.COMPLETED]
    assert returns[0].return_value["square"] == 1
    assert returns[3].return_value["square"] == 16

    raised = returns[1]._return_value
    assert "job #11" in str(raised) and "x=2" in str(raised)
    assert isinstance(raised.__cause__, RuntimeError)
    assert str(raised.__cause__) == "job asked to fail at x=2"
    line = _line_of(APP, "raise RuntimeError(f\"job asked to fail")
    assert raised.task_location == f"{APP}:{line}"
    assert f'File "{APP}", line {line}, in record' in Path(raised.log_path).read_text()
    assert returns[1].cfg.x == 2  # the job's own config came back with it

    cancelled = returns[2]._return_value
    assert "job #12" in str(cancelled) and "CANCELLED" in str(cancelled), str(cancelled)
    assert cancelled.log_path and Path(cancelled.log_path).is_file()
    # composed in the launcher, since the job never sent anything back
    assert returns[2].cfg.x == 3
    assert returns[2].hydra_cfg.hydra.runtime.output_dir == str(tmp_path / "sweep" / "12")
    with pytest.raises(Exception, match="job #12"):
        _ = returns[2].return_value


@slow
def test_preempted_job_is_requeued_and_its_result_comes_back(
    slurm_cluster: SlurmCluster, tmp_path: Path  # noqa: F811
) -> None:
    def preempt(sweep_dir: Path) -> None:
        waiting = sweep_dir / "0" / "waiting"  # the basic sweeper's folder of job 0
        deadline = time.monotonic() + 90
        while not waiting.exists() or not waiting.read_text():
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.2)
        # What Slurm sends before it preempts a job (and what submitit's tests use).
        out = slurm_cluster.run(["scancel", "--signal=USR2", waiting.read_text()])
        assert out.returncode == 0, out.stderr

    sweep = run_slurm_sweep(slurm_cluster, tmp_path, ["x=5", "wait_for_signal=true", "sleep_s=0"],
                            popen_hook=preempt)

    assert sweep.results[0]["square"] == 25
    assert sweep.results[0]["restart_count"] == 1
    job_id = sweep.results[0]["hydra_job_id"]
    log = "".join(p.read_text() for p in (sweep.sweep_dir / ".submitit" / job_id).glob("*_log.*"))
    assert "this job is preempted" in log and "Requeued job" in log


def _line_of(path: Path, text: str) -> int:
    return next(i for i, s in enumerate(path.read_text().splitlines(), 1) if text in s)


@slow
def test_a_task_that_raises_names_its_file_and_line(
    slurm_cluster: SlurmCluster, tmp_path: Path  # noqa: F811
) -> None:
    """The task function lives in the app's __main__ and travels by value: the traceback
    in the job's submitit log and the failure the sweep reports still name my_app.py."""
    sweep = run_slurm_sweep(slurm_cluster, tmp_path, ["x=1,2", "fail_on=2", "sleep_s=0"],
                            check=False)
    assert sweep.proc.returncode != 0
    line = _line_of(APP, "raise RuntimeError(f\"job asked to fail")
    assert f"raised RuntimeError: job asked to fail at x=2 at {APP}:{line}" in sweep.proc.stderr
    logs = [p.read_text() for p in (sweep.sweep_dir / ".submitit").glob("*/*_log.err")]
    failed = [text for text in logs if "job asked to fail" in text]
    assert failed and f'File "{APP}", line {line}, in record' in failed[0], logs
    assert "<dynamic-code>" not in failed[0]


@slow
def test_python_config_runs_in_the_sweep_process_only(
    slurm_cluster: SlurmCluster, tmp_path: Path  # noqa: F811
) -> None:
    """Jobs get the config composed in the launcher, with the objects it refers to."""
    slurm_cluster.check_alive()
    py_app = APPS_DIR / "launcher_app" / "py_app.py"
    exec_log = tmp_path / "exec.log"
    env = {**os.environ, "LAUNCHER_APP_EXEC_LOG": str(exec_log)}
    env.pop("HYDRA_FULL_ERROR", None)
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(py_app), "-m", "hydra/launcher=alchemy_slurm",
         "x=1,2,3", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=SWEEP_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # (resolved: a sweeper may link job folders under a second name)
    files = {f.resolve() for f in (tmp_path / "sweep").glob("*/seen.json")}
    seen = [json.loads(f.read_text()) for f in files]
    assert sorted((s["x"], s["double"], s["triple"]) for s in seen) == [(1, 2, 3), (2, 4, 6), (3, 6, 9)]
    runs = exec_log.read_text().split()
    assert runs and len(set(runs)) == 1, runs
    assert not set(runs) & {str(s["pid"]) for s in seen}


def test_contradictory_gpu_options_are_refused_before_submission(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(APP), "-m", "hydra/launcher=alchemy_slurm", "x=1,2",
         f"hydra.sweep.dir={tmp_path / 'sweep'}",
         "hydra.launcher.gpus_per_job=1", "hydra.launcher.gpus_per_node=1"],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "hydra.launcher.gpus_per_job=1 and hydra.launcher.gpus_per_node" in proc.stderr
    assert "Traceback" not in proc.stderr  # one message (a SettingsError)
    assert not (tmp_path / "sweep" / ".submitit").exists()


@slow
def test_job_at_its_time_limit_is_requeued_up_to_max_num_timeout(
    slurm_cluster: SlurmCluster, tmp_path: Path  # noqa: F811
) -> None:
    # A 1-minute limit with the warning signal 55 s before it: Slurm signals the job a
    # few seconds in (its time checks run every ~30 s), submitit sees the job has used
    # its guaranteed time, counts one timeout and requeues it.
    sweep = run_slurm_sweep(slurm_cluster, tmp_path, [
        "x=6", "wait_for_signal=true", "sleep_s=0",
        "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=55",
        "hydra.launcher.max_num_timeout=1",
    ])

    assert sweep.results[0]["square"] == 36
    assert sweep.results[0]["restart_count"] == 1
    job_id = sweep.results[0]["hydra_job_id"]
    log = "".join(p.read_text() for p in (sweep.sweep_dir / ".submitit" / job_id).glob("*_log.*"))
    assert "this job is timed-out" in log and "(0 remaining timeouts)" in log


@slow
def test_alchemy_sweeper_writes_the_metric_frame_from_slurm_jobs(
    slurm_cluster: SlurmCluster, tmp_path: Path  # noqa: F811
) -> None:
    """The same sweep as locally, moved to Slurm by one option: every job's return value
    reaches the sweeper's metric frame, and a failed job is a FAILED row, not a lost sweep."""
    import openpyxl
    import pandas as pd

    sweep = run_slurm_sweep(slurm_cluster, tmp_path, [
        "hydra/sweeper=alchemy", "x=1,2,3", "fail_on=2", "sleep_s=0.2", "wait_for_frame_on=3",
        "hydra.launcher.array_parallelism=2", "hydra.launcher.timeout_min=5",
    ], check=False)
    assert sweep.proc.returncode != 0  # the sweep names its failed combination...
    assert "x=2: " in sweep.proc.stderr and "RuntimeError: job asked to fail at x=2" in sweep.proc.stderr
    # ...after every job ran and the summary was written.
    frame = pd.read_csv(sweep.sweep_dir / "metric_frame.csv", index_col=0)
    assert list(frame.index) == [1, 2, 3]
    assert list(frame["status"]) == ["COMPLETED", "FAILED", "COMPLETED"]
    assert frame.loc[1, "square"] == 1 and frame.loc[3, "square"] == 9
    assert frame.loc[3, "saw_frame"] == 1  # rows are written as jobs end, not per array
    assert sorted(p.name for p in sweep.sweep_dir.iterdir() if p.is_dir() and p.name.startswith("x=")) == [
        "x=1", "x=2", "x=3"
    ]
    sheet = openpyxl.load_workbook(sweep.sweep_dir / "metric_frame.xlsx").active
    header = [c.value for c in sheet[1]]
    assert header[0] == "x" and "square" in header and "status" in header
    assert [sheet.cell(row=r, column=1).value for r in (2, 3, 4)] == [1, 2, 3]


# ------------------------------------------------ retries and the stop hook (#14)

LIFELINE_DIR = APPS_DIR / "lifeline_app"


def _launch_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs, launcher=(),
                       stop_check=None, on_done=None):
    """``launch`` of hydra/launcher=alchemy_slurm as a sweeper calls it, with the task
    of tests/apps/lifeline_app (it writes what each run did to ``tmp_path/out``)."""
    from hydra._internal.callbacks import Callbacks
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.plugins import Plugins
    from hydra.core.utils import setup_globals
    from hydra.types import HydraContext, RunMode

    monkeypatch.syspath_prepend(str(LIFELINE_DIR))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(LIFELINE_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    monkeypatch.chdir(tmp_path)
    import lifeline_tasks

    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(LIFELINE_DIR)))
    config = loader.load_configuration(
        config_name="config",
        overrides=["hydra/launcher=alchemy_slurm", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                   *launcher],
        run_mode=RunMode.MULTIRUN,
    )
    ctx = HydraContext(config_loader=loader, callbacks=Callbacks())
    setup_globals()  # the ${hydra:...} resolver, as in any Hydra app's process
    try:
        plugin = Plugins.instance().instantiate_launcher(
            hydra_context=ctx, task_function=lifeline_tasks.run, config=config)
        plugin.set_job_done_callback(on_done)
        plugin.set_stop_check(stop_check)
        return plugin.launch([[f"out={tmp_path / 'out'}", *j] for j in jobs], initial_job_idx=0)
    finally:
        GlobalHydra.instance().clear()


@slow
@pytest.mark.usefixtures("hydra_restore_singletons")
def test_a_crashed_job_is_submitted_again_and_completes(
    slurm_cluster: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    from hydra.core.utils import JobStatus

    slurm_cluster.check_alive()
    done = []
    returns = _launch_in_process(
        tmp_path, monkeypatch, [["mode=crash_once", "crash=kill"], ["mode=ok"]],
        ["hydra.launcher.retries=1"], on_done=lambda idx, ret: done.append((idx, ret.attempts)))

    assert [r.status for r in returns] == [JobStatus.COMPLETED, JobStatus.COMPLETED], \
        [str(r._return_value) for r in returns]
    assert [r.attempts for r in returns] == [2, 1]
    assert returns[0].return_value["attempt"] == 2  # HYDRA_ALCHEMY_ATTEMPT on the node
    assert sorted(done) == [(0, 2), (1, 1)]
    job_dir = tmp_path / "sweep" / "0"
    assert (job_dir / ".attempts" / "1" / "attempt_output.txt").read_text() == "attempt 1\n"
    assert (job_dir / ".attempts" / "1" / ".hydra" / "config.yaml").is_file()
    assert (job_dir / "attempt_output.txt").read_text() == "attempt 2\n"
    runs = (tmp_path / "out" / "0.runs").read_text().splitlines()
    assert len(runs) == 2


@slow
@pytest.mark.usefixtures("hydra_restore_singletons")
def test_stop_check_cancels_pending_jobs_and_lets_running_ones_finish(
    slurm_cluster: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    from hydra.core.utils import JobStatus

    slurm_cluster.check_alive()
    failures = []
    done = []

    def on_done(idx, ret):
        done.append(idx)
        if ret.status == JobStatus.FAILED:
            failures.append(idx)

    jobs = [["mode=raise"]] + [["mode=ok", "dur=3"]] * 5
    returns = _launch_in_process(
        tmp_path, monkeypatch, jobs,
        ["hydra.launcher.array_parallelism=1", "hydra.launcher.retries=2"],
        stop_check=lambda: bool(failures), on_done=on_done)

    skipped = [getattr(r, "skipped", False) for r in returns]
    assert returns[0].status == JobStatus.FAILED and returns[0].attempts == 1  # a bug: no retry
    assert skipped[-1] and not skipped[0]
    first_skipped = skipped.index(True)
    assert all(skipped[first_skipped:]), skipped  # once stopped, nothing started
    for i, r in enumerate(returns):
        if skipped[i]:
            assert r.status == JobStatus.UNKNOWN and r._return_value is None and r.attempts == 0
            assert not (tmp_path / "out" / f"{i}.runs").exists()
        elif i:
            assert r.status == JobStatus.COMPLETED  # started before the stop: ran to its end
    assert sorted(done) == list(range(first_skipped))


def test_wrong_retry_settings_are_refused_before_submission(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(APP), "-m", "hydra/launcher=alchemy_slurm", "x=1,2",
         f"hydra.sweep.dir={tmp_path / 'sweep'}", "hydra.launcher.retries=1",
         "hydra.launcher.retry_on=[no_such_module.Flaky]"],
        cwd=str(tmp_path), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    assert "hydra.launcher.retry_on" in proc.stderr and "no_such_module.Flaky" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "sweep" / ".submitit").exists()
