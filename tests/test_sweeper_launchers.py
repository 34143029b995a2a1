"""The alchemy sweeper over the alchemy launcher: results recorded as jobs end."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from conftest import run_app


def test_frame_is_written_while_other_jobs_still_run(app_copy) -> None:
    app = app_copy("frame_app")
    run_app(
        app / "app.py",
        ["-m", "hydra/sweeper=alchemy", "hydra/launcher=alchemy", "hydra.launcher.gpus_per_job=0",
         "hydra.launcher.n_jobs=2", "x=1,2", "hydra.sweep.dir=out"],
        cwd=app,
    )
    frame = pd.read_csv(Path(app) / "out" / "metric_frame.csv", index_col=0)
    assert list(frame.index) == [1, 2]
    assert (frame["status"] == "COMPLETED").all()
    assert frame.loc[2, "saw_first"] == 1


def test_error_column_names_the_tasks_line_under_the_alchemy_launcher(app_copy) -> None:
    app = app_copy("frame_app")
    line = next(i for i, text in enumerate((app / "app.py").read_text().splitlines(), 1)
                if 'raise ValueError(f"boom' in text)
    proc = run_app(
        app / "app.py",
        ["-m", "hydra/sweeper=alchemy", "hydra/launcher=alchemy", "hydra.launcher.gpus_per_job=0",
         "hydra.launcher.n_jobs=2", "x=1,3", "fail=3", "hydra.sweep.dir=out"],
        cwd=app, check=False,
    )
    assert proc.returncode != 0
    frame = pd.read_csv(Path(app) / "out" / "metric_frame.csv", index_col=0)
    assert frame.loc[1, "status"] == "COMPLETED" and frame.loc[3, "status"] == "FAILED"
    assert frame.loc[3, "error"] == f"ValueError: boom 3 (app.py:{line})"


def test_a_launcher_settings_error_fails_once_before_any_job(app_copy) -> None:
    app = app_copy("frame_app")
    proc = run_app(
        app / "app.py",
        ["-m", "hydra/sweeper=alchemy", "hydra/launcher=alchemy", "hydra.launcher.gpus=[0]",
         "hydra.launcher.gpus_per_job=1", "hydra.launcher.jobs_per_gpu=0", "x=1,3", "hydra.sweep.dir=out"],
        cwd=app, check=False,
    )
    assert proc.returncode != 0
    assert proc.stderr.count("hydra.launcher.jobs_per_gpu must be") == 1
    assert "Traceback" not in proc.stderr and "FAILED" not in proc.stdout + proc.stderr
    out = Path(app) / "out"
    assert not out.exists() or not [p for p in out.iterdir() if p.is_dir() or p.is_symlink()]  # no job folders
    assert not (out / "metric_frame.csv").exists()  # no rows
