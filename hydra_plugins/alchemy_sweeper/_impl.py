"""The sweep loop behind ``hydra/sweeper=alchemy``.

Where the grid comes from (all combined, in this definition order):

1. ``Param2Tune`` entries of the composed config: a Python ``Cfg2Tune`` served by the
   alchemy config source holds ``${alchemy_param:TOKEN}`` at every tuned key.
2. ``hydra.sweeper.params``: ``key: [v1, v2]``, ``key: "v1,v2"`` (Hydra's sweep
   syntax, as the basic sweeper reads it) or
   ``key: {values: [...], names: [...], priority: N, subject_to: EXPR}``.
3. Sweeps on the command line, as Hydra's basic sweeper understands them.

What a job gets: its overrides (fixed and swept, in definition order), the computed
``P_DEP`` values as overrides, and ``hydra.sweep.subdir`` set to its combination
(``batch_size=128,epochs=5``) unless the user chose a subdir of their own. A link
``<job num>`` next to each folder keeps Hydra's numbered paths working.

What is left: ``sweep_state.jsonl`` (one line per ended job, fsynced), and
``metric_frame.csv`` / ``metric_frame.xlsx`` rewritten after every ended job. Running
the same sweep into the same sweep dir again (``hydra.sweep.dir=...``) with
``hydra.sweeper.resume=true`` skips the combinations that completed and reruns failed
and missing ones.
"""
from __future__ import annotations

import logging
import sys
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from alchemy_resolvers import registry
from alchemy_resolvers.grid.grid import Axis, Combination, Grid, GridError, key_path, to_override_value
from alchemy_resolvers.frame.metric_frame import (
    COMPLETED,
    FAILED,
    STATE_FILE,
    XLSX_FILE,
    MetricFrame,
    StateFile,
    StateMismatchError,
    to_metrics,
)
from alchemy_resolvers.authoring.tune import Param2Tune, value_names

__all__ = [
    "SweepLoop",
    "SweepFailedError",
    "SweepConfigError",
    "RequireMultirunCallback",
    "find_param_tokens",
]

log = logging.getLogger(__name__)

PARAM_REF = re.compile(r"^\$\{alchemy_param:\s*([A-Za-z0-9_]+)\s*\}$")
HYDRA_DEFAULT_SUBDIR = "${hydra.job.num}"
#: JobReturns kept for sweep()'s return value (Hydra's test helpers read it; Hydra
#: itself discards it). Beyond this the frame on disk is the only summary.
KEEP_RETURNS = 10_000
#: Jobs per launch when neither the user nor the launcher says otherwise.
DEFAULT_CHUNK = 256


class SweepFailedError(RuntimeError):
    """Some jobs of the sweep failed; the message names their combinations."""


class SweepConfigError(ValueError):
    """The sweep's own settings are wrong (``hydra.sweeper.*``)."""


# --------------------------------------------------------------------------- params


def find_param_tokens(cfg: DictConfig) -> List[Tuple[str, str]]:
    """``(dotted_key, token)`` of every ``${alchemy_param:TOKEN}`` in ``cfg`` (not ``hydra``).

    Read without resolving: the resolver refuses to run outside a sweep.
    """
    found: List[Tuple[str, str]] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if prefix == "" and k == "hydra":
                    continue
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(node, str):
            m = PARAM_REF.match(node.strip())
            if m:
                found.append((prefix, m.group(1)))

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return found


def _config_axes(cfg: DictConfig) -> List[Axis]:
    """Axes for the Param2Tunes in the composed config, in definition order."""
    items = []
    for key, token in find_param_tokens(cfg):
        try:
            param = registry.lookup(token)
        except LookupError as e:
            raise SweepConfigError(f"`{key}`: {e}") from None
        if not isinstance(param, Param2Tune):
            raise SweepConfigError(f"`{key}` refers to {type(param).__name__}, not a Param2Tune")
        items.append((key, token, param))
    rank = {key: i for i, (key, _, _) in enumerate(items)}
    try:  # the Python config layer knows the order the files assigned the params in
        from alchemy_resolvers.lowering.lower import find_params

        rank = {key: i for i, (key, _) in enumerate(find_params(cfg))}
    except ImportError:
        items.sort(key=lambda t: getattr(t[2], "_seq", 0))
        rank = {key: i for i, (key, _, _) in enumerate(items)}
    items.sort(key=lambda t: rank.get(t[0], len(rank)))
    axes = [Axis.from_param(key, param, token, source="config") for key, token, param in items]
    return _tuned_caps_axes(cfg) + axes


