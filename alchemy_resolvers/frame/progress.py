"""The sweep's live view on stderr: how far, how long, and the best so far.

On a terminal one status line is redrawn in place (done, failed, running, queued,
elapsed, ETA, best value per directed metric); otherwise (a log file, CI) one plain
line per ended job, which reads well in ``tail -f`` and never fills a log with ``\\r``.
The ETA is the wall time per ended job so far times the jobs left: crude, and said to
be so by the ``~``. "running" is what was handed to the launcher and has not ended, at
most the launcher's ``n_jobs`` when it has one.

A launcher that draws its own status line on the terminal (``hydra/launcher=alchemy``:
jobs, GPUs) keeps the line (``redraw=False``): the sweep then prints a line of its own
only when the best value of a directed metric improves, so the two never overwrite
each other.
"""
from __future__ import annotations

import sys
import time
from typing import Dict, Mapping, Optional, TextIO

__all__ = ["SweepProgress", "duration"]


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``: short enough for a status line."""
    s = int(round(max(0.0, seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class SweepProgress:
    """Counts of a sweep's jobs and the line that shows them."""

    def __init__(self, total: Optional[int], stream: Optional[TextIO] = None, tty: Optional[bool] = None,
                 parallel: Optional[int] = None, clock=time.monotonic, redraw: bool = True) -> None:
        self.stream = stream if stream is not None else sys.stderr
        if tty is None:
            try:
                tty = bool(self.stream.isatty())
            except (AttributeError, ValueError):
                tty = False
        self.tty = tty
        self.redraw = redraw
        self._best: Dict[str, float] = {}
        self.total = total
        self.parallel = parallel
        self.clock = clock
        self.t0 = clock()
        self.done = self.failed = self.skipped = self.in_flight = 0
        self._drawn = False

    # -- counts ----------------------------------------------------------------------
    @property
    def running(self) -> int:
        """Jobs handed to the launcher and not ended (at most what runs at once)."""
        return min(self.in_flight, self.parallel) if self.parallel else self.in_flight

    @property
    def queued(self) -> Optional[int]:
        if self.total is None:
            return None
        return max(0, self.total - self.skipped - self.done - self.running)

    def eta(self) -> Optional[float]:
        left = self.queued
        if not self.done or left is None:
            return None
        # Wall time per ended job already reflects how many run at once.
        return (self.clock() - self.t0) / self.done * (left + self.running)

    def line(self, best: Mapping[str, float]) -> str:
        total = "?" if self.total is None else str(self.total - self.skipped)
        parts = [f"{self.done}/{total} done", f"{self.failed} failed", f"{self.running} running"]
        if self.queued is not None:
            parts.append(f"{self.queued} queued")
        parts.append(duration(self.clock() - self.t0))
        eta = self.eta()
        if eta is not None and self.queued:
            parts.append(f"ETA ~{duration(eta)}")
        parts.extend(f"best {k} {v:.4g}" for k, v in best.items())
        return "[alchemy] " + " | ".join(parts)

    # -- events ----------------------------------------------------------------------
    def launched(self, n: int) -> None:
        self.in_flight += n

    def ended(self, label: str, ok: bool, best: Mapping[str, float]) -> None:
        """One job ended: redraw the line, or write one plain line for it."""
        self.in_flight = max(0, self.in_flight - 1)
        self.done += 1
        self.failed += 0 if ok else 1
        improved = dict(best) != self._best
        self._best = dict(best)
        if self.tty and self.redraw:
            self.draw(best)
        elif self.tty:
            if improved:  # on its own line, above the launcher's status line
                self.stream.write(f"\r\x1b[K{self.line(best)} | new best after {label}\n")
                self.stream.flush()
        else:
            self.stream.write(f"{self.line(best)} | {'ended' if ok else 'FAILED'} {label}\n")
            self.stream.flush()

    def not_started(self, launched: bool) -> None:
        """A job the sweep will not start (it stopped early): out of the counts."""
        if launched:
            self.in_flight = max(0, self.in_flight - 1)
        self.skipped += 1

    def draw(self, best: Mapping[str, float]) -> None:
        self.stream.write("\r\x1b[K" + self.line(best))
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the redrawn line, so what is printed next starts on its own line."""
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
