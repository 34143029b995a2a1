"""Tunable parameters (``Param2Tune``): the axes of a grid sweep.

(Minimal shared definition; the sweeper work extends this module.)
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence

__all__ = ["Param2Tune"]

_UNSET = object()


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

    def __repr__(self) -> str:
        return f"Param2Tune({self.optional_values!r}, priority={self.priority!r})"
