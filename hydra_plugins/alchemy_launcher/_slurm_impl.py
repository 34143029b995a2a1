"""Slurm side of ``hydra/launcher=alchemy_slurm``: executor parameters, submitting the
sweep as one job array of configs composed here, running a job on the node, and turning
submitit jobs back into ``JobReturn`` s.

Compose once: each job's config is composed in the launcher (``_jobconfig``) and
travels in the job's submitit parameters with the Python objects of config files it
refers to; the node runs the task with it, never composing again (hydra-submitit-
launcher's ``__call__`` recomposes there, running Python config files once more).

Retries (``hydra.launcher.retries``, :mod:`._retry`): a job that ended without a
result (killed, crashed, out of its time) or whose task raised a ``retry_on``
exception is submitted again as a job of its own, in the same folder, as soon as its
end is seen; the others of the array are not waited for. A ``stop_check`` (the
sweeper's ``max_failures``) is asked at every poll: once it says stop, array tasks
still pending are cancelled (``scancel --state=PENDING``: a task that started just
before keeps running) and come back as ``skipped`` returns, and nothing is retried.

Imported lazily (inside the plugin's methods): it imports submitit through
:mod:`._slurm_watch`.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from alchemy_resolvers.errors import SettingsError

from ._retry import (ATTEMPT_ENV, ExcTypes, check_retry_options, move_output_aside,
                     retried_exception, set_attempts, skipped_return)

log = logging.getLogger(__name__)

# Seconds to wait for the result file of a job Slurm ended (cancelled, killed, gone):
# only a file system slower than that could still be writing one.
KILLED_RESULT_GRACE_S = 3

# Keys of the launcher config that go to the executor's constructor, or are ours.
INIT_KEYS = ("submitit_folder", "max_num_timeout", "retries", "retry_on")

# hydra-submitit-launcher's generic names (submitit's AutoExecutor) -> sbatch's.
SLURM_NAMES = {"name": "job_name", "timeout_min": "time", "mem_gb": "mem",
               "tasks_per_node": "ntasks_per_node"}

# Options that must be whole numbers, with their least value.
INT_OPTIONS = {"timeout_min": 0, "cpus_per_task": 1, "gpus_per_node": 0, "tasks_per_node": 1,
               "nodes": 1, "array_parallelism": 1, "max_num_timeout": 0, "gpus_per_job": 0,
               "signal_delay_s": 0}


class SlurmConfigError(SettingsError):
    """A contradiction in ``hydra.launcher`` that sbatch would reject or silently resolve."""


def _check_numbers(params: Dict[str, Any]) -> None:
    for key, least in INT_OPTIONS.items():
        value = params.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < least):
            raise SlurmConfigError(
                f"hydra.launcher.{key} must be an integer >= {least}, got {value!r}",
                key=f"hydra.launcher.{key}",
            )
    mem = params.get("mem_gb")
    if mem is not None and (isinstance(mem, bool) or not isinstance(mem, (int, float)) or mem <= 0):
        raise SlurmConfigError(f"hydra.launcher.mem_gb must be a number of GB > 0, got {mem!r}",
                               key="hydra.launcher.mem_gb")


def _mem(mem_gb: float) -> str:
    return f"{int(mem_gb)}GB" if mem_gb == int(mem_gb) else f"{int(mem_gb * 1024)}MB"


def executor_parameters(params: Dict[str, Any]) -> Dict[str, Any]:
    """Translate the launcher config into ``SlurmExecutor.update_parameters`` keywords
    (sbatch's names), refusing settings wrong for the whole sweep.

    ``gpus_per_job`` becomes sbatch's ``--gpus`` (GPUs for the whole job, whatever the
    node count), the one GPU option submitit has no keyword for.
    """
    _check_numbers(params)
    params = {k: v for k, v in params.items()
              if v is not None and k not in INIT_KEYS and not k.startswith("_")}
    gpus_per_job = params.pop("gpus_per_job", None)
    additional = dict(params.pop("additional_parameters", None) or {})
    out: Dict[str, Any] = {}
    for key, value in params.items():
        out[SLURM_NAMES.get(key, key)] = _mem(value) if key == "mem_gb" else value
    if gpus_per_job:
        clashes = [k for k in ("gpus_per_node", "gpus_per_task") if params.get(k)]
        if "gpu" in str(params.get("gres") or ""):
            clashes.append("gres")
        if "gpus" in additional:
            clashes.append("additional_parameters.gpus")
        if clashes:
            raise SlurmConfigError(
                f"hydra.launcher.gpus_per_job={gpus_per_job} and hydra.launcher."
                f"{clashes[0]} both ask Slurm for GPUs; set only one of them "
                "(gpus_per_job: GPUs for the whole job; gpus_per_node: on every node)",
                key="hydra.launcher.gpus_per_job",
            )
        additional["gpus"] = gpus_per_job
    if additional:
        out["additional_parameters"] = additional
    return out


def launch_array(launcher: Any, job_overrides: Sequence[Sequence[str]],
                 initial_job_idx: int) -> List[Any]:
    """Compose every job, submit them as one array, wait for all; see
    :func:`collect_returns` for what comes back."""
    from hydra.core.utils import filter_overrides

    from submitit import SlurmExecutor

    from ._slurm_watch import attach

    params = launcher.params
    parameters = executor_parameters(params)  # refuses wrong settings first
    retry_on = check_retry_options(params.get("retries", 0), params.get("retry_on"))
    executor = SlurmExecutor(folder=params["submitit_folder"],
                             max_num_timeout=params.get("max_num_timeout", 0))
    executor.update_parameters(**parameters)

    sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if "mode" in launcher.config.hydra.sweep:
        os.chmod(sweep_dir, mode=int(str(launcher.config.hydra.sweep.mode), 8))
    log.info(f"Slurm sweep output dir : {sweep_dir}")

    from ._jobconfig import ObjectPacker

    composed: Dict[int, Tuple[Any, Path]] = {}
    packer = ObjectPacker()
    job_params = []
    for offset, overrides in enumerate(job_overrides):
        idx = initial_job_idx + offset
        log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
        job_params.append(_job_params(launcher, list(overrides), idx, composed, packer))
    jobs = attach(executor.map_array(launcher, *zip(*job_params)), executor.folder)
    log.info(f"Submitted Slurm job array {jobs[0].job_id.split('_')[0]} "
             f"({len(jobs)} jobs); submitit logs in {jobs[0].paths.folder}")

    def compose_failed(overrides: List[str], idx: int, job_id: str) -> Tuple[Any, Path]:
        return composed[idx]

    retrier = None
    if params.get("retries", 0):
        retrier = Resubmitter(executor, launcher, job_params, composed, initial_job_idx,
                              params["retries"], retry_on)
    return collect_returns(jobs, job_overrides, initial_job_idx, compose_failed,
                           launcher.on_job_done, retry=retrier,
                           stop_check=getattr(launcher, "stop_check", None))


class Resubmitter:
    """Submits a failed job again, in its own folder, when ``retries`` allow it."""

    def __init__(self, executor: Any, launcher: Any, job_params: List[Tuple[Any, ...]],
                 composed: Dict[int, Tuple[Any, Path]], initial_job_idx: int, retries: int,
                 retry_on: ExcTypes) -> None:
        self.executor, self.launcher, self.job_params = executor, launcher, job_params
        self.composed, self.first = composed, initial_job_idx
        self.retries, self.retry_on = retries, retry_on

    def why(self, ret: Any, crashed: bool, attempt: int) -> str:
        """Why the job that gave ``ret`` should run again ("" for not)."""
        from hydra.core.utils import JobStatus

        if attempt > self.retries or ret.status != JobStatus.FAILED:
            return ""
        err = ret._return_value
        if crashed:
            return getattr(err, "reason", "") or "ended without a result"
        cause = getattr(err, "__cause__", None)
        if retried_exception(cause, self.retry_on):
            return f"raised {type(cause).__name__}: {cause} (in hydra.launcher.retry_on)"
        return ""

    def resubmit(self, offset: int, attempt: int) -> Any:
        """Move the job's output aside and submit run ``attempt`` of it."""
        from ._slurm_watch import attach

        idx = self.first + offset
        move_output_aside(self.composed[idx][1], attempt - 1)
        job = self.executor.submit(self.launcher, *self.job_params[offset], attempt)
        return attach([job], self.executor.folder)[0]


