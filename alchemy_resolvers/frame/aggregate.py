"""The aggregate table: runs that differ only in some axes (``hydra.sweeper.aggregate:
[seed]``) grouped into one row with mean, std and count per metric.

A single seed's number says little; the mean over seeds and its spread answer "how sure
am I". The std is the sample standard deviation (``ddof=1``, pandas' default, so
``df.groupby(...).std()`` gives the same numbers); one value has no std (empty cell).
Failed runs are counted in ``failed`` and never averaged: a crash is not a zero.
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from alchemy_resolvers.errors import SettingsError
from alchemy_resolvers.frame.best import number

__all__ = ["aggregate", "resolve_axes", "STATS", "ALL_RUNS"]

#: Columns per metric, in order.
STATS = ("mean", "std", "count")
#: The index of the one group when every axis is aggregated over.
ALL_RUNS = ("runs", "all")


def resolve_axes(wanted: Sequence[str], index_names: Sequence[str], paths: Sequence[str] = (),
                 key: str = "hydra.sweeper.aggregate") -> List[str]:
    """The index names ``wanted`` refers to, by index name (``seed``) or config path
    (``model.seed``); an axis the sweep lacks is a SettingsError (before any job)."""
    out: List[str] = []
    by_path = dict(zip(paths, index_names))
    for name in wanted:
        name = str(name)
        found = name if name in index_names else by_path.get(name)
        if found is None:
            raise SettingsError(
                f"{key} names {name!r}, which is not an axis of this sweep "
                f"(axes: {', '.join(index_names) or 'none'})", key=key,
                hint="aggregate over an axis the sweep varies, e.g. seed=0,1,2 on the command line")
        if found not in out:
            out.append(found)
    return out


def stat_column(metric: str, stat: str) -> str:
    return f"{metric} {stat}"


def _stats(values: List[float]) -> Tuple[Any, Any, int]:
    if not values:
        return None, None, 0
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else None
    if std is not None and not math.isfinite(std):
        std = None
    return mean, std, len(values)


def aggregate(header: Sequence[str], rows: Sequence[Sequence[Any]], index_names: Sequence[str],
              metrics: Sequence[str], over: Sequence[str],
              status_column: str = "status", ok: str = "COMPLETED") -> Tuple[List[str], List[List[Any]], List[str]]:
    """``(header, rows, index names)`` of the aggregate table.

    Groups keep the order in which they first appear in ``rows`` (grid order). Each
    metric gets ``mean``, ``std`` and ``count`` (the completed runs that returned a
    number for it); ``failed`` counts the runs of the group that did not complete.
    """
    col = {h: i for i, h in enumerate(header)}
    keep = [n for n in index_names if n not in over]
    groups: Dict[Tuple[Any, ...], List[Sequence[Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row[col[n]] for n in keep) if keep else (ALL_RUNS[1],), []).append(row)
    out_index = keep or [ALL_RUNS[0]]
    out_header = list(out_index) + [stat_column(m, s) for m in metrics for s in STATS] + ["failed"]
    out_rows: List[List[Any]] = []
    for gkey, members in groups.items():
        done = [r for r in members if r[col[status_column]] == ok]
        line: List[Any] = list(gkey)
        for m in metrics:
            values = [x for x in (number(r[col[m]]) for r in done) if x is not None]
            line.extend(_stats(values))
        line.append(len(members) - len(done))
        out_rows.append(line)
    return out_header, out_rows, out_index


def directions_of(directions: Mapping[str, str]) -> Dict[str, str]:
    """The aggregate table's directed columns: the mean of each directed metric."""
    return {stat_column(m, "mean"): d for m, d in directions.items()}
