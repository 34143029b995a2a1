"""``python -m alchemy_resolvers.convert SRC DST`` between AlchemyCat/MMCV/YACS/YAML."""
from __future__ import annotations

import collections
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

import alchemy_resolvers  # noqa: F401 - registers the resolvers
from alchemy_resolvers.loading.annotate import annotate_tree
from alchemy_resolvers.lowering.lower import load_config
from alchemy_resolvers.convert import convert, main

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alchemy"
FULL = FIXTURES / "configs/mnist/base,sched_from_addon,2xbs,2÷epo/cfg.py"

SRC_YAML = """\
defaults:
  - _self_
model:
  depth: 50
  tags: [a, b]
  name: ${model.depth}x
sched:
  epochs: 30
  warm: ${dep:round(0.1 * c.sched.epochs)}
  main: {T_max: "$<dep:c.sched.epochs - c.sched.warm>"}
  empty: {}
  "bad key": 1
  flag: ${dep:'c.sched.epochs > 20'}
"""


def run_convert(src: Path, dst: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "alchemy_resolvers.convert", str(src), str(dst)],
        cwd=str(cwd), capture_output=True, text=True,
    )


def body(path: Path) -> dict:
    """The YAML file's content, header comments aside."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def resolved(path: Path) -> dict:
    """What Hydra would see: the file annotated by our loader, then resolved."""
    return OmegaConf.to_container(OmegaConf.create(annotate_tree(body(path))), resolve=True)


def test_cli_py_to_yaml_computes_python_deps_and_says_so(tmp_path: Path) -> None:
    dst = tmp_path / "out" / "full.yaml"
    proc = run_convert(FULL, dst, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "opt.ini.lr: Python DEP written as its computed value" in proc.stderr
    text = dst.read_text(encoding="utf-8")
    assert "# NOTE opt.ini.lr: Python DEP written as its computed value" in text
    data = body(dst)
    assert data["opt"] == {"cls": "collections.OrderedDict", "ini": {"lr": 0.02}}
    assert data["sched"]["main"] == {"cls": "collections.Counter", "ini": {"T_max": 13}}
    assert (data["sched"]["warm_epochs"], data["log"]["save_interval"]) == (2, 3)
    assert data["dt"]["cls"] == "__alchemy_config__.MNIST"  # defined in the config: named only
    assert " at 0x" not in text
    # py -> yaml -> load: the values a user reads are the same (objects aside).
    expected, got = load_config(FULL), resolved(dst)
    assert got["loader"] == expected.loader.to_dict() and got["log"] == expected.log.to_dict()
    assert got["opt"]["ini"] == expected.opt.ini.to_dict()
    assert got["sched"]["main"]["ini"] == expected.sched.main.ini.to_dict()
    assert got["sched"]["warm"]["ini"] == expected.sched.warm.ini.to_dict()


def test_yaml_to_py_to_yaml_is_the_same_yaml(tmp_path: Path) -> None:
    src = tmp_path / "src.yaml"
    src.write_text(SRC_YAML, encoding="utf-8")
    direct, as_py, back = tmp_path / "direct.yaml", tmp_path / "cfg.py", tmp_path / "back.yaml"
    for a, b in ((src, direct), (src, as_py), (as_py, back)):
        assert main([str(a), str(b)]) == 0
    py_text = as_py.read_text(encoding="utf-8")
    assert "from alchemy_resolvers import Config" in py_text and "cfg = Config()" in py_text
    assert "cfg.sched.warm = \"${dep:'round(0.1 * c.sched.epochs)'}\"" in py_text
    assert body(back) == body(direct)
    assert list(body(back)) == ["defaults", "model", "sched"]
    assert resolved(back) == resolved(src)
    values = resolved(back)
    assert values["sched"] == {"epochs": 30, "warm": 3, "main": {"T_max": 27}, "empty": {}, "bad key": 1, "flag": True}
    assert values["model"]["name"] == "50x"


def test_composed_yaml_deps_keep_their_root(tmp_path: Path) -> None:
    (tmp_path / "sched.yaml").write_text("epochs: 20\nwarm: ${dep:c.epochs // 10}\n", encoding="utf-8")
    (tmp_path / "cfg.py").write_text(textwrap.dedent("""\
        from alchemy_resolvers import Config
        cfg = Config()
        cfg.train.sched = Config('sched.yaml')
        cfg.top = 1
        """), encoding="utf-8")
    convert(str(tmp_path / "cfg.py"), str(tmp_path / "out.yaml"))
    data = body(tmp_path / "out.yaml")
    assert data["train"]["sched"]["warm"] == "${dep:'c.epochs // 10',0}"  # c stays the addon
    assert resolved(tmp_path / "out.yaml")["train"]["sched"]["warm"] == 2


def test_python_values_round_trip_through_py(tmp_path: Path) -> None:
    (tmp_path / "src.py").write_text(textwrap.dedent("""\
        import collections
        from alchemy_resolvers import Config, DEP
        cfg = Config()
        cfg.cls = collections.OrderedDict
        cfg.fn = collections.namedtuple
        cfg.tup = (1, (2,), 'x')
        cfg.nums = [1.5, float('inf'), None, True]
        cfg.whole.override()
        cfg.whole.k = {'a': [1, 2]}
        cfg.dep = DEP(lambda c: len(c.tup))
        """), encoding="utf-8")
    convert(str(tmp_path / "src.py"), str(tmp_path / "out.py"))
    text = (tmp_path / "out.py").read_text(encoding="utf-8")
    assert "import collections" in text and "cfg.whole.override()" in text
    assert "# NOTE dep: Python DEP written as its computed value" in text
    cfg = load_config(tmp_path / "out.py")
    assert cfg.cls is collections.OrderedDict
    assert cfg.fn is collections.namedtuple
    assert cfg.tup == [1, [2], "x"] and "cfg.tup = (1, (2,), 'x')" in text and cfg.nums == [1.5, float("inf"), None, True]
    assert cfg.whole.k == {"a": [1, 2]} and cfg.dep == 3
    assert "cfg.whole.k = {'a': [1, 2]}" in text  # a dict leaf stays a leaf


def test_mmcv_to_yaml(tmp_path: Path) -> None:
    (tmp_path / "base.py").write_text("model = dict(type='R', depth=50, sizes=(1, 2))\n", encoding="utf-8")
    (tmp_path / "child.py").write_text("_base_ = './base.py'\nmodel = dict(depth=101)\n", encoding="utf-8")
    convert(str(tmp_path / "child.py"), str(tmp_path / "out.yml"))
    assert body(tmp_path / "out.yml") == {"model": {"type": "R", "depth": 101, "sizes": [1, 2]}}


def test_tunable_config_is_refused(tmp_path: Path) -> None:
    src = FIXTURES / "configs/tune/tune_bs_epoch/cfg.py"
    proc = run_convert(src, tmp_path / "out.yaml", tmp_path)
    assert proc.returncode == 1
    assert "`loader.ini.batch_size` is a Param2Tune" in proc.stderr
    assert not (tmp_path / "out.yaml").exists()


def test_unknown_target_extension(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(FULL), str(tmp_path / "out.toml")]) == 1
    assert ".yaml, .yml or .py" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".yaml", ".py"])
def test_yacs_source(tmp_path: Path, suffix: str) -> None:
    pytest.importorskip("yacs")
    (tmp_path / "defaults.py").write_text(textwrap.dedent("""\
        from yacs.config import CfgNode as CN
        _C = CN()
        _C.SOLVER = CN()
        _C.SOLVER.LR = 0.1
        _C.SOLVER.STEPS = (10, 20)
        """), encoding="utf-8")
    out = tmp_path / f"out{suffix}"
    convert(str(tmp_path / "defaults.py"), str(out))
    assert load_config(out).SOLVER.to_dict() == {"LR": 0.1, "STEPS": [10, 20]}
