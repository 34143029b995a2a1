"""The example app trains for real under every config style, and the styles agree.

Each run is a real subprocess (``python example_app/train.py ...``) in a copy of the
app in a tmp dir; the app writes what it read (``hparams``) and what it measured
(``metrics``) to ``metrics.json`` in its run dir, which is what these tests read back.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "example_app"

#: Seed 0 reaches ~0.96 validation accuracy in the default 10 epochs and ~0.89 in 2
#: (chance is 0.10); the bounds leave room for BLAS and platform differences.
MIN_VAL_ACC_10_EPOCHS = 0.9
MIN_VAL_ACC_2_EPOCHS = 0.7
FAST = ["sched.epochs=2"]

# name -> command-line arguments that select the style; all describe one experiment
# (the default recipe: 10 epochs, which train in well under a second).
STYLES: Dict[str, List[str]] = {
    "yaml": [],
    "alchemy": ["--config-name", "alchemy/digits/base/cfg"],
    "mmcv": ["--config-name", "mmcv/digits_mlp"],
    "yacs": ["--config-name", "yacs/digits/cfg"],
}
DEFAULT_HPARAMS = {
    "seed": 0, "hidden": 64, "batch_size": 64, "lr": 0.1, "momentum": 0.9,
    "weight_decay": 0.0001, "epochs": 10, "warm_epochs": 1, "warm_start_factor": 0.01,
    "main_epochs": 9, "min_lr_factor": 0.01,
}


def run_app(cwd: Path, args: Sequence[str], env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("HYDRA_FULL_ERROR", None)
    if env is None:  # a GPU the CI machine happens to name must not change the numbers
        full_env.pop("CUDA_VISIBLE_DEVICES", None)
    proc = subprocess.run(
        [sys.executable, str(cwd / "example_app" / "train.py"), *args],
        cwd=str(cwd), env=full_env, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"train.py {list(args)} exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of example_app, so that runs never write into the repo."""
    dst = tmp_path_factory.mktemp("example")
    shutil.copytree(APP, dst / "example_app", ignore=shutil.ignore_patterns("outputs", "multirun", "__pycache__"))
    return dst


