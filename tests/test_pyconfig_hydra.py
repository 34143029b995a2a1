"""Python (AlchemyCat-style) config files served to a real Hydra app by ``alchemy://``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from omegaconf import OmegaConf

from conftest import TESTS_DIR, output_lines, run_app

ALCHEMY_DOCS = TESTS_DIR / "fixtures" / "alchemy"


def resolved(proc) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in output_lines(proc, "RESOLVED ")]


@pytest.fixture
def app(app_copy) -> Path:
    return app_copy("py_app")


def run(app: Path, *args: str, flags: tuple = (), check: bool = True):
    return run_app(app / "app.py", [*flags, "hydra.run.dir=out", "hydra.sweep.dir=multi", *args], cwd=app, check=check)


def docs(name: str) -> tuple:
    """Flags that make an AlchemyCat doc example the primary config."""
    return ("--config-dir", str(ALCHEMY_DOCS), "--config-name", name)


def test_alchemycat_mnist_example_with_documented_values(app: Path) -> None:
    (cfg,) = resolved(run(app, flags=docs("configs/mnist/base/cfg")))
    assert cfg["model"]["ini"]["num_classes"] == 10
    assert cfg["opt"]["ini"]["lr"] == pytest.approx(0.01)
    assert cfg["sched"]["warm_epochs"] == 3
    assert cfg["sched"]["warm"]["ini"]["total_iters"] == 3
    assert cfg["sched"]["main"]["ini"]["T_max"] == 27
    assert cfg["log"]["save_interval"] == 6


def test_override_recomputes_python_dependencies(app: Path) -> None:
    (cfg,) = resolved(run(app, "loader.ini.batch_size=256", "sched.epochs=15", flags=docs("configs/mnist/base/cfg")))
    assert cfg["opt"]["ini"]["lr"] == pytest.approx(0.02)
    assert (cfg["sched"]["warm_epochs"], cfg["sched"]["main"]["ini"]["T_max"], cfg["log"]["save_interval"]) == (2, 13, 3)


def test_composed_addon_with_caps_chain_2xbs_half_epochs(app: Path) -> None:
    (cfg,) = resolved(run(app, flags=docs("configs/mnist/base,sched_from_addon,2xbs,2÷epo/cfg")))
    assert cfg["loader"]["ini"]["batch_size"] == 256
    assert cfg["opt"]["ini"]["lr"] == pytest.approx(0.02)
    sched = cfg["sched"]
    assert (sched["epochs"], sched["warm_epochs"], sched["warm"]["ini"]["total_iters"], sched["main"]["ini"]["T_max"]) == (15, 2, 2, 13)
    assert cfg["log"]["save_interval"] == 3


def test_python_group_option_mounted_with_rel_root(app: Path) -> None:
    (cfg,) = resolved(run(app, "model.width=32"))
    model = cfg["model"]
    assert (model["out_channels"], model["name"], model["total"]) == (256, "resnet18", 256)
    assert model["norm"] == "<object OrderedDict>"
    (moved,) = resolved(run(app, "~model", "+model@net.backbone=resnet"))
    assert moved["net"]["backbone"]["out_channels"] == 512


def test_defaults_list_mixes_yaml_and_python_options(app: Path) -> None:
    (cfg,) = resolved(run(app, "model=vit", "sched=headered"))
    assert cfg["model"]["out_channels"] == 768
    assert cfg["elsewhere"]["sched"]["warm_epochs"] == 1


def test_dir_names_with_commas_equals_and_spaces(app: Path) -> None:
    proc = run(app, flags=("--config-name", "exp/base,lr=0.1 big/cfg"))
    (cfg,) = resolved(proc)
    assert cfg["opt"]["lr"] == pytest.approx(0.1)
    assert cfg["model"]["name"] == "vit"
    assert json.loads(output_lines(proc, "CHECKS ")[0]) == {"opt_cls_is_ordered_dict": True}


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_python_deps_and_objects_in_worker_processes(app: Path, launcher: str) -> None:
    extra = ["hydra.launcher.timeout_min=5"] if launcher == "submitit_local" else []
    flags = ("-m", "--config-name", "exp/base,lr=0.1 big/cfg")
    proc = run(app, f"hydra/launcher={launcher}", "loader.batch_size=64,128", *extra, flags=flags)
    if launcher == "submitit_local":
        got = []
        for log in sorted((app / "multi").rglob("*_log.out")):
            got += [json.loads(line[len("RESOLVED "):]) for line in log.read_text().splitlines() if line.startswith("RESOLVED ")]
            checks = [line for line in log.read_text().splitlines() if line.startswith("CHECKS ")]
            assert checks == ['CHECKS {"opt_cls_is_ordered_dict": true}']
    else:
        got = resolved(proc)
        assert output_lines(proc, "CHECKS ") == ['{"opt_cls_is_ordered_dict": true}'] * 2
    assert sorted((c["loader"]["batch_size"], c["opt"]["lr"]) for c in got) == [(64, 0.1), (128, 0.2)]


def test_saved_config_loads_with_plain_omegaconf(app: Path) -> None:
    run(app, flags=("--config-name", "exp/base,lr=0.1 big/cfg"))
    saved = OmegaConf.load(app / "out" / ".hydra" / "config.yaml")
    text = OmegaConf.to_yaml(saved)
    assert "${alchemy_obj:" in text and "${alchemy_pydep:" in text
    assert saved.loader.batch_size == 64


@pytest.mark.parametrize(
    "name, fragments",
    [
        ("errors/cycle_a", ["cycle", "cycle_a.py", "cycle_b.py"]),
        ("errors/missing_caps", ["no_such_base.py", "missing_caps.py"]),
        ("errors/syntax", ["syntax.py", "line 4"]),
        ("errors/raising_dep", ["ratio", "raising_dep.py", "ZeroDivisionError"]),
    ],
)
def test_errors_name_file_and_key(app: Path, name: str, fragments: List[str]) -> None:
    proc = run(app, flags=("--config-name", name), check=False)
    assert proc.returncode != 0
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


def test_override_of_missing_key_is_refused(app: Path) -> None:
    proc = run(app, "model.widht=32", check=False)
    assert proc.returncode != 0
    assert "model.widht" in proc.stderr


def test_single_run_of_tunable_config_fails_at_start_even_if_unread(app: Path) -> None:
    proc = run_app(
        app / "app.py", ["--config-name", "tune/cfg", "hydra.run.dir=out"], cwd=app, check=False,
        env={"PY_APP_READ_NOTHING": "1"},
    )
    assert proc.returncode != 0
    assert "TASK RAN" not in proc.stdout
    assert "`loader.batch_size`" in proc.stderr and "-m hydra/sweeper=alchemy" in proc.stderr


# AlchemyCat's documentation examples through Hydra: (config, {dotted key: documented value}).
DOC_EXAMPLES = [
    ("configs/mnist/plain_usage/cfg", {"loader.ini": {"batch_size": 128, "num_workers": 2}}),
    ("configs/mnist/plain_usage,2xbs/cfg", {"loader.ini": {"batch_size": 256, "num_workers": 2}, "opt.ini.lr": 0.02}),
    ("configs/mnist/plain_usage,override_loader/cfg",  # override(): the base's subtree is replaced
     {"loader.ini": {"shuffle": False, "drop_last": False}, "rand_seed": 0, "sched.epochs": 30}),
    ("configs/mnist/plain_usage,cifar10/cfg",  # multiple caps: base, then a patch
     {"dt.cls": "<object CIFAR10>", "dt.ini.root": "/tmp/data", "loader.ini.batch_size": 128}),
    ("configs/mnist/base/cfg",  # dependencies with priorities
     {"sched.warm_epochs": 3, "sched.warm.ini.total_iters": 3, "sched.main.ini.T_max": 27,
      "opt.ini.lr": 0.01, "model.ini.num_classes": 10, "log.save_interval": 6}),
    ("configs/mnist/base,2xbs/cfg", {"loader.ini.batch_size": 256, "opt.ini.lr": 0.02}),
    ("configs/mnist/base,sched_from_addon/cfg",  # composition of the scheduler addon
     {"sched.epochs": 30, "sched.warm_epochs": 3, "sched.main.ini.T_max": 27, "log.save_interval": 6}),
    ("configs/mnist/base,sched_from_addon,2xbs,2÷epo/cfg",
     {"opt.ini.lr": 0.02, "sched.epochs": 15, "sched.warm.ini.total_iters": 2, "sched.main.ini.T_max": 13}),
]


def _select(tree: Dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree[part]
    return tree


@pytest.mark.parametrize("name, expected", DOC_EXAMPLES, ids=[n.split("/")[2] for n, _ in DOC_EXAMPLES])
def test_alchemycat_doc_examples_single_run(app: Path, name: str, expected: Dict[str, Any]) -> None:
    (cfg,) = resolved(run(app, flags=docs(name)))
    for key, value in expected.items():
        assert _select(cfg, key) == (pytest.approx(value) if isinstance(value, float) else value), key


def test_alchemycat_doc_examples_in_a_multirun(app: Path) -> None:
    """The full example swept over the batch size: every job recomputes its DEPs."""
    proc = run(app, "loader.ini.batch_size=128,256,512", flags=("-m",) + docs("configs/mnist/base,sched_from_addon,2xbs,2÷epo/cfg"))
    got = sorted((c["loader"]["ini"]["batch_size"], c["opt"]["ini"]["lr"], c["sched"]["main"]["ini"]["T_max"]) for c in resolved(proc))
    assert got == [(128, 0.01, 13), (256, 0.02, 13), (512, 0.04, 13)]


# ------------------------------------------------------ tunable configs in a sweep


def test_sweep_executes_the_python_config_once(app: Path, tmp_path: Path) -> None:
    """12 jobs, Hydra's basic launcher (in-process): the .py config runs once (Hydra's
    start-up composition, then every job's composition served from the source's cache)."""
    log = tmp_path / "exec.log"
    proc = run_app(
        app / "app.py", ["-m", "--config-name", "counted/cfg", "hydra/sweeper=alchemy", "hydra.sweep.dir=multi"],
        cwd=app, env={"ALCHEMY_EXEC_LOG": str(log)},
    )
    assert len(resolved(proc)) == 12
    assert len(log.read_text().splitlines()) == 1


def test_tunable_primary_config_sweeps_with_m_alone(app: Path) -> None:
    proc = run_app(app / "app.py", ["-m", "--config-name", "counted/cfg", "hydra.sweep.dir=multi"], cwd=app)
    got = sorted((c["loader"]["batch_size"], c["sched"]["epochs"]) for c in resolved(proc))
    assert got == sorted((b, e) for b in (32, 64, 128) for e in (1, 2, 3, 4))


def test_tunable_group_options_sweep(app: Path) -> None:
    # In its group's package: no hydra key, nothing added; the sweeper is chosen as usual.
    proc = run(app, "+tunegrp=small", "hydra/sweeper=alchemy", flags=("-m",))
    assert sorted(c["tunegrp"]["width"] for c in resolved(proc)) == [8, 16]
    # At the root (`# @package _global_`): it picks the alchemy sweeper itself, and an
    # explicit choice on the command line still works.
    for extra in ((), ("hydra/sweeper=alchemy",)):
        proc = run(app, "+exp_tune=wide", *extra, flags=("-m",))
        assert sorted(c["loader"]["batch_size"] for c in resolved(proc)) == [16, 48]
