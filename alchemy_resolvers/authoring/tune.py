"""Tunable parameters (``Param2Tune``): what a user writes to make a key an axis of a
grid sweep. The grid (``alchemy_resolvers.grid``) turns them into axes and names their
values (``alchemy_resolvers.grid.names``).

This module is imported by every Hydra app (through the sweeper plugin, to register
the ``alchemy_value`` resolver), so it only imports the standard library and the
library's errors.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable, Optional, Sequence

from alchemy_resolvers.errors import SettingsError

__all__ = ["Param2Tune", "Param2TuneError", "register"]

_UNSET = object()

# Definition order of Param2Tunes across a config file and its bases: the default
# priority of an axis is the order in which the config file created it.
_creation_counter = itertools.count()


class Param2TuneError(SettingsError):
    """A ``Param2Tune`` that cannot be an axis (no values, names that do not fit)."""


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
            raise Param2TuneError("Param2Tune needs at least one value, got an empty list",
                                  hint="give it a list of values, e.g. Param2Tune([1, 2])")
        if self.optional_value_names is not None and len(self.optional_value_names) != len(
            self.optional_values
        ):
            raise Param2TuneError(
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

    def __repr__(self) -> str:
        return f"Param2Tune({self.optional_values!r}, priority={self.priority!r})"


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
