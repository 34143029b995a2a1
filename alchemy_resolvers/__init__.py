"""hydra-alchemy's library: AlchemyCat-style configs, dependencies and sweeps for Hydra.

Importing this package registers the ``dep`` and ``rel`` OmegaConf resolvers (and the
internal ``alchemy_*`` ones that Python config entries lower to).
"""
from __future__ import annotations

from typing import Any

from alchemy_resolvers import lower as _lower
from alchemy_resolvers import resolvers as _resolvers
from alchemy_resolvers import tune as _tune

_resolvers.register()
_tune.register()  # ``alchemy_value``: tuned Python values in a job's overrides
# Resolvers for entries of Python config files: registered here too, so a saved
# ``config.yaml`` read in another process reports the missing object clearly instead
# of "unsupported interpolation type".
_lower.register()

__all__ = ["Config", "DEP", "P_DEP", "Param2Tune", "Cfg2Tune"]

_LAZY = {
    "Config": "alchemy_resolvers.config",
    "DEP": "alchemy_resolvers.config",
    "P_DEP": "alchemy_resolvers.config",
    "Cfg2Tune": "alchemy_resolvers.config",
    "Param2Tune": "alchemy_resolvers.tune",
}


def __getattr__(name: str) -> Any:
    # The authoring API is only needed by Python config files; keep the import of this
    # package (done by every Hydra app through the plugins) cheap.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'alchemy_resolvers' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
