"""#13 under Hydra's basic launcher: task exits are rows, Ctrl-C stops cleanly, strange
strings reach every file, earlier sweeps are never overwritten, edits are noticed, one
sweep per dir, no leftovers. Real apps in subprocesses, files read back."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import openpyxl
import pytest

from conftest import run_app

APP = "safety_app.py"


@pytest.fixture
def app(app_copy):
    return app_copy("sweep_app")


def sweep(app: Path, *args: str, env: Dict[str, str] = None, check: bool = False):
    return run_app(app / APP, ["-m", "hydra.sweep.dir=out", *args], cwd=app, check=check, env=env)


def start(app: Path, *args: str, env: Dict[str, str]) -> subprocess.Popen:
    full = dict(os.environ, **env)
    full.pop("HYDRA_FULL_ERROR", None)
    return subprocess.Popen([sys.executable, str(app / APP), "-m", "hydra.sweep.dir=out", *args], cwd=app,
                            env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, timeout: float = 120) -> None:
    """Polls (a loaded machine may take long to start Python); fails after ``timeout``."""
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.05)


def runs(app: Path) -> List[str]:
    return (app / "runs.log").read_text(encoding="utf-8").split()


def rows(app: Path) -> Dict[str, dict]:
    with open(app / "out" / "metric_frame.csv", encoding="utf-8", newline="") as f:
        return {r["x"]: r for r in csv.DictReader(f)}


def state(app: Path) -> List[dict]:
    lines = (app / "out" / "sweep_state.jsonl").read_bytes().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# ------------------------------------------------------------------ 2. exits


@pytest.mark.parametrize("launcher", [[], ["hydra/launcher=alchemy", "hydra.launcher.gpus_per_job=0",
                                            "hydra.launcher.n_jobs=1"]], ids=["basic", "alchemy"])
def test_task_exits_are_rows_and_the_sweep_goes_on(app, launcher):
    proc = sweep(app, *launcher, env={"SAFETY_1": "exit0", "SAFETY_2": "exit3", "SAFETY_3": "kbint"})
    assert proc.returncode == 1, proc.stderr  # two failed rows
    assert runs(app) == ["x=1", "x=2", "x=3", "x=4"]
    got = rows(app)
    assert (got["1"]["status"], got["1"]["score"]) == ("COMPLETED", "")
    assert got["2"]["status"] == "FAILED" and "code 3" in got["2"]["error"]
    assert got["3"]["status"] == "FAILED" and "KeyboardInterrupt" in got["3"]["error"]
    assert (got["4"]["status"], got["4"]["score"]) == ("COMPLETED", "4")


def test_ctrl_c_stops_the_sweep_writes_the_frame_and_says_how_to_resume(app):
    proc = start(app, env={"SAFETY_2": "sleep", "SAFETY_SLEEP": "120"})
    wait_for(app / "started.2")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "hydra.sweeper.resume=true" in err
    assert list(rows(app)) == ["1"]  # x=2 was stopped: not a row, it runs on resume
    assert not list((app / "out").glob(".*.tmp"))
    assert sweep(app, "hydra.sweeper.resume=true").returncode == 0
    assert runs(app) == ["x=1", "x=2", "x=2", "x=3", "x=4"]
    assert all(r["status"] == "COMPLETED" for r in rows(app).values())


def test_resume_after_os_exit(app):
    env = {"SAFETY_3": "os_exit"}
    assert sweep(app, env=env).returncode == 7  # os._exit ends the sweep process itself
    # The state file has every job that ended (the csv can lag it by a second).
    assert [r["folder"] for r in state(app) if r.get("kind") == "job"] == ["x=1", "x=2"]
    assert sweep(app, "hydra.sweeper.resume=true", env=env).returncode == 0
    assert runs(app) == ["x=1", "x=2", "x=3", "x=3", "x=4"]
    assert [r["status"] for r in rows(app).values()] == ["COMPLETED"] * 4


# ------------------------------------------------------------------ 3. strange strings


def test_strange_strings_reach_csv_xlsx_html_and_the_state_file(app):
    sys.path.insert(0, str(app))
    try:
        from trouble import TROUBLE, strange_metrics
    finally:
        sys.path.pop(0)
    env = {"SAFETY_1": "strange", "SAFETY_2": "raise_strange"}
    first = sweep(app, env=env)
    assert first.returncode == 1 and "Traceback" not in first.stdout, first.stderr
    again = sweep(app, "hydra.sweeper.resume=true", env=env)  # resume reads every record back
    assert again.returncode == 1, again.stderr
    assert runs(app) == ["x=1", "x=2", "x=3", "x=4", "x=2"]
    records = [r for r in state(app) if r.get("kind") == "job"]
    assert records[0]["metrics"] == strange_metrics()  # the state file keeps exact strings
    got = rows(app)
    assert got["1"]["m0\\ud800"] == "\\ud800" and got["1"]["m4\\x00"] == "\\x00"
    assert got["1"]["num\\ud800"] == "1.5"
    assert got["1"]["m6\u200f\u202e rtl"] == "\u200f\u202e rtl"
    assert len(got["1"]["m9" + "x" * 20]) == 40_000
    assert "bad \\ud800\\udfff\\ufffe\\uffff\\x00" in got["2"]["error"]
    wb = openpyxl.load_workbook(app / "out" / "metric_frame.xlsx")
    ws = wb["metric_frame"]
    header = [c.value for c in ws[1]]
    assert "m3\\uffff" in header and "m5\\x01\\x07\\x1b\\x1f" in header
    long_cell = ws.cell(row=2, column=header.index("m9" + "x" * 20) + 1).value
    assert 30_000 < len(long_cell) <= 32_767 and long_cell.endswith("characters in all]")
    assert ws.cell(row=2, column=header.index("m10=1+1") + 1).value == "=1+1"  # text, not a formula
    page = (app / "out" / "metric_frame.html").read_text(encoding="utf-8")
    assert "\\ud800" in page and "\x00" not in page
    assert len(TROUBLE) == 12


# ------------------------------------------------------------------ 4. overwrite, 6. lock, 7. leftovers


def test_an_earlier_sweep_is_never_overwritten(app):
    assert sweep(app).returncode == 0
    before = (app / "out" / "metric_frame.csv").read_bytes()
    state_before = (app / "out" / "sweep_state.jsonl").read_bytes()
    for _ in range(2):  # no resume: the earlier sweep is archived, this one starts over
        again = sweep(app)
        assert again.returncode == 0, again.stderr
        said = again.stdout + again.stderr
        assert "held an earlier sweep" in said and "hydra.sweeper.resume=true" in said
    assert runs(app) == ["x=1", "x=2", "x=3", "x=4"] * 3
    archives = sorted((app / "out" / "earlier").iterdir())
    assert len(archives) == 2
    assert (archives[0] / "metric_frame.csv").read_bytes() == before
    assert (archives[0] / "sweep_state.jsonl").read_bytes() == state_before
    assert (archives[1] / "metric_frame.xlsx").exists()
    assert [r["status"] for r in rows(app).values()] == ["COMPLETED"] * 4


def test_a_second_sweep_on_the_same_dir_refuses_naming_the_pid(app):
    first = start(app, env={"SAFETY_1": "sleep", "SAFETY_SLEEP": "120"})
    try:
        wait_for(app / "started.1")
        second = sweep(app, "hydra.sweeper.resume=true")
        assert second.returncode == 1
        assert f"another sweep (pid {first.pid}) is running" in second.stderr
        assert "Traceback" not in second.stderr
    finally:
        first.kill()
        first.communicate()
    assert runs(app) == ["x=1"]


def test_temporary_files_of_a_killed_sweep_are_removed(app):
    assert sweep(app).returncode == 0
    leftover = app / "out" / ".metric_frame.xlsx.999999999.tmp"  # no such pid
    leftover.write_bytes(b"half")
    assert sweep(app, "hydra.sweeper.resume=true").returncode == 0
    assert not leftover.exists()


# ------------------------------------------------------------------ 5. edited configs


def edit_scale(app: Path, scale: int) -> None:
    conf = app / "conf" / "safety.yaml"
    conf.write_text(conf.read_text(encoding="utf-8").replace("scale: 1", f"scale: {scale}"), encoding="utf-8")


def test_resume_reruns_combinations_whose_config_changed(app):
    assert sweep(app).returncode == 0
    records = [r for r in state(app) if r.get("kind") == "job"]
    assert all(len(r["fingerprint"]) == 12 for r in records)
    assert sweep(app, "hydra.sweeper.resume=true").returncode == 0  # unchanged: all skipped
    assert runs(app) == ["x=1", "x=2", "x=3", "x=4"]
    edit_scale(app, 2)
    assert sweep(app, "hydra.sweeper.resume=true").returncode == 0
    assert runs(app) == ["x=1", "x=2", "x=3", "x=4"] * 2
    got = rows(app)
    assert [r["score"] for r in got.values()] == ["2", "4", "6", "8"]
    assert all(r["note"] == "rerun: config changed (scale)" for r in got.values())
    runs_sheet = openpyxl.load_workbook(app / "out" / "metric_frame.xlsx")["runs"]
    assert [c.value for c in runs_sheet[1]] == ["x", "fingerprint", "code", "note", "ended", "attempts"]


def test_strict_resume_refuses_and_lists_the_changed_keys(app):
    assert sweep(app).returncode == 0
    edit_scale(app, 3)
    proc = sweep(app, "hydra.sweeper.resume=strict")
    assert proc.returncode == 1
    assert "4 completed combination(s)" in proc.stderr and "x=1: scale" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert runs(app) == ["x=1", "x=2", "x=3", "x=4"]
    assert [r["score"] for r in rows(app).values()] == ["1", "2", "3", "4"]


def test_rows_record_the_code_version_in_a_git_repo(app):
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q"], cwd=app, check=True)
    subprocess.run(git + ["add", "safety_app.py"], cwd=app, check=True)
    subprocess.run(git + ["commit", "-qm", "x"], cwd=app, check=True)
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=app, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert sweep(app).returncode == 0
    assert {r["code"] for r in state(app) if r.get("kind") == "job"} == {head}
