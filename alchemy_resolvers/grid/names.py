"""Value names: how one value of a swept key reads in folder names and the frame's index.

A name must be readable, stable across processes (a rerun must find the same folders
to resume) and unique within one axis (two values must never share a folder).

This module imports nothing from the library, so anything may use it.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, List, Optional, Sequence

__all__ = ["value_name", "value_names", "MAX_NAME_LEN"]

#: Value names longer than this are shortened to a prefix plus a stable hash.
MAX_NAME_LEN = 40
_HASH_LEN = 8
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _stable_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]


def _clean(name: str) -> str:
    # `.` would read as a file extension or a dotted key, `/` as a sub folder.
    return name.replace(".", "·").replace("/", "-")


def _text_of(value: Any) -> str:
    if callable(value) and hasattr(value, "__name__"):
        return str(value.__name__)
    full = _ADDRESS.sub("", str(value))
    lines = full.splitlines()
    text = lines[0] if lines else ""
    if len(lines) > 1:
        # Values that differ only after the first line must still differ.
        text = f"{text[: MAX_NAME_LEN - _HASH_LEN - 2]}~{_stable_hash(full)}"
    return text


def value_name(value: Any, name: Optional[str] = None) -> Any:
    """The display name of one value (AlchemyCat's rules, made stable across processes).

    An ``int`` stays an int (so the frame's index sorts and reads back as numbers); an
    explicit ``name`` wins; a callable (class, function) is named by ``__name__``;
    anything else by the first line of ``str(value)``. Memory addresses in default
    ``repr``s are dropped, and names over :data:`MAX_NAME_LEN` characters become a
    prefix plus a hash of the full text (hashlib, so every process agrees).
    """
    if name is not None:
        return _clean(str(name))
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _text_of(value) or "''"
    if len(text) > MAX_NAME_LEN:
        text = f"{text[: MAX_NAME_LEN - _HASH_LEN - 1]}~{_stable_hash(text)}"
    return _clean(text)


def value_names(values: Sequence[Any], names: Optional[Sequence[str]] = None) -> List[Any]:
    """Names of all values of one axis, unique within the axis.

    Explicit names must be unique (a repeated name is the user's mistake and would
    merge two runs into one folder): ``ValueError``. Derived names that collide
    (``1.0`` and ``'1.0'``, two long values with one prefix) get ``~N`` with the
    value's position.
    """
    if names is not None:
        if len(names) != len(values):
            raise ValueError(f"{len(values)} values but {len(names)} names: {list(names)!r}")
        out = [value_name(v, n) for v, n in zip(values, names)]
        seen = set()
        for n in out:
            if n in seen:
                raise ValueError(
                    f"value name {n!r} is given to two values; names must be unique "
                    f"within a param (names: {list(names)!r})"
                )
            seen.add(n)
        return out
    out = [value_name(v) for v in values]
    counts: dict = {}
    for n in out:
        counts[str(n)] = counts.get(str(n), 0) + 1
    return [n if counts[str(n)] == 1 else f"{n}~{i}" for i, n in enumerate(out)]