def _job_params(launcher: Any, overrides: List[str], idx: int,
                composed: Dict[int, Tuple[Any, Path]], packer: Any) -> Tuple[Any, ...]:
    """What the node's ``__call__`` receives: the composed config, its objects (or
    the error that keeps them from travelling), Hydra's singletons."""
    from hydra.core.singleton import Singleton

    from alchemy_resolvers.dispatch.payload import PayloadError

    from ._jobconfig import compose_job

    sweep_config, job_dir, _ = compose_job(launcher.hydra_context, launcher.config, overrides, idx)
    composed[idx] = (sweep_config, job_dir)
    try:
        packed: Any = packer.pack(sweep_config)
    except PayloadError as e:
        packed = e  # the job fails on the node with this message, the others run
    return sweep_config, packed, Singleton.get_state()


def run_on_node(launcher: Any, sweep_config: Any, packed: Any, singleton_state: Any,
                attempt: int = 1) -> Any:
    """The job, on the node: ``(JobReturn, task_location)``. A task that raised has
    its traceback (naming the user's files) printed to the job's log."""
    import submitit

    os.environ[ATTEMPT_ENV] = str(attempt)
    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import open_dict, read_write

    from ._jobconfig import attach_job_config, report_failure, run_composed

    with read_write(sweep_config.hydra.job), open_dict(sweep_config.hydra.job):
        sweep_config.hydra.job.id = submitit.JobEnvironment().job_id
    if isinstance(packed, BaseException):
        ret = JobReturn(overrides=list(sweep_config.hydra.overrides.task),
                        status=JobStatus.FAILED, _return_value=packed)
        job_dir = Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)
        attach_job_config(ret, sweep_config, job_dir)
        return ret, None
    ret = run_composed(launcher.hydra_context, launcher.task_function, sweep_config,
                       packed, singleton_state)
    location = None
    if ret.status == JobStatus.FAILED:
        location = report_failure(ret, f"job #{sweep_config.hydra.job.num}")
    return ret, location


