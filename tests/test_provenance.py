"""``.hydra/provenance.yaml``, ``alchemy explain`` and ``alchemy diff`` through real
Hydra apps in subprocesses (tests/apps/py_app/prov_app.py)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from alchemy_resolvers.provenance.attribute import Candidate, attribute, dep_keys, override_keys
from conftest import REPO_ROOT, run_app


@pytest.fixture
def app(app_copy) -> Path:
    return app_copy("py_app")


def run(app: Path, *args: str, flags: tuple = (), env: Dict[str, str] = None) -> None:
    run_app(app / "prov_app.py", [*flags, "hydra.run.dir=out", "hydra.sweep.dir=multi", *args], cwd=app, env=env)


def provenance(job_dir: Path) -> Dict[str, Dict[str, Any]]:
    return yaml.safe_load((job_dir / ".hydra" / "provenance.yaml").read_text())


def sources(job_dir: Path) -> Dict[str, str]:
    return {k: v["source"] for k, v in provenance(job_dir).items()}


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(text))


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "alchemy_resolvers.cli", *args], cwd=str(cwd),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_python_line_yaml_file_override_and_structured_default(app: Path) -> None:
    run(app, "model.depth=50")
    got = sources(app / "out")
    resnet = app / "conf" / "model" / "resnet.py"
    assert got["model.width"] == f"conf/model/resnet.py:{line_of(resnet, 'cfg.width')}"
    assert got["model.name"] == f"conf/model/resnet.py:{line_of(resnet, 'cfg.name')}"
    assert got["model.depth"] == "override model.depth=50"
    assert got["loader.batch_size"] == "conf/prov.yaml"
    assert got["trainer.lr"] == "default of TrainConf"
    assert provenance(app / "out")["model.name"]["value"] == "resnet50"


def test_caps_base_and_dep_with_its_inputs(app: Path) -> None:
    run(app, flags=("--config-name", "prov_caps/cfg"))
    got = sources(app / "out")
    cfg = app / "conf" / "prov_caps" / "cfg.py"
    assert got["opt.lr"] == f"conf/prov_caps/cfg.py:{line_of(cfg, 'cfg.opt.lr')}"
    assert got["opt.momentum"] == "conf/prov_caps/base.yaml (caps of conf/prov_caps/cfg.py)"
    assert got["data.bs"] == "conf/prov_caps/base.yaml (caps of conf/prov_caps/cfg.py)"
    assert got["opt.scaled"] == "dep ${dep:c.opt.lr * c.data.bs} from [data.bs, opt.lr]"
    assert provenance(app / "out")["opt.scaled"]["value"] == 16.0


def test_turned_off_by_env(app: Path) -> None:
    run(app, env={"HYDRA_ALCHEMY_PROVENANCE": "0"})
    assert (app / "out" / ".hydra" / "config.yaml").is_file()
    assert not (app / "out" / ".hydra" / "provenance.yaml").exists()


@pytest.mark.parametrize("launcher", ["basic", "alchemy"])
def test_sweep_jobs_and_diff(app: Path, launcher: str) -> None:
    run(app, f"hydra/launcher={launcher}", "model.depth=18,50", flags=("-m",))
    a, b = app / "multi" / "0", app / "multi" / "1"
    assert sources(a)["model.depth"] == "override model.depth=18"  # a sweep axis reads `override`
    if launcher == "basic":
        assert sources(b)["model.width"].startswith("conf/model/resnet.py:")
    else:
        # A job in its own process never executes a Python config file (the config
        # comes composed from the sweep's process), so its lines are not known there yet.
        assert sources(b)["model.width"] == "unknown"
    out = cli("diff", str(a), str(b), cwd=app).stdout
    assert "model.depth" in out and "model.name" in out and "resnet18" in out and "resnet50" in out
    assert "model.width" not in out
    by_name = cli("diff", str(app / "multi"), "model.depth=18", "model.depth=50", cwd=app).stdout
    assert by_name == out


def test_explain_job_dir_and_not_yet_run_config(app: Path) -> None:
    run(app)
    out = cli("explain", str(app / "out"), "trainer", cwd=app).stdout.splitlines()
    assert out[0].split() == ["KEY", "VALUE", "SOURCE"]
    assert [line.split(None, 2) for line in out[1:]] == [
        ["trainer.lr", "0.1", "default of TrainConf"], ["trainer.epochs", "3", "default of TrainConf"]]
    out = cli("explain", "--config-dir", "conf", "--config-name", "prov_caps/cfg", "opt.lr=2",
              "--key", "opt", cwd=app).stdout
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == {"opt.lr", "opt.momentum", "opt.scaled"}
    assert "override opt.lr=2" in rows["opt.lr"]
    assert "64" in rows["opt.scaled"] and "from [data.bs, opt.lr]" in rows["opt.scaled"]


def test_explain_without_provenance_is_one_message(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "alchemy_resolvers.cli", "explain", str(tmp_path)],
                          cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no .hydra/provenance.yaml" in proc.stderr


# ------------------------------------------------------------------- attribution


def test_dep_keys_are_relative_to_the_mount_point() -> None:
    assert dep_keys("c.width * 2", "model.out", 0) == ["model.width"]
    assert dep_keys("c.opt.base * c.data.bs", "opt.lr", 1) == ["data.bs", "opt.base"]
    assert dep_keys("round(c.a.b) + c.a.b.c", "x", 0) == ["a.b.c"]


def test_overrides_of_groups_and_deletions_are_not_value_overrides() -> None:
    got = override_keys(["model=vit", "+a.b=3", "++c=1", "~d", "model.depth=5"], {"model"})
    assert got == {"a.b": "+a.b=3", "c": "++c=1", "model.depth": "model.depth=5"}


def test_ambiguous_or_unmatched_sources_are_unknown() -> None:
    one = Candidate("", {"a": 1, "b": 2}, {"a": "one.yaml", "b": "one.yaml"})
    two = Candidate("", {"a": 1, "b": 3}, {"a": "two.yaml", "b": "two.yaml"})
    got = attribute({"a": 1, "b": 3, "c": 0}, [], set(), [one, two])
    assert got == {"a": "unknown", "b": "two.yaml", "c": "unknown"}


def test_param2tune_axis_under_the_alchemy_sweeper_and_diff_by_combination(app: Path) -> None:
    run(app, flags=("-m", "--config-name", "tune/cfg"))
    sweep = app / "multi"
    cfg = app / "conf" / "tune" / "cfg.py"
    axis = f"sweep axis loader.batch_size (Param2Tune at conf/tune/cfg.py:{line_of(cfg, 'cfg.loader.batch_size')})"
    assert sources(sweep / "batch_size=64")["loader.batch_size"] == axis
    assert sources(sweep / "batch_size=64")["note"] == f"conf/tune/cfg.py:{line_of(cfg, 'cfg.note')}"
    out = cli("diff", str(sweep), "batch_size=64", "batch_size=128", cwd=app).stdout.splitlines()
    assert out[0].split()[:2] == ["KEY", "A"] and len(out) == 2
    assert out[1].split()[:2] == ["loader.batch_size", "64"] and "128" in out[1].split()
