"""The grid walked for the checks: like ``Grid.__iter__``, but a ``subject_to`` that
raises does not end the walk.

``Grid`` stops at the first constraint that raises (a sweep cannot go on without
knowing whether a combination is legal). Before launch we want every broken
constraint at once, so here a value whose constraint raises is recorded, treated as
rejected, and the walk goes on. Combinations come out in the grid's order with the
grid's indices as long as no constraint raised.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, List, Sequence, Tuple

from alchemy_resolvers.authoring.tune import Param2Tune
from alchemy_resolvers.grid import Axis, Combination, Grid, GridError, folder_safe
from alchemy_resolvers.grid.constraints import allowed

__all__ = ["ConstraintFailure", "walk_reporting", "partial_folder"]


@dataclass
class ConstraintFailure:
    """``subject_to`` of ``grid.axes[level]`` raised for one of its values."""

    level: int  # position of the axis in ``grid.axes``
    value_index: int
    chosen: List[int]  # value indices of the axes before it
    error: GridError


def partial_folder(axes: Sequence[Axis], chosen: Sequence[int]) -> str:
    """The start of a job folder name (``Grid.folder``'s spelling) for the first axes."""
    return ",".join(f"{a.display}={folder_safe(str(a.names[i]))}" for a, i in zip(axes, chosen)) or "job"


def _reset(axes: Sequence[Axis]) -> None:
    for axis in axes:
        if axis.param is not None:
            axis.param.reset()


def _spans(grid: Grid) -> List[Tuple[int, int]]:
    """``(start, stop)`` in ``grid.axes`` of each loop level: a zip group's members
    advance together (``Grid.levels``), any other axis is a level of its own."""
    levels = getattr(grid, "levels", None)
    if levels is None:
        return [(i, i + 1) for i in range(len(grid.axes))]
    spans: List[Tuple[int, int]] = []
    for level in levels:
        start = spans[-1][1] if spans else 0
        spans.append((start, start + len(level)))
    return spans


def walk_reporting(grid: Grid, failures: List[ConstraintFailure]) -> Iterator[Combination]:
    """Every legal combination of ``grid``, in its order; constraints that raise go to
    ``failures`` (the value counts as rejected)."""
    axes = grid.axes
    spans = _spans(grid)

    def choose(start: int, stop: int, index: int, chosen: List[int]) -> bool:
        for pos in range(start, stop):
            axis = axes[pos]
            value = axis.values[index]
            try:
                if not allowed(axes, pos, value, chosen):
                    return False
            except GridError as e:
                failures.append(ConstraintFailure(pos, index, list(chosen), e))
                return False
            if axis.param is not None:
                axis.param.cur_val = value
            chosen.append(index)
        return True

    def walk(level: int, chosen: List[int]) -> Iterator[List[int]]:
        if level == len(spans):
            yield chosen
            return
        start, stop = spans[level]
        _reset(axes[start:])
        for i in range(len(axes[start].values)):
            if choose(start, stop, i, chosen):
                yield from walk(level + 1, chosen)
            del chosen[start:]
            _reset(axes[start:])

    saved = _save(axes)
    try:
        count = 0
        for choice in walk(0, []):
            yield Combination(count, tuple(choice))
            count += 1
    finally:
        _restore(saved)


_Saved = List[Tuple[Param2Tune, bool, Any]]


def _save(axes: Sequence[Axis]) -> _Saved:
    """The current value of every axis' Param2Tune: the sweep's own walk may be
    suspended halfway (its first job chosen) while the checks walk the grid, and
    its constraints read those values when it goes on."""
    saved: _Saved = []
    for axis in axes:
        if axis.param is not None:
            try:
                saved.append((axis.param, True, axis.param.cur_val))
            except RuntimeError:  # no value chosen: unset
                saved.append((axis.param, False, None))
    return saved


def _restore(saved: _Saved) -> None:
    for param, has_value, value in saved:
        if has_value:
            param.cur_val = value
        else:
            param.reset()
