"""Lowering Python configs into the plain tree Hydra composes (``load_for_hydra``).

Hydra's part is simulated with OmegaConf: ``OmegaConf.create`` of the lowered tree is
what the config source returns, ``OmegaConf.update`` is what an override does, and
nesting the tree under keys is what mounting it in a package does.
"""
from __future__ import annotations

import collections
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError

import alchemy_resolvers  # noqa: F401 - registers the resolvers
from alchemy_resolvers import Param2Tune
from alchemy_resolvers.lowering.lower import compute_pdeps, find_params, load_for_hydra

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alchemy"
FULL = FIXTURES / "configs/mnist/base,sched_from_addon,2xbs,2÷epo/cfg.py"


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_lowered_tree_is_plain_and_resolves_to_the_documented_values() -> None:
    tree = load_for_hydra(str(FULL))

    def plain(v):
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        if isinstance(v, list):
            return all(plain(x) for x in v)
        return v is None or isinstance(v, (bool, int, float, str))

    assert plain(tree)
    assert list(tree) == ["rand_seed", "dt", "loader", "model", "opt", "sched", "log"]
    cfg = OmegaConf.create(tree)
    assert cfg.opt.cls is collections.OrderedDict
    assert (cfg.loader.ini.batch_size, cfg.opt.ini.lr, cfg.model.ini.num_classes) == (256, 0.02, 10)
    assert (cfg.sched.epochs, cfg.sched.warm_epochs, cfg.sched.warm.ini.total_iters) == (15, 2, 2)
    assert (cfg.sched.main.ini.T_max, cfg.log.save_interval) == (13, 3)
    assert cfg.sched.main.cls is collections.Counter


def test_saved_yaml_shows_interpolations_and_loads_back() -> None:
    cfg = OmegaConf.create(load_for_hydra(str(FULL)))
    text = OmegaConf.to_yaml(cfg)
    assert "${alchemy_obj:" in text and "${alchemy_pydep:" in text
    again = OmegaConf.create(text)  # what OmegaConf.load of .hydra/config.yaml does
    assert again.opt.cls is collections.OrderedDict  # same process: objects still there
    assert again.sched.main.ini.T_max == 13


def test_overrides_recompute_deps() -> None:
    cfg = OmegaConf.create(load_for_hydra(str(FULL)))
    OmegaConf.update(cfg, "loader.ini.batch_size", 512)
    OmegaConf.update(cfg, "sched.epochs", 50)
    assert cfg.opt.ini.lr == 0.04
    assert (cfg.sched.warm_epochs, cfg.sched.warm.ini.total_iters, cfg.sched.main.ini.T_max) == (5, 5, 45)
    assert cfg.log.save_interval == 10
    OmegaConf.update(cfg, "sched.warm_epochs", 1)  # overriding a DEP itself pins it
    assert cfg.sched.main.ini.T_max == 49


def test_rel_deps_follow_the_package_the_file_is_mounted_in() -> None:
    lowered = load_for_hydra(str(FULL))
    cfg = OmegaConf.create({"pkg": {"sub": lowered}, "other": 1})
    sub = cfg.pkg.sub
    assert (sub.opt.ini.lr, sub.sched.main.ini.T_max, sub.log.save_interval) == (0.02, 13, 3)
    OmegaConf.update(cfg, "pkg.sub.sched.epochs", 20)
    assert (sub.sched.warm_epochs, sub.sched.main.ini.T_max, sub.log.save_interval) == (2, 18, 4)


def test_composed_addon_deps_use_the_addon_root() -> None:
    addon = load_for_hydra(str(FIXTURES / "configs/addons/linear_warm_cos_sched.py"))
    assert addon["warm_epochs"].endswith(",0}")  # c = the addon's root: 0 levels up
    cfg = OmegaConf.create({"train": {"sched": addon}})
    OmegaConf.update(cfg, "train.sched.epochs", 100)
    assert (cfg.train.sched.warm_epochs, cfg.train.sched.main.ini.T_max) == (10, 90)


