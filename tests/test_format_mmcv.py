"""MMCV/MMEngine ``_base_`` configs: ``load_mmcv`` against the real mmengine as oracle.

Every fixture under tests/fixtures/mmcv is loaded twice, by ``load_mmcv`` and by
``mmengine.Config.fromfile(...).to_dict()``; the trees must be equal. Where we are
deliberately better than mmengine (references inside strings, expressions, errors),
the test pins both behaviours.
"""
from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from mmengine import Config as MMConfig

from alchemy_resolvers.loading.errors import (
    BaseFileNotFoundError,
    BaseMergeTypeError,
    BaseReferenceError,
    ConfigExecutionError,
    DuplicateBaseKeyError,
    InheritanceCycleError,
    UnsupportedConfigError,
)
from alchemy_resolvers.loading.foreign import load_foreign
from alchemy_resolvers.loading.mmcv import load_mmcv

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "mmcv"
ERRORS = FIXTURES / "errors"


def comparable(value: Any) -> Any:
    """Classes and functions a config defines are new objects on every load: compare
    them by name. Everything else (dict/list/tuple types included) compares as is."""
    if isinstance(value, dict):
        assert type(value) is dict, f"not a plain dict: {type(value)}"
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, list):
        assert type(value) is list
        return [comparable(v) for v in value]
    if isinstance(value, tuple):
        return tuple(comparable(v) for v in value)
    if inspect.isfunction(value) or (
        inspect.isclass(value) and value.__module__ in ("builtins", "__config__")
    ):
        return ("defined in config", type(value).__name__, value.__qualname__)
    return value


def mmengine_dict(path: Path) -> dict:
    # mmengine guesses the config style from the file; inside a virtualenv it takes a
    # plain config that imports stdlib modules for the new lazy-import style and fails.
    # Say which style each file is, as a user of mmengine would.
    lazy = "read_base()" in path.read_text(encoding="utf-8")
    return MMConfig.fromfile(str(path), lazy_import=lazy).to_dict()


ORACLE_CASES = [
    "retinanet_r50_fpn_1x_coco.py",  # list of four bases
    "single_base.py",  # one base as a string, recursive dict merge
    "retinanet_r101_fpn_2x_coco.py",  # base of a base; lists replaced
    "yaml_json_bases.py",  # .yaml and .json bases
    "child.yaml",  # a YAML child with .py bases
    "child.json",  # a JSON child, {{_base_.x}} as whole JSON values
    "delete_key.py",  # _delete_, both the normal case and mmengine's quirk
    "base_ref.py",  # {{_base_.a.b}} whole values, _base_ as a Python variable
    "data_root.py",  # base variables evaluated inside the base
    "file_vars.py",  # {{ fileDirname }} family
    "dropped.py",  # functions, modules, dunders dropped; classes kept
    "tuples.py",  # tuples stay tuples
    "mutates_base.py",  # a child editing `_base_` in place
    "lazy/resnet101.py",  # with read_base(): from ._base_.x import *
]


@pytest.mark.parametrize("name", ORACLE_CASES)
def test_equals_mmengine(name: str) -> None:
    path = FIXTURES / name
    ours = load_mmcv(path)
    assert comparable(ours) == comparable(mmengine_dict(path))


