"""The metric frame: one row per combination, one column per metric.

Rows are indexed by the value names of the swept keys (a MultiIndex in grid order);
then the metrics in the order they first appeared, then ``status``, ``error`` and
``job_dir``. The latest record of a combination wins (a rerun replaces a failure).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from alchemy_resolvers.frame.writers import CSV_FILE, XLSX_FILE, atomic_write, csv_bytes, write_xlsx

__all__ = ["MetricFrame", "to_metrics", "COMPLETED", "FAILED", "RESERVED"]

COMPLETED = "COMPLETED"
FAILED = "FAILED"
RESERVED = ("status", "error", "job_dir")


def _plain(value: Any) -> Any:
    """A JSON- and sheet-friendly version of one metric value."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            out = item()
            if isinstance(out, (bool, int, float, str)):
                return out
        except (TypeError, ValueError, RuntimeError):
            pass
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def to_metrics(value: Any) -> Dict[str, Any]:
    """A job's return value as ``{metric: value}``.

    A mapping gives its items (nested mappings flatten to dotted names), a bare value
    becomes the column ``value``, ``None`` gives no metric.
    """
    if value is None:
        return {}
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            value = OmegaConf.to_container(value, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    if isinstance(value, Mapping):
        out: Dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(v, Mapping):
                for kk, vv in to_metrics(v).items():
                    out[f"{k}.{kk}"] = vv
            else:
                out[str(k)] = _plain(v)
        return out
    return {"value": _plain(value)}


class MetricFrame:
    """Rows of a sweep, keyed by combination; the latest record of a combination wins."""

    def __init__(self, index_names: Sequence[str]) -> None:
        self.index_names = list(index_names) or ["job"]
        self._by_key: Dict[str, Dict[str, Any]] = {}

    def add(self, record: Dict[str, Any]) -> None:
        self._by_key[record["key"]] = record

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        return self._by_key.get(key)

    def reindex(self, key: str, index: int) -> None:
        rec = self._by_key.get(key)
        if rec is not None:
            rec["index"] = index

    def __len__(self) -> int:
        return len(self._by_key)

    def records(self) -> List[Dict[str, Any]]:
        return sorted(self._by_key.values(), key=lambda r: (r.get("index", 0), r["key"]))

    def failed(self) -> List[Dict[str, Any]]:
        return [r for r in self.records() if r.get("status") != COMPLETED]

    def metric_names(self, records: Optional[List[Dict[str, Any]]] = None) -> List[str]:
        names: Dict[str, None] = {}
        for r in records if records is not None else self.records():
            for k in r.get("metrics") or {}:
                names.setdefault(k, None)
        return list(names)

    def _column_name(self, metric: str) -> str:
        if metric in RESERVED or metric in self.index_names:
            return f"metric:{metric}"
        return metric

    def table(self) -> Tuple[List[str], List[List[Any]]]:
        """Header and rows: index values, metrics, status, error, job dir."""
        records = self.records()
        metrics = self.metric_names(records)
        header = self.index_names + [self._column_name(m) for m in metrics] + list(RESERVED)
        rows: List[List[Any]] = []
        for r in records:
            names = list(r.get("names") or [r.get("folder", "")])
            names = (names + [None] * len(self.index_names))[: len(self.index_names)]
            m = r.get("metrics") or {}
            rows.append(names + [m.get(k) for k in metrics] + [r.get("status"), r.get("error"), r.get("job_dir")])
        return header, rows

    # -- files and views --------------------------------------------------------
    def write(self, sweep_dir: Path) -> None:
        """Rewrite ``metric_frame.csv`` and ``metric_frame.xlsx`` in ``sweep_dir``."""
        header, rows = self.table()
        sweep_dir = Path(sweep_dir)
        atomic_write(sweep_dir / CSV_FILE, csv_bytes(header, rows))
        atomic_write(sweep_dir / XLSX_FILE, write_xlsx(header, rows, len(self.index_names)))

    def to_pandas(self, with_job_columns: bool = True) -> Any:
        import pandas as pd

        header, rows = self.table()
        df = pd.DataFrame(rows, columns=header)
        df = df.set_index(self.index_names)
        if not with_job_columns:
            drop = ["error", "job_dir"]
            if (df["status"] == COMPLETED).all():
                drop.append("status")
            df = df.drop(columns=drop)
        return df

    def render(self) -> str:
        """The table as AlchemyCat prints it: metrics (and status if any job failed)."""
        if not self._by_key:
            return "(no finished job)"
        import pandas as pd

        df = self.to_pandas(with_job_columns=False)
        with pd.option_context("display.max_rows", 200, "display.max_columns", 50, "display.width", 200):
            return df.to_string()