def single_run(work: Path, name: str, args: Sequence[str], env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    out = work / "runs" / name
    proc = run_app(work, [*args, f"hydra.run.dir={out}"], env=env)
    result = json.loads((out / "metrics.json").read_text())
    result["log"] = proc.stdout + proc.stderr
    result["dir"] = out
    return result


@pytest.fixture(scope="module")
def results(work: Path):
    """One run per style at its defaults, shared by the tests of this module."""
    cache: Dict[str, Dict[str, Any]] = {}

    def get(style: str) -> Dict[str, Any]:
        if style not in cache:
            cache[style] = single_run(work, style, STYLES[style])
        return cache[style]

    return get


@pytest.mark.parametrize("style", sorted(STYLES))
def test_each_style_trains_and_scores_well_above_chance(results, style: str) -> None:
    got = results(style)
    m = got["metrics"]
    assert set(m) == {"val_acc", "val_loss", "train_loss"}
    assert m["val_acc"] > MIN_VAL_ACC_10_EPOCHS
    assert 0 < m["val_loss"] < 0.5 and 0 < m["train_loss"] < 0.5  # chance: ln(10) = 2.3
    assert "device: cpu (numpy)" in got["log"]


@pytest.mark.parametrize("style", sorted(set(STYLES) - {"yaml"}))
def test_styles_describe_the_same_experiment(results, style: str) -> None:
    """Same entries read, same numbers trained: a style is only a way of writing."""
    assert results("yaml")["hparams"] == DEFAULT_HPARAMS
    assert results(style)["hparams"] == DEFAULT_HPARAMS
    assert results(style)["metrics"] == results("yaml")["metrics"]


@pytest.mark.parametrize("style", ["yaml", "alchemy"])
def test_overrides_recompute_dependencies(work: Path, style: str) -> None:
    got = single_run(
        work, f"{style}-bs256", [*STYLES[style], "loader.batch_size=256", "sched.epochs=20", "model.hidden=32"]
    )
    hp = got["hparams"]
    assert (hp["batch_size"], hp["lr"], hp["hidden"]) == (256, pytest.approx(0.4), 32)
    assert (hp["epochs"], hp["warm_epochs"], hp["main_epochs"]) == (20, 2, 18)
    assert got["metrics"]["val_acc"] > MIN_VAL_ACC_10_EPOCHS


def test_two_epochs_still_learn(work: Path) -> None:
    got = single_run(work, "alchemy-2ep", [*STYLES["alchemy"], *FAST])
    hp = got["hparams"]
    assert (hp["epochs"], hp["warm_epochs"], hp["main_epochs"]) == (2, 1, 1)
    assert got["metrics"]["val_acc"] > MIN_VAL_ACC_2_EPOCHS


def test_inheritance_with_caps(work: Path) -> None:
    """base,2xbs: the base's lr DEP follows the doubled batch size. base,wide: a patch
    replaces `model` whole, and the child's own entry wins over both bases.
    base,no_warm: `empty_leaf()` deletes the base's warm-up subtree."""
    two = single_run(work, "2xbs", ["--config-name", "alchemy/digits/base,2xbs/cfg"])["hparams"]
    assert two == {**DEFAULT_HPARAMS, "batch_size": 128, "lr": pytest.approx(0.2)}
    wide = single_run(work, "wide", ["--config-name", "alchemy/digits/base,wide/cfg"])
    assert wide["hparams"] == {**DEFAULT_HPARAMS, "hidden": 256, "weight_decay": 0.0005}
    assert wide["metrics"]["val_acc"] > MIN_VAL_ACC_10_EPOCHS
    no_warm = single_run(work, "no_warm", ["--config-name", "alchemy/digits/base,no_warm/cfg"])
    assert no_warm["hparams"] == {**DEFAULT_HPARAMS, "warm_epochs": 0, "warm_start_factor": 1.0, "main_epochs": 10}
    assert "  warm: {}\n" in (no_warm["dir"] / ".hydra" / "config.yaml").read_text()


def test_sched_option_mounted_elsewhere_keeps_its_relative_deps(work: Path) -> None:
    """`c` in sched/warm_cos.yaml is its mount point: mounted twice, each copy computes
    from its own `epochs`."""
    got = single_run(work, "yaml-two-scheds", ["+sched@other_sched=warm_cos", "other_sched.epochs=30", *FAST])
    from omegaconf import OmegaConf

    import alchemy_resolvers

    alchemy_resolvers.register()  # dep/rel for reading the saved config

    text = (got["dir"] / ".hydra" / "config.yaml").read_text()
    assert "${dep:" in text  # the saved config keeps the dependency, not a frozen value
    saved = OmegaConf.create(text)
    assert (saved.other_sched.warm_epochs, saved.other_sched.warm.epochs, saved.other_sched.main.epochs) == (3, 3, 27)
    hp = got["hparams"]
    assert (hp["epochs"], hp["warm_epochs"], hp["main_epochs"]) == (2, 1, 1)


def test_other_seed_other_metrics(results, work: Path) -> None:
    """(Same seed, same metrics: the styles above are separate processes.)"""
    other = single_run(work, "yaml-seed1", ["seed=1"])
    assert other["metrics"] != results("yaml")["metrics"]
    assert other["metrics"]["val_acc"] > MIN_VAL_ACC_10_EPOCHS


def test_named_gpu_is_used_or_the_fallback_is_logged(work: Path) -> None:
    """With CUDA_VISIBLE_DEVICES set the app uses cupy if it can, and otherwise says
    why it trains on CPU instead of failing."""
    got = single_run(work, "gpu-named", FAST, env={"CUDA_VISIBLE_DEVICES": "0"})
    assert (
        "device: cuda:0 (cupy; CUDA_VISIBLE_DEVICES=0)" in got["log"]
        or "device: cpu (numpy; cupy unusable with CUDA_VISIBLE_DEVICES=0)" in got["log"]
    ), got["log"]
    assert got["metrics"]["val_acc"] > MIN_VAL_ACC_2_EPOCHS


def test_tunable_config_pinned_to_one_combination_is_the_same_experiment(results, work: Path) -> None:
    """The Cfg2Tune style: command-line values pin its three axes, so the alchemy
    sweeper runs one job; its P_DEP learning rate is computed before the job starts
    and saved as a number."""
    sweep = work / "sweeps" / "pinned"
    run_app(
        work,
        ["-m", "--config-name", "alchemy/tune/digits/cfg", "hydra/sweeper=alchemy", f"hydra.sweep.dir={sweep}",
         "loader.batch_size=64", "sched.epochs=10", "model.hidden=64"],
    )
    (job,) = {p.parent.resolve() for p in sweep.glob("*/metrics.json")}  # folder + its link
    got = json.loads((job / "metrics.json").read_text())
    assert got["hparams"] == DEFAULT_HPARAMS
    assert got["metrics"] == results("yaml")["metrics"]
    saved = (job / ".hydra" / "config.yaml").read_text()
    assert "  lr: 0.1\n" in saved


EXPECTED_GRID = [  # batch_size, epochs, hidden: (32, 20) is over the step budget
    (32, 5, "narrow"), (32, 5, "wide"), (128, 5, "narrow"), (128, 5, "wide"), (128, 20, "narrow"), (128, 20, "wide"),
]


def test_yaml_grid_sweep_fills_the_metric_frame(work: Path) -> None:
    """tune_digits.yaml: priorities, value names and a subject_to in YAML; every job
    runs in its own process under the alchemy launcher and lands in the frame."""
    import pandas as pd

    sweep = work / "sweeps" / "yaml-grid"
    proc = run_app(
        work,
        ["-m", "--config-name", "tune_digits", "hydra/launcher=alchemy", "hydra.launcher.gpus_per_job=0",
         f"hydra.sweep.dir={sweep}"],
    )
    assert "Metric Frame" in proc.stdout + proc.stderr
    frame = pd.read_excel(sweep / "metric_frame.xlsx", index_col=[0, 1, 2])
    assert list(frame.index.names) == ["batch_size", "epochs", "hidden"]
    assert list(frame.index) == EXPECTED_GRID
    assert (frame["val_acc"] > MIN_VAL_ACC_10_EPOCHS).all()
    for bs, epochs, name in EXPECTED_GRID:
        job = json.loads((sweep / f"batch_size={bs},epochs={epochs},hidden={name}" / "metrics.json").read_text())
        hp = job["hparams"]
        assert (hp["batch_size"], hp["epochs"], hp["hidden"]) == (bs, epochs, {"narrow": 32, "wide": 128}[name])
        assert hp["lr"] == pytest.approx(0.1 * bs / 64)  # the ${dep:...} follows each job
        assert job["metrics"]["val_acc"] == pytest.approx(frame.loc[(bs, epochs, name), "val_acc"])


def test_digits_are_scikit_learns_bundled_copy() -> None:
    """The app reads sklearn's digits file directly (no sklearn import per job): it
    must be exactly what `sklearn.datasets.load_digits` returns."""
    import importlib.util

    import numpy as np
    from sklearn.datasets import load_digits

    spec = importlib.util.spec_from_file_location("digits_mlp_under_test", APP / "digits_mlp.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while defining
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[spec.name]
    data, target = mod.load_digits_arrays()
    ref = load_digits()
    assert np.array_equal(data, ref.data) and np.array_equal(target, ref.target)
