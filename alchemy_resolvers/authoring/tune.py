"""Tunable parameters (``Param2Tune``): what a user writes to make a key an axis of a
grid sweep. The grid (``alchemy_resolvers.grid``) turns them into axes and names their
values (``alchemy_resolvers.grid.names``).

This module is imported by every Hydra app (through the sweeper plugin, to register
the ``alchemy_value`` resolver), so it only imports the standard library and the
library's errors.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, Union

from alchemy_resolvers.errors import SettingsError

__all__ = ["Param2Tune", "Param2TuneError", "ZipGroup", "register"]

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

    ``zip_with=other`` makes this param advance together with ``other`` (value ``i``
    of one always with value ``i`` of the other) instead of forming a product with it;
    :meth:`zip` builds several such params from rows of values at once.
    """

    def __init__(
        self,
        optional_values: Iterable[Any],
        subject_to: Callable[[Any], bool] = lambda v: True,
        optional_value_names: Optional[Sequence[str]] = None,
        priority: Optional[float] = None,
        zip_with: Optional["Param2Tune"] = None,
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
        #: The params this one advances together with (itself included), or None.
        self.zip_group: Optional[ZipGroup] = None
        if zip_with is not None:
            ZipGroup.join(zip_with, self)

    @classmethod
    def zip(
        cls,
        rows: Iterable[Sequence[Any]],
        subject_to: Optional[Callable[[Tuple[Any, ...]], bool]] = None,
        optional_value_names: Optional[Sequence[Union[str, Sequence[str]]]] = None,
        priority: Optional[float] = None,
    ) -> Tuple["Param2Tune", ...]:
        """Params that advance together, one per column of ``rows``; unpack them into keys::

            cfg.opt.lr, cfg.sched.warmup = Param2Tune.zip([(0.1, 100), (0.01, 1000)])

        runs two jobs (``lr=0.1`` with ``warmup=100``, ``lr=0.01`` with ``warmup=1000``)
        where two plain params would run four. Written as rows because a row is what
        one job gets: lengths cannot disagree, and a row reads like the combination.

        ``subject_to(row)`` keeps or drops a whole row (a tuple, in column order),
        reading earlier params through ``.cur_val`` like any constraint.
        ``optional_value_names`` has one entry per row: a name every member shows, or
        a tuple with one name per member. ``priority`` orders the whole group; it is
        kept on the first member, as the grid orders a zipped group by its first one.
        """
        rows = [tuple(r) if isinstance(r, (tuple, list)) else r for r in rows]
        if not rows:
            raise Param2TuneError("Param2Tune.zip needs at least one row, got none",
                                  hint="give it rows of values, e.g. Param2Tune.zip([(0.1, 100), (0.01, 1000)])")
        bad = [r for r in rows if not isinstance(r, tuple)]
        if bad:
            raise Param2TuneError(
                f"Param2Tune.zip takes rows (tuples or lists, one value per zipped key); "
                f"got {bad[0]!r}",
                hint="write the values of one job together, e.g. Param2Tune.zip([(0.1, 100), (0.01, 1000)])")
        width = len(rows[0])
        if width < 2 or any(len(r) != width for r in rows):
            lengths = sorted({len(r) for r in rows})
            raise Param2TuneError(
                f"Param2Tune.zip needs rows of one length, at least 2 (one value per zipped "
                f"key); got rows of length {', '.join(map(str, lengths))}",
                hint="give every row one value for each key the params are assigned to")
        names = _member_names(optional_value_names, len(rows), width)
        members: List[Param2Tune] = []
        for col in range(width):
            members.append(cls(
                [r[col] for r in rows],
                optional_value_names=None if names is None else names[col],
                priority=priority if col == 0 else None,
                zip_with=members[0] if members else None,
            ))
        if subject_to is not None:
            members[-1].subject_to = _RowConstraint(subject_to, members)
        return tuple(members)

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


class ZipGroup:
    """Params that advance together: value ``i`` of each member in the same job.

    Shared by its members (``param.zip_group``); the sweeper turns it into one zipped
    group of axes, members in this order (the first one's priority orders the group).
    """

    def __init__(self, first: Param2Tune) -> None:
        self.members: List[Param2Tune] = [first]

    @staticmethod
    def join(anchor: Param2Tune, new: Param2Tune) -> None:
        """Zip ``new`` with ``anchor`` (and whatever ``anchor`` is zipped with already)."""
        if not isinstance(anchor, Param2Tune):
            raise Param2TuneError(f"zip_with must be a Param2Tune, got {type(anchor).__name__}",
                                  hint="pass the param to advance with, e.g. zip_with=cfg.opt.lr")
        if new.zip_group is not None:
            raise Param2TuneError("this Param2Tune is zipped already; a param belongs to one zip group")
        if len(new.optional_values) != len(anchor.optional_values):
            raise Param2TuneError(
                f"zip_with needs equal lengths: this param has {len(new.optional_values)} "
                f"values, the one it is zipped with ({anchor!r}) has {len(anchor.optional_values)}",
                hint="zipped params advance together: give them the same number of values")
        group = anchor.zip_group
        if group is None:
            group = anchor.zip_group = ZipGroup(anchor)
        group.members.append(new)
        new.zip_group = group


class _RowConstraint:
    """``subject_to(row)`` of :meth:`Param2Tune.zip`, on the group's last member.

    The grid checks members in group order and sets each one's ``cur_val`` before the
    next, so the last member sees the whole row.
    """

    def __init__(self, fn: Callable[[Tuple[Any, ...]], Any], members: Sequence[Param2Tune]) -> None:
        self.fn = fn
        self.members = list(members)
        self.__name__ = getattr(fn, "__name__", "subject_to")

    def __call__(self, value: Any) -> Any:
        return self.fn(tuple(m.cur_val for m in self.members[:-1]) + (value,))


def _member_names(names: Optional[Sequence[Union[str, Sequence[str]]]], rows: int,
                  width: int) -> Optional[List[List[str]]]:
    """Per-member name lists from :meth:`Param2Tune.zip`'s one-entry-per-row names."""
    if names is None:
        return None
    names = list(names)
    if len(names) != rows:
        raise Param2TuneError(f"Param2Tune.zip has {rows} rows but {len(names)} optional_value_names")
    out: List[List[str]] = [[] for _ in range(width)]
    for entry in names:
        if isinstance(entry, (tuple, list)):
            if len(entry) != width:
                raise Param2TuneError(
                    f"Param2Tune.zip: the names {tuple(entry)!r} are {len(entry)}, the rows {width} wide",
                    hint="give one name per row (every member shows it) or one name per member")
            parts = [str(n) for n in entry]
        else:
            parts = [str(entry)] * width
        for col, part in enumerate(parts):
            out[col].append(part)
    return out


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
