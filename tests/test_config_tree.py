"""The ``Config`` tree and config-file loading, with AlchemyCat's documented behaviour.

The documentation examples live in ``tests/fixtures/alchemy/configs`` in AlchemyCat's
layout (``configs/mnist/base/cfg.py`` ...), with stdlib stand-ins for torch objects.
"""
from __future__ import annotations

import collections
import copy
import os
import pickle
import textwrap
from pathlib import Path

import pytest

from alchemy_resolvers import DEP, P_DEP, Cfg2Tune, Config, Param2Tune
from alchemy_resolvers.loading.alchemy import CapsNotFoundError, load_tree
from alchemy_resolvers.loading.errors import ConfigExecutionError, InheritanceCycleError, UnsupportedConfigError
from alchemy_resolvers.lowering.lower import load_config, lower

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alchemy"


@pytest.fixture
def project(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The AlchemyCat example project, run from its root (as its docs do)."""
    monkeypatch.chdir(FIXTURES)
    return FIXTURES


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ------------------------------------------------------------------ tree semantics


def test_missing_key_is_a_falsy_detached_child_until_written() -> None:
    cfg = Config()
    assert cfg.not_exist == {} and not cfg.not_exist
    assert "not_exist" not in cfg
    cfg.a.b.c = 1
    assert cfg.to_dict() == {"a": {"b": {"c": 1}}}
    assert isinstance(cfg.a.b, Config) and cfg.a.b
    node = cfg.x.y  # read only: nothing attached
    assert "x" not in cfg
    node.z = 2
    assert cfg.x.y.z == 2
    assert cfg["a"]["b"]["c"] == 1 and {**cfg.a.b, "d": 2} == {"c": 1, "d": 2}


def test_only_config_values_are_subtrees_and_dicts_convert_on_construction() -> None:
    cfg = Config({"dt": {"ini": {"root": "/tmp"}}, "lst": [{"a": 1}]})
    assert isinstance(cfg.dt.ini, Config)
    assert type(cfg.lst[0]) is dict  # lists are not entered
    cfg.leaf = {"a": 1, "b": 2}  # a plain dict assigned is a leaf ...
    cfg.dict_update(Config({"leaf": {"c": 3}, "dt": {"ini": {"train": True}}}))
    assert cfg.leaf == {"c": 3}  # ... replaced whole on merge
    assert cfg.dt.ini == {"root": "/tmp", "train": True}  # subtrees merge key by key


def test_merge_replaces_lists_and_override_replaces_subtrees() -> None:
    base = Config()
    base.loader.ini.batch_size = 128
    base.loader.ini.num_workers = 2
    base.aug = [1, 2, 3]
    child = Config()
    child.aug = [4]
    child.loader.ini.override()
    child.loader.ini.shuffle = False
    merged = base | child
    assert merged.to_dict() == {"loader": {"ini": {"shuffle": False}}, "aug": [4]}
    assert base.loader.ini.batch_size == 128  # `|` leaves both operands alone
    child2 = Config()
    child2.loader.empty_leaf()  # "delete" the base's subtree
    base |= child2
    assert base.loader == {} and "loader" in base


def test_incremental_update_only_adds_missing_keys() -> None:
    cfg = Config({"n": -1, "dic": {"sub_num": 30}})
    cfg.dict_update({"n": 0, "dic": {"sub_num": 3, "sub_new": 4}, "new": 1}, incremental=True)
    assert cfg.to_dict() == {"n": -1, "dic": {"sub_num": 30, "sub_new": 4}, "new": 1}


def test_or_operators_follow_alchemycat() -> None:
    cfg = Config({"a": 1, "t": {"x": 1, "y": 1}})
    other = {"a": 2, "t": {"y": 2}}
    assert (cfg | other).to_dict() == {"a": 2, "t": {"x": 1, "y": 2}}
    # AlchemyCat: ``dict | cfg`` equals ``cfg | dict`` (the plain dict's values win).
    assert (other | cfg).to_dict() == {"a": 2, "t": {"x": 1, "y": 2}}
    ident = id(cfg)
    cfg |= other
    assert id(cfg) == ident and cfg.t.y == 2
    cfg.update({"t": {"z": 3}}, new=4)  # update is the recursive update too
    assert cfg.to_dict() == {"a": 2, "t": {"x": 1, "y": 2, "z": 3}, "new": 4}


def test_mounting_a_root_keeps_it_and_a_mounted_subtree_is_copied() -> None:
    indep = Config({"a": 1, "e": {"ee": 5}})
    cfg = Config()
    cfg.i1.i2 = indep
    assert cfg.i1.i2 is indep
    cfg.f1.f2 = indep.e
    assert cfg.f1.f2 == {"ee": 5} and cfg.f1.f2 is not indep.e
    cfg.f1.f2.ee = 6
    assert indep.e.ee == 5


def test_method_names_cannot_be_set_as_attributes() -> None:
    cfg = Config()
    with pytest.raises(AttributeError, match="cfg\\['keys'\\]"):
        cfg.keys = 1
    cfg["keys"] = 1
    assert dict.__getitem__(cfg, "keys") == 1


def test_copy_pickle_and_deepcopy_keep_structure_and_whole_flags() -> None:
    cfg = Config()
    cfg.a.b = [1, 2]
    cfg.w.override()
    cfg.w.x = 1
    shallow = copy.copy(cfg)
    assert shallow == cfg and shallow.a is not cfg.a and shallow.a.b is cfg.a.b
    for clone in (pickle.loads(pickle.dumps(cfg)), copy.deepcopy(cfg)):
        assert clone == cfg and clone.w.is_whole and not clone.a.is_whole
        clone.a.c = 1  # parent links survived: still a working tree
        assert clone.a.c == 1 and "c" not in cfg.a


def test_dep_remembers_its_first_root() -> None:
    indep = Config({"a": 1, "b": 2, "c": {"cc": 3}})
    indep.c.il_rel = DEP(lambda c: c.a - c.b)
    indep.c.il_abs = DEP(lambda c: c.num, rel=False)
    cfg = Config()
    cfg.i1.i2 = indep
    assert cfg.i1.i2.c.il_rel.level == 1  # c = the tree it was first mounted in
    assert cfg.i1.i2.c.il_abs.level == -1  # the whole config
    copied = cfg.branch_copy()
    assert copied.i1.i2.c.il_rel.level == 1


def test_set_dep_uses_the_function_name_and_returns_the_function() -> None:
    cfg = Config()

    @cfg.sched.set_DEP(priority=0)
    def warm_epochs(c):
        return round(0.1 * c.sched.epochs)

    assert callable(warm_epochs) and not isinstance(warm_epochs, DEP)
    dep = cfg.sched.warm_epochs
    assert isinstance(dep, DEP) and dep.priority == 0 and dep.level == 1 and dep.fn is warm_epochs

    @cfg.set_DEP(name="other", rel=False)
    def _f(c):
        return 1

    assert cfg.other.level == -1
    cfg.p = P_DEP(lambda c: 1)
    assert isinstance(cfg.p, DEP) and isinstance(cfg.p, P_DEP)


def test_frozen_config_refuses_writes() -> None:
    cfg = Config({"a": {"b": 1}}).freeze()
    with pytest.raises(RuntimeError, match="frozen"):
        cfg.a.b = 2
    with pytest.raises(RuntimeError, match="frozen"):
        cfg.new.key = 1
    cfg.unfreeze()
    cfg.a.b = 2
    assert cfg.a.b == 2


def test_pretty_print_runs_as_python_for_builtin_leaves() -> None:
    cfg = Config()
    cfg.foo.bar.a = 1
    cfg.bar.foo.b = ["str1", "str2"]
    cfg.whole.override()
    cfg["Invalid Attribute Name"].foo = 10
    text = cfg.to_txt(prefix="new_cfg.")
    assert "cfg.whole.override()" in text and "new_cfg['Invalid Attribute Name'].foo = 10" in text
    scope: dict = {"Config": Config}
    exec(text, scope)  # noqa: S102 - the documented use of to_txt
    assert scope["new_cfg"] == cfg and scope["new_cfg"].whole.is_whole


# ------------------------------------------------------- documentation examples


def test_doc_inheritance_examples(project: Path) -> None:
    base = load_config("configs/mnist/plain_usage/cfg.py")
    new = load_config("configs/mnist/plain_usage,2xbs/cfg.py")
    assert base.loader.ini.to_dict() == {"batch_size": 128, "num_workers": 2}
    assert new.loader.ini.to_dict() == {"batch_size": 256, "num_workers": 2}
    assert new.opt.ini.lr == 0.02
    over = load_config("configs/mnist/plain_usage,override_loader/cfg.py")
    assert over.loader.ini.to_dict() == {"shuffle": False, "drop_last": False}
    assert over.rand_seed == 0 and over.sched.epochs == 30
    assert base.is_frozen


def test_doc_multiple_caps_patch_overrides_dataset(project: Path) -> None:
    cfg = load_config("configs/mnist/plain_usage,cifar10/cfg.py")
    assert cfg.dt.cls.__name__ == "CIFAR10"
    assert set(cfg.dt) == {"cls", "ini"}
    assert set(cfg.dt.ini) == {"root", "transform"}  # `train` of the base is gone
    assert cfg.dt.ini.root == "/tmp/data"
    assert cfg.loader.ini.batch_size == 128  # the rest is the base's


def test_doc_dependency_examples(project: Path) -> None:
    base = load_config("configs/mnist/base/cfg.py")
    assert base.sched.to_dict() == {
        "epochs": 30,
        "warm_epochs": 3,
        "warm": {"cls": collections.deque, "ini": {"total_iters": 3, "start_factor": 1e-05, "end_factor": 1.0}},
        "main": {"cls": collections.Counter, "ini": {"T_max": 27}},
    }
    assert (base.opt.ini.lr, base.model.ini.num_classes, base.log.save_interval) == (0.01, 10, 6)
    new = load_config("configs/mnist/base,2xbs/cfg.py")
    assert (new.loader.ini.batch_size, new.opt.ini.lr) == (256, 0.02)


def test_doc_composition_and_full_example(project: Path) -> None:
    composed = load_config("configs/mnist/base,sched_from_addon/cfg.py")
    assert composed.sched.to_dict() == load_config("configs/mnist/base/cfg.py").sched.to_dict()
    cfg = load_config("configs/mnist/base,sched_from_addon,2xbs,2÷epo/cfg.py")
    assert cfg.opt.cls is collections.OrderedDict
    assert cfg.model.cls.__name__ == "resnet18" and cfg.dt.cls.__name__ == "MNIST"
    values = {
        "rand_seed": cfg.rand_seed,
        "batch_size": cfg.loader.ini.batch_size,
        "num_workers": cfg.loader.ini.num_workers,
        "num_classes": cfg.model.ini.num_classes,
        "lr": cfg.opt.ini.lr,
        "epochs": cfg.sched.epochs,
        "warm_epochs": cfg.sched.warm_epochs,
        "total_iters": cfg.sched.warm.ini.total_iters,
        "start_factor": cfg.sched.warm.ini.start_factor,
        "end_factor": cfg.sched.warm.ini.end_factor,
        "T_max": cfg.sched.main.ini.T_max,
        "save_interval": cfg.log.save_interval,
    }
    assert values == {
        "rand_seed": 0, "batch_size": 256, "num_workers": 2, "num_classes": 10, "lr": 0.02,
        "epochs": 15, "warm_epochs": 2, "total_iters": 2, "start_factor": 1e-05,
        "end_factor": 1.0, "T_max": 13, "save_interval": 3,
    }


def test_unresolved_tree_keeps_deps_and_lazy_caps() -> None:
    cfg = Config(caps="configs/mnist/base,sched_from_addon/cfg.py")
    cfg.loader.ini.batch_size = 256
    assert cfg.to_dict() == {"loader": {"ini": {"batch_size": 256}}}  # lazy: nothing loaded yet
    tree = load_tree(FIXTURES / "configs/mnist/base,sched_from_addon,2xbs,2÷epo/cfg.py")
    assert isinstance(tree.opt.ini.lr, DEP) and tree.sched.epochs == 15


# ----------------------------------------------------------------- file loading


def test_caps_are_found_from_the_asking_file_when_cwd_is_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # like a Hydra run dir or a cluster job
    cfg = load_config(FIXTURES / "configs/mnist/base,sched_from_addon,2xbs,2÷epo/cfg.py")
    assert (cfg.opt.ini.lr, cfg.sched.main.ini.T_max) == (0.02, 13)


def test_caps_relative_to_the_file_directory_and_cwd_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "proj/configs/a/base.py", "from alchemy_resolvers import Config\ncfg = Config(x=1)\n")
    write(tmp_path, "proj/configs/a/child.py", "from alchemy_resolvers import Config\ncfg = Config(caps='base.py')\n")
    write(tmp_path, "elsewhere/base.py", "from alchemy_resolvers import Config\ncfg = Config(x=2)\n")
    monkeypatch.chdir(tmp_path)
    assert load_config("proj/configs/a/child.py").x == 1
    monkeypatch.chdir(tmp_path / "elsewhere")  # a same-named file under cwd wins
    assert load_config(tmp_path / "proj/configs/a/child.py").x == 2


def test_missing_caps_names_the_asking_file_and_places_searched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    child = write(tmp_path, "configs/x/cfg.py", "from alchemy_resolvers import Config\ncfg = Config(caps='configs/nope/cfg.py')\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CapsNotFoundError) as info:
        load_config("configs/x/cfg.py")
    msg = str(info.value)
    assert str(child) in msg and "configs/nope/cfg.py" in msg
    assert os.path.join(str(tmp_path), "configs/x", "configs/nope/cfg.py") in msg
    assert isinstance(info.value, FileNotFoundError)


def test_caps_cycle_is_an_error_with_the_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "a.py", "from alchemy_resolvers import Config\ncfg = Config(caps='b.py')\n")
    write(tmp_path, "b.py", "from alchemy_resolvers import Config\ncfg = Config(caps='a.py')\n")
    write(tmp_path, "c.py", "from alchemy_resolvers import Config\ncfg = Config()\ncfg.sub = Config('c.py')\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InheritanceCycleError, match=r"a\.py -> b\.py -> a\.py"):
        load_config("a.py")
    with pytest.raises(InheritanceCycleError, match=r"c\.py -> c\.py"):
        load_config("c.py")


def test_caps_on_a_composed_subtree_work(project: Path, tmp_path: Path) -> None:
    path = write(tmp_path, "configs/x/cfg.py", """\
        from alchemy_resolvers import Config
        cfg = Config()
        cfg.sched = Config(caps='configs/addons/linear_warm_cos_sched.py')
        cfg.sched.epochs = 50
        """)
    cfg = load_config(path)
    assert (cfg.sched.epochs, cfg.sched.warm_epochs, cfg.sched.main.ini.T_max) == (50, 5, 45)


def test_diamond_inheritance_and_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "base.py", "from alchemy_resolvers import Config\ncfg = Config(a=1, b=1, t={'x': 1})\n")
    write(tmp_path, "p1.py", "from alchemy_resolvers import Config\ncfg = Config(caps='base.py')\ncfg.a = 2\n")
    write(tmp_path, "p2.py", "from alchemy_resolvers import Config\ncfg = Config(caps='base.py')\ncfg.t.y = 2\n")
    write(tmp_path, "child.py", "from alchemy_resolvers import Config\ncfg = Config(caps=('p1.py', 'p2.py'))\ncfg.b = 3\n")
    monkeypatch.chdir(tmp_path)
    # p2 comes after p1 and restates base's `a = 1`: later bases win, then the child.
    assert load_config("child.py").to_dict() == {"a": 1, "b": 3, "t": {"x": 1, "y": 2}}


def test_loading_again_gives_the_same_tree(project: Path) -> None:
    # AlchemyCat mutates the imported module's cfg when a child inherits from it.
    first = load_config("configs/mnist/base/cfg.py").to_dict()
    child = load_config("configs/mnist/base,2xbs/cfg.py")
    again = load_config("configs/mnist/base/cfg.py").to_dict()
    strip = lambda d: {k: v for k, v in d.items() if k not in ("dt", "model")}  # noqa: E731 - classes made per load
    assert strip(first) == strip(again) and first["loader"]["ini"]["batch_size"] == 128
    assert child.loader.ini.batch_size == 256


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.py", "from alchemy_resolvers import Config\ncfg = Config()\ncfg.a = (1,\n")
    with pytest.raises(ConfigExecutionError) as info:
        load_config(path)
    assert f"{path}:3" in str(info.value) and info.value.__cause__ is not None


def test_exception_in_config_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "boom.py", "from alchemy_resolvers import Config\ncfg = Config()\n\ncfg.a = 1 / 0\n")
    with pytest.raises(ConfigExecutionError, match=f"{path}:4.*ZeroDivisionError") as info:
        load_config(path)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_error_in_composed_file_names_that_file(tmp_path: Path) -> None:
    bad = write(tmp_path, "addon.py", "from alchemy_resolvers import Config\ncfg = Config()\ncfg.x = undefined_name\n")
    top = write(tmp_path, "top.py", "from alchemy_resolvers import Config\ncfg = Config()\ncfg.sub = Config('addon.py')\n")
    with pytest.raises(ConfigExecutionError, match=f"{bad}:3.*NameError"):
        load_config(top)


def test_file_without_cfg_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "none.py", "from alchemy_resolvers import Config\ncfg_ = Config()\nconfig2 = Config()\ncfg = Config()\ndel cfg\n")
    with pytest.raises(UnsupportedConfigError, match="neither `cfg` nor `config`"):
        load_config(path)
    other = write(tmp_path, "config.py", "from alchemy_resolvers import Config\nconfig = Config(a=1)\n")
    assert load_config(other).a == 1


def test_caps_mix_yaml_json_and_mmcv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "base.yaml", """\
        model: {depth: 50, out: 10}
        sched:
          epochs: 30
          warm: ${dep:round(0.1 * c.sched.epochs)}
        """)
    write(tmp_path, "patch.json", '{"model": {"depth": 101}, "tags": ["a"]}')
    write(tmp_path, "mm.py", "_base_ = []\noptimizer = dict(type='SGD', lr=0.1)\n")
    write(tmp_path, "sched.yaml", "epochs: 20\nwarm: ${dep:c.epochs // 10}\n")
    write(tmp_path, "cfg.py", """\
        from alchemy_resolvers import Config
        cfg = Config(caps=('base.yaml', 'patch.json', 'mm.py'))
        cfg.sub = Config('sched.yaml')
        cfg.sched.epochs = 50
        """)
    monkeypatch.chdir(tmp_path)
    cfg = load_config("cfg.py")
    assert cfg.model.to_dict() == {"depth": 101, "out": 10}
    assert cfg.tags == ["a"] and cfg.optimizer.to_dict() == {"type": "SGD", "lr": 0.1}
    assert (cfg.sched.epochs, cfg.sched.warm) == (50, 5)
    assert (cfg.sub.epochs, cfg.sub.warm) == (20, 2)  # c of a composed YAML is its root


def test_yaml_over_yacs_defaults_merges_like_merge_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("yacs")
    write(tmp_path, "defaults.py", """\
        from yacs.config import CfgNode as CN
        _C = CN()
        _C.SOLVER = CN()
        _C.SOLVER.LR = 0.1
        _C.SOLVER.STEPS = (10, 20)
        _C.MODEL = CN(new_allowed=True)
        _C.MODEL.NAME = 'r50'
        """)
    write(tmp_path, "exp.yaml", "SOLVER:\n  LR: 0.5\n  STEPS: [5, 6]\nMODEL:\n  EXTRA: 1\n")
    write(tmp_path, "typo.yaml", "SOLVER:\n  LRR: 0.5\n")
    write(tmp_path, "cfg.py", """\
        from alchemy_resolvers import Config
        cfg = Config(caps=('defaults.py', 'exp.yaml'))
        cfg.SOLVER.MOMENTUM = 0.9
        """)
    write(tmp_path, "bad.py", "from alchemy_resolvers import Config\ncfg = Config(caps=('defaults.py', 'typo.yaml'))\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("cfg.py")
    assert cfg.SOLVER.to_dict() == {"LR": 0.5, "STEPS": [5, 6], "MOMENTUM": 0.9}
    assert cfg.MODEL.to_dict() == {"NAME": "r50", "EXTRA": 1}  # new_allowed node kept its rule
    with pytest.raises(KeyError, match="LRR"):
        load_config("bad.py")


def test_cfg2tune_constraints_see_the_loaded_params(project: Path) -> None:
    tree = load_tree("configs/tune/tune_bs_epoch,subject_to/cfg.py")
    assert isinstance(tree, Cfg2Tune)
    bs, epochs = tree.loader.ini.batch_size, tree.sched.epochs
    assert isinstance(bs, Param2Tune) and isinstance(epochs, Param2Tune)
    assert tree.sched.warm_epochs is not None and tree.rand_seed == 0  # the base came in
    bs.cur_val = 256  # the constraint reads `cfg.loader.ini.batch_size.cur_val` of the file
    assert [v for v in epochs.optional_values if epochs.subject_to(v)] == [5]
    bs.cur_val = 128
    assert [v for v in epochs.optional_values if epochs.subject_to(v)] == [5, 15]


def test_tunable_caps_is_kept_for_the_sweeper(tmp_path: Path) -> None:
    write(tmp_path, "a.py", "from alchemy_resolvers import Config\ncfg = Config()\ncfg.x = 1\n")
    write(tmp_path, "b.py", "from alchemy_resolvers import Config\ncfg = Config()\ncfg.x = 2\n")
    path = write(tmp_path, "t.py", """\
        from alchemy_resolvers import Cfg2Tune, Param2Tune
        cfg = Cfg2Tune(caps=Param2Tune(['a.py', 'b.py']))
        cfg.y = 3
        """)
    tree = load_tree(path)
    assert dict(tree) == {"y": 3}  # the base is chosen per job, not merged here
    tuned = tree.__dict__["_ac_tuned_caps"]
    assert tuned.files == [str(tmp_path / "a.py"), str(tmp_path / "b.py")]
    lowered = lower(tree, str(path))
    assert lowered["defaults"][1:] == ["_self_"]
    ((group, option),) = lowered["defaults"][0].items()
    assert group.startswith("/_alchemy_caps/p") and option == "base0"


@pytest.mark.parametrize(
    "body, message",
    [
        ("cfg = Cfg2Tune(caps=('a.py', Param2Tune(['a.py'])))", "must be the first entry"),
        ("cfg = Cfg2Tune()\ncfg.sub = Cfg2Tune(caps=Param2Tune(['a.py']))", "not on the subtree `sub`"),
    ],
)
def test_tunable_caps_where_it_cannot_work_is_a_clear_error(tmp_path: Path, body: str, message: str) -> None:
    write(tmp_path, "a.py", "from alchemy_resolvers import Config\ncfg = Config()\n")
    path = write(tmp_path, "t.py", "from alchemy_resolvers import Cfg2Tune, Param2Tune\n" + body + "\n")
    with pytest.raises(UnsupportedConfigError, match=message) as info:
        load_tree(path)
    assert str(path) in str(info.value)
