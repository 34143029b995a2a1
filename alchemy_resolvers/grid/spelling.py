"""Values written as the value part of a ``key=value`` command-line override.

Jobs get their swept values as override strings, in the override grammar Hydra parses
(hydra-core 1.3). This module writes that grammar without importing Hydra: numbers,
``null``, ``true``/``false``, ``nan``/``inf``, ``[lists]`` and ``{dicts}`` are written
plainly; a string is written bare only when it is a plain word that cannot read as
anything else (``adam``, ``resnet-50``, ``data/train.txt``), otherwise single-quoted,
with the grammar's one escape (backslashes before a quote). Interpolations in strings
(``${...}``) stay interpolations, as in any quoted Hydra override.

The sweeper plugin checks these spellings against Hydra's own parser
(``hydra_plugins/alchemy_sweeper/_overrides.py``), so a grammar change in Hydra is an
error that names the value, not a silently different value.
"""
from __future__ import annotations

import math
import re
from typing import Any, List

__all__ = ["to_override_value", "quote", "is_literal"]

# A bare word Hydra reads back as this very string: an identifier start, then
# identifier characters or the grammar's unquoted characters (no `$`, `\`).
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_\-./+%*@?|]*")
# Words the grammar reads as other types (matched case-insensitively by Hydra).
_KEYWORDS = {"true", "false", "null", "nan", "inf"}


def quote(value: str) -> str:
    """``value`` as a single-quoted override string.

    In quoted strings only backslashes right before a quote (or at the end) are escapes,
    so those are doubled and the quote escaped; every other character stays as it is.
    """
    out: List[str] = []
    i = 0
    while i < len(value):
        j = i
        while j < len(value) and value[j] == "\\":
            j += 1
        run = value[i:j]
        if j < len(value) and value[j] == "'":
            out.append(run * 2 + "\\'")
            i = j + 1
        elif j == len(value):
            out.append(run * 2)
            i = j
        else:
            out.append(run + value[j] if j > i else value[j])
            i = j + 1
    return "'" + "".join(out) + "'"


def _string(value: str) -> str:
    if _PLAIN.fullmatch(value) and value.lower() not in _KEYWORDS:
        return value
    return quote(value)


def _float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def _dict(value: dict) -> str:
    items = []
    for k, v in value.items():
        if not isinstance(k, (str, int)) or isinstance(k, bool):
            raise TypeError(f"dict key {k!r} cannot be written as an override")
        items.append(f"{to_override_value(k)}:{to_override_value(v)}")
    return "{" + ",".join(items) + "}"


def to_override_value(value: Any) -> str:
    """``value`` in the override grammar; interpolations in strings are kept.

    Raises ``TypeError`` for values the grammar cannot express (classes, objects).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_override_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return _dict(value)
    try:  # OmegaConf containers read from YAML
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return to_override_value(OmegaConf.to_container(value, resolve=False))
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be written as an override")


def is_literal(value: Any) -> bool:
    """Whether a Python value survives a ``key=value`` override exactly as it is.

    Tuples (would become lists), dicts (would merge into the node) and strings with
    ``${`` (would become interpolations) do not.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return "${" not in value
    if isinstance(value, list):
        return all(is_literal(v) for v in value)
    return False
