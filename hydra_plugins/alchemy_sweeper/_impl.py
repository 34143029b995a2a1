"""The sweep loop behind ``hydra/sweeper=alchemy``.

The grid comes from the config's ``Param2Tune`` entries, ``hydra.sweeper.params`` and
the command line (:mod:`._axes`); each combination becomes a job (:mod:`._jobs`); jobs
are launched in batches of consecutive grid indices (so ``hydra.job.num`` is the
index), and every ended job is recorded at once (:mod:`._record`).

What is left: ``sweep_state.jsonl`` (one line per ended job, written at once),
``metric_frame.csv`` rewritten after every ended job, ``metric_frame.xlsx`` and
``metric_frame.html`` every few seconds and at the end (with ``hydra.sweeper.optimize``
marking the best runs, ``hydra.sweeper.aggregate`` adding mean/std over seeds). Running
the same sweep into the same sweep dir again (``hydra.sweep.dir=...``) with
``hydra.sweeper.resume=true`` skips the combinations that completed and reruns failed
and missing ones.

Settings wrong for the whole sweep (``hydra.sweeper.*``, the grid, a launcher option)
raise a ``SettingsError`` before any job folder exists; they never become FAILED rows.
"""
from __future__ import annotations

import itertools
import logging
import os
import sys
from pathlib import Path
from typing import Any, Iterator, List, Mapping, NoReturn, Optional, Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from alchemy_resolvers.errors import AlchemyError, SettingsError
from alchemy_resolvers.frame import COMPLETED, FAILED, XLSX_FILE
from alchemy_resolvers.frame.text import clean_text
from alchemy_resolvers.frame.aggregate import resolve_axes
from alchemy_resolvers.frame.best import missing_metrics, parse_optimize
from alchemy_resolvers.frame.progress import SweepProgress
from alchemy_resolvers.grid import Combination, Grid

from hydra_plugins.alchemy_sweeper import _check
from hydra_plugins.alchemy_sweeper._axes import build_grid, find_param_tokens
from hydra_plugins.alchemy_sweeper._fingerprint import code_version, task_dirs
from hydra_plugins.alchemy_sweeper._guard import RequireMultirunCallback
from hydra_plugins.alchemy_sweeper._jobs import JobMaker
from hydra_plugins.alchemy_sweeper._overrides import SweepConfigError, parser
from hydra_plugins.alchemy_sweeper._record import Job, Recorder
from hydra_plugins.alchemy_sweeper._resume import changed_since, parse_resume, refuse_changed
from hydra_plugins.alchemy_sweeper._safety import InterruptGuard, SweepLock, archive_earlier_sweep, remove_leftovers
from hydra_plugins.alchemy_sweeper.config import AlchemySweeperConf

__all__ = [
    "SweepLoop",
    "SweepFailedError",
    "SweepConfigError",
    "RequireMultirunCallback",
    "find_param_tokens",
]

log = logging.getLogger(__name__)

HYDRA_DEFAULT_SUBDIR = "${hydra.job.num}"
#: JobReturns kept for sweep()'s return value (Hydra's test helpers read it; Hydra
#: itself discards it). Beyond this the frame on disk is the only summary.
KEEP_RETURNS = 10_000
#: Of those, the first this many keep their configs (``cfg``, ``hydra_cfg``); later ones
#: are slimmed (see :func:`slim`), so the sweep's memory stays bounded.
KEEP_WHOLE = 100
#: Jobs per launch when neither the user nor the launcher says otherwise.
DEFAULT_CHUNK = 256
#: Grids are counted for the progress line up to this size (beyond: total unknown).
COUNT_LIMIT = 100_000


class SweepFailedError(AlchemyError, RuntimeError):
    """Some jobs of the sweep failed; the message names their combinations."""


class SweepInterrupted(Exception):
    """The user pressed Ctrl-C (SIGINT to the sweep process): stop, write, say how to resume."""


def slim(ret: Any) -> Any:
    """A JobReturn without its configs (tens of kB each), for returns kept beyond
    KEEP_WHOLE: what Hydra's helpers read (overrides, status, value) stays."""
    try:
        return type(ret)(overrides=ret.overrides, status=ret.status, _return_value=ret._return_value,
                         working_dir=ret.working_dir, task_name=ret.task_name)
    except Exception:  # noqa: BLE001 - not a JobReturn: keep it
        return ret


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if isinstance(value, DictConfig):
        value = OmegaConf.to_container(value, resolve=False)
    if not isinstance(value, Mapping):
        raise SweepConfigError(f"hydra.sweeper.{name} must be a mapping of keys, got {value!r}",
                               key=f"hydra.sweeper.{name}")
    return dict(value)


