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
