"""The summary files: read back with openpyxl and pandas; the state file survives kills."""
from __future__ import annotations

import io
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


def test_xlsx_keeps_odd_text_as_text(tmp_path):
    rows = [["=1+1", "a\x00b\x1fc\ud800"], ["x", "ValueError: boom (app.py:20)"]]
    path = tmp_path / "x.xlsx"
    path.write_bytes(write_xlsx(["k", "error"], rows, 1))
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    assert ws.title == "metric_frame" and ws.freeze_panes == "A2"
    assert ws["A2"].value == "=1+1" and ws["A2"].data_type == "s"  # text, not a formula
    assert ws["B2"].value == "a\\x00b\\x1fc\\ud800"
    assert ws["A1"].font.b and ws["A2"].font.b


# ------------------------------------------------------ directions, best, aggregate (#15)

import pytest  # noqa: E402

from alchemy_resolvers.errors import SettingsError  # noqa: E402
from alchemy_resolvers.frame.aggregate import aggregate, resolve_axes  # noqa: E402
from alchemy_resolvers.frame.best import best_index, parse_optimize  # noqa: E402
from alchemy_resolvers.frame.progress import SweepProgress, duration  # noqa: E402


def seeded_frame(aggregate_over=("seed",)):
    """bs x lr x seed (3 seeds); one failed run that must be counted, not averaged."""
    frame = MetricFrame(["bs", "lr", "seed"], {"acc": "max", "loss": "min"}, aggregate_over)
    i = 0
    for bs in (32, 64):
        for lr in ("0·1", "0·2"):
            for seed in (0, 1, 2):
                if (bs, lr, seed) == (64, "0·1", 2):
                    frame.add(record(i, (bs, lr, seed), {}, status="FAILED", error="RuntimeError: x"))
                else:
                    frame.add(record(i, (bs, lr, seed), {"acc": 0.1 * ((i * 7) % 11) + 0.01 * seed,
                                                         "loss": 1.0 / (1 + (i * 5) % 13)}))
                i += 1
    return frame


def test_directions_are_max_or_min_else_a_settings_error():
    assert parse_optimize({"acc": "max", "loss": "MIN"}) == {"acc": "max", "loss": "min"}
    assert parse_optimize(None) == {}
    with pytest.raises(SettingsError, match="hydra.sweeper.optimize.acc is 'maximize'"):
        parse_optimize({"acc": "maximize"})
    with pytest.raises(SettingsError, match="must map metric names"):
        parse_optimize(["acc"])


def test_best_skips_failed_text_and_nan():
    assert best_index([1.0, "x", float("nan"), 3.0, None], "max") == 3
    assert best_index([1.0, 0.5, 3.0], "min") == 1
    assert best_index([1.0, 0.5, 3.0], "max", eligible=[True, True, False]) == 0
    assert best_index([], "max") is None


def test_xlsx_marks_best_cells_and_has_live_color_scales(tmp_path):
    frame = seeded_frame()
    frame.write(tmp_path)
    wb = openpyxl.load_workbook(tmp_path / "metric_frame.xlsx")
    assert wb.sheetnames == ["metric_frame", "aggregate"]
    ws = wb["metric_frame"]
    header = [c.value for c in ws[1]]
    df = pd.read_excel(tmp_path / "metric_frame.xlsx", index_col=[0, 1, 2])
    for metric, direction in (("acc", "max"), ("loss", "min")):
        letter = openpyxl.utils.get_column_letter(header.index(metric) + 1)
        best = df[metric].idxmax() if direction == "max" else df[metric].idxmin()
        best_row = list(df.index).index(best) + 2
        for row in range(2, len(df) + 2):
            cell = ws[f"{letter}{row}"]
            marked = bool(cell.font.b) and cell.fill.fill_type == "solid"
            assert marked == (row == best_row), (metric, row)
        rules = [r for cf in ws.conditional_formatting if str(cf.sqref) == f"{letter}2:{letter}{len(df) + 1}"
                 for r in cf.rules]
        scale = next(r for r in rules if r.type == "colorScale")
        colors = [c.rgb[-6:] for c in scale.colorScale.color]
        assert colors == (["F8696B", "FFEB84", "63BE7B"] if direction == "max" else ["63BE7B", "FFEB84", "F8696B"])
        best_rule = next(r for r in rules if r.type == "expression")
        assert best_rule.stopIfTrue and best_rule.priority < scale.priority
        assert ("MAX(" if direction == "max" else "MIN(") in best_rule.formula[0]
    # Undirected columns and the csv carry no marks.
    assert not any(str(cf.sqref).startswith("F") for cf in ws.conditional_formatting)
    assert "status" in (tmp_path / "metric_frame.csv").read_text().splitlines()[0]