def _batch_size(value: Any) -> Optional[int]:
    if value is None or value == -1:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SweepConfigError(f"hydra.sweeper.max_batch_size must be >= 1 (or null), got {value!r}",
                               key="hydra.sweeper.max_batch_size",
                               hint="hydra.sweeper.max_batch_size=null lets the launcher decide")
    return value


def _max_failures(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SweepConfigError(f"hydra.sweeper.max_failures must be >= 1 (or null), got {value!r}",
                               key="hydra.sweeper.max_failures",
                               hint="hydra.sweeper.max_failures=null never stops early")
    return value


def _names(value: Any, name: str) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, ListConfig):
        value = OmegaConf.to_container(value, resolve=True)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise SweepConfigError(f"hydra.sweeper.{name} must be a list of axis names, got {value!r}",
                               key=f"hydra.sweeper.{name}", hint=f"hydra.sweeper.{name}=[seed]")
    return list(value)


def _count(grid: Grid) -> Optional[int]:
    """The number of combinations, or None for a grid too large to walk twice."""
    n = 0
    for _ in grid:
        n += 1
        if n > COUNT_LIMIT:
            return None
    return n


def is_settings_error(err: BaseException) -> bool:
    """A ``SettingsError``, also as a plugin re-raised it for Hydra (its ``__cause__``)."""
    return isinstance(err, SettingsError) or isinstance(err.__cause__, SettingsError)