def _tuned_caps_axes(cfg: DictConfig) -> List[Axis]:
    """Axes for tunable ``caps``: their hidden config group, one option per base file.

    The caps are set when the config is created, so they come first in definition order.
    """
    from alchemy_resolvers.lowering.config_dir import TUNED_CAPS_GROUP, find_tuned_caps, tuned_caps_option

    choices = OmegaConf.select(cfg, "hydra.runtime.choices", default=None) or {}
    axes = []
    for group in choices:
        parts = str(group).split("/")
        if len(parts) != 2 or parts[0] != TUNED_CAPS_GROUP:
            continue
        tuned = find_tuned_caps(parts[1])
        if tuned is None:
            raise SweepConfigError(f"`{group}`: the tunable caps it stands for is not loaded")
        axis = Axis.from_param(str(group), tuned.param, source="config")
        axis.overrides = [tuned_caps_option(i) for i in range(len(tuned.files))]
        axis.label = "caps"
        axes.append(axis)
    return axes


def _values_axis(key: str, values: Sequence[Any], names: Optional[Sequence[Any]], priority: Any,
                 subject_to: Any, source: str) -> Axis:
    overrides = []
    for v in values:
        try:
            overrides.append(to_override_value(v))
        except (TypeError, GridError) as e:
            raise SweepConfigError(f"hydra.sweeper.params.{key}: {e}") from None
    try:
        nm = value_names(list(values), None if names is None else [str(n) for n in names])
    except ValueError as e:
        raise SweepConfigError(f"hydra.sweeper.params.{key}: {e}") from None
    if subject_to is not None and not isinstance(subject_to, str):
        raise SweepConfigError(
            f"hydra.sweeper.params.{key}.subject_to must be an expression string, e.g. "
            f"`v * batch_size <= 1920`; got {subject_to!r}"
        )
    if priority is not None and not isinstance(priority, (int, float)):
        raise SweepConfigError(f"hydra.sweeper.params.{key}.priority must be a number, got {priority!r}")
    return Axis(key=key, values=list(values), overrides=overrides, names=nm, priority=priority,
                subject_to=subject_to, source=source)


def _override_axis(override: Any, source: str, priority: Optional[float] = None) -> Axis:
    from hydra.core.override_parser.types import Override

    key = override.get_key_element()
    if not override.is_discrete_sweep():
        raise SweepConfigError(
            f"the alchemy sweeper does not support sweep type "
            f"{override.value_type.name} ({override.input_line}); use choice(), range(), "
            "glob() or a comma-separated list"
        )
    raw = list(override.sweep_iterator())
    values = [Override._convert_value(x) for x in raw]
    strings = [Override._get_value_element_as_str(x) for x in raw]
    return Axis(key=key, values=values, overrides=strings, priority=priority, source=source)


# --------------------------------------------------------------------------- callbacks


def _hydra_callback_base() -> type:
    try:
        from hydra.experimental.callback import Callback

        return Callback
    except ImportError:  # pragma: no cover - hydra < 1.1
        return object


class RequireMultirunCallback(_hydra_callback_base()):  # type: ignore[misc]
    """Fails a single run (no ``-m``) of a config that holds ``Param2Tune`` entries.

    The config source adds it to ``hydra.callbacks`` of configs with Param2Tunes, so
    the error comes at start even when the task never reads a tuned entry. Hydra turns
    an exception raised by a callback into a warning and runs the task anyway, so this
    exits the way a command-line tool refuses bad arguments.
    """

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        keys = [k for k, _ in find_param_tokens(config)]
        if keys:
            name = OmegaConf.select(config, "hydra.job.config_name", default=None)
            raise SystemExit(
                f"Error: config `{name}` tunes {', '.join(f'`{k}`' for k in keys)} with "
                "Param2Tune, which needs a sweep: add `-m hydra/sweeper=alchemy` to the "
                "command line (or set one value, e.g. `" + keys[0] + "=...`)"
            )


# --------------------------------------------------------------------------- the loop


@dataclass
class _Job:
    combo: Combination
    key: str
    folder: str
    overrides: List[str]


