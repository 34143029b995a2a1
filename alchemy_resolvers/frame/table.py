"""The metric frame: one row per combination, one column per metric.

Rows are indexed by the value names of the swept keys (a MultiIndex in grid order);
then the metrics in the order they first appeared, then ``status``, ``error`` and
``job_dir``. The latest record of a combination wins (a rerun replaces a failure).

With directions (``{val_acc: "max"}``) the frame knows the best row of each directed
metric; with aggregate axes (``["seed"]``) it also builds the aggregate table (mean,
std, count per metric over the runs that differ only in those axes). The csv is cheap
and rewritten after every job; the xlsx and html are dearer and written when asked.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from alchemy_resolvers.frame import aggregate as agg
from alchemy_resolvers.frame.best import best_rows, number
from alchemy_resolvers.frame.html import HTML_FILE, html_page
from alchemy_resolvers.frame.text import clean_text
from alchemy_resolvers.frame.writers import (
    CSV_FILE,
    XLSX_FILE,
    Sheet,
    atomic_write,
    csv_bytes,
    write_xlsx,
)

__all__ = ["MetricFrame", "to_metrics", "COMPLETED", "FAILED", "SKIPPED", "RESERVED", "AGGREGATE_CSV_FILE",
           "AGGREGATE_SHEET"]

AGGREGATE_CSV_FILE = "metric_frame_aggregate.csv"
AGGREGATE_SHEET = "aggregate"

COMPLETED = "COMPLETED"
FAILED = "FAILED"
#: Never started: the sweep stopped early (``hydra.sweeper.max_failures``); a resume runs it.
SKIPPED = "SKIPPED"
RESERVED = ("status", "error", "job_dir")
#: A column only present when some row has one: why a completed row was run again.
NOTE = "note"
#: A column only present when some job ran more than once (``hydra.launcher.retries``).
ATTEMPTS = "attempts"
#: Columns of the ``runs`` sheet.
PROVENANCE = ("fingerprint", "code", "note", "ended", ATTEMPTS)
RUNS_SHEET = "runs"


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

    def __init__(self, index_names: Sequence[str], directions: Optional[Mapping[str, str]] = None,
                 aggregate_over: Sequence[str] = ()) -> None:
        self.index_names = list(index_names) or ["job"]
        self.directions: Dict[str, str] = dict(directions or {})
        self.aggregate_over = [a for a in aggregate_over if a in self.index_names]
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
        """Rows that ran and did not complete (not those never started)."""
        return [r for r in self.records() if r.get("status") not in (COMPLETED, SKIPPED)]

    def skipped(self) -> List[Dict[str, Any]]:
        return [r for r in self.records() if r.get("status") == SKIPPED]

    def metric_names(self, records: Optional[List[Dict[str, Any]]] = None) -> List[str]:
        names: Dict[str, None] = {}
        for r in records if records is not None else self.records():
            for k in r.get("metrics") or {}:
                names.setdefault(k, None)
        return list(names)

    def _column_name(self, metric: str) -> str:
        if metric in RESERVED or metric in (NOTE, ATTEMPTS) or metric in self.index_names:
            return f"metric:{metric}"
        return metric

    def table(self) -> Tuple[List[str], List[List[Any]]]:
        """Header and rows: index values, metrics, status, error, job dir."""
        records = self.records()
        metrics = self.metric_names(records)
        noted = any(r.get("note") for r in records)
        retried = any((r.get(ATTEMPTS) or 1) > 1 for r in records)
        header = self.index_names + [self._column_name(m) for m in metrics] + list(RESERVED)
        header += ([NOTE] if noted else []) + ([ATTEMPTS] if retried else [])
        rows: List[List[Any]] = []
        for r in records:
            m = r.get("metrics") or {}
            row = self._names(r) + [m.get(k) for k in metrics] + [r.get("status"), r.get("error"), r.get("job_dir")]
            row += ([r.get("note")] if noted else []) + ([r.get(ATTEMPTS)] if retried else [])
            rows.append(row)
        return header, rows

    def _names(self, record: Dict[str, Any]) -> List[Any]:
        names = list(record.get("names") or [record.get("folder", "")])
        return (names + [None] * len(self.index_names))[: len(self.index_names)]

    def provenance(self) -> Optional[Tuple[List[str], List[List[Any]]]]:
        """The ``runs`` table: what each row ran with (config fingerprint, code version,
        note, end time); None when no record has them (frames from before #13)."""
        records = self.records()
        if not any(r.get("fingerprint") or r.get("code") for r in records):
            return None
        import datetime

        def when(t: Any) -> Optional[str]:
            return datetime.datetime.fromtimestamp(t).isoformat(timespec="seconds") if isinstance(t, (int, float)) else None

        header = self.index_names + list(PROVENANCE)
        rows = [self._names(r) + [r.get("fingerprint"), r.get("code"), r.get("note"), when(r.get("time")),
                                  r.get(ATTEMPTS)] for r in records]
        return header, rows

    # -- directions, best rows, aggregate -----------------------------------------
    def directed(self, header: Sequence[str]) -> Dict[str, str]:
        """``{column: direction}`` of the directed metrics present in ``header``."""
        out = {self._column_name(m): d for m, d in self.directions.items()}
        return {c: d for c, d in out.items() if c in header}

    def best(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Dict[str, int]:
        """``{column: row position}`` of the best completed run of each directed metric."""
        status = list(header).index("status")
        return best_rows(header, rows, self.directed(header), [r[status] == COMPLETED for r in rows])

    def aggregate(self) -> Optional[Tuple[List[str], List[List[Any]], List[str]]]:
        """``(header, rows, index names)`` of the aggregate table, or None without
        aggregate axes."""
        if not self.aggregate_over:
            return None
        header, rows = self.table()
        metrics = [self._column_name(m) for m in self.metric_names()]
        return agg.aggregate(header, rows, self.index_names, metrics, self.aggregate_over)

    def aggregate_marks(self, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Tuple[Dict[str, str], Dict[str, int]]:
        """Directed columns of the aggregate table (the means) and their best rows."""
        directions = {c: d for c, d in agg.directions_of(self.directed(self.table()[0])).items() if c in header}
        return directions, best_rows(header, rows, directions)

    # -- files and views --------------------------------------------------------
    def write(self, sweep_dir: Path, xlsx: bool = True, html: bool = True) -> None:
        """Rewrite the summary files in ``sweep_dir``: ``metric_frame.csv`` (and the
        aggregate csv) always, ``metric_frame.xlsx`` and ``metric_frame.html`` if asked."""
        sweep_dir = Path(sweep_dir)
        self.write_csv(sweep_dir)
        if xlsx:
            self.write_xlsx(sweep_dir)
        if html:
            self.write_html(sweep_dir)

    def write_csv(self, sweep_dir: Path) -> None:
        header, rows = self.table()
        atomic_write(Path(sweep_dir) / CSV_FILE, csv_bytes(header, rows))
        table = self.aggregate()
        if table is not None:
            atomic_write(Path(sweep_dir) / AGGREGATE_CSV_FILE, csv_bytes(table[0], table[1]))

    def write_xlsx(self, sweep_dir: Path) -> None:
        """The workbook: the frame (best cells marked, color scales), then the aggregate."""
        header, rows = self.table()
        more = []
        table = self.aggregate()
        if table is not None:
            directions, best = self.aggregate_marks(table[0], table[1])
            more.append(Sheet(AGGREGATE_SHEET, table[0], table[1], len(table[2]), directions, best))
        runs = self.provenance()
        if runs is not None:
            more.append(Sheet(RUNS_SHEET, runs[0], runs[1], len(self.index_names)))
        data = write_xlsx(header, rows, len(self.index_names), self.directed(header), self.best(header, rows), more)
        atomic_write(Path(sweep_dir) / XLSX_FILE, data)

    def write_html(self, sweep_dir: Path) -> None:
        atomic_write(Path(sweep_dir) / HTML_FILE, self.html().encode("utf-8"))

    def html(self, title: str = "metric frame") -> str:
        """The self-contained html page: the table (sortable) and heatmaps."""
        header, rows = self.table()
        table = self.aggregate()
        if table is not None:
            grid_header, grid_rows, grid_index = table
            directions = agg.directions_of(self.directed(header))
        else:
            grid_header, grid_rows, grid_index = header, rows, self.index_names
            directions = self.directed(header)
        return clean_text(html_page(title=title, header=header, rows=rows, n_index=len(self.index_names),
                         best=self.best(header, rows), grid_header=grid_header, grid_rows=grid_rows,
                         grid_index=grid_index, directions=directions))

    def to_pandas(self, with_job_columns: bool = True) -> Any:
        import pandas as pd

        header, rows = self.table()
        df = pd.DataFrame(rows, columns=header)
        df = df.set_index(self.index_names)
        if not with_job_columns:
            drop = ["error", "job_dir"] + [c for c in (NOTE, ATTEMPTS) if c in df.columns]
            if (df["status"] == COMPLETED).all():
                drop.append("status")
            df = df.drop(columns=drop)
        return df

    def render(self, sort: Optional[str] = None) -> str:
        """The table as AlchemyCat prints it: metrics (and status if any job failed),
        then the best run of each directed metric and the aggregate table.

        ``sort`` orders rows by a metric: best first when it has a direction, else
        ascending; runs without a value go last."""
        if not self._by_key:
            return "(no finished job)"
        import pandas as pd

        df = self._sorted(self.to_pandas(with_job_columns=False), sort)
        with pd.option_context("display.max_rows", 200, "display.max_columns", 50, "display.width", 200):
            parts = [df.to_string()]
            header, rows = self.table()
            parts.append(self._render_best(header, rows, len(self.index_names)))
            table = self.aggregate()
            if table is not None:
                a_header, a_rows, a_index = table
                a_df = pd.DataFrame(a_rows, columns=a_header).set_index(a_index)
                a_df = self._sorted(a_df, None if sort is None else agg.stat_column(sort, "mean"), sort)
                parts.append(f"Aggregate over {', '.join(self.aggregate_over)} (mean, sample std with "
                             f"ddof=1, count; failed runs counted, not averaged):\n{a_df.to_string()}")
                parts.append(self._render_best(a_header, a_rows, len(a_index), aggregate=True))
        return "\n\n".join(p for p in parts if p)

    def _sorted(self, df: Any, column: Optional[str], metric: Optional[str] = None) -> Any:
        if column is None:
            return df
        if column not in df.columns:
            raise KeyError(column)
        direction = self.directions.get(metric or column)
        return df.sort_values(column, ascending=direction != "max", na_position="last", kind="stable")

    def _render_best(self, header: Sequence[str], rows: Sequence[Sequence[Any]], n_index: int,
                     aggregate: bool = False) -> str:
        """One line per directed metric: its best value and the run (or group) it is from."""
        if aggregate:
            directions, best = self.aggregate_marks(header, rows)
        else:
            directions, best = self.directed(header), self.best(header, rows)
        if not directions:
            return ""
        lines = ["Best mean per directed metric:" if aggregate else "Best run per directed metric:"]
        for column, direction in directions.items():
            i = best.get(column)
            if i is None:
                lines.append(f"  {column} ({direction}): no value")
                continue
            where = ",".join(f"{k}={v}" for k, v in zip(header[:n_index], rows[i][:n_index]))
            value = rows[i][list(header).index(column)]
            shown = f"{value:.6g}" if isinstance(value, float) else value
            lines.append(f"  {column} ({direction}): {shown}  {where}")
        return "\n".join(lines)

    def best_so_far(self) -> Dict[str, float]:
        """``{metric: best value}`` over the completed runs (the progress line)."""
        header, rows = self.table()
        out: Dict[str, float] = {}
        for column, i in self.best(header, rows).items():
            value = number(rows[i][list(header).index(column)])
            if value is not None:
                out[column] = value
        return out
