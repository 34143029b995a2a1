"""What users write in a config file: ``Config``, ``Cfg2Tune``, ``DEP``, ``P_DEP``,
``Param2Tune``. Imports nothing above it (no loader, no OmegaConf).

Modules: ``context`` (the file being loaded; the hook the loaders install), ``dep``,
``tune`` (Param2Tune), ``params`` (their definition order), ``node`` (tree mechanics),
``config`` (Config, Cfg2Tune), ``printer`` (``to_txt``).
"""
from __future__ import annotations

from typing import Any

__all__ = ["Config", "Cfg2Tune", "DEP", "P_DEP", "Param2Tune"]

_LAZY = {
    "Config": "alchemy_resolvers.authoring.config",
    "Cfg2Tune": "alchemy_resolvers.authoring.config",
    "DEP": "alchemy_resolvers.authoring.dep",
    "P_DEP": "alchemy_resolvers.authoring.dep",
    "Param2Tune": "alchemy_resolvers.authoring.tune",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'alchemy_resolvers.authoring' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
