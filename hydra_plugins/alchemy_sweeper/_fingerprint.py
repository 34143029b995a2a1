"""What a job ran with: a fingerprint of its composed config, and the code version.

The fingerprint is the sha256 of a canonical JSON of the job's config without the
``hydra`` node: values as written (``resolve=False``), except interpolations that can
be resolved without Hydra's per-job state (``${dep:...}``, ``${a.b}``), which count by
their value, so an edit of the entry they read changes the fingerprint. It is computed
from a config the sweep already holds (the launcher's ``JobReturn.cfg``, or the config
the sweeper composed for the check before launch), never by composing again.

The code version is ``git rev-parse HEAD`` (plus ``+dirty`` with uncommitted changes)
of the task's dir, asked once per sweep.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from typing import Any, Dict, Iterable, Optional, Tuple

from omegaconf import DictConfig, OmegaConf

__all__ = ["fingerprint", "code_version", "changed_keys", "MAX_FLAT_KEYS", "MAX_VALUE_CHARS"]

#: Bounds of the flattened ``key -> value`` map kept to list changed keys.
MAX_FLAT_KEYS = 2_000
MAX_VALUE_CHARS = 200
SHORT = 12


def _flatten(node: Any, prefix: str, out: Dict[str, Any]) -> None:
    if isinstance(node, dict):
        if not node and prefix:
            out[prefix] = {}
        for k, v in node.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(node, list):
        if not node:
            out[prefix] = []
        for i, v in enumerate(node):
            _flatten(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = node


def _resolved(cfg: DictConfig, key: str, raw: Any) -> Any:
    """The value of an interpolation that needs no Hydra state; else as written."""
    if not isinstance(raw, str) or "${" not in raw or "hydra" in raw:
        return raw
    try:
        value = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
    except Exception:  # noqa: BLE001 - unresolvable here: count it as written
        return raw
    if isinstance(value, (DictConfig,)) or OmegaConf.is_config(value):
        return raw
    return value if isinstance(value, (str, int, float, bool)) or value is None else repr(value)


def fingerprint(cfg: DictConfig) -> Tuple[str, Dict[str, str]]:
    """``(short sha256, {key: value as JSON text})`` of ``cfg`` without ``hydra``."""
    container = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(container, dict)
    container.pop("hydra", None)
    flat: Dict[str, Any] = {}
    _flatten(container, "", flat)
    canon = {k: _resolved(cfg, k, v) for k, v in flat.items()}
    text = {k: json.dumps(v, sort_keys=True, default=repr) for k, v in canon.items()}
    digest = hashlib.sha256(json.dumps(text, sort_keys=True).encode("utf-8", "backslashreplace")).hexdigest()
    return digest[:SHORT], bounded(text)


def bounded(flat: Dict[str, str]) -> Dict[str, str]:
    """At most MAX_FLAT_KEYS keys, values cut to MAX_VALUE_CHARS (long ones by a hash)."""
    out: Dict[str, str] = {}
    for k in sorted(flat)[:MAX_FLAT_KEYS]:
        v = flat[k]
        if len(v) > MAX_VALUE_CHARS:
            v = v[: MAX_VALUE_CHARS - 20] + "...#" + hashlib.sha256(v.encode("utf-8", "backslashreplace")).hexdigest()[:12]
        out[k] = v
    return out


def changed_keys(old: Optional[Dict[str, str]], new: Dict[str, str]) -> list:
    """Keys whose value differs (added or removed keys included), sorted."""
    if old is None:
        return ["(the earlier config was not kept)"]
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def code_version(dirs: Iterable[Optional[str]]) -> Optional[str]:
    """``<commit>`` or ``<commit>+dirty`` of the first dir inside a git work tree."""
    for d in dirs:
        if not d or not os.path.isdir(d):
            continue
        try:
            head = subprocess.run(["git", "-C", d, "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                  text=True, timeout=10)
            if head.returncode != 0:
                continue
            dirty = subprocess.run(["git", "-C", d, "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    return None


def task_dirs(config: DictConfig) -> list:
    """Where the task's code lives: the app's script dir, then ``hydra.runtime.cwd``."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    cwd = OmegaConf.select(config, "hydra.runtime.cwd", default=None)
    return [os.path.dirname(os.path.abspath(script)) if script else None, cwd]
