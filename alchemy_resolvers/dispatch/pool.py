"""Dynamic dispatch of jobs as fresh processes: the loop behind ``hydra/launcher=alchemy``.

A job starts the moment a slot is free (GPUs from a :class:`SlotAllocator`, or one of
``max_parallel`` CPU slots): no batches, no static slices. Completion is seen at once
through pidfds (Linux) or a short poll; GPU readings are retaken when a job ends and
every ``poll_interval`` seconds while jobs wait for GPUs.

Knows nothing about Hydra: a job is a command line, an environment and a log file, so
tests and benchmarks drive the exact loop the launcher uses. With a
:class:`~.forkserver.ForkServer`, a job that says what the zygote should run
(``Prepared.fork_job``) is forked from it instead (no interpreter start-up, no imports);
the job's process is the same to this loop either way (own session, log, leases, exit
status).

Every job dies with the sweep (:mod:`.lifeline`: a pipe only this process can close
and a parent-death signal), and a job given a directory to lock (``Prepared.lock_dir``)
never starts while an earlier process of the same combination still runs
(:mod:`.joblock`). A ``retry`` hook may run a failed job again (a new start, in the
same slot order), and a ``stop_check`` hook stops starting jobs: those never started
come back as ``Outcome.skipped``.
"""
from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Deque, Dict, List, Mapping, Optional, Sequence

from alchemy_resolvers.gpu.allocator import Allocation, SlotAllocator

from .forkserver import ForkServer
from .joblock import LOCK_NAME, JobLock
from .lifeline import Lifeline
from .progress import Progress

log = logging.getLogger(__name__)

#: Seconds between SIGTERM and SIGKILL for a job over its time limit.
KILL_GRACE_S = 5.0


@dataclass
class Prepared:
    """What it takes to start one job, decided right before it starts."""

    argv: List[str]
    log_path: Path
    env: Optional[Mapping[str, str]] = None  #: full environment; None = ours
    cwd: Optional[str] = None
    #: What a fork server's zygote runs for this job (picklable); None: ``argv``
    #: always starts it, as it does when no fork server is given or it cannot fork.
    fork_job: Any = None
    #: The job's directory: its lock file (:mod:`.joblock`) is taken before the job
    #: starts and given back when its process has ended. None: no lock.
    lock_dir: Optional[Path] = None


@dataclass
class ProcessJob:
    index: int
    label: str
    #: Called just before the job starts, with the GPUs it got ([] for CPU jobs);
    #: builds the command (e.g. composes the job's config to learn its directory).
    prepare: Callable[[List[str]], Prepared]
    #: Called (at most once) while the job is next in line and every slot is busy:
    #: work ``prepare`` would do that needs no slot (composing the config), done while
    #: the running jobs use the CPUs instead of after a slot frees. Its errors are
    #: ignored: ``prepare`` meets them again and the job fails with them.
    look_ahead: Optional[Callable[[], None]] = None


@dataclass
class Outcome:
    index: int
    gpus: List[str] = field(default_factory=list)
    returncode: Optional[int] = None
    started: float = 0.0  #: time.time() at start
    ended: float = 0.0
    timed_out: bool = False
    log_path: Optional[Path] = None
    #: the job never ran: preparing or spawning it raised this
    error: Optional[BaseException] = None
    #: which run of the job this is (1, then 2 after a retry, ...)
    attempt: int = 1
    #: never started: ``stop_check`` said stop first
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.returncode == 0 and not self.timed_out

    def reason(self, timeout_s: Optional[float] = None) -> str:
        """Why the job failed, in words (empty when it did not)."""
        if self.error is not None:
            return f"could not be started: {type(self.error).__name__}: {self.error}"
        if self.timed_out:
            lim = f"{timeout_s / 60:g} min" if timeout_s else "its limit"
            return f"timed out after {lim} (timeout_min) and was killed"
        rc = self.returncode
        if rc is None or rc == 0:
            return ""
        if rc < 0:
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            return f"was killed by {name} (signal {-rc})"
        return f"exited with code {rc}"


@dataclass
class _Running:
    job: ProcessJob
    proc: Any  #: a subprocess.Popen, or a forkserver.ForkedProcess
    outcome: Outcome
    alloc: Optional[Allocation]
    logfile: IO[bytes]
    deadline: float
    kill_at: float = float("inf")
    pidfd: Optional[int] = None
    lock: Optional[JobLock] = None


