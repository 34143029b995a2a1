"""YACS defaults and YAML overrides: ``load_yacs`` / ``merge_yacs_yaml`` against yacs.

yacs itself is the oracle: ``node.clone(); node.merge_from_file(yaml)``. Plain yacs
has no ``_BASE_`` (fvcore/detectron2 add it), so those cases are checked against
values written out by hand from fvcore's ``load_yaml_with_base`` rules.
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

import pytest
from yacs.config import CfgNode

from alchemy_resolvers.loading.errors import (
    BaseFileNotFoundError,
    ConfigExecutionError,
    InheritanceCycleError,
    UnsupportedConfigError,
    YacsKeyError,
    YacsTypeError,
)
from alchemy_resolvers.loading.foreign import load_foreign
from alchemy_resolvers.loading.yacs import (
    load_yacs,
    load_yacs_node,
    load_yaml_with_base,
    merge_yacs_yaml,
    yacs_new_allowed_paths,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "yacs"
CONFIGS = FIXTURES / "configs"


def yacs_defaults(name: str = "defaults.py") -> CfgNode:
    """The oracle's defaults: what yacs users do (run the module, take ``_C``)."""
    ns = runpy.run_path(str(FIXTURES / name))
    return ns["get_cfg_defaults"]() if "get_cfg_defaults" in ns else ns.get("_C", ns.get("cfg"))