class SweepLoop:
    """Expands the grid, launches jobs in batches, records every ended job."""

    def __init__(
        self,
        *,
        config: DictConfig,
        hydra_context: Any,
        launcher: Any,
        params: Optional[Mapping[str, Any]] = None,
        max_batch_size: Optional[int] = None,
        gather: Optional[str] = None,
        resume: bool = False,
        priorities: Optional[Mapping[str, float]] = None,
        job_folders: bool = True,
        job_links: bool = True,
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = launcher
        self.params = dict(params or {})
        if max_batch_size is not None and max_batch_size != -1 and max_batch_size < 1:
            raise SweepConfigError(f"hydra.sweeper.max_batch_size must be >= 1, got {max_batch_size}")
        self.max_batch_size = None if max_batch_size in (None, -1) else int(max_batch_size)
        self.gather_path = gather
        self.resume = resume
        self.priorities = dict(priorities or {})
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        raw_subdir = OmegaConf.to_container(config.hydra.sweep, resolve=False).get("subdir")  # type: ignore[union-attr]
        self.name_folders = bool(job_folders) and raw_subdir == HYDRA_DEFAULT_SUBDIR
        self.job_links = bool(job_links) and self.name_folders
        self._gather: Optional[Callable[..., Any]] = None
        self._composed: Dict[Tuple[str, ...], Optional[DictConfig]] = {}
        self._has_pdeps: Dict[Tuple[str, ...], bool] = {}
        self._pdeps_fn: Optional[Callable[[DictConfig], Mapping[str, Any]]] = _load_pdeps_fn()
        self._parser: Any = None
        self._dirty = False
        self._last_write_cost = 0.0
        self._last_write_end = 0.0
        self._reported: Dict[int, Any] = {}

    # -- building the grid ----------------------------------------------------------
    def _override_parser(self) -> Any:
        if self._parser is None:
            from hydra.core.override_parser.overrides_parser import OverridesParser

            self._parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        return self._parser

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
        slots: Dict[str, Union[str, Axis]] = {}

        def put(path: str, item: Union[str, Axis]) -> None:
            # A later definition of the same key replaces the earlier one in place,
            # like the basic sweeper's OrderedDict of overrides.
            slots[path] = item

        for axis in _config_axes(self.config):
            put(axis.path, axis)

        parser = self._override_parser()
        for key, spec in self.params.items():
            key = str(key)
            if isinstance(spec, str):
                ov = parser.parse_override(f"{key}={spec}")
                if ov.is_sweep_override():
                    put(key_path(ov.get_key_element()), _override_axis(ov, "hydra.sweeper.params"))
                else:
                    put(key_path(ov.get_key_element()), f"{ov.get_key_element()}={ov.get_value_element_as_str()}")
            elif isinstance(spec, (list, tuple)):
                put(key_path(key), _values_axis(key, spec, None, None, None, "hydra.sweeper.params"))
            elif isinstance(spec, dict) and "values" in spec:
                unknown = set(spec) - {"values", "names", "priority", "subject_to"}
                if unknown:
                    raise SweepConfigError(
                        f"hydra.sweeper.params.{key} has unknown field(s) {sorted(unknown)}; "
                        "allowed: values, names, priority, subject_to"
                    )
                values = spec["values"]
                if not isinstance(values, (list, tuple)) or not values:
                    raise SweepConfigError(f"hydra.sweeper.params.{key}.values must be a non-empty list")
                put(key_path(key), _values_axis(key, values, spec.get("names"), spec.get("priority"),
                                                spec.get("subject_to"), "hydra.sweeper.params"))
            else:
                try:
                    put(key_path(key), f"{key}={to_override_value(spec)}")
                except (TypeError, GridError) as e:
                    raise SweepConfigError(f"hydra.sweeper.params.{key}: {e}") from None

        for ov in parser.parse_overrides(list(arguments)):
            path = key_path(ov.get_key_element())
            if ov.is_sweep_override():
                put(path, _override_axis(ov, "the command line"))
            else:
                put(path, f"{ov.get_key_element()}={ov.get_value_element_as_str()}")

        for item in slots.values():
            if isinstance(item, Axis):
                item.is_group = self._is_group(item.path)
                if item.path in self.priorities:
                    item.priority = float(self.priorities[item.path])
        unknown = set(self.priorities) - {p for p, s in slots.items() if isinstance(s, Axis)}
        if unknown:
            raise SweepConfigError(
                f"hydra.sweeper.priorities names {sorted(unknown)}, which are not swept; "
                f"swept keys: {sorted(p for p, s in slots.items() if isinstance(s, Axis))}"
            )
        return Grid(list(slots.values()))

    # -- per job --------------------------------------------------------------------------
    def _subdir_override(self, folder: str) -> str:
        from alchemy_resolvers.grid.grid import _quote

        return "hydra.sweep.subdir=" + _quote(folder.replace("${", "\\${"))

    def _compose(self, grid: Grid, job: _Job) -> Optional[DictConfig]:
        """Compose once per distinct group choice: validates it, and feeds P_DEPs."""
        group = grid.group_overrides(job.combo)
        if group in self._composed:
            return self._composed[group]
        cfg = self.hydra_context.config_loader.load_sweep_config(
            master_config=self.config, sweep_overrides=list(job.overrides)
        )
        has = False
        if self._pdeps_fn is not None:
            has = bool(self._pdeps_fn(cfg))
        self._has_pdeps[group] = has
        self._composed[group] = cfg if has else None
        return self._composed[group]

    def _pdep_overrides(self, grid: Grid, job: _Job) -> List[str]:
        base = self._compose(grid, job)
        if base is None or self._pdeps_fn is None:
            return []
        from hydra._internal.config_loader_impl import ConfigLoaderImpl

        cfg = base.copy()
        group_keys = {key_path(o.split("=", 1)[0]) for o in grid.group_overrides(job.combo)}
        values = [o for o in job.overrides if key_path(o.split("=", 1)[0]) not in group_keys]
        parsed = self._override_parser().parse_overrides(values)
        with open_dict(cfg):
            OmegaConf.set_readonly(cfg, False)
            ConfigLoaderImpl._apply_overrides_to_config(parsed, cfg)
        out = []
        for key, value in self._pdeps_fn(cfg).items():
            try:
                out.append(f"{key}={to_override_value(value)}")
            except (TypeError, GridError) as e:
                raise SweepConfigError(
                    f"P_DEP `{key}` computed {value!r} for {job.folder}, which a job config "
                    f"cannot hold: {e}"
                ) from None
        return out

    def _make_job(self, grid: Grid, combo: Combination) -> _Job:
        job = _Job(combo=combo, key=grid.key_of(combo), folder=grid.folder(combo), overrides=grid.overrides(combo))
        job.overrides = job.overrides + self._pdep_overrides(grid, job)
        if self.name_folders:
            job.overrides.append(self._subdir_override(job.folder))
        return job

    def _link(self, job: _Job) -> None:
        if not self.job_links:
            return
        link = self.sweep_dir / str(job.combo.index)
        try:
            if link.is_symlink():
                if os.readlink(link) == job.folder:
                    return
                link.unlink()
            elif link.exists():
                return  # a real folder from another sweep: leave it
            os.symlink(job.folder, link, target_is_directory=True)
        except OSError:
            pass  # links are a convenience (e.g. no symlinks on this file system)

    # -- recording ------------------------------------------------------------------
    def _gather_fn(self) -> Optional[Callable[..., Any]]:
        if self.gather_path and self._gather is None:
            from hydra.utils import get_method

            try:
                self._gather = get_method(self.gather_path)
            except Exception as e:  # noqa: BLE001
                raise SweepConfigError(
                    f"hydra.sweeper.gather={self.gather_path!r} cannot be imported: {e}"
                ) from None
        return self._gather

    def _record(self, grid: Grid, job: _Job, ret: Any, error: Optional[BaseException] = None) -> Dict[str, Any]:
        from hydra.core.utils import JobStatus

        status, metrics, err = FAILED, {}, None
        job_dir = str(self.sweep_dir / job.folder) if self.name_folders else None
        if ret is not None:
            out_dir = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir", default=None) if getattr(
                ret, "hydra_cfg", None) is not None else None
            job_dir = str(out_dir) if out_dir else (getattr(ret, "working_dir", None) or job_dir)
            value = getattr(ret, "_return_value", None)
            if getattr(ret, "status", None) == JobStatus.COMPLETED:
                try:
                    gather = self._gather_fn()
                    if gather is not None:
                        value = gather(ret.cfg, job_dir, value, grid.params(job.combo))
                    metrics = to_metrics(value)
                    status = COMPLETED
                except SweepConfigError:
                    raise
                except Exception as e:  # noqa: BLE001 - a broken gather fails this row only
                    err = f"gather failed: {type(e).__name__}: {e}"
            else:
                err = f"{type(value).__name__}: {value}" if isinstance(value, BaseException) else f"job status {getattr(ret, 'status', None)}"
        elif error is not None:
            err = f"{type(error).__name__}: {error}"
        else:
            err = "the launcher returned no result for this job"
        shown_dir = job_dir
        if job_dir is not None:
            try:
                rel = os.path.relpath(os.path.abspath(job_dir), os.path.abspath(self.sweep_dir))
                if not rel.startswith(".."):
                    shown_dir = rel
            except ValueError:  # another drive (Windows)
                pass
        record = {
            "key": job.key,
            "index": job.combo.index,
            "names": grid.names(job.combo),
            "folder": job.folder,
            "overrides": grid.axis_overrides(job.combo),
            "status": status,
            "metrics": metrics,
            "error": err,
            "job_dir": shown_dir,
            "time": time.time(),
        }
        self.state.append(record)
        self.frame.add(record)
        if status != COMPLETED:
            log.error(f"Job {job.folder} failed: {err}")
        self._maybe_write()
        return record

    def _maybe_write(self, force: bool = False) -> None:
        """Rewrite the summary files, unless that would take over ~10% of the time.

        For small and medium sweeps this is after every job; for huge ones (a rewrite
        is linear in rows) it is thinned so the sweep stays linear. The end of the
        sweep always writes.
        """
        self._dirty = True
        now = time.perf_counter()
        if not force and now - self._last_write_end < 9 * self._last_write_cost:
            return
        self.frame.write(self.sweep_dir)
        self._last_write_end = time.perf_counter()
        self._last_write_cost = self._last_write_end - now
        self._dirty = False

    # -- state / resume ------------------------------------------------------------------
    def _open_state(self, grid: Grid) -> None:
        self.state = StateFile(self.sweep_dir / STATE_FILE)
        self.frame = MetricFrame(grid.keys)
        header = {"params": [a.path for a in grid.axes], "keys": grid.keys}
        old_header, records = self.state.load()
        keep = False
        if self.resume and old_header is not None:
            if sorted(old_header.get("params", [])) != sorted(header["params"]):
                raise StateMismatchError(
                    f"{self.state.path} belongs to a sweep over "
                    f"{old_header.get('params')}, this sweep is over {header['params']}: "
                    "use another hydra.sweep.dir, or hydra.sweeper.resume=false to start "
                    "this dir over"
                )
            keep = True
            for r in records:
                self.frame.add(r)
            done = sum(1 for r in self.frame.records() if r.get("status") == COMPLETED)
            log.info(f"Resuming the sweep in {self.sweep_dir}: {done} combination(s) completed before")
        self.state.start(header, keep=keep)

    # -- main --------------------------------------------------------------------------
    def _batch_size(self) -> int:
        if self.max_batch_size is not None:
            return self.max_batch_size
        if hasattr(self.launcher, "set_job_done_callback"):
            return DEFAULT_CHUNK * 4
        name = type(self.launcher).__name__
        if name == "BasicLauncher":
            # Sequential anyway: one job per launch records every job as it ends.
            return 1
        return DEFAULT_CHUNK

    def _jobs(self, grid: Grid) -> Iterator[_Job]:
        for combo in grid:
            key = grid.key_of(combo)
            old = self.frame.get(key)
            if old is not None and old.get("status") == COMPLETED:
                self.frame.reindex(key, combo.index)
                continue
            yield self._make_job(grid, combo)

    def run(self, arguments: Sequence[str]) -> List[List[Any]]:
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")
        grid = self.build_grid(arguments)
        log.info(
            "Sweeping over "
            + (", ".join(f"{a.display} ({len(a.values)})" for a in grid.axes) or "one job")
            + f" into {self.sweep_dir}"
        )
        self._open_state(grid)
        if hasattr(self.launcher, "set_job_done_callback"):
            self.launcher.set_job_done_callback(self._on_job_done)

        returns: List[List[Any]] = []
        flat: List[Any] = []
        kept = 0
        size = self._batch_size()
        jobs = self._jobs(grid)
        ran = 0
        try:
            while True:
                batch: List[_Job] = []
                for job in jobs:
                    batch.append(job)
                    if len(batch) >= size:
                        break
                if not batch:
                    break
                for job in batch:
                    # Validate once per distinct config-group choice (cached).
                    self._compose(grid, job)
                    self._link(job)
                results = self._launch(grid, batch)
                ran += len(batch)
                keep = [r for r in results if r is not None][: max(0, KEEP_RETURNS - kept)]
                kept += len(keep)
                if self.max_batch_size is None:
                    flat.extend(keep)
                elif keep:
                    returns.append(keep)
        finally:
            if self._dirty or not (self.sweep_dir / XLSX_FILE).exists():
                self._maybe_write(force=True)
        if self.max_batch_size is None:
            returns = [flat] if flat else []

        print(f"Metric Frame:\n{self.frame.render()}\n")
        print(f"Saved the metric frame at {self.sweep_dir / XLSX_FILE} (and .csv)")
        failed = self.frame.failed()
        if failed:
            shown = "\n".join(f"  {r['folder']}: {r.get('error')}" for r in failed[:20])
            more = f"\n  ... and {len(failed) - 20} more" if len(failed) > 20 else ""
            raise SweepFailedError(
                f"{len(failed)} of {len(self.frame)} combination(s) failed (see "
                f"{self.sweep_dir / XLSX_FILE}; rerun with hydra.sweep.dir={self.sweep_dir} "
                f"hydra.sweeper.resume=true to retry only these):\n{shown}{more}"
            )
        return returns

    def _on_job_done(self, idx: int, ret: Any) -> None:
        """Launcher hook: record a job the moment it ends (parallel launchers)."""
        pending = self._pending.get(idx)
        if pending is not None and idx not in self._reported:
            self._reported[idx] = ret
            self._record(self._grid, pending, ret)

    def _launch(self, grid: Grid, batch: List[_Job]) -> List[Any]:
        """Launch runs of consecutive grid indices (so ``hydra.job.num`` is the index)."""
        self._grid = grid
        out: List[Any] = []
        runs: List[List[_Job]] = []
        for job in batch:
            if runs and runs[-1][-1].combo.index + 1 == job.combo.index:
                runs[-1].append(job)
            else:
                runs.append([job])
        for run in runs:
            self._pending = {j.combo.index: j for j in run}
            self._reported = {}
            try:
                results = list(self.launcher.launch([j.overrides for j in run], initial_job_idx=run[0].combo.index))
                error: Optional[BaseException] = None
            except Exception as e:  # noqa: BLE001 - a crashed launch fails its jobs only
                results, error = [], e
                log.error(f"Launching {len(run)} job(s) failed: {type(e).__name__}: {e}")
            for i, job in enumerate(run):
                ret = results[i] if i < len(results) else None
                if job.combo.index in self._reported:
                    out.append(self._reported[job.combo.index] if ret is None else ret)
                    continue
                self._record(grid, job, ret, error)
                out.append(ret)
            self._pending = {}
        return out


