"""Results people look at, end to end (#15): a real sweep of example_app with
``optimize`` and two seeds, read back as a user would (openpyxl, pandas, a headless
browser, ``alchemy frame``); settings errors before any job; the live view.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import openpyxl
import pandas as pd
import pytest

from conftest import REPO_ROOT, run_app

SWEEP = ["loader.batch_size=32,128", "model.hidden=32,128", "seed=0,1", "sched.epochs=2",
         "hydra.sweeper.optimize={val_acc: max, val_loss: min}", "hydra.sweeper.aggregate=[seed]"]


def alchemy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``alchemy ...`` as the console script runs it."""
    return subprocess.run([sys.executable, "-m", "alchemy_resolvers.cli", *args], cwd=str(cwd),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory):
    """One real sweep of the example app: 2 batch sizes x 2 widths x 2 seeds."""
    work = tmp_path_factory.mktemp("frame_sweep")
    shutil.copytree(REPO_ROOT / "example_app", work / "example_app",
                    ignore=shutil.ignore_patterns("outputs", "multirun", "__pycache__"))
    proc = run_app(work / "example_app" / "train.py",
                   ["-m", "hydra/sweeper=alchemy", *SWEEP, "hydra.sweep.dir=out"], cwd=work)
    return work / "out", proc


def column_of(ws, name: str) -> str:
    header = [c.value for c in ws[1]]
    return openpyxl.utils.get_column_letter(header.index(name) + 1)


def test_sweep_xlsx_marks_the_best_runs_and_colors_directed_columns(swept):
    out, _ = swept
    df = pd.read_excel(out / "metric_frame.xlsx", index_col=[0, 1, 2])
    assert list(df.index.names) == ["batch_size", "hidden", "seed"] and len(df) == 8
    ws = openpyxl.load_workbook(out / "metric_frame.xlsx")["metric_frame"]
    scaled = {str(cf.sqref) for cf in ws.conditional_formatting for r in cf.rules if r.type == "colorScale"}
    for metric, best in (("val_acc", df["val_acc"].idxmax()), ("val_loss", df["val_loss"].idxmin())):
        letter = column_of(ws, metric)
        assert f"{letter}2:{letter}9" in scaled
        bold = [r for r in range(2, 10) if ws[f"{letter}{r}"].font.b and ws[f"{letter}{r}"].fill.fill_type == "solid"]
        assert bold == [list(df.index).index(best) + 2]
    letter = column_of(ws, "train_loss")  # no direction: no marks
    assert f"{letter}2:{letter}9" not in scaled
    assert not any(ws[f"{letter}{r}"].font.b for r in range(2, 10))


def test_sweep_aggregate_sheet_equals_pandas(swept):
    out, _ = swept
    runs = pd.read_excel(out / "metric_frame.xlsx", index_col=[0, 1, 2]).reset_index()
    runs[["batch_size", "hidden"]] = runs[["batch_size", "hidden"]].ffill()  # merged cells
    expected = runs.groupby(["batch_size", "hidden"], sort=False)[["val_acc", "val_loss"]].agg(["mean", "std"])
    got = pd.read_excel(out / "metric_frame.xlsx", sheet_name="aggregate", index_col=[0, 1])
    assert list(got.index) == list(expected.index)
    for metric in ("val_acc", "val_loss"):
        for stat in ("mean", "std"):
            assert got[f"{metric} {stat}"].to_numpy() == pytest.approx(expected[(metric, stat)].to_numpy(), rel=1e-9)
        assert (got[f"{metric} count"] == 2).all()
    assert (got["failed"] == 0).all()
    csv = pd.read_csv(out / "metric_frame_aggregate.csv", index_col=[0, 1])
    assert csv["val_acc mean"].to_numpy() == pytest.approx(got["val_acc mean"].to_numpy(), rel=1e-12)


def test_sweep_prints_best_rows_and_a_line_per_job(swept):
    _, proc = swept
    assert "Best run per directed metric:" in proc.stdout and "val_loss (min): " in proc.stdout
    assert "Best mean per directed metric:" in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("[alchemy] ")]
    assert len(lines) == 8 and lines[-1].startswith("[alchemy] 8/8 done | 0 failed | 0 running | 0 queued")
    assert "best val_acc " in lines[-1] and "\r" not in proc.stderr


