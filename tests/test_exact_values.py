"""What a job sees is what the user wrote, in every format, or a clear error (issue #12).

Each test compares the config Hydra composes through ``alchemy://`` (in process, with
Hydra's compose API) or ``load_config`` with the native tool (fvcore, mmengine, yacs)
where one exists.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pytest
from omegaconf import OmegaConf

import alchemy_resolvers  # noqa: F401 - registers the resolvers
from alchemy_resolvers.errors import AlchemyError
from alchemy_resolvers.lowering.lower import load_config

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXACT = FIXTURES / "exact"
HYDRA_DIR = EXACT / "hydra"
TEXT_DIR = EXACT / "text"
YACS_CONFIGS = FIXTURES / "yacs" / "configs"


def compose(config_dir: Path, name: str, overrides: Sequence[str] = ()) -> Any:
    """The resolved config a Hydra app with this config dir gets (through alchemy://)."""
    from conftest import hydra_compose

    return OmegaConf.to_container(hydra_compose(config_dir, name, overrides), resolve=True)


def lists(tree: Any) -> Any:
    """Tuples as lists: the one documented difference of a composed config."""
    if isinstance(tree, dict):
        return {k: lists(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [lists(v) for v in tree]
    return tree


def fvcore_load(path: Path) -> Any:
    fvcore_config = pytest.importorskip("fvcore.common.config")
    return fvcore_config.CfgNode.load_yaml_with_base(str(path))


# ------------------------------------------------------------------ 1. YAML rules


def test_yaml_reads_with_omegaconf_rules_through_hydra_and_through_caps() -> None:
    expected = OmegaConf.to_container(OmegaConf.load(HYDRA_DIR / "rules.yaml"))
    assert expected["lr"] == 0.001 and expected["wd"] == 0.0005  # OmegaConf's rule
    assert compose(HYDRA_DIR, "rules") == expected
    through_caps = compose(HYDRA_DIR, "caps_rules")
    assert through_caps == dict(expected, extra=1)
    assert dict(load_config(HYDRA_DIR / "caps_rules.py")) == dict(expected, extra=1)


# --------------------------------------------------- 2. _BASE_ / _base_ through Hydra


def test_fvcore_base_chain_as_primary_config_equals_fvcore() -> None:
    for name in ("mask_rcnn_R_101_3x", "nested_base"):
        assert compose(YACS_CONFIGS, name) == fvcore_load(YACS_CONFIGS / f"{name}.yaml"), name


def test_fvcore_base_in_a_group_option_with_a_relative_path_equals_fvcore() -> None:
    cfg = compose(HYDRA_DIR, "d2_primary")
    assert cfg["detector"] == fvcore_load(HYDRA_DIR / "detector" / "rcnn_101.yaml")
    assert cfg["detector"]["SOLVER"]["MAX_ITER"] == 1000 and "_BASE_" not in cfg["detector"]
    alone = compose(HYDRA_DIR, "detector/rcnn_101")  # Hydra mounts it at its group
    assert alone.get("detector", alone) == cfg["detector"]


def test_fvcore_base_as_a_defaults_entry_override() -> None:
    cfg = compose(HYDRA_DIR, "d2_primary", ["+detector@model=rcnn_101"])
    assert cfg["model"] == fvcore_load(HYDRA_DIR / "detector" / "rcnn_101.yaml")


def test_mmengine_base_yaml_through_hydra_equals_mmengine() -> None:
    mmengine_config = pytest.importorskip("mmengine.config")
    native = mmengine_config.Config.fromfile(str(FIXTURES / "mmcv" / "child.yaml")).to_dict()
    assert compose(FIXTURES / "mmcv", "child") == lists(native)


def test_base_key_with_a_hydra_defaults_list_is_refused_naming_the_file() -> None:
    with pytest.raises(Exception) as info:
        compose(HYDRA_DIR, "mixed")
    text = str(info.value)
    assert "mixed.yaml" in text and "_base_" in text and "defaults" in text


# ------------------------------------------------------- 6. ${...} is text in foreign


def test_mmcv_strings_are_text_as_in_mmengine_except_a_whole_dependency() -> None:
    mmengine_config = pytest.importorskip("mmengine.config")
    path = TEXT_DIR / "mmcv_text.py"
    native = lists(mmengine_config.Config.fromfile(str(path)).to_dict())
    ours = compose(TEXT_DIR, "mmcv_text")
    assert ours["lr"] == pytest.approx(0.2) and native["lr"] == "${dep:c.base_lr * 2}"
    native.pop("lr"), ours.pop("lr")
    assert ours == native
    assert ours["data_root"] == "${HOME}/data/" and ours["escaped"] == "a\\${b}"
    assert dict(load_config(path))["fmt"] == "{}_${name}_{:04d}"


def test_plain_python_strings_are_text() -> None:
    assert compose(TEXT_DIR, "plain_text") == {"out": "${HOME}/out"}


def test_yacs_strings_are_text_as_in_yacs_including_merged_yaml() -> None:
    yacs_config = pytest.importorskip("yacs.config")
    ns: dict = {}
    exec(compile((TEXT_DIR / "yacs_text.py").read_text(), str(TEXT_DIR / "yacs_text.py"), "exec"), ns)
    native = ns["_C"].clone()
    native.merge_from_file(str(TEXT_DIR / "yacs_exp.yaml"))
    assert isinstance(native, yacs_config.CfgNode)
    assert compose(TEXT_DIR, "yacs_caps") == native
    assert compose(TEXT_DIR, "yacs_text")["DATA"]["ROOT"] == "${HOME}/data"


def test_alchemycat_config_strings_are_omegaconf_interpolations() -> None:
    cfg = compose(TEXT_DIR, "alchemy_text")
    assert cfg["path"] == "/data/coco" and cfg["literal"] == "/data/${name}"


# -------------------------------------------------- 7. values OmegaConf cannot hold


@pytest.mark.parametrize(("name", "key", "what"), [("tuple_key", "scales", "tuple key"), ("set_value", "model.classes", "set")])
def test_values_a_config_cannot_hold_are_errors_naming_file_and_key(name: str, key: str, what: str) -> None:
    with pytest.raises(AlchemyError) as info:
        load_config(TEXT_DIR / f"{name}.py")
    text = str(info.value)
    assert f"{name}.py" in text and f"`{key}`" in text and what in text
    assert info.value.key == key and info.value.file and info.value.file.endswith(f"{name}.py")
    with pytest.raises(Exception) as through_hydra:
        compose(TEXT_DIR, name)
    assert f"{name}.py" in str(through_hydra.value) and f"`{key}`" in str(through_hydra.value)


def test_tuples_become_lists() -> None:
    cfg = compose(FIXTURES / "mmcv", "tuples")
    assert not any(isinstance(v, tuple) for v in _leaves(cfg))


def _leaves(tree: Any) -> Any:
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _leaves(v)
    elif isinstance(tree, list):
        yield tree
        for v in tree:
            yield from _leaves(v)
    else:
        yield tree



# ----------------------------------------------- 4. ConfigDict.update, 5. _base_ exprs


MMCV = FIXTURES / "mmcv"


def mmengine_dict(path: Path) -> Any:
    mmengine_config = pytest.importorskip("mmengine.config")
    return lists(mmengine_config.Config.fromfile(str(path)).to_dict())


@pytest.mark.parametrize("name", ["update_nested", "lazy/update_nested"])
def test_update_on_nested_dicts_equals_mmengine(name: str) -> None:
    path = MMCV / f"{name}.py"
    native = mmengine_dict(path)
    assert lists(dict(load_config(path))) == native
    assert native["local"] == {"a": {"x": 3}}  # a builtin dict's update stays flat
    ours = compose(path.parent, path.stem)
    assert ours == native


@pytest.mark.parametrize("name", ["concat", "fstring"])
def test_base_given_as_an_expression_equals_mmengine(name: str) -> None:
    path = MMCV / "base_expr" / f"{name}.py"
    native = mmengine_dict(path)
    assert lists(dict(load_config(path))) == native
    assert compose(path.parent, name) == native


def test_base_reading_a_variable_is_refused_as_mmengine_does() -> None:
    path = MMCV / "base_expr" / "variable.py"
    with pytest.raises(Exception):
        mmengine_dict(path)
    with pytest.raises(AlchemyError) as info:
        load_config(path)
    assert "variable.py" in str(info.value) and "BASE" in str(info.value)


# ------------------------------------------------------------------ a real Hydra app


def test_a_real_hydra_app_gets_omegaconf_yaml_rules_and_fvcore_inheritance(app_copy: Any) -> None:
    import json

    from conftest import output_lines, run_app

    app = app_copy("py_app")

    def resolved(name: str) -> Any:
        proc = run_app(app / "app.py", ["--config-dir", str(HYDRA_DIR), "--config-name", name,
                                        "hydra.run.dir=out"], cwd=app)
        (line,) = output_lines(proc, "RESOLVED ")
        return json.loads(line)

    assert resolved("caps_rules")["lr"] == 0.001
    assert resolved("d2_primary")["detector"] == fvcore_load(HYDRA_DIR / "detector" / "rcnn_101.yaml")