def collect_returns(
    jobs: Sequence[Any],
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    compose_failed: Any = None,
    on_job_done: Optional[Callable[[int, Any], None]] = None,
    poll_s: float = 1.0,
    retry: Optional[Resubmitter] = None,
    stop_check: Optional[Callable[[], bool]] = None,
) -> List[Any]:
    """Wait for every job and return one ``JobReturn`` per job, in job order.

    A job that failed (the task raised, or Slurm ended it before it wrote a result) gives
    a FAILED ``JobReturn`` whose ``_return_value`` is a ``JobFailedError`` naming the job,
    its Slurm id and its log, with the task's own exception as ``__cause__``; one failure
    never hides the results of the other jobs. ``compose_failed(overrides, idx, job_id)``
    (optional) returns ``(sweep_config, job_dir)`` for a job that came back with nothing.
    ``on_job_done(job_idx, job_return)`` is called as each job ends, in the order they
    end, so a sweeper records results while the array still runs. ``retry`` runs failed
    jobs again; ``stop_check`` stops the sweep (see the module docstring). Every return
    has ``attempts``.
    """
    jobs = list(jobs)
    returns: Dict[int, Any] = {}
    attempts = {offset: 1 for offset in range(len(jobs))}
    last_failed: Dict[int, Any] = {}  # resubmitted jobs -> how their last run ended
    pending = list(range(len(jobs)))
    stopped = False
    cancelled: Set[int] = set()  # pending when the stop came: cancelled unless started

    def done(offset: int, ret: Any) -> None:
        returns[offset] = set_attempts(ret, attempts[offset])
        if on_job_done is not None:
            try:
                on_job_done(initial_job_idx + offset, ret)
            except Exception as e:  # noqa: BLE001 - a recording failure must not lose the sweep
                log.error(f"Recording job #{initial_job_idx + offset} failed: "
                          f"{type(e).__name__}: {e}")

    while pending:
        if not stopped and stop_check is not None and _asked_to_stop(stop_check):
            stopped = True
            cancelled = _cancel_pending([jobs[o] for o in pending], pending)
        ended = [offset for offset in pending if jobs[offset].done()]
        if not ended:
            time.sleep(poll_s)
            continue
        for offset in ended:
            idx = initial_job_idx + offset
            if offset in cancelled and _never_started(jobs[offset]):
                if offset in last_failed:  # its rerun never started: its last run stands
                    attempts[offset] -= 1
                    done(offset, last_failed[offset])
                else:
                    returns[offset] = skipped_return(job_overrides[offset])
                continue
            ret, crashed = _job_return(jobs[offset], list(job_overrides[offset]), idx,
                                       compose_failed)
            rerun = None
            if retry is not None and not stopped:
                rerun = _rerun(retry, ret, crashed, offset, idx, attempts[offset] + 1,
                               stop_check)
            if rerun is not None:
                attempts[offset] += 1
                last_failed[offset] = ret
                jobs[offset] = rerun
            else:
                done(offset, ret)
        pending = [offset for offset in pending if offset not in returns]
    return [returns[offset] for offset in range(len(jobs))]


def _rerun(retry: Resubmitter, ret: Any, crashed: bool, offset: int, idx: int, attempt: int,
           stop_check: Optional[Callable[[], bool]]) -> Any:
    """The job's run ``attempt``, submitted when ``retry`` says it should run again and
    no stop is requested; None when it stays as it ended."""
    why = retry.why(ret, crashed, attempt - 1)
    if not why or (stop_check is not None and _asked_to_stop(stop_check)):
        return None
    log.warning(f"retrying job #{idx} (attempt {attempt}): {why}")
    try:
        return retry.resubmit(offset, attempt)
    except Exception as e:  # noqa: BLE001 - the failure stands, the sweep goes on
        log.error(f"could not submit job #{idx} again: {type(e).__name__}: {e}")
        return None


