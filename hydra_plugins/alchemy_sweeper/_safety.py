"""What keeps a sweep dir safe: one sweep at a time, no earlier sweep overwritten, no
temporary files left behind, and a Ctrl-C that stops the sweep cleanly.

- :class:`SweepLock`: ``.sweep.lock`` in the sweep dir, held with ``fcntl.flock`` for
  the sweep's lifetime (the kernel drops it when the process dies, so a killed sweep
  never leaves a stale lock); a second sweep on the same dir refuses, naming the pid.
- :func:`archive_earlier_sweep`: without resume, an earlier sweep's state and frame
  move to ``earlier/<time>/`` in the sweep dir before the new sweep starts over.
- :func:`remove_leftovers`: ``.*.tmp`` files of atomic writes a killed sweep left.
- :class:`InterruptGuard`: tells a real Ctrl-C (SIGINT to the sweep process) from a
  ``KeyboardInterrupt`` that a task raised itself.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, Optional

from alchemy_resolvers.errors import SettingsError
from alchemy_resolvers.frame import AGGREGATE_CSV_FILE, CSV_FILE, HTML_FILE, STATE_FILE, XLSX_FILE, StateFile

__all__ = ["SweepLock", "SweepBusyError", "archive_earlier_sweep", "remove_leftovers",
           "InterruptGuard", "LOCK_FILE"]

LOCK_FILE = ".sweep.lock"
#: Where an earlier sweep's files go when a sweep starts over in its dir.
EARLIER_DIR = "earlier"
ARCHIVED = (STATE_FILE, CSV_FILE, XLSX_FILE, HTML_FILE, AGGREGATE_CSV_FILE, "sweep_configs.jsonl", "multirun.yaml")


class SweepBusyError(SettingsError):
    """Another sweep is running in this sweep dir."""


class SweepLock:
    """An exclusive ``flock`` on ``<sweep dir>/.sweep.lock`` that names its holder."""

    def __init__(self, sweep_dir: Path) -> None:
        self.path = Path(sweep_dir) / LOCK_FILE
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise SweepBusyError(
                f"another sweep (pid {holder}) is running in {self.path.parent}: wait for it to end, "
                "or use another hydra.sweep.dir", file=str(self.path), key="hydra.sweep.dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (harmless)
            self._fd = None


def archive_earlier_sweep(sweep_dir: Path, resume: Any) -> Optional[Path]:
    """Without resume, move an earlier sweep's state and summary files to
    ``<sweep dir>/earlier/<time>/`` before this sweep starts over: its frame is never
    overwritten. (Refusing instead would break Hydra's own launcher test suite, which
    sweeps twice into one dir and expects the second sweep to run.) The archive, if any."""
    if resume not in (False, "restart"):
        return None
    sweep_dir = Path(sweep_dir)
    state = StateFile(sweep_dir / STATE_FILE)
    if not state.path.exists() or not state.has_jobs():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    archive = sweep_dir / EARLIER_DIR / stamp
    n = 1
    while archive.exists():
        n += 1
        archive = sweep_dir / EARLIER_DIR / f"{stamp}-{n}"
    archive.mkdir(parents=True)
    for name in ARCHIVED:
        if (sweep_dir / name).exists():
            os.replace(sweep_dir / name, archive / name)
    return archive


def _writer_alive(name: str) -> bool:
    """Whether the process named in ``.<file>.<pid>.tmp`` (atomic_write's name) lives."""
    parts = name.rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: leave its file
    return True


def remove_leftovers(sweep_dir: Path) -> int:
    """Remove ``.*.tmp`` files that atomic writes of a killed sweep left; how many."""
    n = 0
    for tmp in Path(sweep_dir).glob(".*.tmp"):
        if _writer_alive(tmp.name):
            continue  # e.g. `alchemy frame` rewriting the summary right now
        try:
            tmp.unlink()
            n += 1
        except OSError:
            pass
    return n


class InterruptGuard:
    """SIGINT handler of the sweep process: a real Ctrl-C sets :attr:`interrupted`.

    While a task runs (``running``), the handler also raises ``KeyboardInterrupt`` to
    stop it; between jobs it only sets the flag, and the sweep stops before the next
    job, so a state line or a summary file is never cut in half (a second Ctrl-C
    raises at once). A ``KeyboardInterrupt``
    seen while :attr:`interrupted` is false was raised by the task itself.
    """

    def __init__(self) -> None:
        self.interrupted = False
        self.running = False
        self._old: Any = None
        self._installed = False

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        again = self.interrupted  # a second Ctrl-C stops whatever the sweep is doing
        self.interrupted = True
        if self.running or again:
            raise KeyboardInterrupt

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
            self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._old)
            self._installed = False