def test_aggregate_means_and_stds_equal_pandas(tmp_path):
    frame = seeded_frame()
    frame.write(tmp_path)
    runs = pd.read_csv(tmp_path / "metric_frame.csv")
    done = runs[runs["status"] == "COMPLETED"]
    expected = done.groupby(["bs", "lr"], sort=False)[["acc", "loss"]].agg(["mean", "std", "count"])
    for source in ("csv", "xlsx"):
        if source == "csv":
            got = pd.read_csv(tmp_path / "metric_frame_aggregate.csv", index_col=[0, 1])
        else:
            got = pd.read_excel(tmp_path / "metric_frame.xlsx", sheet_name="aggregate", index_col=[0, 1])
        assert list(got.index) == list(expected.index)
        for metric in ("acc", "loss"):
            for stat in ("mean", "std"):
                assert got[f"{metric} {stat}"].to_numpy() == pytest.approx(
                    expected[(metric, stat)].to_numpy(), rel=1e-12, abs=1e-15)
            assert list(got[f"{metric} count"]) == list(expected[(metric, "count")])
        assert list(got["failed"]) == [0, 0, 1, 0]  # (64, 0·1) lost seed 2
    # The best mean is marked on the aggregate sheet too.
    ws = openpyxl.load_workbook(tmp_path / "metric_frame.xlsx")["aggregate"]
    header = [c.value for c in ws[1]]
    col = header.index("acc mean") + 1
    means = [ws.cell(row=r, column=col).value for r in range(2, 6)]
    best = means.index(max(means)) + 2
    assert [bool(ws.cell(row=r, column=col).font.b) for r in range(2, 6)] == [r == best for r in range(2, 6)]


def test_a_single_run_has_no_std_and_all_axes_aggregate_to_one_row():
    header = ["seed", "m", "status"]
    rows = [[0, 1.0, "COMPLETED"], [1, 3.0, "COMPLETED"]]
    h, r, index = aggregate(header, rows, ["seed"], ["m"], ["seed"])
    assert index == ["runs"] and r == [["all", 2.0, pytest.approx(2 ** 0.5), 2, 0]]
    h, r, index = aggregate(header, rows[:1], ["seed"], ["m"], [])
    assert r == [[0, 1.0, None, 1, 0]]


def test_aggregate_axes_are_named_by_key_or_path():
    assert resolve_axes(["seed"], ["bs", "seed"], ["loader.bs", "seed"]) == ["seed"]
    assert resolve_axes(["loader.bs"], ["bs", "seed"], ["loader.bs", "seed"]) == ["bs"]
    with pytest.raises(SettingsError, match="'sed', which is not an axis"):
        resolve_axes(["sed"], ["bs", "seed"])


def test_printed_table_names_the_best_rows():
    text = seeded_frame().render()
    assert "Best run per directed metric:" in text
    assert "Best mean per directed metric:" in text and "ddof=1" in text
    assert "acc (max): 1  bs=32,lr=0·2,seed=0" in text
    assert "loss mean (min): 0.15  bs=64,lr=0·1" in text


def test_render_sorts_best_first():
    frame = seeded_frame(aggregate_over=())
    lines = frame.render(sort="loss").splitlines()
    values = [float(line.split()[-2]) for line in lines[2:13]]
    assert values == sorted(values)


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_redraws_one_line_on_a_terminal_and_logs_lines_otherwise():
    now = [0.0]
    tty = FakeTerminal()
    p = SweepProgress(4, stream=tty, parallel=1, clock=lambda: now[0])
    p.launched(1)
    now[0] = 10.0
    p.ended("a=1", True, {"acc": 0.5})
    assert tty.getvalue() == "\r\x1b[K[alchemy] 1/4 done | 0 failed | 0 running | 3 queued | 10s | ETA ~30s | best acc 0.5"
    p.close()
    assert tty.getvalue().endswith("\n")
    plain = io.StringIO()
    p = SweepProgress(2, stream=plain)
    p.launched(2)
    p.ended("a=1", False, {})
    assert plain.getvalue().startswith("[alchemy] 1/2 done | 1 failed | 1 running | 0 queued")
    assert plain.getvalue().endswith("| FAILED a=1\n") and "\r" not in plain.getvalue()
    assert duration(3725) == "1h02m" and duration(65) == "1m05s"


def test_progress_beside_a_launchers_own_line_prints_only_improvements():
    tty = FakeTerminal()
    p = SweepProgress(3, stream=tty, redraw=False)
    p.launched(3)
    p.ended("a=1", True, {"acc": 0.5})
    p.ended("a=2", True, {"acc": 0.5})  # no better: nothing printed
    p.ended("a=3", True, {"acc": 0.7})
    lines = tty.getvalue().split("\n")
    assert len(lines) == 3 and lines[-1] == ""
    assert lines[0].endswith("best acc 0.5 | new best after a=1")
    assert lines[1].endswith("best acc 0.7 | new best after a=3")
