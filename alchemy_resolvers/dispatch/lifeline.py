"""Jobs that end with their sweep, however the sweep ends.

A job runs in its own session (so a timeout can kill its whole process group), which
also means nothing kills it when the sweep's process is SIGKILLed, or dies of an
out-of-memory kill: without this module it would keep its GPUs and, worse, a resume
would start the same combination a second time next to it. Two independent ways tell
a job that its sweep is gone, and either kills the job's whole process group:

* a **lifeline pipe**: the sweep holds the only write end (never inherited by anyone),
  every job gets the read end. Nobody ever writes, so the read end becomes readable
  exactly when the last write end closes, which the kernel does when the sweep dies,
  whatever killed it. A watcher thread in the job waits on it (and beats the job's
  lock file's heartbeat, :mod:`.joblock`, in between);
* a **parent-death signal** (Linux ``prctl(PR_SET_PDEATHSIG)``): the kernel signals
  the job when its parent dies; that covers a task that closed the pipe's descriptor.
  A forked job's parent is the zygote, which gets ``SIGKILL`` as its own parent-death
  signal, so the chain sweep -> zygote -> job holds.

A job's parent-death signal is :data:`DEATH_SIGNAL`, a real-time signal nothing else
uses, handled by killing the job's process group: ``SIGKILL`` itself would kill only
the job's own process, leaving its children running. ``prctl`` has a race (the parent
may have died before the call), so the parent's pid is checked right after it.

Neither mechanism needs anything from the task; both are armed before it runs
(:func:`arm_job`, by ``_worker`` and by the zygote's child). The watcher thread makes
the job's process multi-threaded: a task that forks (``multiprocessing``'s fork start)
is safe (the thread holds no lock), though Python 3.12+ warns about it
(``DeprecationWarning``, hidden by default).
"""
from __future__ import annotations

import ctypes
import functools
import json
import os
import select
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Mapping, Optional

__all__ = ["Lifeline", "arm_job", "arm_job_from_env", "die_with_parent", "ENV", "PARENT_ENV",
           "DEATH_SIGNAL", "HEARTBEAT_S"]

#: Environment variable that tells a fresh interpreter its lifeline: JSON with the
#: read end's descriptor, the pid its parent must have, and its lock file. Removed from
#: the environment before the task runs.
ENV = "HYDRA_ALCHEMY_LIFELINE"
#: Environment variable with the pid of the zygote's parent (the sweep).
PARENT_ENV = "HYDRA_ALCHEMY_PARENT_PID"
#: Seconds between heartbeats of a job's lock file.
HEARTBEAT_S = 2.0

_PR_SET_PDEATHSIG = 1
#: The signal a job gets when its parent dies (see the module docstring).
DEATH_SIGNAL: int = (signal.SIGRTMIN + 5) if hasattr(signal, "SIGRTMIN") else signal.SIGTERM


class Lifeline:
    """The sweep's side: a pipe whose write end only this process holds.

    ``read_fd`` goes to every job (``pass_fds``, or sent to the zygote); it is
    non-inheritable here, so no other child of the sweep keeps the pipe open."""

    def __init__(self) -> None:
        self.read_fd, self._write_fd = os.pipe()  # both O_CLOEXEC (PEP 446)
        self.parent_pid = os.getpid()

    def env(self, lock_path: Optional[Path]) -> Dict[str, str]:
        """What a fresh interpreter started by this process needs to arm itself."""
        return {ENV: json.dumps({"fd": self.read_fd, "parent": self.parent_pid,
                                 "lock": str(lock_path) if lock_path else None})}

    def close(self) -> None:
        for fd in (self.read_fd, self._write_fd):
            try:
                os.close(fd)
            except OSError:
                pass


@functools.lru_cache(maxsize=None)
def _libc() -> Optional[ctypes.CDLL]:
    """The C library, loaded once per process (and inherited by forked jobs).
    ``CDLL(None)`` is the running program's own symbols, libc's among them;
    ``ctypes.util.find_library`` would run ``ldconfig -p`` in a subprocess, for
    every job."""
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _prctl_pdeathsig(sig: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, sig)``; False where that does not exist."""
    if not sys.platform.startswith("linux"):
        return False
    libc = _libc()
    try:
        return libc is not None and libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except AttributeError:
        return False


def kill_own_group() -> None:
    """Kill this process's whole process group when it leads one (a job in its own
    session), else just this process: never the group of whoever started us."""
    pid = os.getpid()
    try:
        if os.getpgrp() == pid:
            os.killpg(pid, signal.SIGKILL)
    finally:
        os.kill(pid, signal.SIGKILL)


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL) -> None:
    """Have the kernel send ``sig`` when our parent dies; if it is already gone (the
    ``prctl`` race), exit now."""
    _prctl_pdeathsig(sig)
    if os.getppid() != parent_pid:
        kill_own_group()


def _on_parent_death(signum: int, frame: object) -> None:
    kill_own_group()


def _identity(fd: int) -> Optional[tuple]:
    try:
        st = os.fstat(fd)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _watch(fd: int, lock_path: Optional[str]) -> None:
    """The watcher thread: kill the job's group at the lifeline's EOF; beat the lock
    file's heartbeat meanwhile.

    Nobody writes to the pipe, so readable means every write end is closed. Unless the
    task closed the descriptor (and maybe opened something else under its number):
    then the watch ends, and the parent-death signal alone guards the job."""
    pipe = _identity(fd)
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    watching = True
    while True:
        if not watching:
            time.sleep(HEARTBEAT_S)
        elif poller.poll(HEARTBEAT_S * 1000):
            if _identity(fd) == pipe:
                kill_own_group()
            watching = False
        if lock_path:
            try:
                os.utime(lock_path)
            except OSError:
                pass


def arm_job(lifeline_fd: Optional[int], parent_pid: int, lock_path: Optional[str]) -> None:
    """In a job's process, before its task runs: die (with the whole process group)
    when ``parent_pid`` dies or the lifeline reaches EOF."""
    if hasattr(signal, "SIGRTMIN"):
        signal.signal(DEATH_SIGNAL, _on_parent_death)
        die_with_parent(parent_pid, DEATH_SIGNAL)
    if lifeline_fd is not None:
        threading.Thread(target=_watch, args=(lifeline_fd, lock_path),
                         name="alchemy-lifeline", daemon=True).start()


def arm_job_from_env(environ: Optional[Mapping[str, str]] = None) -> None:
    """:func:`arm_job` as :class:`Lifeline` ``.env`` described it (nothing when the
    variable is absent: a process not started by the dispatcher). The variable is
    removed, so the task and its own children never see it."""
    value = (os.environ if environ is None else environ).get(ENV)
    os.environ.pop(ENV, None)
    if not value:
        return
    spec = json.loads(value)
    arm_job(spec.get("fd"), int(spec["parent"]), spec.get("lock"))


def zygote_env() -> Dict[str, str]:
    """What the zygote needs to die with this process (see :func:`die_with_parent`)."""
    return {PARENT_ENV: str(os.getpid())}


def zygote_dies_with_parent() -> None:
    """In the zygote: SIGKILL when the sweep dies (its jobs follow through their own
    parent-death signal)."""
    parent = os.environ.pop(PARENT_ENV, None)
    if parent:
        die_with_parent(int(parent), signal.SIGKILL)
