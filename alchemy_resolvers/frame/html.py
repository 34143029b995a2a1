"""``metric_frame.html``: the frame as one self-contained page (no server, no internet).

The table sorts by clicking any column header; for each directed metric a heatmap over
the first two axes (green = better, whatever the direction), and with more axes one
small heatmap per value of the remaining axes (small multiples). With aggregate axes
the heatmaps show the means. Everything is standard-library SVG and a few lines of
inline JavaScript: no plotting dependency, no CDN, and every string goes through
``html.escape``, so a metric or a value name cannot inject markup.
"""
from __future__ import annotations

import itertools
from html import escape
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from alchemy_resolvers.frame.best import best_rows, number

__all__ = ["HTML_FILE", "html_page", "color", "MAX_PANELS"]

HTML_FILE = "metric_frame.html"
#: Small multiples beyond this many panels per metric are left out (the page says so).
MAX_PANELS = 36
CELL_W, CELL_H, LABEL_W, LABEL_H = 64, 30, 110, 48
#: Red -> yellow -> green (the xlsx's color scale).
STOPS = ((0xF8, 0x69, 0x6B), (0xFF, 0xEB, 0x84), (0x63, 0xBE, 0x7B))

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f2f2f2;cursor:pointer;user-select:none}
th.index,td.index{text-align:left;font-weight:600}
th[aria-sort=ascending]::after{content:" \\25B2"} th[aria-sort=descending]::after{content:" \\25BC"}
td.best{font-weight:700;background:#9BC2E6}
td.failed{color:#b00}
.panels{display:flex;flex-wrap:wrap;gap:16px}
.maps{display:flex;flex-wrap:wrap;column-gap:48px}
.note{color:#666;font-size:12px}
svg text{font-size:11px;font-family:inherit}
"""

SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('thead th').forEach(function (o) { o.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(row) {
        var cell = row.cells[col];
        var text = cell ? (cell.getAttribute('data-sort') || cell.textContent) : '';
        var n = parseFloat(text);
        return (text.trim() !== '' && isFinite(text)) ? [0, n] : [text.trim() === '' ? 2 : 1, text];
      }
      rows.sort(function (a, b) {
        var ka = key(a), kb = key(b);
        if (ka[0] !== kb[0]) return ka[0] - kb[0];  // numbers, then text, then empty
        if (ka[1] === kb[1]) return 0;
        return ((ka[1] < kb[1]) === asc) ? -1 : 1;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def color(t: float) -> str:
    """``#rrggbb`` at ``t`` in [0, 1] on the red-yellow-green scale (1 = better)."""
    t = min(1.0, max(0.0, t))
    lo, hi, u = (STOPS[0], STOPS[1], t * 2) if t < 0.5 else (STOPS[1], STOPS[2], t * 2 - 1)
    return "#" + "".join("%02x" % round(a + (b - a) * u) for a, b in zip(lo, hi))


def _text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], n_index: int, best: Mapping[str, int],
           table_id: str) -> str:
    best_cells = {(i, list(header).index(c)) for c, i in best.items()}
    status = list(header).index("status") if "status" in header else -1
    head = "".join(f'<th class="{"index" if c < n_index else "col"}">{escape(str(h))}</th>'
                   for c, h in enumerate(header))
    body = []
    for i, row in enumerate(rows):
        cells = []
        for c, v in enumerate(row):
            cls = ["index"] if c < n_index else (["num"] if number(v) is not None else [])
            if (i, c) in best_cells:
                cls.append("best")
            if c == status and v not in (None, "COMPLETED"):
                cls.append("failed")
            attr = f' class="{" ".join(cls)}"' if cls else ""
            sort = f' data-sort="{escape(repr(float(v)))}"' if number(v) is not None else ""
            cells.append(f"<td{attr}{sort}>{escape(_text(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table id="{table_id}" class="sortable"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


def _levels(rows: Sequence[Sequence[Any]], n: int) -> List[List[Any]]:
    """The values of each of the first ``n`` columns, in order of first appearance."""
    out: List[List[Any]] = [[] for _ in range(n)]
    for row in rows:
        for c in range(n):
            if row[c] not in out[c]:
                out[c].append(row[c])
    return out


def _heatmap(title: str, names: Tuple[str, str], ys: List[Any], xs: List[Any],
             cell: Mapping[Tuple[Any, Any], Optional[float]], scale: Tuple[float, float, str]) -> str:
    """One SVG heatmap: ``ys`` down, ``xs`` across, one ``rect.cell`` per pair."""
    lo, hi, direction = scale
    width, height = LABEL_W + CELL_W * len(xs) + 8, LABEL_H + CELL_H * len(ys) + 24
    parts = [f'<svg class="heatmap" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
             f'<text x="0" y="12" font-weight="600">{escape(title)}</text>',
             f'<text x="{LABEL_W}" y="30">{escape(names[1])} \u2192</text>',
             f'<text x="0" y="30">{escape(names[0])} \u2193</text>']
    for j, x in enumerate(xs):
        parts.append(f'<text x="{LABEL_W + CELL_W * j + CELL_W / 2}" y="{LABEL_H - 2}" '
                     f'text-anchor="middle">{escape(_text(x))}</text>')
    for i, y in enumerate(ys):
        top = LABEL_H + CELL_H * i
        parts.append(f'<text x="{LABEL_W - 6}" y="{top + CELL_H / 2 + 4}" text-anchor="end">{escape(_text(y))}</text>')
        for j, x in enumerate(xs):
            v = cell.get((y, x))
            left = LABEL_W + CELL_W * j
            if v is None:
                fill, cls, label = "#eeeeee", "cell missing", ""
            else:
                t = 0.5 if hi == lo else (v - lo) / (hi - lo)
                fill, cls, label = color(t if direction == "max" else 1 - t), "cell", f"{v:.4g}"
            tip = f"{names[0]}={_text(y)}, {names[1]}={_text(x)}: {label or 'no value'}"
            parts.append(f'<rect class="{cls}" x="{left}" y="{top}" width="{CELL_W - 2}" height="{CELL_H - 2}" '
                         f'fill="{fill}" data-value="{escape(label)}"><title>{escape(tip)}</title></rect>')
            parts.append(f'<text x="{left + CELL_W / 2 - 1}" y="{top + CELL_H / 2 + 3}" '
                         f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def heatmaps(header: Sequence[str], rows: Sequence[Sequence[Any]], index: Sequence[str],
             column: str, direction: str) -> str:
    """The heatmaps of one directed column: one for two axes, small multiples for more."""
    c = list(header).index(column)
    n = len(index)
    levels = _levels(rows, n)
    values = {tuple(r[:n]): number(r[c]) for r in rows}
    present = [v for v in values.values() if v is not None]
    if not present:
        return f'<p class="note">{escape(column)}: no value yet.</p>'
    scale = (min(present), max(present), direction)
    if n == 1:
        ys, xs, rest = [""], levels[0], [()]
        names: Tuple[str, str] = ("", index[0])
    else:
        ys, xs, rest = levels[0], levels[1], list(itertools.product(*levels[2:]))
        names = (index[0], index[1])
    panels = []
    for more in rest[:MAX_PANELS]:
        if n == 1:
            cell = {("", x): values.get((x,)) for x in xs}
        else:
            cell = {(y, x): values.get((y, x, *more)) for y in ys for x in xs}
        title = ", ".join(f"{k}={_text(v)}" for k, v in zip(index[2:], more)) or column
        panels.append(_heatmap(title, names, ys, xs, cell, scale))
    note = (f'<p class="note">{len(rest) - MAX_PANELS} more panels left out.</p>'
            if len(rest) > MAX_PANELS else "")
    return (f'<section><h2>{escape(column)} ({escape(direction)}; green = better)</h2>'
            f'<div class="panels" data-metric="{escape(column)}">{"".join(panels)}</div>{note}</section>')


def html_page(*, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]], n_index: int,
              best: Mapping[str, int], grid_header: Sequence[str], grid_rows: Sequence[Sequence[Any]],
              grid_index: Sequence[str], directions: Mapping[str, str]) -> str:
    """The whole page: heatmaps of ``grid_*`` (the frame, or its aggregate) per
    directed column, then the frame's table."""
    maps: Dict[str, str] = {}
    if grid_index and grid_index != ["runs"]:
        for column, direction in directions.items():
            if column in grid_header:
                maps[column] = heatmaps(grid_header, grid_rows, grid_index, column, direction)
    intro = (f"{len(rows)} runs. Click a column header to sort."
             + (" Heatmaps show means over the aggregated axes." if grid_rows is not rows else ""))
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{escape(title)}</h1><p class=\"note\">{escape(intro)}</p>"
            + f'<div class="maps">{"".join(maps.values())}</div>'
            + ("" if grid_rows is rows else "<h2>Aggregate</h2>" + _table(
                grid_header, grid_rows, len(grid_index), best_rows(grid_header, grid_rows, directions), "aggregate"))
            + "<h2>Runs</h2>" + _table(header, rows, n_index, best, "frame")
            + f"<script>{SCRIPT}</script></body></html>")
