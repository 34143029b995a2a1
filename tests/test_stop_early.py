"""``hydra.sweeper.max_failures`` and ``hydra.launcher.retries`` as the frame shows
them (#14): a failing sweep stops starting jobs, the ones never started are SKIPPED
rows and a resume runs them; a retried job's row counts its attempts. Real Hydra apps."""
from __future__ import annotations

from pathlib import Path
from typing import List

import pandas as pd
import pytest

from conftest import run_app


@pytest.fixture
def app(app_copy) -> Path:
    return app_copy("stop_app")


def sweep(app: Path, *args: str, env=None):
    return run_app(app / "app.py", ["-m", "hydra/sweeper=alchemy", "hydra.sweep.dir=out", "+x=range(0,10)",
                                    "hydra.sweeper.progress=false", *args], cwd=app, check=False, env=env)


def ran(app: Path) -> List[int]:
    log = app / "runs.log"
    return [int(x) for x in log.read_text().split()] if log.exists() else []


def status(app: Path) -> pd.Series:
    df = pd.read_excel(app / "out" / "metric_frame.xlsx", index_col=0)
    assert list(df.index) == list(range(10))  # every combination has its row
    return df["status"]


def test_max_failures_stops_the_sweep_and_a_resume_runs_the_rest(app):
    proc = sweep(app, "hydra.sweeper.max_failures=2")
    assert proc.returncode != 0
    assert ran(app) == [0, 1, 2, 3]  # the second failure stops it
    st = status(app)
    assert list(st[:4]) == ["COMPLETED", "FAILED", "COMPLETED", "FAILED"]
    assert (st[4:] == "SKIPPED").all()
    assert "2 job(s) failed (hydra.sweeper.max_failures=2): no new job starts" in proc.stdout + proc.stderr
    assert "2 of 10 combination(s) failed, 6 not started (SKIPPED" in proc.stderr
    assert not (app / "out" / "x=4").exists() and not (app / "out" / "4").is_symlink()
    csv = pd.read_csv(app / "out" / "metric_frame.csv", index_col=0)
    assert (csv["status"] == st).all()

    proc = sweep(app, "hydra.sweeper.resume=true", env={"STOP_APP_PASS": "1"})
    assert proc.returncode == 0, proc.stderr
    assert ran(app)[4:] == [1, 3, 4, 5, 6, 7, 8, 9]  # failed and skipped, never the completed
    assert (status(app) == "COMPLETED").all()


def test_without_max_failures_every_job_runs(app):
    proc = sweep(app)
    assert proc.returncode != 0 and ran(app) == list(range(10))
    assert list(status(app)) == ["COMPLETED", "FAILED"] * 5
    assert "5 of 10 combination(s) failed (see" in proc.stderr
    assert "Traceback" not in proc.stderr  # the failures are the message


@pytest.mark.parametrize("value", ["0", "-1", "two", "true"])
def test_a_wrong_max_failures_is_one_message_before_any_job(app, value):
    proc = sweep(app, f"hydra.sweeper.max_failures={value}")
    assert proc.returncode != 0 and "hydra.sweeper.max_failures" in proc.stderr  # ours or OmegaConf's type check
    assert "Traceback" not in proc.stderr and ran(app) == []


def test_max_failures_under_the_alchemy_launcher(app):
    """One job at a time: the launcher starts no job once the second one failed."""
    proc = sweep(app, "hydra.sweeper.max_failures=2", "hydra/launcher=alchemy", "hydra.launcher.n_jobs=1",
                 "hydra.launcher.gpus_per_job=0")
    assert proc.returncode != 0
    assert ran(app) == [0, 1, 2, 3]
    st = status(app)
    assert list(st[:4]) == ["COMPLETED", "FAILED", "COMPLETED", "FAILED"] and (st[4:] == "SKIPPED").all()


def test_a_retried_crash_is_one_completed_row_with_its_attempts(app):
    proc = sweep(app, "hydra/launcher=alchemy", "hydra.launcher.gpus_per_job=0", "hydra.launcher.retries=1",
                 env={"STOP_APP_PASS": "1", "STOP_APP_CRASH": "4"})
    assert proc.returncode == 0, proc.stderr
    assert sorted(ran(app)) == [0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9]  # x=4 ran twice: a crash, then its retry
    df = pd.read_excel(app / "out" / "metric_frame.xlsx", index_col=0)
    assert (df["status"] == "COMPLETED").all() and df.loc[4, "x2"] == 8
    assert df.loc[4, "attempts"] == 2 and (df.drop(index=4)["attempts"] == 1).all()
    runs_sheet = pd.read_excel(app / "out" / "metric_frame.xlsx", sheet_name="runs", index_col=0)
    assert runs_sheet.loc[4, "attempts"] == 2
    assert (app / "out" / "x=4" / ".attempts").is_dir()  # the first attempt's output, moved aside
