"""Slurm side of ``hydra/launcher=alchemy_slurm``: executor parameters, job-state tracking
that works without Slurm accounting, and turning submitit jobs back into ``JobReturn`` s.

Why a watcher of our own: submitit learns a job's state from ``sacct``, which needs
Slurm's accounting database (slurmdbd). Many small clusters (and every laptop cluster)
run without it; there ``sacct`` fails, submitit logs "Bypassing sacct error" and keeps the
state at UNKNOWN forever. A job that writes its result is still seen (submitit looks for
the result file), but a job Slurm kills before that (scancel, node failure, time limit
without requeue, out of memory) would make the sweep wait for ever. ``SqueueWatcher``
asks ``sacct`` first and, when that fails, ``squeue --states=all``, which knows every job
the controller still holds (finished ones for ``MinJobAge``, 300 s by default); a job it
no longer knows has ended long ago.

submitit is imported here at module level: import this module lazily (the plugin does it
inside ``launch``), never from a module Hydra imports at start-up.
"""
from __future__ import annotations

import logging
import subprocess
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from submitit.slurm.slurm import SlurmInfoWatcher

log = logging.getLogger(__name__)

# States in which a job may still run or run again. submitit's own list misses some that
# squeue reports (a suspended or held job is not over).
INCOMPLETE_STATES = frozenset(
    {
        "READY", "PENDING", "RUNNING", "UNKNOWN", "REQUEUED", "COMPLETING", "PREEMPTED",
        "CONFIGURING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "RESIZING", "REQUEUE_HOLD",
        "REQUEUE_FED", "SPECIAL_EXIT", "STOPPED", "RESV_DEL_HOLD",
    }
)

# State we give a job the controller no longer knows: it ended before MinJobAge ago.
GONE_STATE = "GONE"

# Seconds to wait for the result file of a job Slurm ended (cancelled, killed, gone):
# only a file system slower than that could still be writing one.
KILLED_RESULT_GRACE_S = 3

# Keys of the launcher config that are ours, not submitit's.
OWN_KEYS = ("gpus_per_job",)

# Keys that go to the executor's constructor (submitit's ``slurm_max_num_timeout``).
INIT_KEYS = ("submitit_folder", "max_num_timeout")

# Keys submitit's AutoExecutor takes without the ``slurm_`` prefix (its BaseQueueConf).
GENERIC_KEYS = (
    "timeout_min", "cpus_per_task", "gpus_per_node", "tasks_per_node", "mem_gb", "nodes",
    "name", "stderr_to_stdout",
)


class SlurmConfigError(ValueError):
    """A contradiction in ``hydra.launcher`` that sbatch would reject or silently resolve."""


def executor_parameters(params: Dict[str, Any]) -> Dict[str, Any]:
    """Translate the launcher config into ``AutoExecutor.update_parameters`` keywords.

    ``gpus_per_job`` becomes sbatch's ``--gpus`` (GPUs for the whole job, whatever the
    node count), the one GPU option submitit has no keyword for.
    """
    params = dict(params)
    gpus_per_job = params.pop("gpus_per_job", None)
    additional = dict(params.pop("additional_parameters", None) or {})
    out: Dict[str, Any] = {}
    for key, value in params.items():
        if key in INIT_KEYS or key.startswith("_"):
            continue
        out[key if key in GENERIC_KEYS else f"slurm_{key}"] = value
    if gpus_per_job is not None:
        if not isinstance(gpus_per_job, int) or isinstance(gpus_per_job, bool) or gpus_per_job < 0:
            raise SlurmConfigError(
                f"hydra.launcher.gpus_per_job must be a non-negative integer, got {gpus_per_job!r}"
            )
        clashes = [k for k in ("gpus_per_node", "gpus_per_task") if params.get(k)]
        if "gpu" in str(params.get("gres") or ""):
            clashes.append("gres")
        if "gpus" in additional:
            clashes.append("additional_parameters.gpus")
        if clashes and gpus_per_job:
            raise SlurmConfigError(
                f"hydra.launcher.gpus_per_job={gpus_per_job} and hydra.launcher."
                f"{clashes[0]} both ask Slurm for GPUs; set only one of them "
                "(gpus_per_job: GPUs for the whole job; gpus_per_node: on every node)"
            )
        if gpus_per_job:
            additional["gpus"] = gpus_per_job
    if additional:
        out["slurm_additional_parameters"] = additional
    return out


