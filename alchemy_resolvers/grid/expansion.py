"""Lazy grid expansion: the ordered product of axes, filtered by constraints.

A grid is the product of its axes, filtered by each axis' ``subject_to``. It is walked
depth first, one combination at a time, so a 100,000-point grid never exists in memory
and the first job starts as soon as the first legal combination is found.

Order: lower ``priority`` is the outer loop. An axis without a priority takes its
definition index as priority (config-defined axes first, then command-line sweeps), so
``priority`` only needs to be set where the default order is not wanted. Ties keep
definition order.

Zipped axes (:mod:`~alchemy_resolvers.grid.zipping`) are one loop level: value ``i``
of every member together, ordered by the first member's priority. Everything else
sees them as the separate axes they are: ``axes``, ``keys``, ``names``, overrides and
folders list every member, and a combination chooses an index on every axis (the
same index for the members of one group).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from alchemy_resolvers.grid.axes import Axis, GridError, display_keys, folder_safe
from alchemy_resolvers.grid.constraints import allowed, check_expressions, empty_message
from alchemy_resolvers.grid.zipping import zip_levels

__all__ = ["Grid", "Combination", "MAX_FOLDER_BYTES"]

#: Folder names longer than this (bytes) are cut and made unique with a hash.
MAX_FOLDER_BYTES = 200


@dataclass(frozen=True)
class Combination:
    """One point of the grid: its position and the value index chosen on every axis."""

    index: int
    choice: Tuple[int, ...]  # value index per axis, in grid order


class Grid:
    """The ordered product of axes, filtered by constraints, walked lazily.

    ``slots`` fixes the order of overrides in a job (definition order, with fixed
    command-line overrides in their place); the axes' priorities fix the loop order.
    ``zip_groups`` lists keys (config paths, or display keys) of axes that advance
    together instead of forming a product: ``[["opt.lr", "sched.warmup"]]``.
    """

    def __init__(self, slots: Sequence[Union[str, Axis]],
                 zip_groups: Optional[Sequence[Sequence[str]]] = None) -> None:
        self.slots: List[Union[str, Axis]] = list(slots)
        defined = [s for s in self.slots if isinstance(s, Axis)]
        seen: Dict[str, str] = {}
        for i, axis in enumerate(defined):
            axis.def_index = i
            if axis.path in seen:
                raise GridError(
                    f"`{axis.path}` is swept twice ({seen[axis.path]} and {axis.source}); "
                    "keep one of them",
                    key=axis.path,
                )
            seen[axis.path] = axis.source
        levels = sorted(
            zip_levels(defined, zip_groups or ()),
            key=lambda lv: (lv[0].def_index if lv[0].priority is None else lv[0].priority, lv[0].def_index),
        )
        #: Every axis in loop order; the members of a zip group stand together.
        self.axes: List[Axis] = [a for level in levels for a in level]
        #: ``(start, stop)`` in ``axes`` of each loop level (a zip group, or one axis).
        self._spans: List[Tuple[int, int]] = []
        for level in levels:
            start = self._spans[-1][1] if self._spans else 0
            self._spans.append((start, start + len(level)))
        for axis, disp in zip(self.axes, display_keys([a.label or a.path for a in self.axes])):
            axis.display = folder_safe(disp)
        check_expressions(self.axes)
        self._position = {id(a): i for i, a in enumerate(self.axes)}

    @property
    def levels(self) -> List[List[Axis]]:
        """The loop levels in order: a zip group's members together, any other axis alone."""
        return [self.axes[start:stop] for start, stop in self._spans]

    # -- one combination ------------------------------------------------------------
    @property
    def keys(self) -> List[str]:
        """Display keys in grid (priority) order: the frame's index names."""
        return [a.display for a in self.axes]

    def names(self, combo: Combination) -> List[Any]:
        return [a.names[i] for a, i in zip(self.axes, combo.choice)]

    def values(self, combo: Combination) -> List[Any]:
        return [a.values[i] for a, i in zip(self.axes, combo.choice)]

    def params(self, combo: Combination) -> Dict[str, Tuple[Any, Any]]:
        """``{key: (value, name)}`` like AlchemyCat's ``param_comb``."""
        return {a.path: (a.values[i], a.names[i]) for a, i in zip(self.axes, combo.choice)}

    def _override(self, axis: Axis, combo: Combination) -> str:
        return f"{axis.key}={axis.overrides[combo.choice[self._position[id(axis)]]]}"

    def axis_overrides(self, combo: Combination) -> List[str]:
        """The ``key=value`` overrides of the swept axes (definition order)."""
        return [self._override(s, combo) for s in self.slots if isinstance(s, Axis)]

    def overrides(self, combo: Combination) -> List[str]:
        """Every override of the job: fixed ones and swept ones, in slot order."""
        return [self._override(s, combo) if isinstance(s, Axis) else s for s in self.slots]

    def group_overrides(self, combo: Combination) -> Tuple[str, ...]:
        """Overrides that choose config-group options: jobs that share them compose alike."""
        return tuple(
            f"{a.key}={a.overrides[i]}" for a, i in zip(self.axes, combo.choice) if a.is_group
        )

    def folder(self, combo: Combination) -> str:
        """``key=name`` joined by ``,`` in grid order: the job's folder name."""
        text = ",".join(
            f"{a.display}={folder_safe(str(a.names[i]))}" for a, i in zip(self.axes, combo.choice)
        )
        if not text:
            text = "job"
        raw = text.encode("utf-8")
        if len(raw) > MAX_FOLDER_BYTES:
            digest = hashlib.sha1(raw).hexdigest()[:8]
            cut = raw[: MAX_FOLDER_BYTES - 10].decode("utf-8", "ignore")
            text = f"{cut},~{digest}"
        return text

    def key_of(self, combo: Combination) -> str:
        """Identity of a combination across runs: its swept overrides."""
        return "\x1f".join(self.axis_overrides(combo))

    # -- expansion ----------------------------------------------------------------
    def __iter__(self) -> Iterator[Combination]:
        count = 0
        for choice in self._walk(0, []):
            yield Combination(count, tuple(choice))
            count += 1
        if count == 0:
            raise GridError(empty_message(self.axes), hint="loosen a subject_to constraint or add values")

    def _reset_from(self, level: int) -> None:
        for axis in self.axes[level:]:
            if axis.param is not None:
                axis.param.reset()

    def _walk(self, level: int, chosen: List[int]) -> Iterator[List[int]]:
        if level == len(self._spans):
            yield chosen
            return
        start, stop = self._spans[level]
        self._reset_from(start)
        for i in range(len(self.axes[start].values)):
            # The members of a zip group are checked in order, each seeing the ones
            # before it as chosen (so a row constraint on the last sees the whole row).
            if self._choose(start, stop, i, chosen):
                yield from self._walk(level + 1, chosen)
            del chosen[start:]
            # Deeper levels (or a half-checked row) may have left values set; the next
            # sibling must not see them.
            self._reset_from(start)

    def _choose(self, start: int, stop: int, index: int, chosen: List[int]) -> bool:
        """Append ``index`` for the axes ``start:stop`` while their constraints allow it."""
        for pos in range(start, stop):
            axis = self.axes[pos]
            value = axis.values[index]
            if not allowed(self.axes, pos, value, chosen):
                return False
            if axis.param is not None:
                axis.param.cur_val = value
            chosen.append(index)
        return True
