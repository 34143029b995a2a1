"""Process-local registry of Python objects that a Hydra config refers to by token.

OmegaConf configs hold primitives and containers. Values from Python config files that
are not (classes, functions, DEP callables, Param2Tune axes) are kept here and the
config holds an interpolation naming their token, e.g. ``${alchemy_obj:o3f2...}``.

Tokens are derived from the file's real path and the entry's key, so every process
that loads the same file (Hydra re-composes configs in launcher workers) produces the
same tokens and finds the same objects. The registry is only ever filled by loading
config files through our loaders; a token in a YAML value cannot make us load or run
anything, so a YAML from someone else still cannot execute code.
"""
from __future__ import annotations

import hashlib
import os
from typing import Any, Dict, Iterable, Optional, Tuple

from alchemy_resolvers.errors import AlchemyError

__all__ = ["register", "lookup", "known", "origin", "snapshot", "restore", "RegistryError"]

_objects: Dict[str, Any] = {}
_origins: Dict[str, Tuple[str, str]] = {}


class RegistryError(AlchemyError, LookupError):
    """A config refers to a Python object that no loaded config file provided."""


def register(obj: Any, file: str, key: str, kind: str = "o") -> str:
    """Keep ``obj`` (entry ``key`` of config ``file``) and return its token.

    ``kind`` is a short alphabetic prefix that makes tokens self-describing
    (``o`` object, ``d`` DEP, ``p`` Param2Tune, ...).
    """
    real = os.path.realpath(str(file))
    digest = hashlib.sha1(f"{real}\0{key}".encode()).hexdigest()[:16]
    token = f"{kind}{digest}"
    _objects[token] = obj
    _origins[token] = (real, key)
    return token


def lookup(token: str) -> Any:
    try:
        return _objects[str(token)]
    except KeyError:
        raise RegistryError(
            f"config refers to Python object `{token}`, but no Python config file "
            "loaded in this process provides it: Python-valued entries only exist "
            "while the config is composed by Hydra from its .py file (a config "
            "read back with OmegaConf.load keeps the reference, not the object)",
            hint="compose the config from its .py file (through Hydra's search path) in this process",
        ) from None


def known(token: str) -> bool:
    """Whether ``token`` names an object loaded in this process."""
    return str(token) in _objects


def origin(token: str) -> Tuple[str, str]:
    """``(file, key)`` the token was registered for."""
    return _origins[str(token)]


def snapshot(tokens: Optional[Iterable[str]] = None) -> Dict[str, Tuple[Any, str, str]]:
    """``{token: (object, file, key)}`` for ``tokens`` (default: every entry), to hand
    to another process with a config that refers to them; see :func:`restore`.

    A token this process does not hold is left out: resolving it there reports it as
    :func:`lookup` does here.
    """
    wanted = list(_objects) if tokens is None else [str(t) for t in tokens]
    return {t: (_objects[t], *_origins[t]) for t in wanted if t in _objects}


def restore(entries: Dict[str, Tuple[Any, str, str]]) -> None:
    """Make the entries of a :func:`snapshot` (taken in another process) resolvable
    here, without running the config files they came from."""
    for token, (obj, file, key) in entries.items():
        _objects[str(token)] = obj
        _origins[str(token)] = (str(file), str(key))
