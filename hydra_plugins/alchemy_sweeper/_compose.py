"""Composing job configs: once per job, and the defaults list once per group choice.

This is the one module of the sweeper that uses Hydra internals. Checked against
hydra-core 1.3.2 and 1.3.8 (``hydra/_internal/config_loader_impl.py`` and
``hydra/_internal/defaults_list.py`` are identical in both). What it uses:

- ``ConfigLoaderImpl`` and its private steps ``ensure_main_config_source_available``,
  ``_parse_overrides_and_create_caching_repo``, ``validate_sweep_overrides_legal``,
  ``_compose_config_from_defaults_list`` and the static
  ``_apply_overrides_to_config``; ``hydra._internal.defaults_list.create_defaults_list``
  and ``hydra._internal.config_loader_impl.get_overrides_dirname``.

Why there is no public hook: Hydra's public ``ConfigLoader`` interface has
``load_configuration`` / ``load_sweep_config``, which always build the defaults list and
merge every config file again; nothing public returns the merged config *before* the
job's value overrides, nor applies overrides to a config (``ConfigLoaderImpl.
_load_configuration_impl`` does both inline). So the steps of
``_load_configuration_impl`` are repeated here in the same order; anything this does not
recognise goes to Hydra's own loader. If a Hydra release changes these internals,
``hydra.sweeper.compose_once=false`` still sweeps (Hydra composes every job itself) and
``tests/test_sweeper.py::test_group_caching_loader_composes_like_hydra`` says where.
"""
from __future__ import annotations

import copy
import os
import pickle
import sys
from typing import Any, Dict, List, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf, open_dict

__all__ = ["GroupCachingConfigLoader", "apply_overrides"]

_Base = Tuple[DictConfig, Dict[str, Any], List[Any]]


class _NotCacheable(Exception):
    pass


