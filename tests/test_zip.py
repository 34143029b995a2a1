"""Zipped axes end to end (``hydra.sweeper.zip``, ``Param2Tune.zip``): real Hydra apps
in subprocesses, job configs and the metric frame read back."""
from __future__ import annotations

from pathlib import Path
from typing import List

import openpyxl
import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import run_app


@pytest.fixture
def app(app_copy) -> Path:
    return app_copy("zip_app")


def sweep(app: Path, *args: str, config_name: str = "", check: bool = True):
    opts = ["--config-name", config_name] if config_name else []
    return run_app(app / "app.py", [*opts, "-m", "hydra.sweep.dir=out", *args], cwd=app, check=check)


def job_folders(out: Path) -> List[str]:
    return sorted(p.name for p in out.iterdir() if p.is_dir() and not p.is_symlink())


def runs(app: Path) -> List[str]:
    return (app / "runs.log").read_text(encoding="utf-8").split()


def read_frame(out: Path, n_index: int) -> pd.DataFrame:
    xlsx = pd.read_excel(out / "metric_frame.xlsx", index_col=list(range(n_index)))
    csv = pd.read_csv(out / "metric_frame.csv", index_col=list(range(n_index)))
    assert list(xlsx.index) == list(csv.index)
    return xlsx


def saved(out: Path, folder: str):
    return OmegaConf.load(out / folder / ".hydra" / "config.yaml")


def test_params_axes_zipped_beside_a_command_line_axis(app: Path) -> None:
    sweep(app, "seed=0,1", config_name="zip_params")
    out = app / "out"
    expected = [
        "lr=0·1,warmup=short,seed=0",
        "lr=0·1,warmup=short,seed=1",
        "lr=0·01,warmup=mid,seed=0",
        "lr=0·01,warmup=mid,seed=1",
        "lr=0·001,warmup=long,seed=0",
        "lr=0·001,warmup=long,seed=1",
    ]
    assert runs(app) == expected  # 3 rows x 2 seeds, not 3 x 3 x 2
    assert job_folders(out) == sorted(expected)
    pairs = {(0.1, 100), (0.01, 1000), (0.001, 10000)}
    for folder in expected:
        cfg = saved(out, folder)
        assert (cfg.opt.lr, cfg.sched.warmup) in pairs
        assert f"seed={cfg.seed}" in folder
    df = read_frame(out, 3)
    assert list(df.index.names) == ["lr", "warmup", "seed"]  # each member is a level
    assert list(df.index) == [
        ("0·1", "short", 0), ("0·1", "short", 1),
        ("0·01", "mid", 0), ("0·01", "mid", 1),
        ("0·001", "long", 0), ("0·001", "long", 1),
    ]
    assert list(zip(df["run_lr"], df["run_warmup"])) == [(0.1, 100), (0.1, 100), (0.01, 1000),
                                                          (0.01, 1000), (0.001, 10000), (0.001, 10000)]
    assert (df["status"] == "COMPLETED").all()


def test_zip_too_short_fails_before_any_job(app: Path) -> None:
    proc = sweep(app, "hydra/sweeper=alchemy", "opt.lr=0.1,0.01,0.001", "sched.warmup=100,1000",
                 "hydra.sweeper.zip=[[opt.lr,sched.warmup]]", check=False)
    assert proc.returncode != 0
    assert "hydra.sweeper.zip" in proc.stderr
    assert "`opt.lr` (3 values)" in proc.stderr and "`sched.warmup` (2 values)" in proc.stderr
    assert "Traceback" not in proc.stderr  # one message, as for every settings error
    assert not (app / "runs.log").exists()
    assert not (app / "out").exists() or job_folders(app / "out") == []


def test_zip_of_a_key_that_is_not_swept_lists_the_swept_keys(app: Path) -> None:
    proc = sweep(app, "hydra/sweeper=alchemy", "opt.lr=0.1,0.01", "sched.warmup=100,1000",
                 "hydra.sweeper.zip=[[opt.lr,seed]]", check=False)
    assert proc.returncode != 0
    assert "`seed`, which is not swept" in proc.stderr
    assert "['opt.lr', 'sched.warmup']" in proc.stderr
    assert not (app / "runs.log").exists()


def test_config_group_zipped_with_a_value_axis(app: Path) -> None:
    sweep(app, "hydra/sweeper=alchemy", "model=small,large", "loader.batch_size=32,64", "seed=0,1",
          "hydra.sweeper.zip=[[model,loader.batch_size]]")
    out = app / "out"
    expected = [
        "model=small,batch_size=32,seed=0",
        "model=small,batch_size=32,seed=1",
        "model=large,batch_size=64,seed=0",
        "model=large,batch_size=64,seed=1",
    ]
    assert runs(app) == expected
    for folder in expected:
        cfg = saved(out, folder)
        assert (cfg.model.width, cfg.loader.batch_size) in {(8, 32), (64, 64)}
    df = read_frame(out, 3)
    assert list(df.index.names) == ["model", "batch_size", "seed"]
    assert list(df["width"]) == [256, 256, 4096, 4096]


def test_cfg2tune_zipped_rows(app: Path) -> None:
    sweep(app, config_name="py/zipped/cfg")
    out = app / "out"
    # priority=-1 puts the zipped rows outside the seed; the row constraint drops the last row.
    expected = [
        "lr=fast,warmup=short,seed=0",
        "lr=fast,warmup=short,seed=1",
        "lr=mid,warmup=mid,seed=0",
        "lr=mid,warmup=mid,seed=1",
    ]
    assert runs(app) == expected
    assert job_folders(out) == sorted(expected)
    for folder in expected:
        cfg = saved(out, folder)
        assert (cfg.opt.lr, cfg.sched.warmup) == ((0.1, 100) if "fast" in folder else (0.01, 1000))
    df = read_frame(out, 3)
    assert list(df.index.names) == ["lr", "warmup", "seed"]
    assert list(df.index) == [("fast", "short", 0), ("fast", "short", 1), ("mid", "mid", 0), ("mid", "mid", 1)]
    ws = openpyxl.load_workbook(out / "metric_frame.xlsx").active
    assert ws.cell(1, 1).value == "lr" and ws.cell(1, 2).value == "warmup"


def test_cfg2tune_zip_member_pinned_alone_is_refused(app: Path) -> None:
    proc = sweep(app, "opt.lr=0.5", config_name="py/zipped/cfg", check=False)
    assert proc.returncode != 0
    assert "opt.lr" in proc.stderr and "sched.warmup" in proc.stderr and "zipped" in proc.stderr
    assert not (app / "runs.log").exists()
    # Setting every member anew drops the config's zip: a plain product again.
    sweep(app, "opt.lr=0.5", "sched.warmup=7,8", config_name="py/zipped/cfg")
    assert len(runs(app)) == 4


def test_priority_on_a_later_member_is_refused(app: Path) -> None:
    proc = sweep(app, "seed=0,1", "+hydra.sweeper.priorities={sched.warmup: 0}", config_name="zip_params",
                 check=False)
    assert proc.returncode != 0
    assert "`sched.warmup` has priority 0 but is zipped with `opt.lr`" in proc.stderr
    assert not (app / "runs.log").exists()
    # The first member's priority moves the whole group.
    sweep(app, "seed=0,1", "+hydra.sweeper.priorities={opt.lr: 5}", config_name="zip_params")
    assert runs(app)[:2] == ["seed=0,lr=0·1,warmup=short", "seed=0,lr=0·01,warmup=mid"]