def test_rel_false_dep_reads_the_whole_config(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.py", """\
        from alchemy_resolvers import Config, DEP
        cfg = Config()
        cfg.n = 2
        cfg.a.b = DEP(lambda c: c.top * 10, rel=False)
        cfg.a.c = DEP(lambda c: c.n + 1)
        """)
    lowered = load_for_hydra(str(path))
    assert lowered["a"]["b"].endswith(",-1}") and lowered["a"]["c"].endswith(",1}")
    cfg = OmegaConf.create({"top": 4, "pkg": lowered})
    assert (cfg.pkg.a.b, cfg.pkg.a.c) == (40, 3)


def test_dep_cycle_names_the_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.py", """\
        from alchemy_resolvers import Config, DEP
        cfg = Config()
        cfg.a = DEP(lambda c: c.b + 1)
        cfg.b = DEP(lambda c: c.x.c * 2)
        cfg.x.c = DEP(lambda c: c.a)
        """)
    cfg = OmegaConf.create(load_for_hydra(str(path)))
    with pytest.raises(InterpolationResolutionError) as info:
        _ = cfg.a
    assert "DepCycleError" in str(info.value)
    assert "dependency cycle: a -> b -> x.c -> a" in str(info.value)


def test_failing_dep_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.py", """\
        from alchemy_resolvers import Config, DEP
        cfg = Config()
        cfg.n = 0
        cfg.opt.lr = DEP(lambda c: 1 / c.n)
        cfg.opt.wd = DEP(lambda c: c.missing_key)
        """)
    cfg = OmegaConf.create(load_for_hydra(str(path)))
    with pytest.raises(InterpolationResolutionError) as info:
        _ = cfg.opt.lr
    msg = str(info.value)
    assert "DepError" in msg and "`opt.lr`" in msg and str(path) in msg and "ZeroDivisionError" in msg
    with pytest.raises(InterpolationResolutionError, match="missing_key"):
        _ = cfg.opt.wd


def test_values_objects_tuples_and_passthrough_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.py", """\
        # @package _global_
        import enum
        from fractions import Fraction
        from alchemy_resolvers import Config, DEP
        class Color(enum.Enum):
            RED = 1
        cfg = Config()
        cfg.defaults = ['_self_', {'db': 'mysql'}]
        cfg.hydra.job.chdir = False
        cfg.tup = (1, (2, 3))
        cfg.frac = Fraction(1, 3)
        cfg.color = Color.RED
        cfg.leaf = {'a': 1, 'b': [Fraction(1, 2)]}
        cfg.empty.override()
        cfg.interp = '${tup}'
        cfg.sched = DEP(lambda c: {'type': 'Poly', 'end': len(c.tup)})
        """)
    lowered = load_for_hydra(str(path))
    assert lowered["defaults"] == ["_self_", {"db": "mysql"}]
    assert lowered["hydra"] == {"job": {"chdir": False}}
    assert lowered["tup"] == [1, [2, 3]]  # OmegaConf 2.3 has no tuples
    assert lowered["empty"] == {}
    cfg = OmegaConf.create(lowered)
    from fractions import Fraction

    assert cfg.frac == Fraction(1, 3) and cfg.color.name == "RED"
    assert cfg.leaf.b[0] == Fraction(1, 2)
    assert cfg.interp == [1, [2, 3]]
    assert isinstance(cfg.sched, DictConfig) and cfg.sched.end == 2  # a DEP's dict is a node


def test_params_are_grid_axes_in_definition_order() -> None:
    path = FIXTURES / "configs/tune/tune_bs_epoch,subject_to/cfg.py"
    cfg = OmegaConf.create({"pkg": load_for_hydra(str(path))})
    params = find_params(cfg)
    assert [k for k, _ in params] == ["pkg.loader.ini.batch_size", "pkg.sched.epochs"]
    bs, epochs = params[0][1], params[1][1]
    assert isinstance(bs, Param2Tune) and bs.optional_values == [128, 256, 512]
    bs.cur_val = 512  # the very objects the file's constraint reads
    assert not epochs.subject_to(5)
    with pytest.raises(InterpolationResolutionError) as info:
        _ = cfg.pkg.sched.epochs
    msg = str(info.value)
    assert "`pkg.sched.epochs` is a Param2Tune" in msg and "hydra/sweeper=alchemy" in msg and str(path) in msg
    # What the sweeper does per job: override the axes with values, DEPs follow.
    OmegaConf.update(cfg, "pkg.loader.ini.batch_size", 256)
    OmegaConf.update(cfg, "pkg.sched.epochs", 15)
    assert (cfg.pkg.opt.ini.lr, cfg.pkg.sched.main.ini.T_max) == (0.02, 13)


def test_definition_order_beats_tree_order(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.py", """\
        from alchemy_resolvers import Cfg2Tune, Param2Tune
        cfg = Cfg2Tune()
        cfg.a.x = 1
        cfg.b.y = Param2Tune([1, 2])
        cfg.a.z = Param2Tune([3, 4])
        """)
    params = find_params(OmegaConf.create(load_for_hydra(str(path))))
    assert [k for k, _ in params] == ["b.y", "a.z"]


def test_p_dep_resolves_and_compute_pdeps_gives_job_values(tmp_path: Path) -> None:
    path = write(tmp_path, "cfg.py", """\
        from alchemy_resolvers import Cfg2Tune, Param2Tune, P_DEP
        cfg = Cfg2Tune()
        cfg.bs = 8
        cfg.opt.lr = P_DEP(lambda c: c.bs / 8 * 0.01)
        cfg.sched = P_DEP(lambda c: {'end': c.bs * 10})
        @cfg.set_P_DEP()
        def tag(c):
            return f'bs{c.bs}'
        """)
    cfg = OmegaConf.create(load_for_hydra(str(path)))
    assert cfg.opt.lr == 0.01
    OmegaConf.update(cfg, "bs", 16)
    assert compute_pdeps(cfg) == {"opt.lr": 0.02, "sched": {"end": 160}, "tag": "bs16"}


def test_tokens_are_the_same_in_a_fresh_process() -> None:
    here = load_for_hydra(str(FULL))
    code = (
        "import json, sys; from alchemy_resolvers.lowering.lower import load_for_hydra; "
        "print(json.dumps(load_for_hydra(sys.argv[1])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(FULL)], capture_output=True, text=True, check=True, cwd="/"
    ).stdout
    assert json.loads(out) == json.loads(json.dumps(here))


def test_yaml_and_foreign_files_load_too(tmp_path: Path) -> None:
    yaml_file = write(tmp_path, "c.yaml", "a: 1\nb: ${dep:c.a + 1}\n")
    mm = write(tmp_path, "mm.py", "model = dict(type='R', depth=50)\nsizes = (1, 2)\n")
    assert OmegaConf.create(load_for_hydra(str(yaml_file))).b == 2
    assert load_for_hydra(str(mm)) == {"model": {"type": "R", "depth": 50}, "sizes": [1, 2]}


def test_dep_strings_in_a_composed_py_addon_use_the_addon_root(tmp_path: Path) -> None:
    write(tmp_path, "addon.py", """\
        from alchemy_resolvers import Config
        cfg = Config()
        cfg.epochs = 30
        cfg.warm = '${dep:round(0.1 * c.epochs)}'
        cfg.main.T_max = '$<dep:c.epochs - c.warm>'
        """)
    path = write(tmp_path, "cfg.py", """\
        from alchemy_resolvers import Config
        cfg = Config()
        cfg.epochs = 1
        cfg.train.sched = Config('addon.py')
        """)
    cfg = OmegaConf.create({"pkg": load_for_hydra(str(path))})
    assert (cfg.pkg.train.sched.warm, cfg.pkg.train.sched.main.T_max) == (3, 27)
    OmegaConf.update(cfg, "pkg.train.sched.epochs", 50)
    assert (cfg.pkg.train.sched.warm, cfg.pkg.train.sched.main.T_max) == (5, 45)


# ------------------------------------------------------- what the config source serves


def test_served_python_config_runs_once_and_callers_get_copies(tmp_path: Path) -> None:
    import os

    from alchemy_resolvers.lowering.config_dir import load_config_file

    log = tmp_path / "runs.log"
    (tmp_path / "base.py").write_text("from alchemy_resolvers import Config\ncfg = Config()\ncfg.a = 1\n")
    cfg_py = tmp_path / "cfg.py"
    cfg_py.write_text(
        "from alchemy_resolvers import Config\n"
        f"open({str(log)!r}, 'a').write('x\\n')\n"
        "cfg = Config(caps='base.py')\ncfg.b = 2\n"
    )
    first = load_config_file(str(cfg_py))
    first["b"] = "changed by a caller"
    assert load_config_file(str(cfg_py)) == {"a": 1, "b": 2}
    assert log.read_text().count("x") == 1
    # A changed base (size and mtime) is noticed: the file runs again.
    (tmp_path / "base.py").write_text("from alchemy_resolvers import Config\ncfg = Config()\ncfg.a = 10\n")
    st = os.stat(tmp_path / "base.py")
    os.utime(tmp_path / "base.py", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert load_config_file(str(cfg_py)) == {"a": 10, "b": 2}
    assert log.read_text().count("x") == 2


def test_one_yaml_loader_with_omegaconf_rules(tmp_path: Path) -> None:
    from alchemy_resolvers.loading.alchemy import load_tree
    from alchemy_resolvers.lowering.config_dir import load_config_file

    (tmp_path / "c.yaml").write_text("lr: 1e-3\nday: 2024-01-31\n")
    (tmp_path / "child.py").write_text("from alchemy_resolvers import Config\ncfg = Config(caps='c.yaml')\n")
    for tree in (load_config_file(str(tmp_path / "c.yaml")), load_tree(tmp_path / "child.py"),
                 load_config_file(str(tmp_path / "child.py"))):
        assert tree["lr"] == 0.001 and tree["day"] == "2024-01-31"


def test_tunable_config_gets_the_guard_and_the_sweeper_unless_it_chooses_one() -> None:
    from alchemy_resolvers.lowering.config_dir import REQUIRE_MULTIRUN_CALLBACK, with_multirun_guard

    tree = {"a": "${alchemy_param:p0}"}
    out = with_multirun_guard(tree)
    assert out["hydra"]["callbacks"]["alchemy_require_multirun"]["_target_"] == REQUIRE_MULTIRUN_CALLBACK
    assert out["defaults"] == ["_self_", {"override /hydra/sweeper": "alchemy"}]
    own = {"a": "${alchemy_param:p0}", "defaults": [{"override hydra/sweeper": "basic"}, "_self_"]}
    assert with_multirun_guard(own)["defaults"] == own["defaults"]
    assert with_multirun_guard({"a": 1}) == {"a": 1}


def test_guard_names_a_class_that_exists() -> None:
    import importlib

    from alchemy_resolvers.lowering.config_dir import REQUIRE_MULTIRUN_CALLBACK

    module, _, name = REQUIRE_MULTIRUN_CALLBACK.rpartition(".")
    assert hasattr(importlib.import_module(module), name)