class Dispatcher:
    """Runs :class:`ProcessJob` s, each in a fresh process in its own session, with
    stdout+stderr in its log file. Returns one :class:`Outcome` per job, in job order."""

    def __init__(
        self,
        jobs: Sequence[ProcessJob],
        *,
        allocator: Optional[SlotAllocator] = None,
        max_parallel: Optional[int] = None,
        timeout_s: Optional[float] = None,
        poll_interval: float = 1.0,
        progress: Optional[Progress] = None,
        judge: Optional[Callable[[Outcome], str]] = None,
        fork_server: Optional[ForkServer] = None,
        retry: Optional[Callable[[Outcome], str]] = None,
        stop_check: Optional[Callable[[], bool]] = None,
    ) -> None:
        if max_parallel is not None and max_parallel < 1:
            raise ValueError(f"max_parallel must be >= 1 or None, got {max_parallel}")
        if allocator is None and max_parallel is None:
            raise ValueError("CPU-only dispatch needs max_parallel")
        self.jobs = list(jobs)
        self.allocator = allocator
        self.max_parallel = max_parallel
        self.timeout_s = timeout_s if timeout_s and timeout_s > 0 else None
        self.poll_interval = max(0.01, float(poll_interval))
        self.progress = progress or Progress(
            len(self.jobs), len(allocator.pool) if allocator else None, tty=False
        )
        #: Called as each job ends; returns why it failed ("" = it succeeded). The
        #: default judges by exit status; the Hydra glue also reads the job's result.
        self.judge = judge or (lambda o: o.reason(self.timeout_s))
        self._running: Dict[int, _Running] = {}
        self._sel = selectors.DefaultSelector()
        self._pidfd_ok = hasattr(os, "pidfd_open")
        #: started by the caller, closed by the caller (after run: it reports the exits)
        self.fork_server = fork_server
        self._server_fd: Optional[int] = None  # registered in _sel while the zygote lives
        #: Called as each job ends, before ``judge``: why to run it again (a new start,
        #: in the same place in line), "" for not. Only it knows whether the job failed
        #: (a task that raised may still exit 0).
        self.retry = retry
        self._aborting = False
        #: Called before each start: True stops starting jobs for good.
        self.stop_check = stop_check
        self._stopped = False
        self._attempts: Dict[int, int] = {}
        #: jobs queued to run again -> how their last run ended
        self._retrying: Dict[int, Outcome] = {}
        self._pending: Deque[ProcessJob] = deque()
        self._lifeline: Optional[Lifeline] = None
        #: job directories whose lock a running job of ours holds: a second job of this
        #: sweep in the same folder (a constant hydra.sweep.subdir) is no earlier process
        self._locked: Dict[Path, int] = {}
        self._looked_ahead: set = set()

    # ----------------------------------------------------------------- main loop
    def run(self) -> List[Outcome]:
        pending = self._pending = deque(self.jobs)
        outcomes: Dict[int, Outcome] = {}
        next_poll = 0.0  # when GPU readings may be retaken while jobs wait
        stale = True  # a job ended (or nothing read yet): readings are out of date
        old_term = None
        if threading.current_thread() is threading.main_thread():
            # A launcher stopped with SIGTERM (kill, Slurm, a sweeper giving up) stops
            # its jobs too, instead of leaving them running on the GPUs.
            old_term = signal.signal(signal.SIGTERM, _raise_on_sigterm)
        if os.name == "posix":
            self._lifeline = Lifeline()
        try:
            while pending or self._running:
                now = time.monotonic()
                blocked = False
                if pending and (stale or now >= next_poll):
                    blocked = self._fill(pending, outcomes, refresh=True)
                    stale = False
                    next_poll = now + self.poll_interval
                elif pending:
                    blocked = True
                if not self._running and not pending:
                    break
                if self._wait(pending_blocked=blocked and bool(pending), next_poll=next_poll):
                    stale = True
                if self._reap(outcomes):
                    stale = True
                self._check_deadlines()
                self.progress.draw()
        finally:
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
            self._abort_all(outcomes)
            if self._lifeline is not None:
                self._lifeline.close()
                self._lifeline = None
            self._sel.close()
            self.progress.close()
        return [outcomes[j.index] for j in self.jobs]

    def _stop_requested(self) -> bool:
        """Whether ``stop_check`` has said stop (it is not asked again once it has)."""
        if not self._stopped and self.stop_check is not None:
            try:
                self._stopped = bool(self.stop_check())
            except Exception as e:  # noqa: BLE001 - a broken hook must not lose the jobs
                log.error(f"stop check failed: {type(e).__name__}: {e}")
        return self._stopped

    def _skip_pending(self, pending: Deque[ProcessJob], outcomes: Dict[int, Outcome]) -> None:
        if pending:
            log.info(f"stop requested: {len(pending)} job(s) not started")
        while pending:
            job = pending.popleft()
            last = self._retrying.pop(job.index, None)
            if last is None:
                outcomes[job.index] = Outcome(index=job.index, skipped=True, attempt=0)
                continue
            # queued to run again when the stop came: its last run is its outcome
            outcomes[job.index] = last
            self.progress.running += 1
            self.progress.finished(job.label, False, last.ended - last.started,
                                   self.judge(last) or last.reason(self.timeout_s), last.log_path)

    def _fill(self, pending: Deque[ProcessJob], outcomes: Dict[int, Outcome], refresh: bool) -> bool:
        """Start jobs while slots are free; True when jobs are left waiting for GPUs."""
        refreshed = False
        while pending:
            if self.max_parallel is not None and len(self._running) >= self.max_parallel:
                return False
            if self._stop_requested():
                self._skip_pending(pending, outcomes)
                return False
            alloc = None
            if self.allocator is not None:
                if refresh and not refreshed:
                    self.allocator.refresh()
                    refreshed = True
                alloc = self.allocator.try_acquire()
                if alloc is None:
                    if self.allocator.wait_reason:
                        self.progress.waiting(self.allocator.wait_reason)
                    return True
            job = pending.popleft()
            self._retrying.pop(job.index, None)
            self._start(job, alloc, outcomes)
        return False

    def _start(self, job: ProcessJob, alloc: Optional[Allocation], outcomes: Dict[int, Outcome]) -> None:
        gpus = list(alloc.gpus) if alloc else []
        attempt = self._attempts.setdefault(job.index, 1)
        out = Outcome(index=job.index, gpus=gpus, started=time.time(), attempt=attempt)
        logfile = None
        lock: Optional[JobLock] = None
        try:
            prep = job.prepare(gpus)
            out.log_path = prep.log_path
            if prep.lock_dir is not None and prep.lock_dir not in self._locked:
                lock = JobLock.acquire(prep.lock_dir)  # before the log: it may be another's
            prep.log_path.parent.mkdir(parents=True, exist_ok=True)
            logfile = open(prep.log_path, "ab", buffering=0)
            proc = self._spawn(prep, logfile, alloc.fds if alloc else ())
            if lock is not None:
                self._locked[prep.lock_dir] = job.index  # type: ignore[index]
                lock.hand_to(proc.pid)
        except Exception as e:  # noqa: BLE001 - becomes this job's failure, others go on
            if lock is not None:
                self._locked.pop(lock.path.parent, None)
                lock.release()
            if logfile is not None:
                logfile.close()
            if alloc is not None:
                self.allocator.release(alloc)  # type: ignore[union-attr]
            out.error = e
            out.ended = time.time()
            outcomes[job.index] = out
            self.progress.running += 1
            self.progress.finished(job.label, False, 0.0, self.judge(out) or out.reason(),
                                   out.log_path)
            return
        if alloc is not None:
            alloc.pid = proc.pid
            self.progress.gpus_in_use = self.allocator.in_use  # type: ignore[union-attr]
        deadline = time.monotonic() + self.timeout_s if self.timeout_s else float("inf")
        r = _Running(job, proc, out, alloc, logfile, deadline, lock=lock)
        if isinstance(proc, subprocess.Popen) and self._pidfd_ok:
            try:
                r.pidfd = os.pidfd_open(proc.pid)
                self._sel.register(r.pidfd, selectors.EVENT_READ, proc.pid)
            except OSError:
                self._pidfd_ok = False
                r.pidfd = None
        self._running[proc.pid] = r
        self.progress.started(job.label, gpus, prep.log_path)

    def _spawn(self, prep: Prepared, logfile: IO[bytes], fds: Sequence[int]) -> Any:
        """Fork the job from the zygote when it can, else start a fresh interpreter;
        either way in its own session, stdout+stderr in its log, holding its GPU
        leases itself."""
        server = self.fork_server
        line = self._lifeline
        lock_path = str(prep.lock_dir / LOCK_NAME) if prep.lock_dir is not None else None
        if server is not None and prep.fork_job is not None:
            env = prep.env if prep.env is not None else os.environ
            proc = server.spawn(prep.fork_job, logfile.fileno(), env, prep.cwd, fds,
                                lifeline_fd=line.read_fd if line else None, lock_path=lock_path)
            if proc is not None:
                if self._server_fd is None and server.alive:
                    self._server_fd = server.fileno()
                    self._sel.register(self._server_fd, selectors.EVENT_READ, None)
                return proc
        env = dict(prep.env) if prep.env is not None else None
        if line is not None:
            env = {**(env if env is not None else os.environ), **line.env(lock_path)}
            fds = (*fds, line.read_fd)
        return subprocess.Popen(
            prep.argv,
            stdin=subprocess.DEVNULL,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=prep.cwd,
            start_new_session=True,  # own process group: a timeout kills its children too
            pass_fds=fds,  # the job itself holds its GPU leases (and its lifeline)
        )

    def _can_select(self) -> bool:
        """Whether every running job's end wakes the selector (a pidfd, or the
        zygote's socket while it lives)."""
        if self._server_fd is not None and not self.fork_server.alive:  # type: ignore[union-attr]
            self._sel.unregister(self._server_fd)  # at EOF it would always be readable
            self._server_fd = None
        if not self._pidfd_ok:
            return False
        forked_ok = self._server_fd is not None
        return all(r.pidfd is not None or (forked_ok and not isinstance(r.proc, subprocess.Popen))
                   for r in self._running.values())

    def _wait(self, pending_blocked: bool, next_poll: float) -> bool:
        """Sleep until a child exits, a deadline passes, or GPUs should be re-read.
        Returns True when the wait ended because readings are due."""
        now = time.monotonic()
        until = float("inf")
        if pending_blocked:
            until = next_poll
        for r in self._running.values():
            until = min(until, r.deadline, r.kill_at)
        if self.progress.tty:
            until = min(until, now + 0.5)
        timeout = max(0.0, until - now)
        if not self._running:
            time.sleep(min(timeout, self.poll_interval))
            return True
        if self.fork_server is not None and self.fork_server.has_exits():
            return False  # a job's end was read already: _reap takes it now
        if self._look_ahead():
            timeout = 0.0  # that took a while: see what ended meanwhile, then wait again
        if self._can_select():
            self._sel.select(timeout=min(timeout, 3600.0))
        else:
            time.sleep(min(timeout, 0.02))
        return pending_blocked and time.monotonic() >= next_poll

    def _look_ahead(self) -> bool:
        """Run ``look_ahead`` of the first job in line that has not had it, among as
        many as could start when the running ones end; True if one ran now."""
        depth = len(self._running) or 1
        for job in list(self._pending)[:depth]:
            if job.look_ahead is None or job.index in self._looked_ahead:
                continue
            self._looked_ahead.add(job.index)
            try:
                job.look_ahead()
            except Exception:  # noqa: BLE001 - prepare meets it again, as the job's failure
                pass
            return True
        return False

    def _reap(self, outcomes: Dict[int, Outcome]) -> bool:
        ended = False
        for pid, r in list(self._running.items()):
            rc = r.proc.poll()
            if rc is None:
                continue
            ended = True
            self._finish(r, rc, outcomes)
        return ended

    def _finish(self, r: _Running, rc: int, outcomes: Dict[int, Outcome]) -> None:
        del self._running[r.proc.pid]
        if r.pidfd is not None:
            try:
                self._sel.unregister(r.pidfd)
            except (KeyError, ValueError):
                pass
            os.close(r.pidfd)
        if r.outcome.timed_out:
            _killpg(r.proc.pid, signal.SIGKILL)  # leftovers of a killed job
        r.logfile.close()
        if r.lock is not None:
            self._locked.pop(r.lock.path.parent, None)
            r.lock.release()
        if r.alloc is not None:
            self.allocator.release(r.alloc)  # type: ignore[union-attr]
            self.progress.gpus_in_use = self.allocator.in_use  # type: ignore[union-attr]
        out = r.outcome
        out.returncode = rc
        out.ended = time.time()
        if self._retried(r.job, out):
            return
        outcomes[out.index] = out
        reason = self.judge(out)
        self.progress.finished(r.job.label, not reason, out.ended - out.started, reason,
                               out.log_path)

    def _retried(self, job: ProcessJob, out: Outcome) -> bool:
        """Put a failed job back first in line when ``retry`` says so (never once a
        stop was requested: a retry is a new start)."""
        if self.retry is None or self._aborting or self._stopped:
            return False
        why = self.retry(out)
        if not why or self._stop_requested():
            return False
        self._attempts[job.index] = out.attempt + 1
        self._retrying[job.index] = out
        self._pending.appendleft(job)
        self.progress.running -= 1
        log.warning(f"retrying {job.label} (attempt {out.attempt + 1}): {why}")
        return True

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for r in self._running.values():
            if now >= r.kill_at:
                _killpg(r.proc.pid, signal.SIGKILL)
                r.kill_at = float("inf")
            elif now >= r.deadline and not r.outcome.timed_out:
                r.outcome.timed_out = True
                _killpg(r.proc.pid, signal.SIGTERM)
                r.kill_at = now + KILL_GRACE_S
                r.deadline = float("inf")

    def _abort_all(self, outcomes: Dict[int, Outcome]) -> None:
        """On an exception or Ctrl-C in the loop: stop every job we started."""
        if not self._running:
            return
        self._aborting = True
        for r in self._running.values():
            _killpg(r.proc.pid, signal.SIGTERM)
        t_end = time.monotonic() + KILL_GRACE_S
        while self._running and time.monotonic() < t_end:
            for r in list(self._running.values()):
                rc = r.proc.poll()
                if rc is not None:
                    self._finish(r, rc, outcomes)
            time.sleep(0.02)
        for r in list(self._running.values()):
            _killpg(r.proc.pid, signal.SIGKILL)
            self._finish(r, r.proc.wait(), outcomes)


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _killpg(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
