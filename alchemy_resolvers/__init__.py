"""hydra-alchemy's library: AlchemyCat-style configs, dependencies and sweeps for Hydra.

Importing this package registers the ``dep`` and ``rel`` OmegaConf resolvers (and the
internal ``alchemy_*`` ones that Python config entries lower to); :func:`register`
does it again where something has reset OmegaConf's registry.
"""
from __future__ import annotations

from typing import Any


def register() -> None:
    """Register every OmegaConf resolver hydra-alchemy provides; call it any number of
    times, from any process.

    ``dep`` and ``rel`` for YAML; ``alchemy_pydep``, ``alchemy_pdep``, ``alchemy_obj``,
    ``alchemy_param`` and ``alchemy_value`` for entries of Python config files (also
    needed to read a saved ``config.yaml`` back, so a missing object is reported
    clearly instead of "unsupported interpolation type"). Importing this package calls
    it once; call it again after anything that resets OmegaConf's resolver registry,
    such as restoring Hydra's singleton state in a worker process or a test.
    """
    from alchemy_resolvers.authoring import tune
    from alchemy_resolvers.deps import resolvers
    from alchemy_resolvers.lowering import lower

    resolvers.register()
    lower.register()
    tune.register()


register()

__all__ = ["Config", "DEP", "P_DEP", "Param2Tune", "Cfg2Tune", "load_config", "register"]

_LAZY = {
    "Config": "alchemy_resolvers.authoring.config",
    "Cfg2Tune": "alchemy_resolvers.authoring.config",
    "DEP": "alchemy_resolvers.authoring.dep",
    "P_DEP": "alchemy_resolvers.authoring.dep",
    "Param2Tune": "alchemy_resolvers.authoring.tune",
    # AlchemyCat's ``load_config(path)`` outside Hydra (caps resolved, DEPs computed).
    "load_config": "alchemy_resolvers.lowering.lower",
}


def __getattr__(name: str) -> Any:
    # The authoring API is only needed by Python config files; keep the import of this
    # package (done by every Hydra app through the plugins) cheap.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'alchemy_resolvers' has no attribute {name!r}")
    import importlib

    if name in ("Config", "Cfg2Tune"):
        # ``Config('addon.py')`` composes another file: the loaders install themselves
        # into the authoring API when imported.
        importlib.import_module("alchemy_resolvers.loading.alchemy")
    return getattr(importlib.import_module(module), name)
