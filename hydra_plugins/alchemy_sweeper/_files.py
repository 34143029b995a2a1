"""Which config file a key of a composed job config came from, for the checks' messages.

A problem found before launch must name the file to edit. The provenance plugin
already attributes each leaf of a job's config to the file (and line) that set it
(:func:`hydra_plugins.alchemy_provenance._collect.entries`); where it cannot (a value
computed by ``${dep}``, several files that agree), the file of the group option whose
package holds the key is named, and the primary config file as the last resort.
Only problems are attributed, so the cost does not matter for clean sweeps.

Reads ``hydra.runtime.config_sources``/``choices`` and ``hydra.job.config_name``, as
the provenance plugin does (checked on hydra-core 1.3.2 and 1.3.8).
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Optional, Tuple

from omegaconf import DictConfig, OmegaConf

from alchemy_resolvers.lowering import config_dir

__all__ = ["ConfigFiles"]

# Provenance sources that name a file: `conf/a.yaml:3`, `conf/a.py:3 (caps of ...)`,
# `sweep axis k (Param2Tune at conf/a.py:3)`, `P_DEP at conf/a.py:7, computed ...`.
_AT = re.compile(r"(?:Param2Tune at |P_DEP at )([^,()]+?)(?:\)|,|$)")
_NOT_A_FILE = ("unknown", "override ", "dep ", "default of ")


class ConfigFiles:
    """Files of the sweep's config: the primary one, group options, and per key."""

    def __init__(self, config: DictConfig) -> None:
        self._config = config
        self._dirs: Optional[List[str]] = None
        # The last job config attributed and its entries (problems of one job come together).
        self._last: Optional[Tuple[DictConfig, Dict[str, Dict[str, Any]]]] = None

    @property
    def primary(self) -> Optional[str]:
        """The primary config file (``--config-name``), when it is a file."""
        name = OmegaConf.select(self._config, "hydra.job.config_name", default=None)
        return self._find(str(name)) if name else None

    @property
    def dirs(self) -> List[str]:
        """The config dirs on the search path (those of files, not packages or the store)."""
        if self._dirs is None:
            sources = OmegaConf.select(self._config, "hydra.runtime.config_sources", default=None) or []
            self._dirs = [str(s.path) for s in sources if s.schema in ("alchemy", "file")]
        return self._dirs

    @staticmethod
    def show(path: str) -> str:
        """``path`` relative to the working dir when inside it (as the user typed it)."""
        rel = os.path.relpath(path)
        return path if rel.startswith("..") else rel

    def _find(self, config_path: str) -> Optional[str]:
        for d in self.dirs:
            found = config_dir.find_config_file(d, config_path)
            if found:
                return self.show(found)
        return None

    def option(self, group: str, option: str) -> Optional[str]:
        """The file of ``group=option`` (``db@x`` addresses the group ``db``)."""
        return self._find(f"{group.lstrip('+~').split('@')[0]}/{option}")

    def of(self, cfg: DictConfig, key: str) -> Optional[str]:
        """The file (``path:line`` where known) that set ``key`` of the job config ``cfg``,
        or the override that did."""
        source = self._source(cfg, key)
        if source is not None and source.startswith("override "):
            return source  # set by an override (command line, hydra.sweeper.params): no file says it
        if source is not None and not source.startswith(_NOT_A_FILE):
            m = _AT.search(source)
            return m.group(1).strip() if m else source
        return self._option_holding(cfg, key) or self.primary

    def _source(self, cfg: DictConfig, key: str) -> Optional[str]:
        if self._last is None or self._last[0] is not cfg:
            try:
                from hydra_plugins.alchemy_provenance._collect import entries as collect

                self._last = (cfg, collect(cfg, cfg.hydra))
            except Exception:  # noqa: BLE001 - provenance is a help here, never a failure
                self._last = (cfg, {})
        entries = self._last[1]
        hit = entries.get(key)
        if hit is None:  # a subtree: any leaf under it
            hit = next((v for k, v in entries.items() if k.startswith(key + ".")), None)
        if hit is None and "." in key:  # an unknown key's node: its siblings' file
            parent = key.rsplit(".", 1)[0]
            hit = next((v for k, v in entries.items() if k.startswith(parent + ".")), None)
        return None if hit is None else str(hit.get("source"))

    def _option_holding(self, cfg: DictConfig, key: str) -> Optional[str]:
        """The chosen group option mounted deepest above ``key``."""
        best: Tuple[int, Optional[str]] = (-1, None)
        choices = OmegaConf.select(cfg, "hydra.runtime.choices", default=None) or {}
        for group, option in choices.items():
            group = str(group)
            if option is None or group == "hydra" or group.startswith("hydra/"):
                continue
            name, _, package = group.partition("@")
            mount = package or name.replace("/", ".")
            if (key == mount or key.startswith(mount + ".")) and len(mount) > best[0]:
                best = (len(mount), self.option(name, str(option)))
        return best[1]