def _load_pdeps_fn() -> Optional[Callable[[DictConfig], Mapping[str, Any]]]:
    """``lower.compute_pdeps`` when the Python config layer is installed."""
    try:
        from alchemy_resolvers.lowering import lower  # type: ignore[attr-defined]
    except ImportError:
        return None
    fn = getattr(lower, "compute_pdeps", None)
    return fn if callable(fn) else None


# --------------------------------------------------------------------------- compose


class _NotCacheable(Exception):
    pass


class GroupCachingConfigLoader:
    """Hydra's config loader, composing the defaults list once per group choice.

    Composing a job config is mostly building and merging its defaults list (config
    files, group choices, Hydra's own config); the job's value overrides are applied at
    the very end. Jobs of a value sweep share one defaults list, so this loader keeps
    the merged config before overrides for each distinct set of defaults-list
    overrides (group choices, hydra/launcher=..., ...) and, per job, applies that job's
    overrides to a copy exactly as ``ConfigLoaderImpl._load_configuration_impl`` does.
    Anything it does not recognise goes to Hydra's own loader.

    Launchers get it through the HydraContext, so it also pickles into workers (its
    cache stays behind).
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._bases: Dict[Tuple[str, ...], Tuple[DictConfig, Dict[str, Any], List[Any]]] = {}
        self._config_keys: set = set()
        self._group_keys: set = set()
        self._parser: Any = None
        self.composed = 0
        self.reused = 0

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __getstate__(self) -> Dict[str, Any]:
        return {"inner": self._inner}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state["inner"])  # type: ignore[misc]

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: List[str]) -> DictConfig:
        try:
            return self._load(master_config, list(sweep_overrides))
        except _NotCacheable:
            return self._inner.load_sweep_config(master_config=master_config, sweep_overrides=sweep_overrides)

    def _load(self, master_config: DictConfig, sweep_overrides: List[str]) -> DictConfig:
        import copy

        from hydra import __version__, version
        from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
        from hydra.conf import ConfigSourceInfo
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from hydra.core.utils import JobRuntime
        from hydra.errors import ConfigCompositionException
        from hydra.types import RunMode
        from omegaconf.errors import OmegaConfBaseException

        inner = self._inner
        if not isinstance(inner, ConfigLoaderImpl):
            raise _NotCacheable()
        config_name = master_config.hydra.job.config_name
        overrides = list(OmegaConf.to_container(master_config.hydra.overrides.hydra)) + sweep_overrides  # type: ignore[arg-type]
        if self._parser is None:
            self._parser = OverridesParser.create()
        parsed = self._parser.parse_overrides(overrides=overrides)
        keys = [o.get_key_element() for o in parsed]
        if any(k.lstrip("+~") == "hydra.searchpath" for k in keys) or any(o.is_sweep_override() for o in parsed):
            raise _NotCacheable()
        try:
            if all(k in self._config_keys or k in self._group_keys for k in keys):
                sig = tuple(o.input_line or "" for o, k in zip(parsed, keys) if k in self._group_keys)
                cached = self._bases.get(sig)
            else:
                sig, cached = (), None
            if cached is None:
                inner.ensure_main_config_source_available()
                parsed_overrides, repo = inner._parse_overrides_and_create_caching_repo(config_name, overrides)
                inner.validate_sweep_overrides_legal(overrides=parsed_overrides, run_mode=RunMode.RUN, from_shell=True)
                from hydra._internal.defaults_list import create_defaults_list

                defaults_list = create_defaults_list(
                    repo=repo, config_name=config_name, overrides_list=parsed_overrides,
                    prepend_hydra=True, skip_missing=False,
                )
                base = inner._compose_config_from_defaults_list(defaults=defaults_list.defaults, repo=repo)
                OmegaConf.set_struct(base, True)
                OmegaConf.set_readonly(base.hydra, False)
                config_keys = {o.get_key_element() for o in defaults_list.config_overrides}
                self._config_keys |= config_keys
                self._group_keys |= {k for k in keys if k not in config_keys}
                sig = tuple(o.input_line or "" for o, k in zip(parsed, keys) if k in self._group_keys)
                sources = [ConfigSourceInfo(path=x.path, schema=x.scheme(), provider=x.provider) for x in repo.get_sources()]
                cached = (base, dict(defaults_list.overrides.known_choices), sources)
                self._bases[sig] = cached
                self.composed += 1
            else:
                self.reused += 1
            base, choices, sources = cached
            cfg = copy.deepcopy(base)
            config_overrides = [o for o, k in zip(parsed, keys) if k in self._config_keys]
            ConfigLoaderImpl._apply_overrides_to_config(config_overrides, cfg)
            app_overrides = []
            for o in parsed:
                if o.is_hydra_override():
                    cfg.hydra.overrides.hydra.append(o.input_line)
                else:
                    cfg.hydra.overrides.task.append(o.input_line)
                    app_overrides.append(o)
            with open_dict(cfg.hydra):
                cfg.hydra.runtime.choices.update(choices)
                for key in cfg.hydra.job.env_copy:
                    cfg.hydra.job.env_set[key] = os.environ[key]
            cfg.hydra.runtime.version = __version__
            cfg.hydra.runtime.version_base = version.getbase()
            cfg.hydra.runtime.cwd = os.getcwd()
            cfg.hydra.runtime.config_sources = list(sources)
            if "name" not in cfg.hydra.job:
                cfg.hydra.job.name = JobRuntime().get("name")
            cfg.hydra.job.override_dirname = get_overrides_dirname(
                overrides=app_overrides,
                kv_sep=cfg.hydra.job.config.override_dirname.kv_sep,
                item_sep=cfg.hydra.job.config.override_dirname.item_sep,
                exclude_keys=cfg.hydra.job.config.override_dirname.exclude_keys,
            )
            cfg.hydra.job.config_name = config_name
        except OmegaConfBaseException as e:
            raise ConfigCompositionException().with_traceback(sys.exc_info()[2]) from e
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg
