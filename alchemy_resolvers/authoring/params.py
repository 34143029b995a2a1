"""Definition order of ``Param2Tune`` values (order of first assignment into a Config),
so that the sweeper can use it when no priority is given, whatever the tree order."""
from __future__ import annotations

import itertools
import weakref
from typing import Any, Dict, Optional, Tuple

from alchemy_resolvers.authoring.tune import Param2Tune

__all__ = ["note_param", "param_definition_index", "is_param"]

_param_counter = itertools.count()
_param_seq: Dict[int, Tuple[Any, int]] = {}


def note_param(value: Any) -> None:
    key = id(value)
    if key in _param_seq:
        return
    try:
        ref: Any = weakref.ref(value, lambda _r, key=key: _param_seq.pop(key, None))
    except TypeError:  # not weak-referenceable: keep it alive instead
        ref = value
    _param_seq[key] = (ref, next(_param_counter))


def param_definition_index(param: Any) -> Optional[int]:
    """Order in which ``param`` was first assigned into a Config (None if never)."""
    entry = _param_seq.get(id(param))
    return None if entry is None else entry[1]


def is_param(value: Any) -> bool:
    return isinstance(value, Param2Tune)
