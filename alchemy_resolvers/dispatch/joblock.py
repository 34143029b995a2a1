"""One process per combination: the lock file in each job's directory.

A resume (or a second launcher on the same sweep dir) must never start a combination
whose earlier process still runs: two processes would write the same folder and the
same checkpoints. The dispatcher takes ``<job dir>/.alchemy_job.lock`` before it
starts a job and gives it back when the job's process has ended.

The file holds one line of JSON naming its holder::

    {"pid": 4242, "start": "918273", "boot": "5f0c...", "host": "node1", "role": "job"}

``start`` is the process's start time (``/proc/<pid>/stat``, clock ticks since boot)
and ``boot`` the kernel's boot id, so a pid reused by another process, or a lock left
from before a reboot, is not taken for the holder. ``role`` is ``launcher`` between
taking the lock and starting the job, ``job`` once the job's process runs. The file's
mtime is a heartbeat: the job's watcher thread (:mod:`.lifeline`) touches it every
:data:`~.lifeline.HEARTBEAT_S` seconds.

A lock is **live** when, on this machine, its pid runs with the recorded start time
(a hung process is still live: taking its lock would run the combination twice); for a
holder on another machine (a shared file system), when its heartbeat is younger than
:data:`STALE_AFTER_S`. Anything else is **stale** and taken over. A live lock is waited
for (up to :data:`WAIT_S`: a job of a killed sweep needs a moment to die); then the
job fails with :class:`JobStillRunningError` naming the pid.

Every read-decide-write happens under ``flock`` on the file, and the file is only
removed under that lock, after which a taker that opened the old file notices (its
inode is no longer the path's) and opens again: two launchers can never both take it.
A job that ended normally leaves no file behind.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional

from alchemy_resolvers.errors import AlchemyError

__all__ = ["JobLock", "JobStillRunningError", "LOCK_NAME", "STALE_AFTER_S", "WAIT_S",
           "holder_alive"]

log = logging.getLogger(__name__)

#: The lock file's name in a job's directory.
LOCK_NAME = ".alchemy_job.lock"
#: A heartbeat older than this marks a holder on another machine as gone.
STALE_AFTER_S = 30.0
#: Seconds to wait for a live holder before the job fails.
WAIT_S = 10.0


class JobStillRunningError(AlchemyError, RuntimeError):
    """The combination's earlier process still runs; ``pid`` is that process."""

    def __init__(self, message: str, *, pid: int, file: Optional[str] = None,
                 hint: Optional[str] = None) -> None:
        super().__init__(message, file=file, hint=hint)
        self.pid = pid


def _boot_id() -> Optional[str]:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


_HOST = socket.gethostname()
_BOOT = _boot_id()


def _stat(pid: int) -> Optional[list]:
    """The fields of ``/proc/<pid>/stat`` after the command name, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def _start_time(pid: int) -> Optional[str]:
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _running(pid: int, start: Optional[str]) -> bool:
    """Whether ``pid`` is a live (not zombie) process that started at ``start``."""
    if os.path.isdir("/proc/self"):
        fields = _stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            return False
        return start is None or fields[19] == start
    return pid_exists(pid)


def pid_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists (zombies included), where /proc is missing too."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Holder:
    pid: int
    start: Optional[str]
    boot: Optional[str]
    host: str
    role: str

    @classmethod
    def of(cls, pid: int, role: str) -> "Holder":
        return cls(pid, _start_time(pid), _BOOT, _HOST, role)


def holder_alive(holder: Holder, heartbeat: float) -> bool:
    """See the module docstring: pid and start time here, the heartbeat elsewhere."""
    if holder.host == _HOST and holder.boot and _BOOT:
        return holder.boot == _BOOT and _running(holder.pid, holder.start)
    if holder.host == _HOST and not (holder.boot or _BOOT):
        return _running(holder.pid, holder.start)
    return time.time() - heartbeat < STALE_AFTER_S


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    """The lock file, open and flock-ed; the one the path names now (a holder may
    have removed the file we opened before we got the flock)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)
    try:
        yield fd
    finally:
        os.close(fd)  # also drops the flock


def _read(fd: int) -> Optional[Holder]:
    data = os.pread(fd, 4096, 0)
    try:
        return Holder(**json.loads(data)) if data.strip() else None
    except (ValueError, TypeError):
        return None  # torn or foreign content: nobody we could wait for


def _write(fd: int, holder: Holder) -> None:
    data = (json.dumps(asdict(holder)) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.utime(fd)


class JobLock:
    """The lock of one job directory, held by this launcher for one run of the job."""

    def __init__(self, path: Path, holder: Holder) -> None:
        self.path = path
        self.holder = holder

    @classmethod
    def acquire(cls, job_dir: Path, wait_s: float = WAIT_S, poll_s: float = 0.1) -> "JobLock":
        """Take the lock of ``job_dir`` (created if needed), taking over a stale one;
        wait up to ``wait_s`` for a live one, then raise :class:`JobStillRunningError`."""
        job_dir.mkdir(parents=True, exist_ok=True)
        path = job_dir / LOCK_NAME
        deadline = time.monotonic() + wait_s
        said = False
        while True:
            with _locked(path) as fd:
                old = _read(fd)
                beat = os.fstat(fd).st_mtime
                mine = old is not None and old.pid == os.getpid() and old.host == _HOST
                if old is None or mine or not holder_alive(old, beat):  # mine: left by us
                    if old is not None and not mine:
                        log.info(f"{job_dir}: taking over the lock of pid {old.pid}, which "
                                 "is gone")
                    me = Holder.of(os.getpid(), "launcher")
                    _write(fd, me)
                    return cls(path, me)
            assert old is not None
            if time.monotonic() >= deadline:
                where = f" on {old.host}" if old.host != _HOST else ""
                raise JobStillRunningError(
                    f"{job_dir} is still running in pid {old.pid}{where} from an earlier "
                    f"sweep (its lock {path} is live; waited {wait_s:g} s)",
                    pid=old.pid, file=str(path),
                    hint=f"wait for it to end, or stop it (kill {old.pid}) and resume")
            if not said:
                said = True
                log.info(f"{job_dir}: waiting for pid {old.pid} of an earlier sweep to end")
            time.sleep(poll_s)

    def hand_to(self, pid: int) -> None:
        """The job's process (``pid``) holds the lock from now on."""
        holder = Holder.of(pid, "job")
        with _locked(self.path) as fd:
            _write(fd, holder)
        self.holder = holder

    def release(self) -> None:
        """Remove the lock, unless somebody took it over meanwhile."""
        if not self.path.exists():
            return
        try:
            with _locked(self.path) as fd:
                if _read(fd) == self.holder:
                    os.unlink(self.path)
        except OSError as e:
            log.warning(f"could not release {self.path}: {e}")