class SweepLoop:
    """Expands the grid, launches jobs in batches, records every ended job."""

    def __init__(self, *, config: DictConfig, hydra_context: Any, launcher: Any,
                 settings: Optional[AlchemySweeperConf] = None) -> None:
        s = settings if settings is not None else AlchemySweeperConf()
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = launcher
        self.params = _mapping(s.params, "params")
        self.priorities = _mapping(s.priorities, "priorities")
        self.max_batch_size = _batch_size(s.max_batch_size)
        if s.gather is not None and not isinstance(s.gather, str):
            raise SweepConfigError(f"hydra.sweeper.gather must be an import path, got {s.gather!r}",
                                   key="hydra.sweeper.gather")
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        raw_subdir = OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir")  # type: ignore[union-attr]
        name_folders = bool(s.job_folders) and raw_subdir == HYDRA_DEFAULT_SUBDIR
        self.directions = parse_optimize(_mapping(s.optimize, "optimize"))
        self.aggregate = _names(s.aggregate, "aggregate")
        self.show_progress = bool(s.progress)
        self.resume = parse_resume(s.resume)
        self.zip = s.zip
        self.dry_run = bool(s.dry_run)
        self.check = bool(s.check)
        self.max_failures = _max_failures(s.max_failures)
        self.recorder = Recorder(self.sweep_dir, s.gather, self.resume in (True, "strict"), self.directions,
                                 xlsx_every_s=float(s.xlsx_every_s))
        self.guard = InterruptGuard()
        self.jobs = JobMaker(config=config, loader=hydra_context.config_loader, sweep_dir=self.sweep_dir,
                             name_folders=name_folders, job_links=bool(s.job_links) and name_folders)
        self.name_folders = name_folders
        self._pending: dict = {}
        self._reported: dict = {}
        self._grid: Optional[Grid] = None
        #: Jobs of this run that failed, and whether that stopped the sweep (max_failures).
        self.failures = 0
        self.stopping = False

    # -- the grid ----------------------------------------------------------------------
    def _is_group(self, path: str) -> bool:
        choices = OmegaConf.select(self.config, "hydra.runtime.choices", default=None)
        if choices is not None and path in choices:
            return True
        repo = getattr(self.hydra_context.config_loader, "repository", None)
        try:
            return bool(repo is not None and repo.group_exists(path))
        except Exception:  # noqa: BLE001 - a source that cannot answer: not a group
            return False

    def build_grid(self, arguments: Sequence[str]) -> Grid:
        return build_grid(self.config, self.params, self.priorities, arguments,
                          parser(self.hydra_context.config_loader), self._is_group, zip_groups=self.zip)

    def _batch_size(self) -> int:
        if self.max_batch_size is not None:
            return self.max_batch_size
        if hasattr(self.launcher, "set_job_done_callback"):
            return DEFAULT_CHUNK * 4
        if type(self.launcher).__name__ == "BasicLauncher":
            return 1  # sequential anyway: one job per launch records every job as it ends
        return DEFAULT_CHUNK

    def _jobs(self, grid: Grid, combos: Iterator[Combination]) -> Iterator[Job]:
        """The jobs to launch: every combination but those that completed (resume) with
        the config they would have now; a changed one reruns, with a note saying why."""
        for combo in combos:
            if self.guard.interrupted:
                raise SweepInterrupted()
            key = grid.key_of(combo)
            if self.stopping:  # only its row is made (SKIPPED): nothing to compose
                if not self.recorder.completed(key):
                    yield Job(combo=combo, key=key, folder=grid.folder(combo), overrides=[])
                continue
            if not self.recorder.completed(key):
                yield self.jobs.make(grid, combo)
                continue
            job = self.jobs.make(grid, combo)
            changed = self._changed(job)
            if changed:
                job.note = clean_text(f"rerun: config changed ({', '.join(changed[:5])}"
                                      f"{', ...' if len(changed) > 5 else ''})")
                log.info(f"{job.folder} completed before with another config: running it again ({job.note})")
                yield job
                continue
            assert self.recorder.frame is not None
            self.recorder.frame.reindex(key, combo.index)
            if self.recorder.progress is not None:
                self.recorder.progress.skipped += 1

    def _changed(self, job: Job) -> List[str]:
        """Keys of the job's config that changed since it completed (none: skip it)."""
        old = self.recorder.frame.get(job.key) if self.recorder.frame is not None else None
        return changed_since(self.jobs.loader, self.config, job.overrides, old, self.recorder.configs)

    def _refuse_changed(self, grid: Grid) -> None:
        """``resume=strict``: compare every completed combination before any job runs."""
        changed = {}
        for combo in grid:
            if self.guard.interrupted:
                raise SweepInterrupted()
            if self.recorder.completed(grid.key_of(combo)):
                keys = self._changed(self.jobs.make(grid, combo))
                if keys:
                    changed[grid.folder(combo)] = keys
            self.jobs.forget()
        if changed:
            refuse_changed(changed, self.sweep_dir)

    # -- main ----------------------------------------------------------------------------
    def run(self, arguments: Sequence[str]) -> List[List[Any]]:
        grid = self.build_grid(arguments)
        if self.dry_run:
            return _check.dry_run(self, grid)
        over = resolve_axes(self.aggregate, grid.keys, [a.path for a in grid.axes])
        if self.check:  # first: it lists every problem (a raising subject_to too) at once
            _check.check_before_launch(self, grid)
        total = _count(grid)
        combos = iter(grid)
        first = next(combos)  # an empty grid fails here, before anything is written
        lock = SweepLock(self.sweep_dir)
        lock.acquire()  # before anything in the dir is touched: a second sweep refuses here
        try:
            archive = archive_earlier_sweep(self.sweep_dir, self.resume)
            if archive is not None:
                log.warning(f"{self.sweep_dir} held an earlier sweep: its state and frame were moved to "
                            f"{archive}; this sweep runs every combination (hydra.sweeper.resume=true "
                            "goes on with an earlier sweep instead)")
            remove_leftovers(self.sweep_dir)
            self.guard.install()
            return self._run_locked(grid, over, total, first, combos)
        except SweepInterrupted:
            self._interrupted()
        finally:
            self.guard.uninstall()
            lock.release()

    def _interrupted(self) -> NoReturn:
        """A real Ctrl-C: the frame is written (by _run_batches); say how to resume."""
        frame = self.recorder.frame
        done = sum(1 for r in frame.records() if r.get("status") == COMPLETED) if frame is not None else 0
        sys.stderr.write(
            f"\nInterrupted (Ctrl-C): {done} combination(s) completed, recorded in "
            f"{self.sweep_dir / XLSX_FILE}. Resume with the same command plus "
            f"hydra.sweep.dir={self.sweep_dir} hydra.sweeper.resume=true\n")
        raise SystemExit(130)

    def _run_locked(self, grid: Grid, over: List[str], total: Optional[int], first: Combination,
                    combos: Iterator[Combination]) -> List[List[Any]]:
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")
        log.info(
            "Sweeping over "
            + (", ".join(f"{a.display} ({len(a.values)})" for a in grid.axes) or "one job")
            + f" into {self.sweep_dir}"
        )
        self.recorder.open(grid, over, total)
        self.recorder.code = code_version(task_dirs(self.config))
        if self.resume == "strict":
            self._refuse_changed(grid)
        if self.show_progress:
            own_line = hasattr(self.launcher, "set_job_done_callback")  # the alchemy launchers
            self.recorder.progress = SweepProgress(total, parallel=self._parallel(), redraw=not own_line)
        if hasattr(self.launcher, "set_job_done_callback"):
            self.launcher.set_job_done_callback(self._on_job_done)
        if self.max_failures is not None and hasattr(self.launcher, "set_stop_check"):
            self.launcher.set_stop_check(lambda: self.stopping)  # no new job once stopping
        try:
            returns = self._run_batches(grid, self._jobs(grid, itertools.chain([first], combos)))
        finally:
            if self.recorder.progress is not None:
                self.recorder.progress.close()
        loader = self.jobs.loader
        log.debug(
            f"Composition: {loader.built} job config(s) built, {loader.handed_over} of them "
            f"handed to the launcher as the sweeper built them; {loader.composed} defaults "
            f"list(s) composed, {loader.reused} reused"
        )
        self._report()
        if self.max_batch_size is None:
            flat = [r for batch in returns for r in batch]
            return [flat] if flat else []
        return returns

    def _run_batches(self, grid: Grid, jobs: Iterator[Job]) -> List[List[Any]]:
        """Launch batch after batch; the JobReturns of each (up to KEEP_RETURNS in all)."""
        returns: List[List[Any]] = []
        kept = 0
        size = self._batch_size()
        settings_error = False
        try:
            while True:
                if self.stopping:
                    self._skip_rest(grid, jobs)
                    break
                batch = list(itertools.islice(jobs, size))
                if not batch:
                    break
                keep = [r for r in self._launch(grid, batch) if r is not None][: max(0, KEEP_RETURNS - kept)]
                if self.guard.interrupted:
                    raise SweepInterrupted()
                keep = [r if kept + i < KEEP_WHOLE else slim(r) for i, r in enumerate(keep)]
                kept += len(keep)
                if keep:
                    returns.append(keep)
        except Exception as e:
            settings_error = is_settings_error(e)
            raise
        finally:
            frame = self.recorder.frame
            nothing_ran = settings_error and frame is not None and len(frame) == 0
            if self.recorder.state is not None:
                self.recorder.state.sync()
            if not nothing_ran and (self.recorder.dirty or not (self.sweep_dir / XLSX_FILE).exists()):
                self.recorder.maybe_write(force=True)
        return returns

    # -- stopping early -----------------------------------------------------------------
    def _record(self, grid: Grid, job: Job, ret: Any, error: Optional[BaseException] = None) -> None:
        """Record an ended job; count failures against ``max_failures``."""
        if self.stopping and getattr(ret, "skipped", False) is True:
            self._skip(grid, job, launched=True)
            return
        record = self.recorder.record(grid, job, ret, error, name_folders=self.name_folders)
        if record.get("status") == FAILED:
            self.failures += 1
            if self.max_failures is not None and self.failures >= self.max_failures and not self.stopping:
                self.stopping = True
                log.warning(f"{self.failures} job(s) failed (hydra.sweeper.max_failures="
                            f"{self.max_failures}): no new job starts; running jobs finish")

    def _skip(self, grid: Grid, job: Job, launched: bool) -> None:
        self.recorder.skip(grid, job, f"not started: the sweep stopped after {self.failures} failed "
                                      f"job(s) (hydra.sweeper.max_failures={self.max_failures})")
        if self.recorder.progress is not None:
            self.recorder.progress.not_started(launched)
        link = self.sweep_dir / str(job.combo.index)
        if launched and link.is_symlink() and not link.exists():
            link.unlink()  # its folder was never made

    def _skip_rest(self, grid: Grid, jobs: Iterator[Job]) -> None:
        """Rows for every combination left: SKIPPED (completed ones keep theirs)."""
        for job in jobs:
            self._skip(grid, job, launched=False)

    def _parallel(self) -> Optional[int]:
        """Jobs that run at once (the progress line's "running"), when the launcher says."""
        if type(self.launcher).__name__ == "BasicLauncher":
            return 1
        n = OmegaConf.select(self.config, "hydra.launcher.n_jobs", default=None)
        if n == -1:
            return os.cpu_count()
        return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None

    def _report(self) -> None:
        frame = self.recorder.frame
        assert frame is not None
        missing = missing_metrics(self.directions, frame.metric_names())
        if missing and any(r.get("status") == "COMPLETED" for r in frame.records()):
            log.warning(f"hydra.sweeper.optimize names {', '.join(missing)}, which no run returned "
                        f"(metrics: {', '.join(frame.metric_names()) or 'none'})")
        print(clean_text(f"Metric Frame:\n{frame.render()}\n"))
        print(f"Saved the metric frame at {self.sweep_dir / XLSX_FILE} (and .csv)")
        failed, skipped = frame.failed(), frame.skipped()
        if failed or skipped:
            shown = clean_text("\n".join(f"  {r['folder']}: {r.get('error')}" for r in failed[:20]))
            more = f"\n  ... and {len(failed) - 20} more" if len(failed) > 20 else ""
            stopped = (f", {len(skipped)} not started (SKIPPED: hydra.sweeper.max_failures="
                       f"{self.max_failures} stopped the sweep)" if skipped else "")
            raise SweepFailedError(
                f"{len(failed)} of {len(frame)} combination(s) failed{stopped} (see "
                f"{self.sweep_dir / XLSX_FILE}; rerun with hydra.sweep.dir={self.sweep_dir} "
                f"hydra.sweeper.resume=true to run only these):\n{shown}{more}"
            )

    # -- launching -----------------------------------------------------------------------
    def _on_job_done(self, idx: int, ret: Any) -> None:
        """Launcher hook: record a job the moment it ends (parallel launchers)."""
        pending = self._pending.get(idx)
        if pending is not None and idx not in self._reported and self._grid is not None:
            self._reported[idx] = ret
            self._record(self._grid, pending, ret)

    def _launch(self, grid: Grid, batch: List[Job]) -> List[Any]:
        """Launch runs of consecutive grid indices (so ``hydra.job.num`` is the index)."""
        self._grid = grid
        out: List[Any] = []
        runs: List[List[Job]] = []
        for job in batch:
            if runs and runs[-1][-1].combo.index + 1 == job.combo.index:
                runs[-1].append(job)
            else:
                runs.append([job])
        try:
            for run in runs:
                if self.stopping:  # e.g. the basic launcher: one job per launch
                    for job in run:
                        self._skip(grid, job, launched=False)
                    continue
                out.extend(self._launch_run(grid, run))
        finally:
            self.jobs.forget()
        return out

    def _launch_run(self, grid: Grid, run: List[Job]) -> List[Any]:
        links = [link for link in (self.jobs.link(j) for j in run) if link is not None]
        if self.recorder.progress is not None:
            self.recorder.progress.launched(len(run))
        self._pending = {j.combo.index: j for j in run}
        self._reported = {}
        error: Optional[BaseException] = None
        self.guard.running = True
        try:
            results = list(self.launcher.launch([j.overrides for j in run], initial_job_idx=run[0].combo.index))
        except (KeyboardInterrupt, SystemExit) as e:
            # Hydra's run_job lets sys.exit() and KeyboardInterrupt through: a task's own
            # becomes its row; a real Ctrl-C (the guard saw SIGINT) stops the sweep.
            if self.guard.interrupted:
                raise SweepInterrupted() from None
            results, error = [], e
        except Exception as e:  # noqa: BLE001 - a crashed launch fails its jobs only
            if is_settings_error(e):
                for link in links:  # nothing ran: leave no trace of these jobs
                    if link.is_symlink() and not link.exists():
                        link.unlink()
                raise
            results, error = [], e
            log.error(clean_text(f"Launching {len(run)} job(s) failed: {type(e).__name__}: {e}"))
        finally:
            self.guard.running = False
        out = []
        for i, job in enumerate(run):
            ret = results[i] if i < len(results) else None
            if job.combo.index in self._reported:
                out.append(self._reported[job.combo.index] if ret is None else ret)
                continue
            self._record(grid, job, ret, error)
            out.append(ret)
        self._pending = {}
        return out
