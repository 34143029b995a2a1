"""``sweep_state.jsonl``: the append-only source of truth of a sweep.

One header line (what the sweep is over), then one line per job that ended, written
with one ``write(2)`` before anything else happens, so a sweep killed at any moment
(SIGKILL, OOM, a lost terminal) keeps every finished result and a rerun knows what to
skip. Against a crash of the machine itself the file is fsynced at most every
:data:`SYNC_EVERY_S` seconds and when the sweep ends (an fsync per record costs
5-15 ms on a plain disk, more than the sweeper's whole work per job): such a crash can
lose the last second of records, whose jobs a resume runs again. A torn last line (the
process died mid-write) is ignored. The csv and xlsx summaries are rebuilt from these
records.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from alchemy_resolvers.errors import SettingsError
from alchemy_resolvers.frame.writers import atomic_write

__all__ = ["StateFile", "StateMismatchError", "STATE_FILE", "STATE_VERSION"]

STATE_FILE = "sweep_state.jsonl"
STATE_VERSION = 1
#: Most seconds between fsyncs of the state file while a sweep runs.
SYNC_EVERY_S = 1.0


class StateMismatchError(SettingsError):
    """The sweep dir holds the state of a different sweep (found before any job starts)."""


def _parse(raw: bytes) -> Optional[Dict[str, Any]]:
    try:
        item = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None  # torn line
    return item if isinstance(item, dict) else None


class StateFile:
    """Append-only record of a sweep's finished jobs."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._synced = time.monotonic()
        self._unsynced = False

    def load(self) -> Tuple[Optional[Dict[str, Any]], List[Dict[str, Any]]]:
        """``(header, records)``; a torn last line from a killed process is dropped.

        One ``json.loads`` over all lines (as a JSON array) when every line is whole:
        ~2x faster than a call per line (100,000 rows: see bench/bench_state.py); a
        file with a torn line falls back to line by line."""
        if not self.path.exists():
            return None, []
        with open(self.path, "rb") as f:
            lines = [line for line in f.read().split(b"\n") if line.strip()]
        try:
            items = json.loads(b"[" + b",".join(lines) + b"]")
        except (ValueError, UnicodeDecodeError):
            items = [_parse(raw) for raw in lines]
        header: Optional[Dict[str, Any]] = None
        records: List[Dict[str, Any]] = []
        for item in items:
            if not isinstance(item, dict):
                continue
            kind = item.get("kind")
            if kind == "job":
                records.append(item)
            elif kind == "header":
                header = item
        return header, records

    def has_jobs(self) -> bool:
        """Whether any job record is in the file (read line by line, stops at the first)."""
        with open(self.path, "rb") as f:
            for raw in f:
                if b'"kind": "job"' in raw and (_parse(raw) or {}).get("kind") == "job":
                    return True
        return False

    def start(self, header: Dict[str, Any], keep: bool) -> None:
        """Open the state for this run: keep old records, or start over."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if keep and self.path.exists():
            self._end_torn_line()
            # This run's header (its settings may differ) wins over the old one.
            self._append_line(dict(header, kind="header", version=STATE_VERSION))
            return
        if self.path.exists():
            os.replace(self.path, self.path.with_name(self.path.name + ".old"))
        line = json.dumps(dict(header, kind="header", version=STATE_VERSION)) + "\n"
        atomic_write(self.path, line.encode("utf-8"), durable=True)

    def _end_torn_line(self) -> None:
        # A killed writer may have left half a line: end it so the next record starts
        # on its own line.
        with open(self.path, "rb+") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    f.write(b"\n")

    def append(self, record: Dict[str, Any]) -> None:
        """Append one job's record (fsynced with the others within SYNC_EVERY_S)."""
        self._append_line(dict(record, kind="job"))

    def sync(self) -> None:
        """fsync what was appended since the last fsync (the end of a sweep)."""
        if self._unsynced and self.path.exists():
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._unsynced = False
        self._synced = time.monotonic()

    def _append_line(self, item: Dict[str, Any]) -> None:
        line = json.dumps(item, default=str, allow_nan=True) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            if time.monotonic() - self._synced >= SYNC_EVERY_S:
                os.fsync(fd)
                self._synced = time.monotonic()
                self._unsynced = False
            else:
                self._unsynced = True
        finally:
            os.close(fd)
