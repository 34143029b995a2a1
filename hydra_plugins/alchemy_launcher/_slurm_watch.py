"""Job states for ``hydra/launcher=alchemy_slurm`` that work without Slurm accounting.

submitit learns a job's state from ``sacct``, which needs Slurm's accounting database
(slurmdbd). Many small clusters (and every laptop cluster) run without it; there
``sacct`` fails, submitit logs "Bypassing sacct error" and keeps the state at UNKNOWN
forever. A job that writes its result is still seen (submitit looks for the result
file), but a job Slurm kills before that (scancel, node failure, time limit without
requeue, out of memory) would make the sweep wait for ever. :class:`SqueueWatcher` asks
``sacct`` first and, when that fails, ``squeue --states=all``, which knows every job the
controller still holds (finished ones for ``MinJobAge``, 300 s by default); a job it no
longer knows has ended long ago.

How it is plugged in, without writing any private field of submitit: a ``SlurmJob``
subclass whose ``watcher`` class attribute is ours, and :func:`attach`, which builds one
for each submitted job from its id (``SlurmJob(folder, job_id)`` is submitit's own way
to get hold of a job again). An executor ``job_class`` would not do: submitit builds the
jobs of an array as plain ``SlurmJob`` s whatever the executor's ``job_class``. The
watcher is a class of its own with the methods a job calls (``register_job``,
``get_info``, ``get_state``, ``is_done``), not a subclass of submitit's ``InfoWatcher``,
which keeps its state in private fields a subclass would have to write; it borrows
only the public ``SlurmInfoWatcher.read_info`` parser.

submitit is imported here at module level: import this module lazily (inside
``launch``), never from a module Hydra imports at start-up.
"""
from __future__ import annotations

import logging
import subprocess
import time
from typing import Any, Dict, List, Optional, Sequence, Set

from submitit.slurm.slurm import SlurmInfoWatcher, SlurmJob

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

Info = Dict[str, Dict[str, str]]


class SqueueWatcher:
    """Slurm job states from ``sacct``, or from ``squeue`` where ``sacct`` cannot answer.

    Asks for every registered, unfinished job at once, at most every 2 s at first and
    then less often (half the time since the last job was registered, up to
    ``delay_s``), like submitit's watcher; ``mode="force"`` asks now, ``"cache"`` never.
    """

    def __init__(self, delay_s: float = 60) -> None:
        self.delay_s = delay_s
        self.num_calls = 0
        self._parser = SlurmInfoWatcher()
        self._registered: Set[str] = set()
        self._finished: Set[str] = set()
        self._info: Info = {}
        self._registered_at = 0.0
        self._checked_at = float("-inf")
        self._sacct_works: Optional[bool] = None

    def register_job(self, job_id: str) -> None:
        self._registered.add(str(job_id))
        self._registered_at = time.time()
        self._checked_at = float("-inf")

    def clear(self) -> None:
        self._finished.clear()
        self._info.clear()
        self._checked_at = float("-inf")

    def get_info(self, job_id: str, mode: str = "standard") -> Dict[str, str]:
        if job_id not in self._registered:
            self.register_job(job_id)
        if mode != "cache":
            since_check = time.time() - self._checked_at
            delay = 0.001 if mode == "force" else min(
                self.delay_s, max(2.0, (time.time() - self._registered_at) / 2))
            if since_check > delay:
                self.update()
        return self._info.get(job_id, {})

    def get_state(self, job_id: str, mode: str = "standard") -> str:
        return self.get_info(job_id, mode=mode).get("State") or "UNKNOWN"

    def is_done(self, job_id: str, mode: str = "standard") -> bool:
        return self.get_state(job_id, mode=mode).upper() not in INCOMPLETE_STATES

    def update(self) -> None:
        to_check = sorted({x.split("_")[0] for x in self._registered - self._finished})
        if not to_check:
            return
        self.num_calls += 1
        info: Optional[Info] = None
        if self._sacct_works is not False:
            info = self._ask_sacct(to_check)
        if info is None:
            info = self._ask_squeue(to_check)
        if info is not None:
            self._info.update(info)
        self._checked_at = time.time()
        for job_id in self._registered - self._finished:
            if self.is_done(job_id, mode="cache"):
                self._finished.add(job_id)

    def _ask_sacct(self, ids: Sequence[str]) -> Optional[Info]:
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
        info = self._parser.read_info(proc.stdout)
        # sacct can lag behind the controller for a moment after submission: ask squeue
        # for what it does not list yet.
        missing = [j for j in ids if not any(k.split("_")[0] == j for k in info)]
        if missing:
            info.update(self._ask_squeue(missing, mark_gone=False) or {})
        return info

    def _ask_squeue(self, ids: Sequence[str], mark_gone: bool = True) -> Optional[Info]:
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
        info = self._parser.read_info("JobID|State|NodeList\n" + out)
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


class AlchemySlurmJob(SlurmJob):
    """A submitit Slurm job whose states come from :class:`SqueueWatcher`."""

    watcher = SqueueWatcher(delay_s=60)  # type: ignore[assignment]


def attach(jobs: Sequence[Any], folder: Any) -> List[AlchemySlurmJob]:
    """The submitted ``jobs`` as :class:`AlchemySlurmJob` s (same ids, same files)."""
    return [AlchemySlurmJob(folder=folder, job_id=j.job_id, tasks=list(range(j.num_tasks)))
            for j in jobs]
