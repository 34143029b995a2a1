"""What the sweep keeps of every ended job: a record in the state file and a row of the
metric frame (``sweep_state.jsonl``, ``metric_frame.csv`` / ``.xlsx`` / ``.html``), the
progress line, and resume.

The csv is rewritten as jobs end, at most every second (what a running job or a
user's script reads); the xlsx and html are dearer (10-20 ms even for a few rows, ~1-2 s
each for 10,000 rows: see ``bench/bench_frame.py``): they are rewritten at most every
``xlsx_every_s`` seconds. All of them at the end. The state file stays the source of
truth for all of them.

A record is made from the job's ``JobReturn``: its metrics (the return value, or what
``hydra.sweeper.gather`` reads from the job folder), or for a failed job a one-line
error naming the task's own file and line (``ValueError: boom (train.py:20)``).
"""
from __future__ import annotations

import logging
import os
import sys
import sysconfig
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from omegaconf import OmegaConf

from alchemy_resolvers.frame import (
    COMPLETED,
    FAILED,
    SKIPPED,
    STATE_FILE,
    MetricFrame,
    StateFile,
    StateMismatchError,
    to_metrics,
)
from alchemy_resolvers.frame.progress import SweepProgress
from alchemy_resolvers.frame.text import clean_text
from alchemy_resolvers.grid import Combination, Grid

from hydra_plugins.alchemy_sweeper._fingerprint import fingerprint
from hydra_plugins.alchemy_sweeper._overrides import SweepConfigError
from hydra_plugins.alchemy_sweeper._resume import ConfigStore

__all__ = ["Job", "Recorder", "describe_failure"]

log = logging.getLogger(__name__)

#: Fewest seconds between two rewrites of the csv while the sweep runs (see
#: Recorder.maybe_write).
CSV_EVERY_S = 1.0


@dataclass
class Job:
    combo: Combination
    key: str
    folder: str
    overrides: List[str]
    #: Why a combination that completed before runs again (``rerun: config changed``).
    note: Optional[str] = None


# --------------------------------------------------------------------------- errors