def apply_overrides(cfg: DictConfig, overrides: Sequence[Any]) -> None:
    """Apply parsed value overrides to ``cfg`` exactly as Hydra's composition does."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl._apply_overrides_to_config(list(overrides), cfg)


def _override_dirname(cfg: DictConfig, app_overrides: List[Any]) -> str:
    from hydra._internal.config_loader_impl import get_overrides_dirname

    conf = cfg.hydra.job.config.override_dirname
    return get_overrides_dirname(overrides=app_overrides, kv_sep=conf.kv_sep, item_sep=conf.item_sep,
                                 exclude_keys=conf.exclude_keys)


class GroupCachingConfigLoader:
    """Hydra's config loader, composing each job once and each defaults list once.

    Jobs of a value sweep share one defaults list, so this loader keeps the merged
    config before overrides for each distinct set of defaults-list overrides (group
    choices, ``hydra/launcher=...``) and, per job, applies that job's overrides to a
    copy exactly as ``ConfigLoaderImpl._load_configuration_impl`` does
    (``cache_groups=False``: Hydra's loader composes every job).

    A config the sweeper already composed for a job (to compute its ``P_DEP`` values)
    is kept with :meth:`keep`; the launcher's ``load_sweep_config`` for the same
    overrides gets that very config (once: it is popped), so no job is composed twice.

    Counters: ``composed`` defaults lists merged, ``reused`` cached ones used, ``built``
    job configs made, ``handed_over`` kept configs returned instead of composing.
    Launchers get this loader through the HydraContext, so it also pickles into workers
    (its caches stay behind).
    """

    def __init__(self, inner: Any, cache_groups: bool = True) -> None:
        self._inner = inner
        self._cache_groups = cache_groups
        self._bases: Dict[Tuple[str, ...], _Base] = {}
        self._pickled: Dict[int, bytes] = {}  # id(base) -> its pickle (bases live as long)
        self._parsed: Dict[str, Any] = {}  # override line -> its parsed Override
        self._kept: Dict[Tuple[str, ...], DictConfig] = {}
        self._config_keys: set = set()
        self._group_keys: set = set()
        self._parser: Any = None
        self.composed = 0
        self.reused = 0
        self.built = 0
        self.handed_over = 0

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __getstate__(self) -> Dict[str, Any]:
        return {"inner": self._inner, "cache_groups": self._cache_groups}

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__init__(state["inner"], state.get("cache_groups", True))  # type: ignore[misc]

    # -- the ConfigLoader method launchers call ---------------------------------------
    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: List[str]) -> DictConfig:
        kept = self._kept.pop(tuple(sweep_overrides), None)
        if kept is not None:
            self.handed_over += 1
            return kept
        self.built += 1
        try:
            if not self._cache_groups:
                raise _NotCacheable()
            return self._load(master_config, list(sweep_overrides))
        except _NotCacheable:
            return self._inner.load_sweep_config(master_config=master_config, sweep_overrides=sweep_overrides)

    # -- compose once per job ----------------------------------------------------------
    def keep(self, sweep_overrides: Sequence[str], cfg: DictConfig) -> None:
        """Hand ``cfg`` to the next ``load_sweep_config`` with exactly these overrides."""
        self._kept[tuple(sweep_overrides)] = cfg

    def drop_kept(self) -> None:
        """Forget kept configs no launcher asked for (e.g. a launcher composing in workers)."""
        self._kept.clear()

    def extend(self, cfg: DictConfig, extra: Sequence[str]) -> None:
        """Apply more (non-hydra) value overrides to a job config made by this loader,
        in place, as if they had been at the end of its task overrides."""
        if not extra:
            return
        parsed = self._overrides_parser().parse_overrides(overrides=list(extra))
        with open_dict(cfg):
            readonly = OmegaConf.is_readonly(cfg)
            OmegaConf.set_readonly(cfg, False)
            apply_overrides(cfg, parsed)
            OmegaConf.set_readonly(cfg, readonly)
            OmegaConf.set_readonly(cfg.hydra, False)
        cfg.hydra.overrides.task.extend(list(extra))
        task_lines = OmegaConf.to_container(cfg.hydra.overrides.task, resolve=False)
        task = self._overrides_parser().parse_overrides(overrides=list(task_lines))  # type: ignore[arg-type]
        cfg.hydra.job.override_dirname = _override_dirname(cfg, task)

    # -- the cached composition -----------------------------------------------------------
    def _overrides_parser(self) -> Any:
        if self._parser is None:
            from hydra.core.override_parser.overrides_parser import OverridesParser

            self._parser = OverridesParser.create()
        return self._parser

    def _parse(self, lines: List[str]) -> List[Any]:
        """Parsed overrides, each line parsed once per sweep: Hydra's ANTLR parser takes
        ~0.3 ms a line, and every job repeats the sweep's ``hydra...`` overrides. The
        parsed ``Override`` s are only read (applied, their input lines recorded)."""
        missing = [line for line in lines if line not in self._parsed]
        if missing:
            parsed = self._overrides_parser().parse_overrides(overrides=missing)
            self._parsed.update(zip(missing, parsed))
        return [self._parsed[line] for line in lines]

    def _load(self, master_config: DictConfig, sweep_overrides: List[str]) -> DictConfig:
        from hydra._internal.config_loader_impl import ConfigLoaderImpl
        from hydra.errors import ConfigCompositionException
        from omegaconf.errors import OmegaConfBaseException

        if not isinstance(self._inner, ConfigLoaderImpl):
            raise _NotCacheable()
        config_name = master_config.hydra.job.config_name
        master = list(OmegaConf.to_container(master_config.hydra.overrides.hydra))  # type: ignore[arg-type]
        overrides = master + sweep_overrides
        parsed = self._parse(overrides)
        keys = [o.get_key_element() for o in parsed]
        if any(k.lstrip("+~") == "hydra.searchpath" for k in keys) or any(o.is_sweep_override() for o in parsed):
            raise _NotCacheable()
        if any(k.lstrip("+~").startswith("hydra.overrides") for k in keys):
            raise _NotCacheable()  # they would meet the lines the base has already
        n = len(master)
        try:
            base, choices, sources = self._base(config_name, overrides, parsed, keys, n)
            cfg = self._copy(base)
            apply_overrides(cfg, [o for o, k in zip(parsed[n:], keys[n:]) if k in self._config_keys])
            if any(k.lstrip("+~").startswith(("hydra.runtime", "hydra.job")) for k in keys[n:]):
                self._fill_runtime(cfg, choices, sources, config_name)  # the override may touch them
            self._fill_overrides(cfg, parsed[n:])
        except OmegaConfBaseException as e:
            raise ConfigCompositionException().with_traceback(sys.exc_info()[2]) from e
        OmegaConf.copy_cache(from_config=master_config, to_config=cfg)
        return cfg

    def _copy(self, base: DictConfig) -> DictConfig:
        """A private copy of a cached base. Unpickling a pickle of it made once is ~3x
        faster than ``copy.deepcopy`` (~2 ms vs ~6 ms a job for a tiny app: OmegaConf's
        ``__deepcopy__`` runs in Python, node by node); a base holding something that
        does not pickle (``allow_objects``) is deep-copied."""
        blob = self._pickled.get(id(base))
        if blob is None:
            try:
                blob = pickle.dumps(base, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - any pickling failure: copy instead
                blob = b""
            self._pickled[id(base)] = blob
        return pickle.loads(blob) if blob else copy.deepcopy(base)

    def _signature(self, parsed: List[Any], keys: List[str], n_master: int) -> Tuple[str, ...]:
        return (*(o.input_line or "" for o in parsed[:n_master]), "",
                *(o.input_line or "" for o, k in zip(parsed, keys) if k in self._group_keys))

    def _base(self, config_name: str, overrides: List[str], parsed: List[Any], keys: List[str],
              n_master: int) -> _Base:
        """The merged config of this job's group choices, with the sweep's own (the
        first ``n_master``) overrides applied: every job has them first."""
        cached = None
        if all(k in self._config_keys or k in self._group_keys for k in keys):
            cached = self._bases.get(self._signature(parsed, keys, n_master))
        if cached is not None:
            self.reused += 1
            return cached
        cached, config_keys = self._compose_base(config_name, overrides, parsed[:n_master])
        self._config_keys |= config_keys
        self._group_keys |= {k for k in keys if k not in config_keys}
        self._bases[self._signature(parsed, keys, n_master)] = cached
        self.composed += 1
        return cached

    def _compose_base(self, config_name: str, overrides: List[str],
                      master: List[Any]) -> Tuple[_Base, set]:
        # The steps of ConfigLoaderImpl._load_configuration_impl (run mode RUN, as
        # load_sweep_config uses) up to the struct/read-only flags, then those that come
        # after for the sweep's own overrides ``master`` (hydra overrides, before the
        # job's in every job: Hydra applies them, then fills the runtime fields and
        # lists the override lines, in that order).
        from hydra._internal.defaults_list import create_defaults_list
        from hydra.conf import ConfigSourceInfo
        from hydra.types import RunMode

        inner = self._inner
        inner.ensure_main_config_source_available()
        parsed_overrides, repo = inner._parse_overrides_and_create_caching_repo(config_name, overrides)
        inner.validate_sweep_overrides_legal(overrides=parsed_overrides, run_mode=RunMode.RUN, from_shell=True)
        defaults_list = create_defaults_list(
            repo=repo, config_name=config_name, overrides_list=parsed_overrides,
            prepend_hydra=True, skip_missing=False,
        )
        base = inner._compose_config_from_defaults_list(defaults=defaults_list.defaults, repo=repo)
        OmegaConf.set_struct(base, True)
        OmegaConf.set_readonly(base.hydra, False)
        sources = [ConfigSourceInfo(path=x.path, schema=x.scheme(), provider=x.provider) for x in repo.get_sources()]
        config_keys = {o.get_key_element() for o in defaults_list.config_overrides}
        choices = dict(defaults_list.overrides.known_choices)
        # The same for every job of these group choices: done once, copied with the base
        # (~4 ms a job otherwise). A job whose overrides touch hydra.job/hydra.runtime
        # gets them filled again after its overrides, in Hydra's order.
        apply_overrides(base, [o for o in master if o.get_key_element() in config_keys])
        self._fill_runtime(base, choices, sources, config_name)
        self._fill_overrides(base, master)
        return (base, choices, sources), config_keys

    @staticmethod
    def _fill_runtime(cfg: DictConfig, choices: Dict[str, Any], sources: List[Any], config_name: str) -> None:
        # The last steps of ConfigLoaderImpl._load_configuration_impl that do not depend
        # on the job's overrides.
        from hydra import __version__, version
        from hydra.core.utils import JobRuntime

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
        cfg.hydra.job.config_name = config_name

    @staticmethod
    def _fill_overrides(cfg: DictConfig, parsed: List[Any]) -> None:
        # The last steps of ConfigLoaderImpl._load_configuration_impl that do.
        app_overrides = []
        for o in parsed:
            if o.is_hydra_override():
                cfg.hydra.overrides.hydra.append(o.input_line)
            else:
                cfg.hydra.overrides.task.append(o.input_line)
                app_overrides.append(o)
        cfg.hydra.job.override_dirname = _override_dirname(cfg, app_overrides)