class SqueueWatcher(SlurmInfoWatcher):
    """submitit's Slurm watcher, falling back to ``squeue`` where ``sacct`` cannot answer."""

    def __init__(self, delay_s: int = 60) -> None:
        super().__init__(delay_s=delay_s)
        self._sacct_works: Optional[bool] = None

    def update(self) -> None:
        to_check = sorted({x.split("_")[0] for x in self._registered - self._finished})
        if not to_check:
            return
        self._num_calls += 1
        info: Optional[Dict[str, Dict[str, str]]] = None
        if self._sacct_works is not False:
            info = self._ask_sacct(to_check)
        if info is None:
            info = self._ask_squeue(to_check)
        if info is not None:
            self._info_dict.update(info)
        self._last_status_check = time.time()
        for job_id in self._registered - self._finished:
            if self.is_done(job_id, mode="cache"):
                self._finished.add(job_id)

    def is_done(self, job_id: str, mode: str = "standard") -> bool:
        return self.get_state(job_id, mode=mode).upper() not in INCOMPLETE_STATES

    def _ask_sacct(self, ids: Sequence[str]) -> Optional[Dict[str, Dict[str, str]]]:
        command = ["sacct", "-o", "JobID,State,NodeList", "--parsable2"]
        for jid in ids:
            command.extend(["-j", jid])
        proc = _run(command)
        if proc is None or proc.returncode != 0:
            if self._sacct_works is None:
                why = proc.stderr.strip() if proc is not None else "sacct not found"
                log.info(f"sacct cannot tell job states ({why}); using squeue instead")
            self._sacct_works = False
            return None
        self._sacct_works = True
        info = self.read_info(proc.stdout)
        # sacct can lag behind the controller for a moment after submission: ask squeue
        # for what it does not list yet.
        missing = [j for j in ids if not any(k.split("_")[0] == j for k in info)]
        if missing:
            info.update(self._ask_squeue(missing, mark_gone=False) or {})
        return info

    def _ask_squeue(
        self, ids: Sequence[str], mark_gone: bool = True
    ) -> Optional[Dict[str, Dict[str, str]]]:
        command = ["squeue", "--noheader", "--array", "--states=all",
                   "--format=%i|%T|%N", "--jobs=" + ",".join(ids)]
        proc = _run(command)
        if proc is None:
            return None
        if proc.returncode != 0:
            if "Invalid job id" not in proc.stderr:
                log.warning(f"squeue failed ({proc.stderr.strip()}); job states may lag")
                return None
            # Every job asked about is unknown to the controller: purged after MinJobAge.
            out = ""
        else:
            out = proc.stdout
        info = self.read_info("JobID|State|NodeList\n" + out)
        if mark_gone:
            for job_id in self._registered - self._finished:
                if job_id.split("_")[0] in ids and job_id not in info:
                    info[job_id] = {"JobID": job_id, "State": GONE_STATE, "NodeList": ""}
        return info


def _run(command: List[str]) -> Optional[subprocess.CompletedProcess]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        log.warning(f"{command[0]} failed: {e}")
        return None


def job_log_path(job: Any) -> Optional[str]:
    """The stderr file of a submitit job (stdout when stderr goes there)."""
    try:
        paths = job.paths
        return str(paths.stderr if paths.stderr.exists() else paths.stdout)
    except Exception:  # noqa: BLE001 - a log path is a courtesy in an error message
        return None


def collect_returns(
    jobs: Sequence[Any],
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    compose_failed: Any = None,
    on_job_done: Optional[Callable[[int, Any], None]] = None,
    poll_s: float = 1.0,
) -> List[Any]:
    """Wait for every job and return one ``JobReturn`` per job, in job order.

    A job that failed (the task raised, or Slurm ended it before it wrote a result) gives
    a FAILED ``JobReturn`` whose ``_return_value`` is a ``JobFailedError`` naming the job,
    its Slurm id and its log, with the task's own exception as ``__cause__``; one failure
    never hides the results of the other jobs. ``compose_failed(overrides, idx, job_id)``
    (optional) returns ``(sweep_config, job_dir)`` for a job that came back with nothing.
    ``on_job_done(job_idx, job_return)`` is called as each job ends, in the order they
    end, so a sweeper records results while the array still runs.
    """
    returns: Dict[int, Any] = {}
    pending = list(range(len(jobs)))
    while pending:
        ended = [offset for offset in pending if jobs[offset].done()]
        if not ended:
            time.sleep(poll_s)
            continue
        for offset in ended:
            idx = initial_job_idx + offset
            ret = _job_return(jobs[offset], list(job_overrides[offset]), idx, compose_failed)
            returns[offset] = ret
            if on_job_done is not None:
                try:
                    on_job_done(idx, ret)
                except Exception as e:  # noqa: BLE001 - a recording failure must not lose the sweep
                    log.error(f"Recording job #{idx} failed: {type(e).__name__}: {e}")
        pending = [offset for offset in pending if offset not in returns]
    return [returns[offset] for offset in range(len(jobs))]


def _job_return(job: Any, overrides: List[str], idx: int, compose_failed: Any) -> Any:
    """The ``JobReturn`` of one ended job (see :func:`collect_returns`)."""
    from hydra.core.utils import JobReturn, JobStatus

    from hydra_plugins.alchemy_launcher._impl import JobFailedError

    where = f"job #{idx} (Slurm job {job.job_id}; {' '.join(overrides) or 'no overrides'})"
    log_path = job_log_path(job)

    def failed(reason: str, cause: Optional[BaseException]) -> Any:
        err = JobFailedError(f"{where} {reason}; log: {log_path}", job_idx=idx,
                             reason=reason, log_path=log_path)
        err.__cause__ = cause
        return err

    try:
        job.wait()
        if not job.paths.result_pickle.exists() and _state(job) != "COMPLETED":
            # Slurm ended it: no result is coming. submitit's 15 s wait for a slow
            # file system would add up over many killed jobs.
            job._results_timeout_s = KILLED_RESULT_GRACE_S
        ret = job.result()
    except Exception as e:  # noqa: BLE001 - any failure of one job stays that job's
        state = _state(job)
        reason = f"ended without a result (Slurm state {state}): {type(e).__name__}: {e}"
        ret = JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=failed(reason, e))
        _fill_failed(ret, compose_failed, overrides, idx, job.job_id)
        log.error(f"{where} failed: {reason.splitlines()[0]}")
        return ret
    if ret.status == JobStatus.FAILED:
        cause = ret._return_value
        ret._return_value = failed(f"raised {type(cause).__name__}: {cause}", cause)
    return ret


def _state(job: Any) -> str:
    try:
        return str(job.watcher.get_state(job.job_id, mode="cache"))
    except Exception:  # noqa: BLE001
        return "UNKNOWN"


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
    from hydra_plugins.alchemy_launcher._impl import attach_job_config

    attach_job_config(ret, sweep_config, job_dir)