@pytest.mark.parametrize("env", [{}, {"ALCHEMY_TEST_EPOCHS": "36", "ALCHEMY_TEST_DATA_ROOT": "/mnt/coco"}])
def test_environment_variables_equal_mmengine(monkeypatch: pytest.MonkeyPatch, env: dict) -> None:
    monkeypatch.delenv("ALCHEMY_TEST_EPOCHS", raising=False)
    monkeypatch.delenv("ALCHEMY_TEST_DATA_ROOT", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    path = FIXTURES / "env_var.py"
    ours = load_mmcv(path)
    assert ours == mmengine_dict(path)
    assert ours["max_epochs"] == int(env.get("ALCHEMY_TEST_EPOCHS", 12))
    assert ours["data_root"] == env.get("ALCHEMY_TEST_DATA_ROOT", "data/coco") + "/images"


# ---------------------------------------------------------------- semantics, by hand


def test_list_of_bases_merges_child_into_bases() -> None:
    cfg = load_mmcv(FIXTURES / "retinanet_r50_fpn_1x_coco.py")
    assert cfg["optim_wrapper"] == {
        "type": "OptimWrapper",
        "optimizer": {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 0.0001},
    }
    assert cfg["model"]["backbone"]["depth"] == 50
    assert cfg["default_scope"] == "mmdet"
    assert "_base_" not in cfg


def test_nested_bases_dicts_merge_lists_replace() -> None:
    cfg = load_mmcv(FIXTURES / "retinanet_r101_fpn_2x_coco.py")
    assert cfg["model"]["backbone"]["depth"] == 101
    assert cfg["model"]["backbone"]["frozen_stages"] == 1  # kept from the base
    assert cfg["model"]["bbox_head"]["num_classes"] == 20
    assert cfg["optim_wrapper"]["optimizer"]["lr"] == 0.01  # from the middle file
    assert cfg["train_cfg"] == {"type": "EpochBasedTrainLoop", "max_epochs": 24, "val_interval": 1}
    assert [s["type"] for s in cfg["param_scheduler"]] == ["LinearLR", "MultiStepLR"]
    assert cfg["param_scheduler"][1]["milestones"] == [16, 22]


def test_base_variables_are_evaluated_inside_the_base() -> None:
    cfg = load_mmcv(FIXTURES / "data_root.py")
    assert cfg["data_root"] == "data/custom/"
    assert cfg["train_dataloader"]["dataset"]["data_root"] == "data/coco/"
    assert cfg["val_evaluator"]["ann_file"] == "data/coco/annotations/instances_val2017.json"


def test_delete_replaces_base_dict_and_keeps_mmengine_quirk() -> None:
    model = load_mmcv(FIXTURES / "delete_key.py")["model"]
    assert model["neck"] == {
        "type": "PAFPN",
        "in_channels": [256, 512, 1024, 2048],
        "out_channels": 256,
        "num_outs": 5,
    }
    # the base has no roi_head: mmengine leaves `_delete_` in, and so do we
    assert model["roi_head"] == {"_delete_": True, "type": "StandardRoIHead"}
    assert model["backbone"]["depth"] == {"value": 18}


def test_yaml_and_json_bases_and_file_variables() -> None:
    cfg = load_mmcv(FIXTURES / "yaml_json_bases.py")
    assert cfg["work_dir"] == "./work_dirs/runtime"  # fileBasenameNoExtension of the YAML base
    assert cfg["source"] == "optim.json"
    assert cfg["optim_wrapper"]["optimizer"] == {"type": "AdamW", "lr": 0.0002, "weight_decay": 0.05}
    assert cfg["env_cfg"] == {"cudnn_benchmark": False, "dist_cfg": {"backend": "nccl"}}

    vars_ = load_mmcv(FIXTURES / "file_vars.py")
    assert vars_ == {
        "work_dir": "./work_dirs/file_vars",
        "this_file": "file_vars.py",
        "this_dir": str(FIXTURES).replace("\\", "/"),
        "ext": ".py",
    }


def test_json_child_whole_value_references() -> None:
    cfg = load_mmcv(FIXTURES / "child.json")
    assert cfg["scope_copy"] == "mmdet"
    assert cfg["hooks_copy"]["logger"] == {"type": "LoggerHook", "interval": 50}
    assert cfg["default_hooks"]["logger"] == {"type": "LoggerHook", "interval": 10}


def test_functions_modules_and_dunders_dropped_classes_kept() -> None:
    cfg = load_mmcv(FIXTURES / "dropped.py")
    for gone in ("math", "_json", "helper", "square", "__hidden", "__file__", "__builtins__"):
        assert gone not in cfg
    assert cfg["_private"] == "kept"
    assert inspect.isclass(cfg["CustomHead"]) and cfg["head"]["type"] is cfg["CustomHead"]
    assert cfg["head"]["scale"] == 2.0 and cfg["lr"] == 0.02
    assert type(cfg["ordered"]) is dict and cfg["ordered"] == {"b": 1, "a": {"c": 2}}
    assert callable(cfg["nested_fn"]["fn"])  # only top-level functions are dropped


def test_tuples_stay_tuples() -> None:
    cfg = load_mmcv(FIXTURES / "tuples.py")
    assert cfg["img_scale"] == (1333, 800) and type(cfg["img_scale"]) is tuple
    assert cfg["scales"] == [(1333, 640), (1333, 800)]
    assert type(cfg["aug"]["transforms"]) is tuple
    assert cfg["aug"]["transforms"][0] == {"type": "Resize", "keep_ratio": True}
    assert cfg["empty"] == ()


def test_base_reference_inside_string_is_substituted_where_mmengine_leaves_garbage() -> None:
    path = FIXTURES / "base_ref_in_string.py"
    cfg = load_mmcv(path)
    assert cfg["work_dir"] == "./work_dirs/CocoDataset_2x"
    assert cfg["whole_quoted"] == 2
    theirs = mmengine_dict(path)
    assert theirs["work_dir"] != cfg["work_dir"] and '"' in theirs["work_dir"]
    # apart from the two strings, the trees agree
    for key in ("work_dir", "whole_quoted"):
        del cfg[key], theirs[key]
    assert cfg == theirs


def test_base_reference_usable_in_python_expressions() -> None:
    path = FIXTURES / "base_ref_expr.py"
    cfg = load_mmcv(path)
    assert cfg["model"]["bbox_head"]["num_classes"] == 81
    assert cfg["model"]["bbox_head"]["loss_cls"]["type"] == "FocalLoss"
    assert cfg["first_stride"] == 8  # a reference may index a list
    with pytest.raises(Exception):  # mmengine cannot load this file at all
        mmengine_dict(path)


def test_base_reference_python_variable_style() -> None:
    cfg = load_mmcv(FIXTURES / "base_ref.py")
    assert cfg["num_classes"] == 80
    assert cfg["depth_plus"] == 51
    assert cfg["first_step"] == "LoadImageFromFile"
    assert cfg["anchor"] == {"strides": [8, 16, 32, 64, 128], "norm": {"type": "BN", "requires_grad": True}}
    assert cfg["pipeline_copy"] == cfg["train_pipeline"]


def test_returned_tree_is_plain_python() -> None:
    cfg = load_mmcv(FIXTURES / "base_ref.py")

    def check(v: Any) -> None:
        if isinstance(v, dict):
            assert type(v) is dict
            for x in v.values():
                check(x)
        elif isinstance(v, (list, tuple)):
            assert type(v) in (list, tuple)
            for x in v:
                check(x)

    check(cfg)
    json.dumps(cfg)  # no placeholder objects left behind


# ------------------------------------------------------------ fresh namespace per load


def test_loads_are_independent() -> None:
    base = FIXTURES / "_base_" / "models" / "retinanet_r50_fpn.py"
    child = FIXTURES / "mutates_base.py"
    base_alone = load_mmcv(base)
    child_alone = load_mmcv(child)
    assert child_alone["model"]["backbone"]["depth"] == 18
    assert base_alone["model"]["backbone"]["depth"] == 50
    # again, in the other order, and after mutating the returned trees
    child_alone["model"]["neck"]["out_channels"] = -1
    base_alone["model"]["bbox_head"]["num_classes"] = -1
    assert load_mmcv(base) == comparable(mmengine_dict(base))
    assert load_mmcv(child) == comparable(mmengine_dict(child))
    assert load_mmcv(base)["model"]["backbone"]["depth"] == 50


def test_config_not_imported_as_module() -> None:
    load_mmcv(FIXTURES / "dropped.py")
    paths = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    assert str(FIXTURES / "dropped.py") not in paths


def test_load_foreign_dispatches_mmcv_files() -> None:
    assert load_foreign(FIXTURES / "single_base.py") == load_mmcv(FIXTURES / "single_base.py")
    assert load_foreign(FIXTURES / "child.yaml") == load_mmcv(FIXTURES / "child.yaml")
    assert load_foreign(FIXTURES / "_base_" / "runtime.yaml")["work_dir"] == (
        "./work_dirs/{{ fileBasenameNoExtension }}"  # no _base_: a plain YAML file
    )


# --------------------------------------------------------------------------- errors


def test_duplicate_key_in_sibling_bases() -> None:
    path = ERRORS / "dup_child.py"
    with pytest.raises(DuplicateBaseKeyError) as info:
        load_mmcv(path)
    msg = str(info.value)
    assert "'optim_wrapper'" in msg and str(ERRORS / "dup_a.py") in msg and str(ERRORS / "dup_b.py") in msg
    assert str(path) in msg
    assert isinstance(info.value, KeyError)
    with pytest.raises(KeyError):  # mmengine agrees it is an error
        mmengine_dict(path)


def test_child_dict_over_non_dict_base() -> None:
    path = ERRORS / "nondict.py"
    with pytest.raises(BaseMergeTypeError) as info:
        load_mmcv(path)
    msg = str(info.value)
    assert str(path) in msg and "'model.bbox_head.num_classes'" in msg and "_delete_=True" in msg
    assert isinstance(info.value, TypeError)
    with pytest.raises(TypeError):
        mmengine_dict(path)


def test_missing_base_names_asking_file_and_looked_for_path() -> None:
    path = ERRORS / "missing_base.py"
    with pytest.raises(BaseFileNotFoundError) as info:
        load_mmcv(path)
    msg = str(info.value)
    assert str(path) in msg and str(ERRORS / "no_such_base.py") in msg
    assert isinstance(info.value, FileNotFoundError)


def test_syntax_error_names_file_and_line() -> None:
    path = ERRORS / "syntax_error.py"
    with pytest.raises(ConfigExecutionError) as info:
        load_mmcv(path)
    assert f"{path}:2" in str(info.value)
    assert isinstance(info.value.__cause__, SyntaxError)
    assert (info.value.filename, info.value.lineno) == (str(path), 2)


def test_exception_while_running_names_file_and_line() -> None:
    path = ERRORS / "runtime_error.py"
    with pytest.raises(ConfigExecutionError) as info:
        load_mmcv(path)
    assert f"{path}:3" in str(info.value) and "undefined_scale" in str(info.value)
    assert isinstance(info.value.__cause__, NameError)


def test_exception_in_a_base_names_the_base(tmp_path: Path) -> None:
    (tmp_path / "base.py").write_text("a = 1\nb = 1 / 0\n")
    (tmp_path / "child.py").write_text("_base_ = 'base.py'\n")
    with pytest.raises(ConfigExecutionError) as info:
        load_mmcv(tmp_path / "child.py")
    assert f"{tmp_path / 'base.py'}:2" in str(info.value)
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_inheritance_cycle_is_clear_error() -> None:
    with pytest.raises(InheritanceCycleError) as info:
        load_mmcv(ERRORS / "cycle_a.py")
    assert "cycle_a.py -> " in str(info.value) and "cycle_b.py" in str(info.value)
    # (mmengine recurses until RecursionError, which takes pytest ~30 s to report)


def test_reference_to_missing_base_key() -> None:
    path = ERRORS / "bad_ref.py"
    with pytest.raises(BaseReferenceError) as info:
        load_mmcv(path)
    msg = str(info.value)
    assert f"{path}:3" in msg and "no_such_hook" in msg and "'logger'" in msg


def test_non_scalar_reference_inside_string_is_refused() -> None:
    path = ERRORS / "ref_in_string_nonscalar.py"
    with pytest.raises(BaseReferenceError) as info:
        load_mmcv(path)
    assert str(path) in str(info.value) and "{{_base_.default_hooks}}" in str(info.value)


def test_references_in_yaml_and_json_strings(tmp_path: Path) -> None:
    (tmp_path / "base.py").write_text("root = 'data/voc'\nsize = 512\nnorm = dict(type='GN')\n")
    (tmp_path / "c.yaml").write_text(
        "_base_: base.py\nann: '{{_base_.root}}/ann_{{ _base_.size }}.json'\nn: {{_base_.norm}}\n"
    )
    (tmp_path / "c.json").write_text(
        '{"_base_": "base.py", "ann": "{{_base_.root}}/a.json", "n": {{_base_.norm}}}'
    )
    for name in ("c.yaml", "c.json"):
        cfg = load_mmcv(tmp_path / name)
        assert cfg["n"] == {"type": "GN"}
        assert cfg["ann"].startswith("data/voc/")
    assert load_mmcv(tmp_path / "c.yaml")["ann"] == "data/voc/ann_512.json"


def test_environment_variable_without_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALCHEMY_UNSET_VAR", raising=False)
    (tmp_path / "c.py").write_text("root = '{{$ALCHEMY_UNSET_VAR:}}/x'\n")
    with pytest.raises(UnsupportedConfigError, match="ALCHEMY_UNSET_VAR"):
        load_mmcv(tmp_path / "c.py")


def test_package_scoped_base_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_text("_base_ = 'mmdet::_base_/default_runtime.py'\n")
    with pytest.raises(UnsupportedConfigError, match="mmdet::"):
        load_mmcv(tmp_path / "c.py")


def test_yaml_base_loaded_safely(tmp_path: Path) -> None:
    (tmp_path / "evil.yaml").write_text("x: !!python/object/apply:os.system ['echo hacked']\n")
    (tmp_path / "c.py").write_text("_base_ = 'evil.yaml'\n")
    with pytest.raises(ConfigExecutionError, match="evil.yaml"):
        load_mmcv(tmp_path / "c.py")


# ----------------------------------------------------------------- format detection

DETECT = FIXTURES / "detect"
YACS_FIXTURES = FIXTURES.parent / "yacs"


@pytest.mark.parametrize(
    "path, expected",
    [
        (DETECT / "alchemy_cat_cfg.py", "alchemy"),
        (DETECT / "alchemy_resolvers_tune.py", "alchemy"),
        (DETECT / "alchemy_module_attr.py", "alchemy"),
        (DETECT / "mmengine_config_not_alchemy.py", "plain"),
        (DETECT / "read_base_style.py", "mmcv"),
        (DETECT / "plain_vars.py", "plain"),
        (DETECT / "yacs_get_defaults.py", "yacs"),
        (DETECT / "yacs_aliased.py", "yacs"),
        (FIXTURES / "retinanet_r50_fpn_1x_coco.py", "mmcv"),
        (FIXTURES / "single_base.py", "mmcv"),
        (FIXTURES / "_base_" / "models" / "retinanet_r50_fpn.py", "plain"),
        (FIXTURES / "lazy" / "resnet101.py", "mmcv"),
        (YACS_FIXTURES / "defaults.py", "yacs"),
        (YACS_FIXTURES / "defaults_c_only.py", "yacs"),
        (YACS_FIXTURES / "defaults_cfg.py", "yacs"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_detect_python_format(path: Path, expected: str) -> None:
    from alchemy_resolvers.loading.detect import detect_python_format

    assert detect_python_format(path) == expected


def test_detect_does_not_run_the_file(tmp_path: Path) -> None:
    from alchemy_resolvers.loading.detect import detect_python_format

    marker = tmp_path / "ran"
    (tmp_path / "c.py").write_text(
        f"open({str(marker)!r}, 'w').close()\n_base_ = 'x.py'\n"
    )
    assert detect_python_format(tmp_path / "c.py") == "mmcv"
    assert not marker.exists()


def test_detect_syntax_error_names_file_and_line() -> None:
    from alchemy_resolvers.loading.detect import detect_python_format

    with pytest.raises(ConfigExecutionError) as info:
        detect_python_format(DETECT / "broken.py")
    assert f"{DETECT / 'broken.py'}:" in str(info.value)


def test_load_foreign_routes_by_format() -> None:
    from alchemy_resolvers.loading.errors import NotAForeignFormatError
    from alchemy_resolvers.loading.yacs import load_yacs

    assert load_foreign(DETECT / "plain_vars.py") == {"lr": 0.1, "model": {"type": "ResNet", "depth": 50}}
    assert load_foreign(DETECT / "read_base_style.py")["model"]["backbone"]["depth"] == 50
    assert load_foreign(YACS_FIXTURES / "defaults.py") == load_yacs(YACS_FIXTURES / "defaults.py")
    with pytest.raises(NotAForeignFormatError, match="alchemy_resolvers.authoring.config"):
        load_foreign(DETECT / "alchemy_cat_cfg.py")
    # the file is not run (alchemy_cat is not even installed)
    with pytest.raises(UnsupportedConfigError, match=r"\.toml"):
        load_foreign(DETECT / "settings.toml")


# -------------------------------------------------- merge rules, random trees (oracle)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_keys = st.sampled_from(["a", "b", "c", "d"])
_leaves = st.one_of(st.integers(-3, 3), st.none(), st.text("xy", max_size=2), st.lists(st.integers(0, 3), max_size=2))
_base_trees = st.recursive(_leaves, lambda kids: st.dictionaries(_keys, kids, max_size=3), max_leaves=8)


def _child_trees() -> st.SearchStrategy:
    def node(kids: st.SearchStrategy) -> st.SearchStrategy:
        return st.builds(
            lambda d, delete: {**d, "_delete_": delete} if delete is not None else d,
            st.dictionaries(_keys, kids, max_size=3),
            st.sampled_from([None, None, True, False]),
        )

    return st.recursive(_leaves, node, max_leaves=8)


@settings(max_examples=40, deadline=None)
@given(
    base=st.dictionaries(_keys, _base_trees, max_size=4),
    child=st.dictionaries(_keys, _child_trees(), max_size=4),
)
def test_random_merges_equal_mmengine(base: dict, child: dict) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "base.json").write_text(json.dumps(base))
        (Path(tmp) / "child.json").write_text(json.dumps({"_base_": "base.json", **child}))
        path = Path(tmp) / "child.json"
        try:
            theirs: Any = mmengine_dict(path)
        except TypeError:
            theirs = TypeError
        if theirs is TypeError:
            with pytest.raises(BaseMergeTypeError):
                load_mmcv(path)
        else:
            assert load_mmcv(path) == theirs


def test_errors_survive_pickling() -> None:
    import pickle

    with pytest.raises(ConfigExecutionError) as info:
        load_mmcv(ERRORS / "runtime_error.py")
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value) and again.lineno == 3
    with pytest.raises(DuplicateBaseKeyError) as dup:
        load_mmcv(ERRORS / "dup_child.py")
    assert str(pickle.loads(pickle.dumps(dup.value))) == str(dup.value)
