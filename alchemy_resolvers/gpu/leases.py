"""Lease files: one GPU slot is one ``flock`` ed file, exclusive across processes.

``<lease dir>/<gpu key>.slot<k>.lease``; the kernel drops a flock when the last
descriptor of it closes, so a crashed holder never leaves a slot stuck. See
:mod:`.allocator` for how slots are handed out.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .probe import GpuPoolError

#: Environment variable naming the directory of lease files.
LEASE_DIR_ENV = "HYDRA_ALCHEMY_LEASE_DIR"


def default_lease_dir() -> Path:
    env = os.environ.get(LEASE_DIR_ENV)
    if env:
        return Path(env)
    return Path(f"/tmp/hydra-alchemy-gpu-leases-{os.getuid()}")


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", key)


@dataclass
class Lease:
    """One held (gpu, slot); :attr:`fd` is the flock-ed descriptor."""

    gpu: str
    key: str
    slot: int
    path: Path
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the last descriptor drops the flock
            self.fd = -1


class LeaseDir:
    """Non-blocking flock leases in one directory."""

    def __init__(self, path: Optional[Path] = None) -> None:
        self.path = Path(path) if path is not None else default_lease_dir()
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise GpuPoolError(
                f"cannot create the GPU lease directory {self.path}: {e}; "
                f"point {LEASE_DIR_ENV} to a writable directory"
            ) from e

    def slot_path(self, key: str, slot: int) -> Path:
        return self.path / f"{_safe_name(key)}.slot{slot}.lease"

    def try_take(self, gpu: str, key: str, slot: int, holder: str = "") -> Optional[Lease]:
        path = self.slot_path(key, slot)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise
        # Who holds it, for a human looking at the directory; nothing reads it back.
        info = json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "gpu": gpu,
             "slot": slot, "since": time.time(), "holder": holder}
        )
        try:
            # Fixed width instead of ftruncate, which costs milliseconds on some filesystems.
            os.pwrite(fd, info.encode()[:511].ljust(511) + b"\n", 0)
        except OSError:
            pass
        return Lease(gpu=gpu, key=key, slot=slot, path=path, fd=fd)

    def is_free(self, key: str, slot: int) -> bool:
        """Whether nobody holds the slot right now (for tests and diagnostics)."""
        lease = self.try_take("?", key, slot)
        if lease is None:
            return False
        lease.release()
        return True