def _library_dirs() -> List[str]:
    """Folders whose frames are never "the task's line": Python itself, installed
    packages, Hydra, OmegaConf and hydra-alchemy."""
    dirs = {sysconfig.get_paths().get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    for name in ("hydra", "omegaconf", "alchemy_resolvers"):
        mod = sys.modules.get(name)
        if mod is not None and getattr(mod, "__file__", None):
            dirs.add(os.path.dirname(os.path.abspath(mod.__file__)))
    dirs.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # hydra_plugins
    return sorted(os.path.abspath(d) + os.sep for d in dirs if d)


def task_location(err: BaseException) -> Optional[str]:
    """``file:line`` of the innermost frame of ``err``'s traceback in the user's code."""
    tb = getattr(err, "__traceback__", None)
    if tb is None:
        return None
    skip = _library_dirs()
    for frame in reversed(traceback.extract_tb(tb)):
        path = os.path.abspath(frame.filename)
        if frame.filename.startswith("<") or "site-packages" in path or any(path.startswith(d) for d in skip):
            continue
        return f"{path}:{frame.lineno}"
    return None


def task_exit(err: BaseException) -> Optional[tuple]:
    """``(status, metrics, error)`` of a job that ended the task with ``sys.exit`` or a
    ``KeyboardInterrupt`` of its own (Hydra's ``run_job`` lets both through); None for
    other errors. ``sys.exit(0)``/``sys.exit()`` is a completed run without metrics."""
    if isinstance(err, SystemExit):
        code = err.code
        if code is None or code == 0:
            return COMPLETED, {}, None
        if isinstance(code, int):
            return FAILED, {}, f"SystemExit: the task exited with code {code}"
        return FAILED, {}, f"SystemExit: the task exited with code 1: {code}"
    if isinstance(err, KeyboardInterrupt):
        return FAILED, {}, "KeyboardInterrupt raised by the task"
    return None


def describe_failure(err: BaseException) -> str:
    """One line for the frame's error column: ``Type: message (file.py:line)``.

    A launcher's wrapper (``JobFailedError`` of ``hydra/launcher=alchemy``) is shown as
    the task's own exception (its ``__cause__``) at ``task_location`` when it has one.
    """
    cause = err.__cause__
    location = getattr(err, "task_location", None)
    if cause is not None and str(getattr(err, "reason", "")).startswith("raised"):
        shown: BaseException = cause
        location = location or task_location(cause)
    else:
        shown = err
        location = location or task_location(err)
    text = f"{type(shown).__name__}: {shown}"
    if location:
        text += f" ({os.path.basename(str(location))})"
    return text


# --------------------------------------------------------------------------- records


def _attempts(ret: Any) -> int:
    """How many times the launcher ran the job (``hydra.launcher.retries``): the
    ``attempts`` a retrying launcher sets on its ``JobReturn``; 1 otherwise."""
    n = getattr(ret, "attempts", None)
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 1 else 1


class Recorder:
    """The state file and the metric frame of one sweep dir."""

    def __init__(self, sweep_dir: Path, gather: Optional[str], resume: bool,
                 directions: Optional[Mapping[str, str]] = None, xlsx_every_s: float = 5.0) -> None:
        self.sweep_dir = sweep_dir
        self.gather_path = gather
        self.resume = resume
        self.directions = dict(directions or {})
        self.xlsx_every_s = float(xlsx_every_s)
        self._gather: Optional[Callable[..., Any]] = None
        self.dirty = False
        self._last_write_cost = 0.0
        self._last_write_end = float("-inf")
        self._last_xlsx = float("-inf")
        self._last_xlsx_cost = 0.0
        self.state: Optional[StateFile] = None
        self.frame: Optional[MetricFrame] = None
        self.progress: Optional[SweepProgress] = None
        #: ``<git commit>[+dirty]`` of the task's code, asked once per sweep.
        self.code: Optional[str] = None
        self.configs = ConfigStore(sweep_dir)

    def gather_fn(self) -> Optional[Callable[..., Any]]:
        """The ``hydra.sweeper.gather`` function (imported once; a bad path is a setting error)."""
        if self.gather_path and self._gather is None:
            from hydra.utils import get_method

            try:
                self._gather = get_method(self.gather_path)
            except Exception as e:  # noqa: BLE001
                raise SweepConfigError(
                    f"hydra.sweeper.gather={self.gather_path!r} cannot be imported: {e}",
                    key="hydra.sweeper.gather",
                ) from None
        return self._gather

    # -- state / resume ------------------------------------------------------------------
    def open(self, grid: Grid, aggregate_over: Sequence[str] = (), total: Optional[int] = None) -> None:
        """Open the state file: start over, or (``resume``) load the finished records.

        The header keeps the directions and aggregate axes, so ``alchemy frame`` shows
        the same table as the sweep."""
        self.state = StateFile(self.sweep_dir / STATE_FILE)
        self.frame = MetricFrame(grid.keys, self.directions, aggregate_over)
        header = {"params": [a.path for a in grid.axes], "keys": grid.keys,
                  "optimize": self.directions, "aggregate": list(aggregate_over), "total": total}
        old_header, records = self.state.load()
        records = [] if not self.resume else records  # (an earlier sweep was archived)
        keep = False
        if self.resume and old_header is not None:
            if sorted(old_header.get("params", [])) != sorted(header["params"]):
                raise StateMismatchError(
                    f"{self.state.path} belongs to a sweep over "
                    f"{old_header.get('params')}, this sweep is over {header['params']}: "
                    "use another hydra.sweep.dir, or hydra.sweeper.resume=false to start "
                    "this dir over",
                    file=str(self.state.path), key="hydra.sweep.dir",
                )
            keep = True
            for r in records:
                self.frame.add(r)
            done = sum(1 for r in self.frame.records() if r.get("status") == COMPLETED)
            log.info(f"Resuming the sweep in {self.sweep_dir}: {done} combination(s) completed before")
        self.state.start(header, keep=keep)

    def completed(self, key: str) -> bool:
        assert self.frame is not None
        old = self.frame.get(key)
        return old is not None and old.get("status") == COMPLETED

    # -- one job --------------------------------------------------------------------------
    def _outcome(self, grid: Grid, job: Job, ret: Any, job_dir: Optional[str],
                 error: Optional[BaseException]) -> tuple:
        """``(status, metrics, error text)`` of one ended job."""
        from hydra.core.utils import JobStatus

        if ret is None:
            if error is not None:
                return task_exit(error) or (FAILED, {}, describe_failure(error))
            return FAILED, {}, "the launcher returned no result for this job"
        value = getattr(ret, "_return_value", None)
        if getattr(ret, "status", None) != JobStatus.COMPLETED:
            if isinstance(value, BaseException):
                return FAILED, {}, describe_failure(value)
            return FAILED, {}, f"job status {getattr(ret, 'status', None)}"
        try:
            gather = self.gather_fn()
            if gather is not None:
                value = gather(ret.cfg, job_dir, value, grid.params(job.combo))
            return COMPLETED, to_metrics(value), None
        except SweepConfigError:
            raise
        except Exception as e:  # noqa: BLE001 - a broken gather fails this row only
            return FAILED, {}, f"gather failed: {type(e).__name__}: {e}"

    def _job_dir(self, job: Job, ret: Any, name_folders: bool) -> Optional[str]:
        job_dir = str(self.sweep_dir / job.folder) if name_folders else None
        if ret is None:
            return job_dir
        hydra_cfg = getattr(ret, "hydra_cfg", None)
        out_dir = OmegaConf.select(hydra_cfg, "hydra.runtime.output_dir", default=None) if hydra_cfg is not None else None
        return str(out_dir) if out_dir else (getattr(ret, "working_dir", None) or job_dir)

    def _shown_dir(self, job_dir: Optional[str]) -> Optional[str]:
        if job_dir is None:
            return None
        try:
            rel = os.path.relpath(os.path.abspath(job_dir), os.path.abspath(self.sweep_dir))
        except ValueError:  # another drive (Windows)
            return job_dir
        return job_dir if rel.startswith("..") else rel

    def record(self, grid: Grid, job: Job, ret: Any, error: Optional[BaseException] = None,
               name_folders: bool = True) -> Dict[str, Any]:
        """Append the job's record to the state file and the frame; rewrite the summary."""
        assert self.state is not None and self.frame is not None
        job_dir = self._job_dir(job, ret, name_folders)
        status, metrics, err = self._outcome(grid, job, ret, job_dir, error)
        record = self._append(self._make(grid, job, status, metrics, err, self._shown_dir(job_dir),
                                         self._fingerprint(ret), _attempts(ret)))
        self.frame.add(record)
        if status != COMPLETED:
            log.error(clean_text(f"Job {job.folder} failed: {err}"))
        try:
            self.maybe_write()
        except Exception as e:  # noqa: BLE001 - a summary that cannot be written never stops the sweep
            log.error(f"Writing the metric frame failed (the state file has the record): {type(e).__name__}: {e}")
        if self.progress is not None:
            self.progress.ended(job.folder, status == COMPLETED, self.frame.best_so_far())
        return record

    def _make(self, grid: Grid, job: Job, status: str, metrics: Dict[str, Any], error: Optional[str],
              job_dir: Optional[str], fingerprint: Optional[str], attempts: int) -> Dict[str, Any]:
        """One job's record, as the state file keeps it."""
        return {
            "key": job.key,
            "index": job.combo.index,
            "names": grid.names(job.combo),
            "folder": job.folder,
            "overrides": grid.axis_overrides(job.combo),
            "status": status,
            "metrics": metrics,
            "error": error,
            "job_dir": job_dir,
            "time": time.time(),
            "fingerprint": fingerprint,
            "code": self.code,
            "note": job.note,
            "attempts": attempts,
        }

    def skip(self, grid: Grid, job: Job, why: str) -> Dict[str, Any]:
        """Record a combination the sweep did not start (it stopped early): a SKIPPED
        row saying why, which a resume runs."""
        assert self.state is not None and self.frame is not None
        record = self._make(grid, job, SKIPPED, {}, why, None, None, 0)
        old = self.frame.get(job.key)
        if old is not None and old.get("status") == COMPLETED:
            return old  # a completed run (edited since) keeps its row until it reruns
        self.state.append(record)
        self.frame.add(record)
        self.dirty = True
        return record

    def _fingerprint(self, ret: Any) -> Optional[str]:
        """The fingerprint of the config the job ran with (``JobReturn.cfg``), if known."""
        cfg = getattr(ret, "cfg", None)
        if cfg is None:
            return None
        try:
            fp, flat = fingerprint(cfg)
        except Exception as e:  # noqa: BLE001 - a config we cannot read: no fingerprint
            log.debug(f"no fingerprint: {e}")
            return None
        self.configs.add(fp, flat)
        return fp

    def _append(self, record: Dict[str, Any]) -> Dict[str, Any]:
        """Append ``record`` to the state file; a record that cannot be written becomes
        a FAILED one saying why (its metrics dropped), never an error of the sweep."""
        assert self.state is not None
        try:
            self.state.append(record)
            return record
        except (TypeError, ValueError, OverflowError, RecursionError) as e:
            why = clean_text(f"the record could not be written: {type(e).__name__}: {e}")[:2000]
            record = dict(record, status=FAILED, metrics={}, error=why)
            self.state.append(record)
            return record

    def maybe_write(self, force: bool = False) -> None:
        """Rewrite the csv, and the xlsx and html when they are due.

        Rewriting a file costs milliseconds even for a few rows (creating and renaming
        it; XlsxWriter's xlsx is a zip: 10-20 ms), more than the sweeper's whole work
        per job, and grows with the rows. So: the csv when a job ends at least
        :data:`CSV_EVERY_S` after the last rewrite (after every job of a sweep whose
        jobs take longer), the xlsx and html at most every ``xlsx_every_s`` seconds
        (0: like the csv), both less often when writing them would take over ~10% of
        the time (~1-2 s for the xlsx at 10,000 rows), and everything at the end
        (``force``). The first job's row is written at once. A sweep killed in between
        leaves them seconds behind; the state file has every record, and a resume or
        ``alchemy frame SWEEP_DIR --write`` rewrites them.
        """
        assert self.frame is not None
        self.dirty = True
        now = time.perf_counter()
        every_job = self.xlsx_every_s <= 0
        if not (force or every_job or now - self._last_write_end >= max(CSV_EVERY_S, 9 * self._last_write_cost)):
            return
        since = now - self._last_xlsx
        sheets = force or every_job or since >= max(self.xlsx_every_s, 9 * self._last_xlsx_cost)
        self.frame.write_csv(self.sweep_dir)
        self._last_write_end = time.perf_counter()
        self._last_write_cost = self._last_write_end - now
        if sheets:
            self.frame.write_xlsx(self.sweep_dir)
            self.frame.write_html(self.sweep_dir)
            self._last_xlsx = time.perf_counter()
            self._last_xlsx_cost = self._last_xlsx - self._last_write_end
        self.dirty = not sheets
