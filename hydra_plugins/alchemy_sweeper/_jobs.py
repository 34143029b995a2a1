"""One job of the sweep: its overrides, its ``P_DEP`` values, its folder and link.

What a job gets: its overrides (fixed and swept, in definition order), the computed
``P_DEP`` values as overrides, and ``hydra.sweep.subdir`` set to its combination
(``batch_size=128,epochs=5``) unless the user chose a subdir of their own. A link
``<job num>`` next to each folder keeps Hydra's numbered paths working.

Composed once: to compute ``P_DEP`` values a job's config must be composed here; that
config (with the values applied) is kept in the caching config loader, and the
launcher's ``load_sweep_config`` for the job gets it instead of composing again. Jobs of
a config group choice without ``P_DEP`` entries are composed by the launcher only (the
first one here, to learn that there are none, and then handed over).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from omegaconf import DictConfig

from alchemy_resolvers.grid import Combination, Grid

from hydra_plugins.alchemy_sweeper._compose import GroupCachingConfigLoader
from hydra_plugins.alchemy_sweeper._overrides import SweepConfigError, override_value, subdir_override
from hydra_plugins.alchemy_sweeper._record import Job

__all__ = ["JobMaker"]

PdepsFn = Callable[[DictConfig], Mapping[str, Any]]


def _load_pdeps_fn() -> Optional[PdepsFn]:
    """``compute_pdeps`` of the lowering layer, when the Python config layer is installed."""
    try:
        from alchemy_resolvers.lowering.lower import compute_pdeps
    except ImportError:
        return None
    return compute_pdeps if callable(compute_pdeps) else None


class JobMaker:
    """Turns combinations into jobs (overrides, P_DEP values, folder) and links folders."""

    def __init__(self, *, config: DictConfig, loader: Any, sweep_dir: Path, name_folders: bool,
                 job_links: bool) -> None:
        self.config = config
        if not isinstance(loader, GroupCachingConfigLoader):
            loader = GroupCachingConfigLoader(loader, cache_groups=False)
        self.loader = loader
        self.sweep_dir = sweep_dir
        self.name_folders = name_folders
        self.job_links = job_links
        self._pdeps_fn = _load_pdeps_fn()
        self._has_pdeps: Dict[Tuple[str, ...], bool] = {}

    def make(self, grid: Grid, combo: Combination) -> Job:
        folder = grid.folder(combo)
        swept = grid.overrides(combo)
        tail = [subdir_override(folder)] if self.name_folders else []
        job = Job(combo=combo, key=grid.key_of(combo), folder=folder, overrides=swept + tail)
        group = grid.group_overrides(combo)
        if self._pdeps_fn is None or self._has_pdeps.get(group) is False:
            return job  # the launcher composes it
        cfg = self.loader.load_sweep_config(self.config, list(job.overrides))
        pdeps = self._pdep_overrides(job, cfg)
        self._has_pdeps[group] = bool(pdeps)
        self.loader.extend(cfg, pdeps)
        job.overrides = swept + pdeps + tail
        self.loader.keep(job.overrides, cfg)
        return job

    def _pdep_overrides(self, job: Job, cfg: DictConfig) -> List[str]:
        assert self._pdeps_fn is not None
        out = []
        for key, value in self._pdeps_fn(cfg).items():
            try:
                out.append(f"{key}={override_value(value, f'P_DEP `{key}`')}")
            except SweepConfigError as e:
                raise SweepConfigError(
                    f"P_DEP `{key}` computed {value!r} for {job.folder}, which a job config "
                    f"cannot hold: {e}", key=key) from None
        return out

    def forget(self) -> None:
        """Drop configs composed for jobs that the launcher did not ask for."""
        self.loader.drop_kept()

    def link(self, job: Job) -> Optional[Path]:
        """``<sweep dir>/<job num>`` -> the job's folder; the link made, if any."""
        if not self.job_links:
            return None
        link = self.sweep_dir / str(job.combo.index)
        try:
            if link.is_symlink():
                if os.readlink(link) == job.folder:
                    return None
                link.unlink()
            elif link.exists():
                return None  # a real folder from another sweep: leave it
            os.symlink(job.folder, link, target_is_directory=True)
            return link
        except OSError:
            return None  # links are a convenience (e.g. no symlinks on this file system)