def test_sweep_html_page_is_self_contained(swept):
    out, _ = swept
    page = (out / "metric_frame.html").read_text(encoding="utf-8")
    assert "<script src" not in page and "<link" not in page
    assert page.count('class="cell"') == 2 * 4  # val_acc mean, val_loss mean over 2x2


@pytest.fixture(scope="module")
def chromium():
    from test_frame_html import start_browser

    yield from start_browser()


def test_sweep_html_heatmaps_and_sorting_in_chromium(swept, chromium):
    from selenium.webdriver.common.by import By

    out, _ = swept
    chromium.get((out / "metric_frame.html").resolve().as_uri())
    panels = chromium.find_elements(By.CSS_SELECTOR, ".panels")
    assert [p.get_attribute("data-metric") for p in panels] == ["val_acc mean", "val_loss mean"]
    assert [len(p.find_elements(By.CSS_SELECTOR, "rect.cell")) for p in panels] == [4, 4]
    th = next(t for t in chromium.find_elements(By.CSS_SELECTOR, "#frame thead th") if t.text == "val_acc")
    th.click()
    heads = [t.text.strip(" \u25b2\u25bc") for t in chromium.find_elements(By.CSS_SELECTOR, "#frame thead th")]
    c = heads.index("val_acc")
    shown = [float(tr.find_elements(By.TAG_NAME, "td")[c].text)
             for tr in chromium.find_elements(By.CSS_SELECTOR, "#frame tbody tr")]
    assert shown == sorted(shown)


# ------------------------------------------------------------------------ alchemy frame


def test_alchemy_frame_prints_the_table_sorted_and_aggregated(swept):
    out, proc = swept
    res = alchemy("frame", str(out), "--sort", "val_loss", cwd=out.parent)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"{out}: 8 of 8 run(s) ended, 0 failed")
    assert "Aggregate over seed" in res.stdout  # the sweep's own setting
    rows = res.stdout.split("\n\n")[0].splitlines()[3:]
    losses = [float(r.split()[-2]) for r in rows]
    assert losses == sorted(losses)
    flat = alchemy("frame", str(out), "--aggregate", "none", cwd=out.parent)
    assert "Aggregate" not in flat.stdout
    other = alchemy("frame", str(out), "--aggregate", "hidden", "--aggregate", "seed", cwd=out.parent)
    assert "Aggregate over hidden, seed" in other.stdout


def test_alchemy_frame_reads_a_running_sweep(tmp_path):
    """Only the state file: a header and the jobs ended so far, a torn last line."""
    state = tmp_path / "sweep_state.jsonl"
    lines = [{"kind": "header", "params": ["a"], "keys": ["a"], "optimize": {"m": "min"}, "total": 3}]
    lines += [{"kind": "job", "key": str(i), "index": i, "names": [i], "status": "COMPLETED",
               "metrics": {"m": 3 - i}, "error": None, "job_dir": str(i)} for i in range(2)]
    state.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"kind": "jo', encoding="utf-8")
    res = alchemy("frame", str(tmp_path), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "2 of 3 run(s) ended, 0 failed" in res.stdout and "m (min): 2  a=1" in res.stdout
    assert not (tmp_path / "metric_frame.xlsx").exists()
    # --write: the sheet, page and csv of a killed sweep, rebuilt from its state file.
    res = alchemy("frame", str(tmp_path), "--write", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    df = pd.read_excel(tmp_path / "metric_frame.xlsx", index_col=0)
    assert list(df.index) == [0, 1] and list(df["m"]) == [3, 2]
    assert list(pd.read_csv(tmp_path / "metric_frame.csv")["m"]) == [3, 2]
    assert (tmp_path / "metric_frame.html").exists()


@pytest.mark.parametrize("args, message", [
    (["--sort", "nope"], "--sort nope: no such metric"),
    (["--aggregate", "nope"], "'nope', which is not an axis"),
])
def test_alchemy_frame_errors_are_one_message(swept, args: List[str], message: str):
    out, _ = swept
    res = alchemy("frame", str(out), *args, cwd=out.parent)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_alchemy_frame_without_a_sweep(tmp_path):
    res = alchemy("frame", str(tmp_path / "none"), cwd=tmp_path)
    assert res.returncode == 2 and "sweep_state.jsonl does not exist" in res.stderr


def test_cli_main_is_callable_with_argv(swept, capsys):
    from alchemy_resolvers.cli import main

    assert main(["frame", str(swept[0])]) == 0
    assert "Metric" not in capsys.readouterr().err
