"""Zipped axes: axes that advance together (value ``i`` of each in the same job)
instead of forming a product.

A zip group is one *level* of the grid's loop: it has one priority (its first
member's), its members stay separate axes everywhere else (one override, one value
name, one column of the frame's index each), and each combination is checked against
every member's ``subject_to``. Groups come from ``hydra.sweeper.zip`` or from
zipped ``Param2Tune`` objects (``Param2Tune.zip``, ``zip_with=``); here they are plain
lists of keys, so the rules are the same whichever wrote them.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from alchemy_resolvers.grid.axes import Axis, GridError, display_keys, key_path

__all__ = ["ZipError", "zip_levels"]


class ZipError(GridError):
    """A zip group that cannot be: a key that is not swept, an axis in two groups,
    members of different lengths or priorities.

    ``group`` is the group as it was given (the very object), so a caller that merged
    groups from several places can say which setting holds the wrong one.
    """

    def __init__(self, message: str = "", *, group: Optional[Sequence[str]] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.group = group


def _finder(axes: Sequence[Axis]) -> Dict[str, Axis]:
    """Keys a zip group may name an axis by: its config path, else its display key
    (``lr`` for ``opt.lr`` when no other axis ends in ``lr``; ``caps`` for a tuned base)."""
    found: Dict[str, Axis] = {}
    displays = display_keys([a.label or a.path for a in axes])
    for axis, disp in zip(axes, displays):
        found.setdefault(disp, axis)
    for axis in axes:
        found[axis.path] = axis  # a path always wins over another axis' display key
    return found


def _resolve(group: Sequence[str], found: Dict[str, Axis], axes: Sequence[Axis]) -> List[Axis]:
    members: List[Axis] = []
    for key in group:
        axis = found.get(key_path(str(key)))
        if axis is None:
            raise ZipError(
                f"zip group {list(group)} names `{key}`, which is not swept; swept keys: "
                f"{sorted(a.path for a in axes)}",
                key=str(key), group=group, hint="zip only swept keys (their dotted config path)")
        if any(m is axis for m in members):
            raise ZipError(f"zip group {list(group)} names `{axis.path}` twice", key=axis.path, group=group)
        members.append(axis)
    if len(members) < 2:
        raise ZipError(
            f"zip group {list(group)} has one axis; a zip group makes two or more axes "
            "advance together", key=members[0].path if members else None, group=group,
            hint="put the keys that advance together in one list, e.g. [[opt.lr, sched.warmup]]")
    return members


def _check_lengths(members: Sequence[Axis], group: Sequence[str]) -> None:
    first = members[0]
    for other in members[1:]:
        if len(other.values) != len(first.values):
            raise ZipError(
                f"zipped axes `{first.path}` ({len(first.values)} values) and `{other.path}` "
                f"({len(other.values)} values) differ in length; zipped axes advance "
                "together, value i of one with value i of the other",
                key=other.path, group=group,
                hint="give every axis of a zip group the same number of values")


def _check_priorities(members: Sequence[Axis], group: Sequence[str]) -> None:
    first = members[0]
    for other in members[1:]:
        if other.priority is not None and other.priority != first.priority:
            raise ZipError(
                f"`{other.path}` has priority {other.priority:g} but is zipped with "
                f"`{first.path}` (priority {_show(first.priority)}); a zip group loops as "
                f"one axis with its first member's priority",
                key=other.path, group=group,
                hint=f"give the priority to `{first.path}` only (in hydra.sweeper.priorities, "
                "or on the first zipped Param2Tune)")


def _show(priority: Optional[float]) -> str:
    return "none" if priority is None else f"{priority:g}"


def zip_levels(axes: Sequence[Axis], zip_groups: Sequence[Sequence[str]]) -> List[List[Axis]]:
    """The grid's loop levels, unsorted: one list per zip group (its members in the
    group's order), a one-axis list per other axis.

    A group given twice (the same axes, in any order or spelling) counts once, in its
    first order. Raises :class:`ZipError` for a key that is not swept, an axis in two
    groups, or members whose lengths or priorities differ.
    """
    found = _finder(axes)
    group_of: Dict[int, List[Axis]] = {}
    for group in zip_groups:
        members = _resolve(group, found, axes)
        earlier = group_of.get(id(members[0]))
        if earlier is not None and {id(a) for a in earlier} == {id(a) for a in members}:
            continue  # the same group twice (a config's zip repeated in a setting): once
        for axis in members:
            if id(axis) in group_of:
                raise ZipError(
                    f"`{axis.path}` is in two zip groups "
                    f"({[a.path for a in group_of[id(axis)]]} and {[a.path for a in members]}); "
                    "an axis advances with one group", key=axis.path, group=group,
                    hint="merge the two groups into one")
            group_of[id(axis)] = members
        _check_lengths(members, group)
        _check_priorities(members, group)
    levels: List[List[Axis]] = []
    placed = set()
    for axis in axes:
        members = group_of.get(id(axis), [axis])
        if id(members[0]) in placed:
            continue
        placed.add(id(members[0]))
        levels.append(list(members))
    return levels
