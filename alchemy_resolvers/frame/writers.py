"""The summary files of a sweep, written so that a reader never sees a torn file.

``metric_frame.csv`` (the standard library's csv) and ``metric_frame.xlsx`` (XlsxWriter,
2.5-4x faster than openpyxl for the same workbook, measured while choosing) are rebuilt from
the records, written to a temporary file and renamed over the old one.
The xlsx's index columns merge cells like AlchemyCat's sheet (pandas' ``merge_cells``),
so ``pandas.read_excel(path, index_col=[0, ..., n-1])`` reads the MultiIndex back.
XlsxWriter is imported when the first sheet is written, not when the library is;
openpyxl (pandas' reader) reads the sheet back.
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Tuple

from alchemy_resolvers.frame.text import MAX_CELL, clean_text

__all__ = ["atomic_write", "csv_bytes", "write_xlsx", "write_workbook", "Sheet", "CSV_FILE", "XLSX_FILE",
           "SHEET_NAME"]

CSV_FILE = "metric_frame.csv"
XLSX_FILE = "metric_frame.xlsx"
SHEET_NAME = "metric_frame"
#: Fill of the best cell of a directed column; the color scale's ends and middle
#: (Excel's own red-yellow-green scale; green = better).
BEST_FILL = "9BC2E6"
BEST_BORDER = "1F4E79"
BETTER, MIDDLE, WORSE = "63BE7B", "FFEB84", "F8696B"
#: Width of a column of floats, in characters.
FLOAT_WIDTH = 10
#: Widest column, in characters.
MAX_WIDTH = 60



def atomic_write(path: Path, data: bytes, durable: bool = False) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one.

    ``durable``: fsync before the rename, so the new file also survives a crash of the
    machine (~5-15 ms on a plain disk). Summaries rebuilt from the state file (csv,
    xlsx, html) need not be: a killed process leaves them whole either way."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


# --------------------------------------------------------------------------- csv


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return clean_text(v) if isinstance(v, str) else v


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """The table as UTF-8 csv: floats exactly (``repr``), ``None`` as an empty field."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([clean_text(str(h)) for h in header])
    for row in rows:
        w.writerow([_csv_value(v) for v in row])
    return buf.getvalue().encode("utf-8")


# --------------------------------------------------------------------------- xlsx


def sheet_text(text: str) -> str:
    """``text`` with every character a sheet cannot hold escaped (``\\xNN``), cut to
    what a cell holds."""
    text = clean_text(text)
    if len(text) > MAX_CELL:
        note = f"... [cut: {len(text)} characters in all]"
        text = text[: MAX_CELL - len(note)] + note
    return text


def _sheet_value(v: Any) -> Any:
    """A value a cell holds as it is: numbers, booleans, text (non-finite floats as text)."""
    if v is None or isinstance(v, (bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else repr(v)
    return sheet_text(str(v))


def merged_index(rows: Sequence[Sequence[Any]], n_index: int) -> List[Tuple[int, int, int]]:
    """``(level, first_row, last_row)`` of every run of rows an index cell spans.

    A cell of level ``l`` spans the rows below it that share levels ``0..l``, as pandas
    writes a MultiIndex with ``merge_cells=True``; the innermost level never merges.
    """
    spans: List[Tuple[int, int, int]] = []
    for level in range(max(0, n_index - 1)):
        start = 0
        while start < len(rows):
            end = start
            prefix = list(rows[start][: level + 1])
            while end + 1 < len(rows) and list(rows[end + 1][: level + 1]) == prefix:
                end += 1
            if end > start:
                spans.append((level, start, end))
            start = end + 1
    return spans


def _put(ws: Any, row: int, col: int, value: Any, fmt: Any = None) -> None:
    """One cell (0-based) as what it is: text is always text (never a formula or a
    link, whatever it starts with), numbers and booleans as such, None left blank."""
    v = _sheet_value(value)
    if v is None:
        if fmt is not None:
            ws.write_blank(row, col, None, fmt)
    elif isinstance(v, bool):
        ws.write_boolean(row, col, v, fmt)
    elif isinstance(v, (int, float)):
        ws.write_number(row, col, v, fmt)
    else:
        ws.write_string(row, col, v, fmt)


@dataclass
class Sheet:
    """One sheet of the workbook: a table, its index columns and its marks.

    ``directions`` maps a column to ``max``/``min`` (a live color scale over it, green
    = better); ``best`` maps a column to the row position of its best value (bold and
    filled, and a live rule that keeps marking the best when a user edits the sheet).
    """

    name: str
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    n_index: int
    directions: Mapping[str, str] = field(default_factory=dict)
    best: Mapping[str, int] = field(default_factory=dict)


def write_xlsx(header: Sequence[str], rows: Sequence[Sequence[Any]], n_index: int,
               directions: Optional[Mapping[str, str]] = None, best: Optional[Mapping[str, int]] = None,
               more: Sequence[Sheet] = ()) -> bytes:
    """An xlsx workbook: the metric frame (``header`` then ``rows``), then ``more``
    sheets (the aggregate); its bytes."""
    return write_workbook([Sheet(SHEET_NAME, header, rows, n_index, directions or {}, best or {}), *more])


def write_workbook(sheets: Sequence[Sheet]) -> bytes:
    """The workbook of ``sheets`` (the first one is the active sheet, the one
    ``pandas.read_excel`` reads by default)."""
    import xlsxwriter

    buf = io.BytesIO()
    # Text stays text: no formulas, links or numbers guessed from strings.
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False,
                                   "strings_to_urls": False, "strings_to_numbers": False})
    formats = {
        "bold": wb.add_format({"bold": True}),
        "index": wb.add_format({"bold": True, "valign": "vcenter"}),
        "best": wb.add_format({"bold": True, "bg_color": "#" + BEST_FILL, "pattern": 1,
                               "border": 2, "border_color": "#" + BEST_BORDER}),
        # Conditional formats take a format of their own (a "dxf").
        "best_rule": wb.add_format({"bold": True, "bg_color": "#" + BEST_FILL, "pattern": 1,
                                    "border": 2, "border_color": "#" + BEST_BORDER}),
    }
    for sheet in sheets:
        ws = wb.add_worksheet(sheet_text(sheet.name)[:31])
        _fill_sheet(ws, sheet, formats)
        _mark(ws, sheet, formats)
    wb.close()
    return buf.getvalue()