def strict(value: Any) -> Any:
    """Tag containers with their types so that list vs tuple differences fail."""
    if isinstance(value, dict):
        return ("dict", {k: strict(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [strict(v) for v in value])
    return (type(value).__name__, value)


def test_load_yacs_returns_plain_nested_dicts() -> None:
    cfg = load_yacs(FIXTURES / "defaults.py")
    assert strict(cfg) == strict(yacs_defaults())

    def check(v: Any) -> None:
        if isinstance(v, dict):
            assert type(v) is dict
            for x in v.values():
                check(x)

    check(cfg)
    assert cfg["MODEL"]["RESNETS"]["DEPTH"] == 50
    assert cfg["MODEL"]["ANCHOR_GENERATOR"]["SIZES"] == ((32, 64, 128, 256, 512),)
    assert cfg["INPUT"]["CROP"] == {"ENABLED": False, "TYPE": "relative_range", "SIZE": [0.9, 0.9]}


@pytest.mark.parametrize("name", ["defaults.py", "defaults_c_only.py", "defaults_cfg.py"])
def test_load_yacs_finds_get_cfg_defaults_C_or_cfg(name: str) -> None:
    assert strict(load_yacs(FIXTURES / name)) == strict(yacs_defaults(name))


def test_load_yacs_runs_fresh_each_time() -> None:
    first = load_yacs(FIXTURES / "defaults.py")
    first["SOLVER"]["BASE_LR"] = 123.0
    assert load_yacs(FIXTURES / "defaults.py")["SOLVER"]["BASE_LR"] == 0.001
    paths = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    assert str(FIXTURES / "defaults.py") not in paths


def test_merge_equals_yacs_merge_from_file() -> None:
    node = yacs_defaults()
    expected = node.clone()
    expected.merge_from_file(str(CONFIGS / "override.yaml"))

    ours_from_node = merge_yacs_yaml(load_yacs_node(FIXTURES / "defaults.py"), CONFIGS / "override.yaml")
    ours_from_dict = merge_yacs_yaml(
        load_yacs(FIXTURES / "defaults.py"), CONFIGS / "override.yaml", new_allowed=["DATASETS.EXTRA"]
    )
    assert strict(ours_from_node) == strict(expected)
    assert strict(ours_from_dict) == strict(expected)


def test_merge_semantics_by_hand() -> None:
    cfg = merge_yacs_yaml(load_yacs_node(FIXTURES / "defaults.py"), CONFIGS / "override.yaml")
    assert cfg["SOLVER"]["BASE_LR"] == 0.01  # YAML string "1e-2" read as a literal
    assert cfg["SOLVER"]["STEPS"] == (210000, 250000)  # "(a, b)" read as a tuple
    assert cfg["DATASETS"]["TEST"] == ("coco_2017_val",)  # list coerced to the default's tuple
    assert cfg["INPUT"]["MIN_SIZE_TRAIN"] == (640, 672, 704)
    assert cfg["MODEL"]["ANCHOR_GENERATOR"]["SIZES"] == ([32], [64], [128], [256], [512])
    assert cfg["SEED"] is None and cfg["TEST_EVAL_PERIOD"] == 5000  # None either way
    assert cfg["INPUT"]["CROP"] == {"ENABLED": True, "TYPE": "relative_range", "SIZE": [0.9, 0.9]}
    assert cfg["DATASETS"]["EXTRA"] == {"ROOT": "/data", "MASK_FORMAT": "bitmask"}
    assert cfg["MODEL"]["BACKBONE"]["FREEZE_AT"] == 2  # untouched defaults stay


def test_merge_does_not_modify_defaults() -> None:
    defaults = load_yacs(FIXTURES / "defaults.py")
    before = strict(defaults)
    merge_yacs_yaml(defaults, CONFIGS / "override.yaml", new_allowed=True)
    assert strict(defaults) == before


def test_new_key_needs_new_allowed() -> None:
    with pytest.raises(YacsKeyError, match="DATASETS.EXTRA.MASK_FORMAT"):
        merge_yacs_yaml(load_yacs(FIXTURES / "defaults.py"), CONFIGS / "override.yaml")
    assert yacs_new_allowed_paths(load_yacs_node(FIXTURES / "defaults.py")) == {"DATASETS.EXTRA"}


def test_missing_key_is_error_like_yacs() -> None:
    path = CONFIGS / "missing_key.yaml"
    with pytest.raises(KeyError, match="Non-existent config key: MODEL.RESNETS.NUM_GROUPS"):
        yacs_defaults().clone().merge_from_file(str(path))
    with pytest.raises(YacsKeyError) as info:
        merge_yacs_yaml(load_yacs(FIXTURES / "defaults.py"), path)
    msg = str(info.value)
    assert "Non-existent config key: MODEL.RESNETS.NUM_GROUPS" in msg and str(path) in msg
    assert "'DEPTH'" in msg  # the keys that do exist there
    assert isinstance(info.value, KeyError)


@pytest.mark.parametrize(
    "name, key",
    [
        ("type_mismatch.yaml", "SOLVER.MAX_ITER"),  # str for int
        ("int_for_float.yaml", "SOLVER.BASE_LR"),  # int for float: yacs refuses too
        ("dict_over_leaf.yaml", "OUTPUT_DIR"),  # a mapping over a string
    ],
)
def test_type_mismatch_is_error_like_yacs(name: str, key: str) -> None:
    path = CONFIGS / name
    with pytest.raises(ValueError, match=f"Type mismatch .* config key: {key}"):
        yacs_defaults().clone().merge_from_file(str(path))
    with pytest.raises(YacsTypeError) as info:
        merge_yacs_yaml(load_yacs(FIXTURES / "defaults.py"), path)
    assert f"config key: {key}" in str(info.value) and str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_deprecated_and_renamed_keys_of_a_cfgnode(tmp_path: Path) -> None:
    node = yacs_defaults()
    node.register_deprecated_key("SOLVER.OLD_OPTION")
    node.register_renamed_key("SOLVER.LR", "SOLVER.BASE_LR")
    (tmp_path / "dep.yaml").write_text("SOLVER:\n  OLD_OPTION: 1\n  MAX_ITER: 10\n")
    (tmp_path / "ren.yaml").write_text("SOLVER:\n  LR: 0.1\n")
    expected = node.clone()
    expected.merge_from_file(str(tmp_path / "dep.yaml"))
    assert strict(merge_yacs_yaml(node, tmp_path / "dep.yaml")) == strict(expected)
    with pytest.raises(KeyError, match="SOLVER.BASE_LR"):
        node.clone().merge_from_file(str(tmp_path / "ren.yaml"))
    with pytest.raises(YacsKeyError, match="renamed to SOLVER.BASE_LR"):
        merge_yacs_yaml(node, tmp_path / "ren.yaml")


def test_invalid_leaf_type_in_yaml(tmp_path: Path) -> None:
    (tmp_path / "date.yaml").write_text("OUTPUT_DIR: 2024-01-31\n")
    with pytest.raises(AssertionError):  # yacs: "not a valid type"
        yacs_defaults().clone().merge_from_file(str(tmp_path / "date.yaml"))
    with pytest.raises(YacsTypeError, match="OUTPUT_DIR"):
        merge_yacs_yaml(load_yacs(FIXTURES / "defaults.py"), tmp_path / "date.yaml")


# ------------------------------------------------------------------- _BASE_ (fvcore)


def test_base_list_later_bases_win_then_the_file() -> None:
    # Written out by hand from fvcore's load_yaml_with_base: Base-RCNN, then
    # schedule-3x over it (STEPS, MAX_ITER), then the file (BASE_LR, MODEL keys).
    assert load_yaml_with_base(CONFIGS / "mask_rcnn_R_101_3x.yaml") == {
        "MODEL": {
            "META_ARCHITECTURE": "GeneralizedRCNN",
            "BACKBONE": {"NAME": "build_resnet_fpn_backbone"},
            "RESNETS": {"OUT_FEATURES": ["res2", "res3", "res4", "res5"], "DEPTH": 101},
            "WEIGHTS": "detectron2://ImageNetPretrained/MSRA/R-101.pkl",
        },
        "INPUT": {"MIN_SIZE_TRAIN": "(640, 672, 704, 736, 768, 800)"},
        "SOLVER": {"IMS_PER_BATCH": 16, "BASE_LR": 0.01, "STEPS": "(210000, 250000)", "MAX_ITER": 270000},
    }


def test_base_chain_merged_onto_defaults() -> None:
    cfg = merge_yacs_yaml(load_yacs(FIXTURES / "defaults.py"), CONFIGS / "nested_base.yaml")
    assert cfg["SOLVER"] == {
        "LR_SCHEDULER_NAME": "WarmupMultiStepLR",
        "MAX_ITER": 270000,  # schedule-3x.yaml
        "BASE_LR": 0.01,  # mask_rcnn_R_101_3x.yaml over Base-RCNN.yaml's 0.02
        "MOMENTUM": 0.9,
        "WEIGHT_DECAY": 0.0001,
        "STEPS": (210000, 250000),  # schedule-3x.yaml, read as a literal
        "CHECKPOINT_PERIOD": 5000,
        "IMS_PER_BATCH": 8,  # nested_base.yaml
        "AMP": {"ENABLED": False},
    }
    assert cfg["MODEL"]["RESNETS"]["DEPTH"] == 101
    assert cfg["MODEL"]["RESNETS"]["OUT_FEATURES"] == ["res2", "res3", "res4", "res5"]
    assert cfg["MODEL"]["BACKBONE"] == {"NAME": "build_resnet_fpn_backbone", "FREEZE_AT": 2}
    assert cfg["INPUT"]["MIN_SIZE_TRAIN"] == (640, 672, 704, 736, 768, 800)
    assert cfg["OUTPUT_DIR"] == "./output/nested"
    assert "_BASE_" not in cfg


def test_base_missing_file_and_cycle(tmp_path: Path) -> None:
    with pytest.raises(BaseFileNotFoundError) as info:
        load_yaml_with_base(CONFIGS / "missing_base.yaml")
    assert str(CONFIGS / "missing_base.yaml") in str(info.value)
    assert str(CONFIGS / "no-such-base.yaml") in str(info.value)
    (tmp_path / "a.yaml").write_text("_BASE_: b.yaml\nA: 1\n")
    (tmp_path / "b.yaml").write_text("_BASE_: a.yaml\nB: 1\n")
    with pytest.raises(InheritanceCycleError, match="a.yaml -> .*b.yaml -> .*a.yaml"):
        load_yaml_with_base(tmp_path / "a.yaml")


def test_load_foreign_yaml_with_base_key() -> None:
    assert load_foreign(CONFIGS / "nested_base.yaml") == load_yaml_with_base(CONFIGS / "nested_base.yaml")
    assert load_foreign(CONFIGS / "schedule-3x.yaml") == {
        "SOLVER": {"STEPS": "(210000, 250000)", "MAX_ITER": 270000}
    }


# --------------------------------------------------------------------------- errors


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    (tmp_path / "evil.yaml").write_text("SEED: !!python/object/apply:os.getpid []\n")
    with pytest.raises(ConfigExecutionError, match="evil.yaml"):
        merge_yacs_yaml(load_yacs(FIXTURES / "defaults.py"), tmp_path / "evil.yaml")


def test_defaults_file_errors_name_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(
        "from yacs.config import CfgNode as CN\n_C = CN()\n_C.A = CN()\n_C.A.B = {1, 2}\n"
    )
    with pytest.raises(ConfigExecutionError) as info:
        load_yacs(tmp_path / "bad.py")
    assert f"{tmp_path / 'bad.py'}:4" in str(info.value)
    assert isinstance(info.value.__cause__, AssertionError)  # yacs's invalid-type check

    (tmp_path / "none.py").write_text("x = 1\n")
    with pytest.raises(UnsupportedConfigError, match="get_cfg_defaults"):
        load_yacs(tmp_path / "none.py")