def _asked_to_stop(stop_check: Callable[[], bool]) -> bool:
    try:
        return bool(stop_check())
    except Exception as e:  # noqa: BLE001 - a broken hook must not lose the sweep
        log.error(f"stop check failed: {type(e).__name__}: {e}")
        return False


def _cancel_pending(jobs: Sequence[Any], offsets: Sequence[int]) -> Set[int]:
    """Cancel the jobs that are still pending (Slurm decides, atomically: a job that
    has started is left alone); the offsets of those asked to be cancelled."""
    import subprocess

    ids = [str(j.job_id) for j in jobs]
    if not ids:
        return set()
    try:
        proc = subprocess.run(["scancel", "--state=PENDING", *ids], capture_output=True,
                              text=True, timeout=60)
        why = proc.stderr.strip() if proc.returncode else ""
    except (OSError, subprocess.SubprocessError) as e:
        why = f"scancel failed: {e}"
    if why:
        log.warning(f"stop requested, but pending jobs could not be cancelled: {why}")
    else:
        log.info("stop requested: pending jobs cancelled, running ones finish")
    return set(offsets)


def _never_started(job: Any) -> bool:
    """A job cancelled while pending: Slurm never opened its log, it left no result."""
    try:
        paths = job.paths
        return not (paths.stdout.exists() or paths.stderr.exists() or paths.result_pickle.exists())
    except Exception:  # noqa: BLE001
        return False


def job_log_path(job: Any) -> Optional[str]:
    """The stderr file of a submitit job (stdout when stderr goes there)."""
    try:
        paths = job.paths
        return str(paths.stderr if paths.stderr.exists() else paths.stdout)
    except Exception:  # noqa: BLE001 - a log path is a courtesy in an error message
        return None


def _state(job: Any) -> str:
    try:
        return str(job.watcher.get_state(job.job_id, mode="cache"))
    except Exception:  # noqa: BLE001
        return "UNKNOWN"


def _wait_for_result(job: Any) -> bool:
    """Whether the job left a result. One Slurm ended early gets a short grace for a
    slow file system, not submitit's 15 s per job (that adds up over killed jobs)."""
    job.wait()
    result = job.paths.result_pickle
    if result.exists() or _state(job) == "COMPLETED":
        return True
    deadline = time.monotonic() + KILLED_RESULT_GRACE_S
    while not result.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return result.exists()


def _job_return(job: Any, overrides: List[str], idx: int, compose_failed: Any) -> Tuple[Any, bool]:
    """The ``JobReturn`` of one ended job (see :func:`collect_returns`), and whether
    it crashed: ended without a result (killed, out of time or memory, a segfault)."""
    from hydra.core.utils import JobReturn, JobStatus

    from ._impl import JobFailedError

    where = f"job #{idx} (Slurm job {job.job_id}; {' '.join(overrides) or 'no overrides'})"
    log_path = job_log_path(job)

    def failed(reason: str, cause: Optional[BaseException], location: Optional[str] = None) -> Any:
        at = f" at {location}" if location else ""
        err = JobFailedError(f"{where} {reason}{at}; log: {log_path}", job_idx=idx,
                             reason=reason, log_path=log_path, task_location=location)
        err.__cause__ = cause
        return err

    crashed = False
    try:
        if not _wait_for_result(job):
            crashed = True
            raise RuntimeError(_no_result_message(job))
        ret, location = job.result()
    except Exception as e:  # noqa: BLE001 - any failure of one job stays that job's
        reason = f"ended without a result (Slurm state {_state(job)}): {type(e).__name__}: {e}"
        ret = JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=failed(reason, e))
        _fill_failed(ret, compose_failed, overrides, idx, job.job_id)
        log.error(f"{where} failed: {reason.splitlines()[0]}")
        return ret, crashed
    if ret.status == JobStatus.FAILED:
        cause = ret._return_value
        ret.return_value = failed(f"raised {type(cause).__name__}: {cause}", cause, location)
    return ret, False


def _no_result_message(job: Any) -> str:
    tail = ""
    try:
        lines = (job.stderr() or "").strip().splitlines()[-10:]
        tail = ("; its log ends:\n" + "\n".join(lines)) if lines else ""
    except Exception:  # noqa: BLE001 - the log is a courtesy
        pass
    return f"Slurm ended it before it wrote a result{tail}"


def _fill_failed(ret: Any, compose_failed: Any, overrides: List[str], idx: int,
                 job_id: str) -> None:
    """Give a job that died without a word its config and directory, for the summary."""
    if compose_failed is None:
        return
    try:
        sweep_config, job_dir = compose_failed(overrides, idx, job_id)
    except Exception as e:  # noqa: BLE001 - the failure itself is already recorded
        log.warning(f"could not compose the config of failed job ({' '.join(overrides)}): {e}")
        return
    from ._jobconfig import attach_job_config

    attach_job_config(ret, sweep_config, job_dir)
