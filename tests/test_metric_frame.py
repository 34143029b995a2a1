"""The summary files: read back with openpyxl and pandas; the state file survives kills."""
from __future__ import annotations

import json
import math

import openpyxl
import pandas as pd

from alchemy_resolvers.frame.state import StateFile
from alchemy_resolvers.frame.table import MetricFrame, to_metrics
from alchemy_resolvers.frame.writers import write_xlsx


def record(i, names, metrics, status="COMPLETED", error=None):
    return {"key": ",".join(map(str, names)), "index": i, "names": list(names), "folder": "f%d" % i,
            "status": status, "metrics": metrics, "error": error, "job_dir": "f%d" % i}


def six_point_frame():
    frame = MetricFrame(["batch_size", "epochs"])
    i = 0
    for bs in (128, 256, 512):
        for ep in (5, 15):
            frame.add(record(i, (bs, ep), {"test_loss": 1.0 / (i + 1), "acc": 30.0 + i}))
            i += 1
    return frame


def test_xlsx_and_csv_read_back_with_multiindex(tmp_path):
    frame = six_point_frame()
    frame.write(tmp_path)
    df = pd.read_excel(tmp_path / "metric_frame.xlsx", index_col=[0, 1])
    assert list(df.index.names) == ["batch_size", "epochs"]
    assert list(df.index) == [(128, 5), (128, 15), (256, 5), (256, 15), (512, 5), (512, 15)]
    assert list(df.columns) == ["test_loss", "acc", "status", "error", "job_dir"]
    assert df.loc[(256, 15), "acc"] == 33.0
    assert (df["status"] == "COMPLETED").all()
    csv = pd.read_csv(tmp_path / "metric_frame.csv", index_col=[0, 1])
    assert list(csv.index) == list(df.index)
    assert csv.loc[(512, 5), "test_loss"] == 1.0 / 5
    assert not list(tmp_path.glob(".*tmp"))  # no temporary file left behind


def test_xlsx_merges_outer_index_cells_like_alchemycat(tmp_path):
    six_point_frame().write(tmp_path)
    ws = openpyxl.load_workbook(tmp_path / "metric_frame.xlsx").active
    assert sorted(str(r) for r in ws.merged_cells.ranges) == ["A2:A3", "A4:A5", "A6:A7"]
    assert [ws.cell(row=1, column=c).value for c in range(1, 5)] == ["batch_size", "epochs", "test_loss", "acc"]
    assert ws["A2"].value == 128 and ws["A4"].value == 256 and ws["B3"].value == 15


def test_failed_rows_keep_status_and_error(tmp_path):
    frame = MetricFrame(["lr"])
    frame.add(record(0, ["0·1"], {"acc": 1.0}))
    frame.add(record(1, ["0·2"], {}, status="FAILED", error="RuntimeError: boom"))
    frame.write(tmp_path)
    df = pd.read_excel(tmp_path / "metric_frame.xlsx", index_col=0)
    assert df.loc["0·2", "status"] == "FAILED"
    assert df.loc["0·2", "error"] == "RuntimeError: boom"
    assert math.isnan(df.loc["0·2", "acc"])
    assert [r["folder"] for r in frame.failed()] == ["f1"]


def test_latest_record_of_a_combination_wins():
    frame = MetricFrame(["a"])
    frame.add(record(0, [1], {}, status="FAILED", error="x"))
    frame.add(record(0, [1], {"m": 2.0}))
    header, rows = frame.table()
    assert len(rows) == 1 and rows[0][header.index("status")] == "COMPLETED"


def test_metric_named_like_a_reserved_column_is_kept_apart():
    frame = MetricFrame(["a"])
    frame.add(record(0, [1], {"status": 3.0}))
    header, rows = frame.table()
    assert header == ["a", "metric:status", "status", "error", "job_dir"]


def test_to_metrics():
    assert to_metrics({"acc": 1, "sub": {"x": 2.5}}) == {"acc": 1, "sub.x": 2.5}
    assert to_metrics(0.5) == {"value": 0.5}
    assert to_metrics(None) == {}


def test_state_file_ignores_a_torn_last_line_and_appends_after_it(tmp_path):
    state = StateFile(tmp_path / "sweep_state.jsonl")
    state.start({"params": ["a"]}, keep=False)
    state.append(record(0, [1], {"m": 1.0}))
    with open(state.path, "a", encoding="utf-8") as f:
        f.write('{"kind": "job", "key": "tor')  # killed mid-write
    header, records = state.load()
    assert header["params"] == ["a"] and len(records) == 1
    state.start({"params": ["a"]}, keep=True)
    state.append(record(1, [2], {"m": 2.0}))
    header, records = state.load()
    assert [r["index"] for r in records] == [0, 1]
    lines = state.path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[-1])["index"] == 1


def test_xlsx_escapes_text_and_handles_odd_values(tmp_path):
    data = write_xlsx(["k", "m"], [["<a&b>", float("nan")], ["\x01ctrl", True]], 1)
    path = tmp_path / "x.xlsx"
    path.write_bytes(data)
    ws = openpyxl.load_workbook(path).active
    assert ws["A2"].value == "<a&b>"
    assert ws["B2"].value == "nan"
    # A control character cannot be in a sheet: it is shown, not dropped or a crash.
    assert ws["A3"].value == "\\x01ctrl"
    assert ws["B3"].value is True


def test_xlsx_is_written_by_openpyxl_and_keeps_odd_text_as_text(tmp_path):
    rows = [["=1+1", "a\x00b\x1fc\ud800"], ["x", "ValueError: boom (app.py:20)"]]
    path = tmp_path / "x.xlsx"
    path.write_bytes(write_xlsx(["k", "error"], rows, 1))
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    assert ws.title == "metric_frame" and ws.freeze_panes == "A2"
    assert ws["A2"].value == "=1+1" and ws["A2"].data_type == "s"  # text, not a formula
    assert ws["B2"].value == "a\\x00b\\x1fc\\ud800"
    assert ws["A1"].font.b and ws["A2"].font.b