def _fill_sheet(ws: Any, sheet: Sheet, formats: Mapping[str, Any]) -> None:
    """The table: the first ``n_index`` columns are the index, bold, and merged down
    over the rows that share their outer levels (value in the first row). The header
    row is bold and frozen; columns are as wide as their text (up to MAX_WIDTH)."""
    header, rows, n_index = sheet.header, sheet.rows, sheet.n_index
    best = {(i, list(header).index(c)) for c, i in sheet.best.items() if c in header}
    spans = merged_index(rows, n_index)
    merged = {(r, level) for level, first, last in spans for r in range(first, last + 1)}
    widths = [len(str(h)) for h in header]
    for c, h in enumerate(header):
        _put(ws, 0, c, h, formats["bold"])
    for r, row in enumerate(rows):
        for c, v in enumerate(list(row)[: len(header)]):
            if v is not None:
                # "General" shows a float in ~10 characters, whatever its digits.
                shown = min(len(str(v)), FLOAT_WIDTH) if isinstance(v, float) else len(str(v))
                widths[c] = max(widths[c], min(shown, MAX_WIDTH))
            if (r, c) in merged:
                continue
            fmt = formats["index"] if c < n_index else formats["best"] if (r, c) in best else None
            _put(ws, r + 1, c, v, fmt)
    for level, first, last in spans:
        ws.merge_range(first + 1, level, last + 1, level, None, formats["index"])
        _put(ws, first + 1, level, rows[first][level], formats["index"])
    for c, w in enumerate(widths):
        ws.set_column(c, c, min(w, MAX_WIDTH) + 2)
    ws.freeze_panes(1, 0)
    # Printed (or exported to pdf) one page wide, landscape: a frame is wider than tall.
    ws.set_landscape()
    ws.fit_to_pages(1, 0)


def _mark(ws: Any, sheet: Sheet, formats: Mapping[str, Any]) -> None:
    """Color scales over directed columns, and a rule marking the best cell of each.

    Both are conditional formats, so they follow edits in the sheet; the best cell is
    also styled directly (bold, filled, framed), for readers that do not evaluate
    conditional formats. The best rule comes first and stops the scale (Excel); the
    frame stays visible where a viewer paints the scale over any fill (LibreOffice).
    """
    if not sheet.rows:
        return
    last = len(sheet.rows)
    header = list(sheet.header)
    for column, direction in sheet.directions.items():
        if column not in header:
            continue
        c = header.index(column)
        cell = xl_cell(1, c)
        span = f"${xl_col(c)}$2:${xl_col(c)}${last + 1}"
        pick = "MAX" if direction == "max" else "MIN"
        ws.conditional_format(1, c, last, c, {
            "type": "formula", "criteria": f"=AND(ISNUMBER({cell}),{cell}={pick}({span}))",
            "format": formats["best_rule"], "stop_if_true": True})
        low, high = (WORSE, BETTER) if direction == "max" else (BETTER, WORSE)
        ws.conditional_format(1, c, last, c, {
            "type": "3_color_scale", "min_color": "#" + low, "mid_type": "percentile", "mid_value": 50,
            "mid_color": "#" + MIDDLE, "max_color": "#" + high})


def xl_col(c: int) -> str:
    """The letters of 0-based column ``c`` (``0`` -> ``A``, ``26`` -> ``AA``)."""
    letters = ""
    c += 1
    while c:
        c, rem = divmod(c - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def xl_cell(row: int, col: int) -> str:
    """``A1``-style name of a 0-based cell."""
    return f"{xl_col(col)}{row + 1}"
