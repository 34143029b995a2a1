"""The progress of a dispatch: a redrawn status line on a terminal, log lines otherwise."""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Optional, Sequence, TextIO

log = logging.getLogger(__name__)


class Progress:
    """Jobs done / running / failed and GPUs in use: a redrawn status line on a
    terminal, plain log lines otherwise."""

    def __init__(self, total: int, gpu_total: Optional[int], stream: Optional[TextIO] = None,
                 tty: Optional[bool] = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            try:
                tty = self.stream.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = tty
        self.total = total
        self.gpu_total = gpu_total
        self.done = self.failed = self.running = self.gpus_in_use = 0
        self.t0 = time.monotonic()
        self._drawn_at = 0.0
        self._waiting = ""
        self._waiting_logged_at = float("-inf")

    def _line(self) -> str:
        parts = [f"{self.done}/{self.total} done", f"{self.running} running",
                 f"{self.failed} failed"]
        if self.gpu_total:
            parts.append(f"GPUs {self.gpus_in_use}/{self.gpu_total} in use")
        parts.append(f"{time.monotonic() - self.t0:.0f}s")
        return "[alchemy] " + " | ".join(parts)

    def draw(self, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        if not force and now - self._drawn_at < 0.1:
            return
        self._drawn_at = now
        width = 20 if self.total == 0 else 20 * self.done // max(1, self.total)
        bar = "#" * width + "-" * (20 - width)
        self.stream.write(f"\r\x1b[K[{bar}] {self._line()}")
        self.stream.flush()

    def _say(self, level: int, msg: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
        log.log(level, msg)
        self.draw(force=True)

    def started(self, label: str, gpus: Sequence[str], log_path: Path) -> None:
        self.running += 1
        self._waiting = ""
        if not self.tty:
            on = f" on GPU {','.join(gpus)}" if gpus else ""
            log.info(f"started {label}{on} (log: {log_path})")
        self.draw(force=True)

    def finished(self, label: str, ok: bool, seconds: float, reason: str, log_path: Optional[Path]) -> None:
        self.running -= 1
        self.done += 1
        if not ok:
            self.failed += 1
            self._say(logging.ERROR, f"FAILED {label}: {reason} (log: {log_path})")
        elif not self.tty:
            log.info(f"finished {label} in {seconds:.1f}s [{self.done}/{self.total} done, "
                     f"{self.failed} failed]")
        self.draw(force=True)

    def waiting(self, reason: str) -> None:
        """Jobs wait for GPUs: say why, when the reason changes or every minute."""
        now = time.monotonic()
        if reason and (reason != self._waiting or now - self._waiting_logged_at > 60):
            self._waiting = reason
            self._waiting_logged_at = now
            self._say(logging.INFO, f"waiting for GPUs: {reason}")

    def close(self) -> None:
        if self.tty:
            self.draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
