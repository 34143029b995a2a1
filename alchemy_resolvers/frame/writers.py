"""The summary files of a sweep, written so that a reader never sees a torn file.

``metric_frame.csv`` (the standard library's csv) and ``metric_frame.xlsx`` (openpyxl)
are rebuilt from the records, written to a temporary file and renamed over the old one.
The xlsx's index columns merge cells like AlchemyCat's sheet (pandas' ``merge_cells``),
so ``pandas.read_excel(path, index_col=[0, ..., n-1])`` reads the MultiIndex back.
openpyxl is imported when the first sheet is written, not when the library is.
"""
from __future__ import annotations

import csv
import io
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, List, Sequence, Tuple

__all__ = ["atomic_write", "csv_bytes", "write_xlsx", "CSV_FILE", "XLSX_FILE", "SHEET_NAME"]

CSV_FILE = "metric_frame.csv"
XLSX_FILE = "metric_frame.xlsx"
SHEET_NAME = "metric_frame"
#: Widest column, in characters.
MAX_WIDTH = 60

# Characters XML 1.0 cannot hold (openpyxl refuses them): shown as `\xNN` instead.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --------------------------------------------------------------------------- csv


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return v


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """The table as UTF-8 csv: floats exactly (``repr``), ``None`` as an empty field."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([_csv_value(v) for v in row])
    return buf.getvalue().encode("utf-8")


# --------------------------------------------------------------------------- xlsx


def sheet_text(text: str) -> str:
    """``text`` with every character a sheet cannot hold shown as ``\\xNN``."""
    return _ILLEGAL_XML.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 256
                            else "\\u%04x" % ord(m.group()), text)


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


def _put(ws: Any, row: int, col: int, value: Any, font: Any = None, align: Any = None) -> None:
    cell = ws.cell(row=row, column=col)
    cell.value = _sheet_value(value)
    if isinstance(cell.value, str) and cell.data_type == "f":
        cell.data_type = "s"  # text starting with `=` is text, not a formula
    if font is not None:
        cell.font = font
    if align is not None:
        cell.alignment = align


def write_xlsx(header: Sequence[str], rows: Sequence[Sequence[Any]], n_index: int) -> bytes:
    """An xlsx workbook with one sheet, ``header`` then ``rows``; its bytes.

    The first ``n_index`` columns are the index: bold, and merged down over the rows
    that share their outer levels (value in the first row). The header row is bold and
    frozen; columns are as wide as their text (up to :data:`MAX_WIDTH`).
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_NAME
    bold, centred = Font(bold=True), Alignment(vertical="center")
    spans = merged_index(rows, n_index)
    hidden = {(r, level) for level, first, last in spans for r in range(first + 1, last + 1)}
    widths = [len(str(h)) for h in header]
    for c, h in enumerate(header):
        _put(ws, 1, c + 1, h, font=bold)
    for r, row in enumerate(rows):
        for c, v in enumerate(list(row)[: len(header)]):
            if (r, c) in hidden:
                continue
            index = c < n_index
            _put(ws, r + 2, c + 1, v, font=bold if index else None, align=centred if index else None)
            if v is not None:
                widths[c] = max(widths[c], min(len(str(v)), MAX_WIDTH))
    for level, first, last in spans:
        ws.merge_cells(start_row=first + 2, start_column=level + 1, end_row=last + 2, end_column=level + 1)
    for c, w in enumerate(widths):
        ws.column_dimensions[get_column_letter(c + 1)].width = min(w, MAX_WIDTH) + 2
    ws.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
