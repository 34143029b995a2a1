"""Directions of metrics (``hydra.sweeper.optimize: {val_acc: max, val_loss: min}``) and
the best row of each directed metric.

A direction turns "a column of numbers" into "which run is best": the xlsx marks that
cell and colours the column, the html page colours its heatmaps, the printed table
names the best row. Metrics without a direction are shown as they are.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence

from alchemy_resolvers.errors import SettingsError

__all__ = ["DIRECTIONS", "parse_optimize", "number", "best_index", "is_better"]

#: The spellings a user may write for a direction.
DIRECTIONS = ("max", "min")


def parse_optimize(value: Any, key: str = "hydra.sweeper.optimize") -> Dict[str, str]:
    """``{metric: "max" | "min"}`` from a user's mapping; anything else is a SettingsError.

    Checked before any job starts: a typo in a direction would otherwise only show
    as a wrongly coloured sheet at the end of a long sweep.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SettingsError(f"{key} must map metric names to max or min, got {value!r}", key=key,
                            hint=f"{key}={{val_acc: max, val_loss: min}}")
    out: Dict[str, str] = {}
    for metric, direction in value.items():
        text = str(direction).strip().lower() if isinstance(direction, str) else None
        if text not in DIRECTIONS:
            raise SettingsError(
                f"{key}.{metric} is {direction!r}: a direction is max or min", key=f"{key}.{metric}",
                hint=f"{key}.{metric}=max (higher is better) or min (lower is better)")
        out[str(metric)] = text
    return out


def number(value: Any) -> Optional[float]:
    """``value`` as a finite float, or None (text, booleans, NaN, missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def is_better(a: float, b: float, direction: str) -> bool:
    return a > b if direction == "max" else a < b


def best_index(values: Sequence[Any], direction: str, eligible: Optional[Sequence[bool]] = None) -> Optional[int]:
    """Position of the best number in ``values`` (the first one on a tie), or None.

    ``eligible`` leaves rows out (failed runs never win, whatever they returned).
    """
    best: Optional[int] = None
    best_value = 0.0
    for i, v in enumerate(values):
        x = number(v)
        if x is None or (eligible is not None and not eligible[i]):
            continue
        if best is None or is_better(x, best_value, direction):
            best, best_value = i, x
    return best


def best_rows(header: Sequence[str], rows: Sequence[Sequence[Any]], directions: Mapping[str, str],
              eligible: Optional[Sequence[bool]] = None) -> Dict[str, int]:
    """``{column: row position}`` of the best value of every directed column present."""
    out: Dict[str, int] = {}
    for column, direction in directions.items():
        if column not in header:
            continue
        c = list(header).index(column)
        i = best_index([r[c] for r in rows], direction, eligible)
        if i is not None:
            out[column] = i
    return out


def missing_metrics(directions: Mapping[str, str], metrics: List[str]) -> List[str]:
    """Directed metrics that no run returned (a likely typo in ``optimize``)."""
    return [m for m in directions if m not in metrics]
