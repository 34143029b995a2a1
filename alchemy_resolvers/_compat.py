"""One place that knows how each OmegaConf version spells resolver registration.

omegaconf 2.3 (what hydra-core 1.3 installs) only has ``register_new_resolver``;
omegaconf 2.4 makes ``register_resolver`` canonical and deprecates the old name with a
warning, which Hydra's test helpers turn into errors (they run with -Werror).
"""
from __future__ import annotations

from typing import Any, Callable

from omegaconf import OmegaConf


def register_resolver(name: str, resolver: Callable[..., Any]) -> None:
    """Register ``resolver`` under ``name``, replacing an earlier registration.

    Hydra re-imports plugin modules when it restores singletons in worker processes,
    so registration must be idempotent: ``replace=True`` makes the second call harmless.
    """
    new_api = getattr(OmegaConf, "register_resolver", None)
    if new_api is not None and not _is_legacy_register_resolver(new_api):
        new_api(name, resolver, replace=True)
    else:
        OmegaConf.register_new_resolver(name, resolver, replace=True)


def _is_legacy_register_resolver(fn: Callable[..., Any]) -> bool:
    # omegaconf 2.0-2.3 still ship the old, deprecated ``register_resolver`` (string
    # arguments only, no ``replace``); only 2.4's version takes ``replace``.
    import inspect

    try:
        return "replace" not in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signature
        return True
