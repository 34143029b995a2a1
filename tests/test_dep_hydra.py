"""``${dep:...}``, ``$<dep:...>`` and ``${rel:...}`` in a real Hydra app."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from conftest import output_lines, run_app


def resolved(proc) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in output_lines(proc, "RESOLVED ")]


@pytest.fixture
def app(app_copy) -> Path:
    return app_copy("dep_app")


def run(app: Path, *args: str, flags: tuple = (), check: bool = True):
    """Run the app; ``flags`` (``-m``, ``--config-name X``) go first, as argparse wants."""
    return run_app(app / "app.py", [*flags, "hydra.run.dir=out", "hydra.sweep.dir=multi", *args], cwd=app, check=check)


def test_defaults_resolve_relative_to_mount_point(app: Path) -> None:
    (cfg,) = resolved(run(app))
    sched = cfg["sched"]
    assert (sched["warm_epochs"], sched["main"]["T_max"]) == (3, 27)
    assert sched["same_epochs"] == 30
    assert sched["first_milestone"] == 5  # comprehension + comparison via $<dep:...>
    assert cfg["opt"]["lr"] == pytest.approx(0.05)
    assert cfg["opt"]["lr_tag"] == "small"


def test_overrides_recompute_dependencies(app: Path) -> None:
    (cfg,) = resolved(run(app, "sched.epochs=15", "loader.batch_size=256"))
    assert (cfg["sched"]["warm_epochs"], cfg["sched"]["main"]["T_max"]) == (2, 13)
    assert cfg["sched"]["same_epochs"] == 15
    assert cfg["opt"]["lr"] == pytest.approx(0.1)
    assert cfg["opt"]["lr_tag"] == "big"


def test_option_mounted_at_another_package_from_command_line(app: Path) -> None:
    (cfg,) = resolved(run(app, "~sched", "+sched@train.sched=warm_cos", "train.sched.epochs=15"))
    assert "sched" not in cfg
    assert (cfg["train"]["sched"]["warm_epochs"], cfg["train"]["sched"]["main"]["T_max"]) == (2, 13)


def test_option_mounted_at_another_package_in_defaults_list(app: Path) -> None:
    (cfg,) = resolved(run(app, flags=("--config-name", "nested")))
    assert (cfg["train"]["sched"]["warm_epochs"], cfg["train"]["sched"]["main"]["T_max"]) == (2, 18)


def test_package_header_moves_the_relative_root(app: Path) -> None:
    (cfg,) = resolved(run(app, "sched=headered"))
    assert cfg["elsewhere"]["sched"]["warm_epochs"] == 1


def test_searchpath_dir_in_primary_config(app: Path) -> None:
    (cfg,) = resolved(run(app, flags=("--config-name", "with_searchpath")))
    assert cfg["opt"]["eps"] == pytest.approx(1e-6)
    assert cfg["opt"]["beta_gap"] == pytest.approx(0.099)


@pytest.mark.parametrize("scheme", ["file", "alchemy"])
def test_searchpath_dir_from_command_line(app: Path, scheme: str) -> None:
    (cfg,) = resolved(
        run(app, "+opt=adam", f"hydra.searchpath=[{scheme}://{app / 'extra_conf'}]", flags=("--config-name", "bare"))
    )
    assert cfg["opt"]["eps"] == pytest.approx(1e-6)


def test_config_dir_flag_is_served_with_relative_roots(app: Path) -> None:
    (cfg,) = resolved(run(app, "+opt=adam", flags=("--config-name", "bare", "--config-dir", str(app / "extra_conf"))))
    assert cfg["opt"]["eps"] == pytest.approx(1e-6)


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_multirun_each_job_gets_its_own_values(app: Path, launcher: str) -> None:
    proc = run(app, f"hydra/launcher={launcher}", "sched.epochs=15,30", "loader.batch_size=128,256", flags=("-m",))
    if launcher == "basic":
        got = resolved(proc)
    else:  # joblib workers print into their own processes' stdout too, but may interleave
        got = [json.loads(line) for line in output_lines(proc, "RESOLVED ")]
    combos = sorted(
        (c["sched"]["epochs"], c["loader"]["batch_size"], c["sched"]["warm_epochs"], c["sched"]["main"]["T_max"], c["opt"]["lr"])
        for c in got
    )
    assert combos == [
        (15, 128, 2, 13, 0.05),
        (15, 256, 2, 13, 0.1),
        (30, 128, 3, 27, 0.05),
        (30, 256, 3, 27, 0.1),
    ]


def test_saved_config_keeps_dependency_and_reloads(app: Path) -> None:
    run(app, "sched.epochs=15")
    from omegaconf import OmegaConf

    import alchemy_resolvers  # noqa: F401  registers dep/rel

    saved = OmegaConf.load(app / "out" / ".hydra" / "config.yaml")
    assert "${dep:" in OmegaConf.to_yaml(saved)
    assert saved.sched.warm_epochs == 2
    assert saved.sched.main.T_max == 13


def test_cycle_is_reported_with_keys(app: Path) -> None:
    proc = run(app, flags=("--config-name", "cycle"), check=False)
    assert proc.returncode != 0
    assert "dependency cycle" in proc.stderr
    assert "a -> b -> a" in proc.stderr or "b -> a -> b" in proc.stderr


def test_missing_key_names_key_and_what_exists(app: Path) -> None:
    proc = run(app, flags=("--config-name", "missing"), check=False)
    assert proc.returncode != 0
    assert "sched.T_end" in proc.stderr
    assert "`c.sched.epoch` does not exist" in proc.stderr
    assert "epochs" in proc.stderr and "warm_epochs" in proc.stderr


def test_unsafe_expression_is_refused_before_running_anything(app: Path) -> None:
    proc = run(app, flags=("--config-name", "unsafe"), check=False)
    assert proc.returncode != 0
    assert "in `x`" in proc.stderr
    assert "not allowed" in proc.stderr


def test_command_line_dep_sees_whole_config(app: Path) -> None:
    (cfg,) = resolved(run(app, "+total='${dep:c.sched.epochs * 2}'"))
    assert cfg["total"] == 60
