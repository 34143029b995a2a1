"""hydra/sweeper=alchemy end to end: real apps in subprocesses, files read back."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import List

import openpyxl
import pandas as pd
import pytest
from omegaconf import OmegaConf

from conftest import REPO_ROOT, run_app

SIX = [
    "batch_size=128,epochs=5",
    "batch_size=128,epochs=15",
    "batch_size=256,epochs=5",
    "batch_size=256,epochs=15",
    "batch_size=512,epochs=5",
    "batch_size=512,epochs=15",
]
PRI_NAME = [
    "epochs=5,batch_size=1xbs",
    "epochs=5,batch_size=2xbs",
    "epochs=5,batch_size=4xbs",
    "epochs=15,batch_size=1xbs",
    "epochs=15,batch_size=2xbs",
    "epochs=15,batch_size=4xbs",
]
SUBJECT_TO = ["batch_size=128,epochs=5", "batch_size=128,epochs=15", "batch_size=256,epochs=5"]
ALCHEMY_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "alchemy"


@pytest.fixture
def app(app_copy):
    return app_copy("sweep_app")


def sweep(app: Path, *args: str, check: bool = True, env=None, script: str = "app.py"):
    # argparse wants options before the overrides.
    args_l = list(args)
    opts = []
    if "--config-name" in args_l:
        i = args_l.index("--config-name")
        opts = args_l[i : i + 2]
        del args_l[i : i + 2]
    return run_app(app / script, [*opts, "-m", "hydra.sweep.dir=out", *args_l], cwd=app, check=check, env=env)


def job_folders(out: Path) -> List[str]:
    return sorted(p.name for p in out.iterdir() if p.is_dir() and not p.is_symlink())


def runs(app: Path) -> List[str]:
    return (app / "runs.log").read_text(encoding="utf-8").split()


def read_frame(out: Path, n_index: int):
    xlsx = pd.read_excel(out / "metric_frame.xlsx", index_col=list(range(n_index)))
    csv = pd.read_csv(out / "metric_frame.csv", index_col=list(range(n_index)))
    assert list(xlsx.index) == list(csv.index)
    assert list(xlsx.columns) == list(csv.columns)
    return xlsx


# ----------------------------------------------------------------- AlchemyCat examples (YAML)


def test_six_point_grid(app):
    proc = sweep(app, "--config-name", "tune_bs_epoch")
    out = app / "out"
    assert runs(app) == SIX  # the documented order
    assert job_folders(out) == sorted(SIX)
    for folder in SIX:
        saved = OmegaConf.load(out / folder / ".hydra" / "config.yaml")
        bs, ep = (int(part.split("=")[1]) for part in folder.split(","))
        assert (saved.loader.ini.batch_size, saved.sched.epochs) == (bs, ep)
        assert (out / folder / ".hydra" / "overrides.yaml").exists()
    # Hydra's numbered paths still lead to the jobs.
    assert os.readlink(out / "0") == SIX[0] and os.readlink(out / "5") == SIX[5]

    df = read_frame(out, 2)
    assert list(df.index.names) == ["batch_size", "epochs"]
    assert list(df.index) == [(128, 5), (128, 15), (256, 5), (256, 15), (512, 5), (512, 15)]
    assert list(df.columns[:3]) == ["acc", "test_loss", "lr"]
    assert (df["status"] == "COMPLETED").all()
    assert list(df["job_dir"]) == SIX
    assert df.loc[(256, 15), "test_loss"] == round(1 / 15 + 256 / 1e4, 6)
    ws = openpyxl.load_workbook(out / "metric_frame.xlsx").active
    assert sorted(str(r) for r in ws.merged_cells.ranges) == ["A2:A3", "A4:A5", "A6:A7"]
    assert "Metric Frame:" in proc.stdout and "test_loss" in proc.stdout


def test_priority_and_value_names(app):
    sweep(app, "--config-name", "tune_bs_epoch,pri,name")
    out = app / "out"
    assert runs(app) == PRI_NAME
    assert job_folders(out) == sorted(PRI_NAME)
    df = read_frame(out, 2)
    assert list(df.index.names) == ["epochs", "batch_size"]
    assert list(df.index) == [(5, "1xbs"), (5, "2xbs"), (5, "4xbs"), (15, "1xbs"), (15, "2xbs"), (15, "4xbs")]
    saved = OmegaConf.load(out / "epochs=15,batch_size=4xbs" / ".hydra" / "config.yaml")
    assert (saved.loader.ini.batch_size, saved.sched.epochs) == (512, 15)


def test_subject_to_gives_exactly_three_combinations(app):
    sweep(app, "--config-name", "tune_bs_epoch,subject_to")
    assert runs(app) == SUBJECT_TO
    assert job_folders(app / "out") == sorted(SUBJECT_TO)
    assert list(read_frame(app / "out", 2).index) == [(128, 5), (128, 15), (256, 5)]


def test_subject_to_reading_a_later_param_fails_before_any_job(app):
    proc = sweep(app, "--config-name", "tune_bad_order", check=False)
    assert proc.returncode != 0
    assert "comes later" in proc.stderr
    assert not (app / "runs.log").exists()


# ----------------------------------------------------------------- Python Cfg2Tune configs


@pytest.mark.parametrize(
    "name, expected",
    [("tune_bs_epoch", SIX), ("tune_bs_epoch,pri,name", PRI_NAME), ("tune_bs_epoch,subject_to", SUBJECT_TO)],
)
def test_alchemycat_python_tune_configs(app, name, expected):
    proc = sweep(
        app, "--config-name", f"configs/tune/{name}/cfg", "hydra/sweeper=alchemy",
        script="py_app.py", env={"SWEEP_APP_PYCONF": str(ALCHEMY_FIXTURES)},
    )
    out = app / "out"
    assert job_folders(out) == sorted(expected)
    df = read_frame(out, 2)
    assert [f"{a}={x},{b}={y}" for (x, y) in df.index for a, b in [df.index.names]] == expected
    assert "Metric Frame:" in proc.stdout


def test_python_objects_none_and_p_dep(app):
    proc = sweep(app, "--config-name", "tune_objects/cfg", "hydra/sweeper=alchemy", script="py_app.py")
    out = app / "out"
    assert job_folders(out) == sorted(
        f"cls={c},batch_size={b}" for c in ("OrderedDict", "(1, 2)", "None") for b in (128, 256)
    )
    seen = [line for line in proc.stdout.splitlines() if line.startswith("MODEL_CLS")]
    assert seen == [
        "MODEL_CLS type <class 'collections.OrderedDict'>",
        "MODEL_CLS type <class 'collections.OrderedDict'>",
        "MODEL_CLS tuple (1, 2)",
        "MODEL_CLS tuple (1, 2)",
        "MODEL_CLS NoneType None",
        "MODEL_CLS NoneType None",
    ]
    # The P_DEP was computed per job and saved as a value.
    saved = OmegaConf.load(out / "cls=None,batch_size=256" / ".hydra" / "config.yaml")
    assert saved.opt.lr == 0.2 and saved.model.cls is None
    df = read_frame(out, 2)
    assert list(df["lr"]) == [0.1, 0.2] * 3


def test_single_run_of_a_tune_config_tells_to_add_m(app):
    proc = run_app(
        app / "py_app.py", ["--config-name", "configs/tune/tune_bs_epoch/cfg"], cwd=app, check=False,
        env={"SWEEP_APP_PYCONF": str(ALCHEMY_FIXTURES)},
    )
    assert proc.returncode != 0
    assert "-m hydra/sweeper=alchemy" in proc.stderr


def test_tunable_caps_sweeps_the_base_config(app):
    sweep(
        app, "--config-name", "configs/tune/tune_caps,epochs/cfg", "hydra/sweeper=alchemy",
        script="py_app.py", env={"SWEEP_APP_PYCONF": str(ALCHEMY_FIXTURES)},
    )
    out = app / "out"
    expected = ["caps=1xbs,epochs=5", "caps=1xbs,epochs=15", "caps=2xbs,epochs=5", "caps=2xbs,epochs=15"]
    assert job_folders(out) == sorted(expected)
    df = read_frame(out, 2)
    assert list(df.index.names) == ["caps", "epochs"]
    assert [f"caps={c},epochs={e}" for c, e in df.index] == expected  # caps: the outer loop
    assert list(df["bs"]) == [128, 128, 256, 256]  # each job inherited its own base
    saved = OmegaConf.load(out / "caps=2xbs,epochs=15" / ".hydra" / "config.yaml")
    assert saved.loader.ini.batch_size == 256 and saved.sched.epochs == 15


# ----------------------------------------------------------------- failures and resume


def test_failed_job_is_a_row_and_the_sweep_exits_nonzero(app):
    proc = sweep(app, "--config-name", "tune_bs_epoch", check=False,
                 env={"SWEEP_APP_FAIL": "batch_size=256,epochs=5"})
    assert proc.returncode != 0
    assert "1 of 6 combination(s) failed" in proc.stderr
    assert "batch_size=256,epochs=5: RuntimeError: planned failure" in proc.stderr
    assert runs(app) == SIX  # the other jobs ran on
    df = read_frame(app / "out", 2)
    assert df.loc[(256, 5), "status"] == "FAILED"
    assert "planned failure in batch_size=256,epochs=5" in df.loc[(256, 5), "error"]
    assert (df.drop(index=(256, 5))["status"] == "COMPLETED").all()

    # A rerun with resume retries only the failed combination.
    sweep(app, "--config-name", "tune_bs_epoch", "hydra.sweeper.resume=true")
    assert runs(app) == SIX + ["batch_size=256,epochs=5"]
    assert (read_frame(app / "out", 2)["status"] == "COMPLETED").all()


def test_resume_after_sigkill(app):
    args = ["--config-name", "tune_bs_epoch", "hydra.sweeper.resume=true"]
    killed = sweep(app, *args, check=False, env={"SWEEP_APP_KILL": "batch_size=256,epochs=5"})
    assert killed.returncode == -signal.SIGKILL
    # Every job that finished before the kill is in the state file; the summaries can
    # lag it by seconds, and `alchemy frame --write` rebuilds them from it.
    rebuilt = subprocess.run([sys.executable, "-m", "alchemy_resolvers.cli", "frame", "out", "--write"],
                             cwd=app, capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    df = read_frame(app / "out", 2)
    assert list(df.index) == [(128, 5), (128, 15)]
    assert runs(app) == SIX[:3]

    sweep(app, *args, env={"SWEEP_APP_KILL": "batch_size=256,epochs=5"})
    assert runs(app) == SIX[:3] + SIX[2:]  # finished ones skipped, the killed one rerun
    df = read_frame(app / "out", 2)
    assert list(df.index) == [(128, 5), (128, 15), (256, 5), (256, 15), (512, 5), (512, 15)]
    assert (df["status"] == "COMPLETED").all()
    assert df.index.is_unique


def test_without_resume_the_same_dir_runs_everything_again(app):
    sweep(app, "--config-name", "tune_bs_epoch,subject_to")
    sweep(app, "--config-name", "tune_bs_epoch,subject_to")
    assert runs(app) == SUBJECT_TO * 2
    assert len(read_frame(app / "out", 2)) == 3


# ----------------------------------------------------------------- command line, gather


def test_command_line_group_sweep_with_priority(app):
    sweep(app, "hydra/sweeper=alchemy", "+model=small,large", "sched.epochs=5,15", "opt.lr=0.5",
          "+hydra.sweeper.priorities.model=9")
    expected = ["epochs=5,model=small", "epochs=5,model=large", "epochs=15,model=small", "epochs=15,model=large"]
    assert runs(app) == expected
    out = app / "out"
    saved = OmegaConf.load(out / "epochs=15,model=large" / ".hydra" / "config.yaml")
    assert saved.model.width == 64 and saved.sched.epochs == 15 and saved.opt.lr == 0.5
    overrides = OmegaConf.load(out / "epochs=15,model=large" / ".hydra" / "overrides.yaml")
    assert list(overrides) == ["+model=large", "sched.epochs=15", "opt.lr=0.5"]
    assert list(read_frame(out, 2)["lr"]) == [0.5] * 4


def test_config_params_come_before_command_line_sweeps(app):
    sweep(app, "--config-name", "tune_bs_epoch,subject_to", "opt.lr=0.1,0.2")
    folders = job_folders(app / "out")
    assert runs(app)[:2] == ["batch_size=128,epochs=5,lr=0·1", "batch_size=128,epochs=5,lr=0·2"]
    assert len(folders) == 6
    df = read_frame(app / "out", 3)
    assert list(df.index.names) == ["batch_size", "epochs", "lr"]


def test_gather_reads_results_from_job_folders(app):
    sweep(app, "--config-name", "tune_bs_epoch,pri,name", "return_mode=file", "hydra.sweeper.gather=app.gather_metric")
    df = read_frame(app / "out", 2)
    assert df.loc[(15, "4xbs"), "acc"] == 512 + 15
    assert df.loc[(5, "2xbs"), "bs_name"] == "2xbs"


def test_bare_number_is_one_column(app):
    sweep(app, "--config-name", "tune_bs_epoch,subject_to", "return_mode=number")
    df = read_frame(app / "out", 2)
    assert list(df.columns) == ["value", "status", "error", "job_dir"]
    assert list(df["value"]) == [640, 1920, 1280]


def test_user_subdir_wins(app):
    sweep(app, "--config-name", "tune_bs_epoch,subject_to", "hydra.sweep.subdir=job${hydra.job.num}")
    assert job_folders(app / "out") == ["job0", "job1", "job2"]
    assert list(read_frame(app / "out", 2)["job_dir"]) == ["job0", "job1", "job2"]


# ----------------------------------------------------------------- composition once per group choice


@pytest.mark.usefixtures("hydra_restore_singletons")
def test_group_caching_loader_composes_like_hydra():
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.utils import create_config_search_path
    from hydra.core.utils import JobRuntime
    from hydra.types import RunMode

    from hydra_plugins.alchemy_sweeper._compose import GroupCachingConfigLoader

    JobRuntime.instance().set("name", "test")
    conf = REPO_ROOT / "tests" / "apps" / "sweep_app" / "conf"
    loader = ConfigLoaderImpl(config_search_path=create_config_search_path(str(conf)))
    master = loader.load_configuration(
        "config", ["+model=small,large", "opt.lr=0.5", "hydra.sweep.dir=x"], run_mode=RunMode.MULTIRUN
    )
    # The sweep's own hydra overrides (value and group ones, some of hydra.job) come
    # first in every job; the loader applies them to its cached bases, once.
    other_master = loader.load_configuration(
        "config", ["+model=small,large", "hydra.sweep.dir=y", "hydra.job.chdir=true",
                   "+hydra.job.env_set.K=v"], run_mode=RunMode.MULTIRUN
    )
    logging_master = loader.load_configuration(
        "config", ["+model=small,large", "hydra/job_logging=disabled", "hydra.sweep.dir=x"],
        run_mode=RunMode.MULTIRUN
    )
    assert len(other_master.hydra.overrides.hydra) == 3
    fast = GroupCachingConfigLoader(loader)
    jobs = [
        ["+model=small", "sched.epochs=5", "opt.lr=0.5", "hydra.sweep.subdir='a=1'"],
        ["+model=small", "sched.epochs=7", "opt.lr=0.5", "hydra.sweep.subdir='a=2'"],
        ["+model=large", "sched.epochs=5", "opt.lr=0.5", "hydra.sweep.subdir='a=3'"],
        ["+model=small", "sched.epochs=9", "opt.lr=0.5", "+extra.k=1"],
        # Overrides of hydra.job: the runtime fields are filled after them, as Hydra does.
        ["+model=small", "sched.epochs=5", "opt.lr=0.5", "hydra.job.name=custom", "hydra.job.chdir=true"],
        ["+model=large", "sched.epochs=7", "opt.lr=0.5", "hydra.job.env_copy=[HOME]"],
        ["+model=small", "sched.epochs=7", "opt.lr=0.5"],  # after those: the base is as it was
        # Overrides of the override lists themselves: Hydra's loader composes these.
        ["+model=small", "sched.epochs=7", "hydra.overrides.task=[a]"],
    ]
    for m in (master, other_master, logging_master, master):  # back to the first: its own bases
        for overrides in jobs:
            expected = loader.load_sweep_config(m, overrides)
            got = fast.load_sweep_config(m, overrides)
            assert OmegaConf.to_container(got, resolve=False) == OmegaConf.to_container(expected, resolve=False)
            assert OmegaConf.to_yaml(got) == OmegaConf.to_yaml(expected)
    assert (fast.composed, fast.reused, fast.built) == (9, 19, 32), (fast.composed, fast.reused, fast.built)


def test_require_multirun_callback_fails_a_single_run_at_start():
    from hydra_plugins.alchemy_sweeper._guard import RequireMultirunCallback

    cfg = OmegaConf.create({"a": {"b": "${alchemy_param:p123}"}, "c": 1, "hydra": {"job": {"config_name": "tune"}}})
    with pytest.raises(SystemExit, match=r"config `tune` tunes `a.b` with Param2Tune.*-m hydra/sweeper=alchemy"):
        RequireMultirunCallback().on_run_start(config=cfg)
    RequireMultirunCallback().on_run_start(config=OmegaConf.create({"a": 1}))  # nothing to tune: fine


# ----------------------------------------------------------------- override spellings (the Hydra side)


@pytest.mark.parametrize(
    "value",
    ["plain", "with space", "a,b", "a=b", "it's", 'say "hi"', "back\\slash", "trail\\", "1", "true",
     "null", "", "${interp}", "x ${y} z", "[1]", "ü·-", "(paren)", "a:b",
     "NaN", "Inf", "x-1", "a.b/c", "_x", "e5", "1e5", "a+b", "50%", "a|b", "a@b", "$x", " lead", "trail "],
)
def test_string_overrides_round_trip(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from alchemy_resolvers.grid import to_override_value
    from hydra_plugins.alchemy_sweeper._overrides import override_value

    text = to_override_value(value)
    parsed = OverridesParser.create().parse_override(f"k={text}")
    assert parsed.value() == value
    assert override_value(value, "k") == text  # the sweeper's check agrees


# ----------------------------------------------------------------- each job composed once


def test_each_job_is_composed_once_in_a_value_sweep(app):
    # 12 jobs, one defaults list: the sweeper composes job 0 (to look for P_DEPs) and
    # hands that config to the launcher; the launcher composes the other 11.
    proc = sweep(app, "hydra/sweeper=alchemy", "sched.epochs=range(1,13)",
                 "hydra.verbose=hydra_plugins.alchemy_sweeper")
    out = proc.stdout + proc.stderr
    assert len(runs(app)) == 12
    assert "Composition: 12 job config(s) built, 1 of them handed to the launcher" in out
    assert "1 defaults list(s) composed, 11 reused" in out


def test_p_dep_jobs_are_composed_once(app):
    proc = sweep(app, "--config-name", "tune_objects/cfg", "hydra/sweeper=alchemy",
                 "hydra.verbose=hydra_plugins.alchemy_sweeper", script="py_app.py")
    # Every job has a P_DEP: the sweeper composes each one, the launcher composes none.
    assert "Composition: 6 job config(s) built, 6 of them handed to the launcher" in proc.stdout + proc.stderr


# ----------------------------------------------------------------- settings errors: once, before any job


@pytest.mark.parametrize(
    "args, message",
    [
        (["hydra.sweeper.max_batch_size=0"], "hydra.sweeper.max_batch_size must be >= 1"),
        (["+hydra.sweeper.priorities.nope=1"], "hydra.sweeper.priorities names ['nope'], which are not swept"),
        (["+hydra.sweeper.max_jobs=3"], "hydra.sweeper.max_jobs is not a setting of the alchemy sweeper"),
        (["--config-name", "tune_empty"], "the sweep has no legal combination"),
        (["--config-name", "tune_bad_field"],
         "hydra.sweeper.params.loader.ini.batch_size has unknown field(s) ['priorty']"),
        (["--config-name", "tune_bad_order"], "reads `sched.epochs`, which comes later in the order"),
        (["--config-name", "tune_bs_epoch", "hydra.sweeper.optimize={acc: biggest}"],
         "hydra.sweeper.optimize.acc is 'biggest': a direction is max or min"),
        (["--config-name", "tune_bs_epoch", "hydra.sweeper.aggregate=[seed]"],
         "hydra.sweeper.aggregate names 'seed', which is not an axis of this sweep"),
    ],
)
def test_a_bad_setting_fails_once_before_any_job(app, args, message):
    proc = sweep(app, "hydra/sweeper=alchemy", *args, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert proc.stderr.count(message) == 1
    assert "Traceback" not in proc.stderr
    assert not (app / "runs.log").exists()
    out = app / "out"
    assert not out.exists() or not [p for p in out.iterdir() if p.is_dir() or p.is_symlink()]
    assert not (out / "metric_frame.csv").exists()


def test_a_launcher_settings_error_propagates_and_leaves_no_rows(tmp_path):
    from alchemy_resolvers.errors import SettingsError
    from hydra_plugins.alchemy_sweeper._impl import SweepLoop

    class Loader:
        def load_sweep_config(self, master_config, sweep_overrides):
            return OmegaConf.create({"x": 1})

    class Launcher:
        calls = 0

        def launch(self, job_overrides, initial_job_idx):
            Launcher.calls += 1
            raise SettingsError("hydra.launcher.gpus_per_job=4, but this machine has no GPU",
                                key="hydra.launcher.gpus_per_job")

    class Context:
        config_loader = Loader()

    config = OmegaConf.create({"x": 1, "hydra": {"sweep": {"dir": str(tmp_path / "out"), "subdir": "${hydra.job.num}"},
                                                 "runtime": {"choices": {}}}})
    loop = SweepLoop(config=config, hydra_context=Context(), launcher=Launcher())
    with pytest.raises(SettingsError, match="gpus_per_job"):
        loop.run(["x=1,2,3"])
    assert Launcher.calls == 1
    out = tmp_path / "out"
    assert not [p for p in out.iterdir() if p.is_dir() or p.is_symlink()]  # no job folders, no links
    assert not (out / "metric_frame.csv").exists()  # no FAILED rows
    assert len(loop.recorder.frame) == 0


# ----------------------------------------------------------------- the error column names the task's line


def test_error_column_names_the_tasks_file_and_line(app):
    line = next(i for i, text in enumerate((app / "app.py").read_text().splitlines(), 1)
                if 'raise RuntimeError(f"planned failure' in text)
    sweep(app, "--config-name", "tune_bs_epoch,subject_to", check=False,
          env={"SWEEP_APP_FAIL": "batch_size=128,epochs=15"})
    df = read_frame(app / "out", 2)
    assert df.loc[(128, 15), "error"] == f"RuntimeError: planned failure in batch_size=128,epochs=15 (app.py:{line})"


def test_describe_failure_prefers_the_launchers_task_location():
    from hydra_plugins.alchemy_sweeper._record import describe_failure

    class JobFailedError(RuntimeError):
        reason = "raised ValueError: boom"

    err = JobFailedError("job #1 on GPU 0 (x=1) raised ValueError: boom; log: /x/job.log")
    err.__cause__ = ValueError("boom")
    err.task_location = "/somewhere/train.py:20"
    assert describe_failure(err) == "ValueError: boom (train.py:20)"
    killed = JobFailedError("job #2 (x=2) was killed by SIGKILL")
    killed.reason = "was killed by SIGKILL"
    assert describe_failure(killed) == "JobFailedError: job #2 (x=2) was killed by SIGKILL"


# ----------------------------------------------------------------- directions and seeds (#15)


def test_optimize_and_aggregate_by_config_path(app):
    proc = sweep(app, "--config-name", "tune_bs_epoch", "hydra.sweeper.optimize={acc: max, test_loss: min}",
                 "hydra.sweeper.aggregate=[sched.epochs]")
    out = app / "out"
    agg = pd.read_excel(out / "metric_frame.xlsx", sheet_name="aggregate", index_col=0)
    assert list(agg.index) == [128, 256, 512] and (agg["acc count"] == 2).all()
    assert "Best run per directed metric:" in proc.stdout
    assert "acc (max): " in proc.stdout and "batch_size=512,epochs=15" in proc.stdout
    assert (out / "metric_frame.html").exists() and (out / "metric_frame_aggregate.csv").exists()


def test_a_directed_metric_no_run_returns_is_a_warning(app):
    proc = sweep(app, "--config-name", "tune_bs_epoch", "hydra.sweeper.optimize={accuracy: max}")
    assert "hydra.sweeper.optimize names accuracy, which no run returned" in proc.stdout + proc.stderr


def test_summaries_are_rewritten_at_most_every_few_seconds_and_at_the_end(tmp_path):
    from alchemy_resolvers.frame.table import MetricFrame
    from hydra_plugins.alchemy_sweeper import _record
    from hydra_plugins.alchemy_sweeper._record import Recorder

    rec = Recorder(tmp_path, None, False, xlsx_every_s=3600)
    rec.frame = MetricFrame(["i"])

    def add(i: int) -> None:
        rec.frame.add({"key": str(i), "index": i, "names": [i], "status": "COMPLETED", "metrics": {"m": i}})

    def rows(name: str) -> int:
        return len(pd.read_excel(tmp_path / name) if name.endswith("xlsx") else pd.read_csv(tmp_path / name))

    add(0)
    rec.maybe_write()  # the first row writes everything
    assert rows("metric_frame.xlsx") == rows("metric_frame.csv") == 1 and not rec.dirty
    for i in range(1, 4):  # jobs ending within a second of each other
        add(i)
        rec.maybe_write()
    assert rows("metric_frame.csv") == 1 and rows("metric_frame.xlsx") == 1 and rec.dirty
    rec._last_write_end -= _record.CSV_EVERY_S  # a second later: the csv, not the sheet
    add(4)
    rec.maybe_write()
    assert rows("metric_frame.csv") == 5 and rows("metric_frame.xlsx") == 1 and rec.dirty
    rec.maybe_write(force=True)  # the end of the sweep
    assert rows("metric_frame.xlsx") == rows("metric_frame.csv") == 5 and not rec.dirty
    rec.xlsx_every_s = 0  # every job
    add(5)
    rec.maybe_write()
    assert rows("metric_frame.xlsx") == rows("metric_frame.csv") == 6 and not rec.dirty
