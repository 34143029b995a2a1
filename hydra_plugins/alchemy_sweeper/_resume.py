"""Resume that notices edits: a completed combination is skipped only when its config
is the one it completed with.

``hydra.sweeper.resume`` is ``false`` (the default: an earlier sweep in the dir is
archived to ``earlier/<time>/`` and everything runs), ``true`` (skip completed combinations whose config fingerprint is unchanged,
rerun the changed ones and note it in the frame), ``strict`` (refuse, listing the
changed keys, when any completed combination's config changed) or ``restart`` (the
same as ``false``, said explicitly).

The check composes a completed combination's config once, through the sweep's caching
loader; when it changed, that config is handed to the launcher (never composed twice).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from omegaconf import DictConfig

from alchemy_resolvers.errors import SettingsError

from hydra_plugins.alchemy_sweeper._fingerprint import changed_keys, fingerprint
from hydra_plugins.alchemy_sweeper._overrides import SweepConfigError

__all__ = ["parse_resume", "ConfigStore", "ConfigChangedError", "CONFIGS_FILE", "Resume", "changed_since"]

CONFIGS_FILE = "sweep_configs.jsonl"
Resume = Union[bool, str]


class ConfigChangedError(SettingsError):
    """``resume=strict`` and a completed combination's config changed since it ran."""


def parse_resume(value: Any) -> Resume:
    """``False``, ``True``, ``"strict"`` or ``"restart"``; anything else is a setting error."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("strict", "restart"):
        return text
    if text in ("true", "false"):
        return text == "true"
    raise SweepConfigError(f"hydra.sweeper.resume must be true, false, strict or restart, got {value!r}",
                           key="hydra.sweeper.resume")


class ConfigStore:
    """``sweep_configs.jsonl``: the flattened config of each fingerprint, written once,
    read only to list changed keys (so the state file stays small and quick to load)."""

    def __init__(self, sweep_dir: Path) -> None:
        self.path = Path(sweep_dir) / CONFIGS_FILE
        self._written: set = set()
        self._loaded: Optional[Dict[str, Dict[str, str]]] = None

    def add(self, fp: str, flat: Dict[str, str]) -> None:
        if fp in self._written:
            return
        self._written.add(fp)
        line = json.dumps({"fingerprint": fp, "config": flat}) + "\n"
        with open(self.path, "a", encoding="utf-8", errors="backslashreplace") as f:
            f.write(line)

    def get(self, fp: Optional[str]) -> Optional[Dict[str, str]]:
        if self._loaded is None:
            self._loaded = {}
            if self.path.exists():
                with open(self.path, "rb") as f:
                    for raw in f:
                        try:
                            item = json.loads(raw)
                            self._loaded[item["fingerprint"]] = item["config"]
                        except (ValueError, KeyError, TypeError):
                            continue  # a torn line of a killed sweep
        return self._loaded.get(fp) if fp else None


def check(cfg: DictConfig, old: Dict[str, Any], store: ConfigStore) -> Tuple[Optional[str], List[str]]:
    """``(new fingerprint, changed keys)`` of a completed combination (no keys: unchanged).

    A record from before fingerprints (none stored) counts as unchanged."""
    fp, flat = fingerprint(cfg)
    old_fp = old.get("fingerprint")
    if not old_fp or old_fp == fp:
        return fp, []
    store.add(fp, flat)
    return fp, changed_keys(store.get(old_fp), flat) or ["(values that are not kept)"]


def changed_since(loader: Any, config: DictConfig, overrides: List[str], old: Optional[Dict[str, Any]],
                  store: ConfigStore) -> List[str]:
    """Keys of a completed job's config that changed since it ran (none: skip it).

    Composes the job once through the sweep's caching ``loader``; when it changed, that
    config is kept for the launcher, which then does not compose it again. A record
    from before fingerprints counts as unchanged (its name is all there is)."""
    if not old or not old.get("fingerprint"):
        return []
    cfg = loader.load_sweep_config(config, list(overrides))
    _, changed = check(cfg, old, store)
    if changed:
        loader.keep(overrides, cfg)
    return changed


def refuse_changed(changed: Dict[str, List[str]], sweep_dir: Path) -> None:
    """``resume=strict``: one message listing each changed combination and its keys."""
    shown = "\n".join(f"  {folder}: {', '.join(keys[:10])}{' ...' if len(keys) > 10 else ''}"
                      for folder, keys in list(changed.items())[:20])
    more = f"\n  ... and {len(changed) - 20} more" if len(changed) > 20 else ""
    raise ConfigChangedError(
        f"{len(changed)} completed combination(s) in {sweep_dir} ran with another config "
        f"than they would now (changed keys):\n{shown}{more}\nnothing was run: use "
        "hydra.sweeper.resume=true to rerun them, or undo the edit",
        key="hydra.sweeper.resume")
