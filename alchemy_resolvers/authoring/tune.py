"""Tunable parameters (``Param2Tune``): the axes of a grid sweep, and their value names.

Value names are what a user reads in job folder names and in the metric frame's index,
so they must be readable, stable across processes (a rerun must find the same folders
to resume) and unique within one axis (two values must never share a folder).

This module is imported by every Hydra app (through the sweeper plugin, to register
the ``alchemy_value`` resolver), so it only imports the standard library.
"""
from __future__ import annotations

import hashlib
import itertools
import re
from typing import Any, Callable, Iterable, List, Optional, Sequence

__all__ = ["Param2Tune", "value_name", "value_names", "register"]

_UNSET = object()

# Definition order of Param2Tunes across a config file and its bases: the default
# priority of an axis is the order in which the config file created it.
_creation_counter = itertools.count()

#: Value names longer than this are shortened to a prefix plus a stable hash.
MAX_NAME_LEN = 40
_HASH_LEN = 8
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class Param2Tune:
    """One axis of a grid: the values a config entry takes across a sweep.

    ``subject_to(v)`` filters values given the values already chosen for params that
    come earlier in the order; a constraint reads those as ``other_param.cur_val``.
    ``priority``: lower is the outer loop; ``None`` keeps definition order.
    """

    def __init__(
        self,
        optional_values: Iterable[Any],
        subject_to: Callable[[Any], bool] = lambda v: True,
        optional_value_names: Optional[Sequence[str]] = None,
        priority: Optional[float] = None,
    ) -> None:
        self.optional_values = list(optional_values)
        self.subject_to = subject_to
        self.optional_value_names = (
            None if optional_value_names is None else [str(n) for n in optional_value_names]
        )
        self.priority = priority
        self._cur_val: Any = _UNSET
        self._seq = next(_creation_counter)
        if not self.optional_values:
            raise ValueError("Param2Tune needs at least one value, got an empty list")
        if self.optional_value_names is not None and len(self.optional_value_names) != len(
            self.optional_values
        ):
            raise ValueError(
                f"Param2Tune has {len(self.optional_values)} values but "
                f"{len(self.optional_value_names)} optional_value_names"
            )

    @property
    def cur_val(self) -> Any:
        if self._cur_val is _UNSET:
            raise RuntimeError(
                "Param2Tune.cur_val read before a value was chosen for it: a `subject_to` "
                "constraint may only read params that come earlier in the order "
                "(lower priority, or defined earlier)"
            )
        return self._cur_val

    @cur_val.setter
    def cur_val(self, value: Any) -> None:
        self._cur_val = value

    def reset(self) -> None:
        self._cur_val = _UNSET

    @property
    def value_names(self) -> List[str]:
        """Names of ``optional_values`` as they appear in folders and the metric frame."""
        return value_names(self.optional_values, self.optional_value_names)

    def __repr__(self) -> str:
        return f"Param2Tune({self.optional_values!r}, priority={self.priority!r})"


def _stable_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LEN]


def _clean(name: str) -> str:
    # `.` would read as a file extension or a dotted key, `/` as a sub folder.
    return name.replace(".", "·").replace("/", "-")


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
    if callable(value) and hasattr(value, "__name__"):
        text = str(value.__name__)
    else:
        full = _ADDRESS.sub("", str(value))
        lines = full.splitlines()
        text = lines[0] if lines else ""
        if len(lines) > 1:
            # Values that differ only after the first line must still differ.
            text = f"{text[: MAX_NAME_LEN - _HASH_LEN - 2]}~{_stable_hash(full)}"
    if text == "":
        text = "''"
    if len(text) > MAX_NAME_LEN:
        text = f"{text[: MAX_NAME_LEN - _HASH_LEN - 1]}~{_stable_hash(text)}"
    return _clean(text)


def value_names(values: Sequence[Any], names: Optional[Sequence[str]] = None) -> List[Any]:
    """Names of all values of one axis, unique within the axis.

    Explicit names must be unique (a repeated name is the user's mistake and would
    merge two runs into one folder). Derived names that collide (``1.0`` and ``'1.0'``,
    two long values with one prefix) get ``~N`` with the value's position.
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


def _alchemy_value(token: str, index: int) -> Any:
    # A Param2Tune value that Hydra's override grammar cannot spell (classes, tuples,
    # dicts, objects) reaches the job as `${alchemy_value:TOKEN,IDX}`; the object itself
    # lives in the registry of every process that loaded the Python config file.
    from alchemy_resolvers import registry

    param = registry.lookup(str(token))
    values = getattr(param, "optional_values", None)
    if values is None:
        raise TypeError(f"`{token}` names {type(param).__name__}, not a Param2Tune")
    try:
        return values[int(index)]
    except IndexError:
        raise IndexError(
            f"Param2Tune `{token}` has {len(values)} values, none at index {index}: the "
            "config file changed since the sweep was set up"
        ) from None


def register() -> None:
    """Register the ``alchemy_value`` resolver; safe to call any number of times."""
    from alchemy_resolvers._compat import register_resolver

    register_resolver("alchemy_value", _alchemy_value)
