"""YACS defaults in every common shape get exactly yacs's ``merge_from_file`` (issue #12, item 3).

Shapes: a module-level ``_C`` (yacs README, HRNet), ``cfg``, ``get_cfg_defaults()``,
torchreid's ``get_default_config()`` (no module-level node), detectron2/SlowFast's
``get_cfg()`` with an aliased import. Each experiment YAML exercises one of yacs's
checks; the result (or the error) must be yacs's, through ``caps`` and through Hydra.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pytest
from omegaconf import OmegaConf

import alchemy_resolvers  # noqa: F401 - registers the resolvers
from alchemy_resolvers.errors import AlchemyError
from alchemy_resolvers.loading.detect import detect_python_format
from alchemy_resolvers.lowering.lower import load_config

yacs_config = pytest.importorskip("yacs.config")

SHAPES_DIR = Path(__file__).resolve().parent / "fixtures" / "yacs" / "shapes"
SHAPES = ["c_module", "cfg_module", "get_cfg_defaults", "torchreid_style", "detectron2_style"]
MERGED = ["ok", "deprecated", "tuple_for_list", "list_for_tuple"]
REFUSED = {
    "unknown_key": "MODEL.WIDTH",
    "int_vs_float": "MODEL.DEPTH",
    "str_for_float": "SOLVER.BASE_LR",
    "dict_over_leaf": "MODEL.NAME",
    "renamed": "SOLVER.LR",
}


def native_defaults(shape: str) -> Any:
    """The defaults node as a yacs user gets it from the module."""
    path = SHAPES_DIR / f"{shape}.py"
    namespace: dict = {"__name__": "native_" + shape}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - our fixture
    for name in ("get_cfg_defaults", "get_default_config", "get_cfg"):
        if name in namespace:
            return namespace[name]()
    return (namespace.get("_C") or namespace["cfg"]).clone()


def native_merge(shape: str, experiment: str) -> Any:
    node = native_defaults(shape)
    node.merge_from_file(str(SHAPES_DIR / f"{experiment}.yaml"))
    return lists(node)


def lists(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: lists(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [lists(v) for v in tree]
    return tree


def caps_file(tmp_path: Path, shape: str, experiment: str) -> Path:
    path = tmp_path / f"{shape}__{experiment}.py"
    path.write_text(
        "from alchemy_resolvers import Config\n\n"
        f"cfg = Config(caps=({str(SHAPES_DIR / (shape + '.py'))!r}, "
        f"{str(SHAPES_DIR / (experiment + '.yaml'))!r}))\n"
    )
    return path


def compose(path: Path) -> Any:
    from conftest import hydra_compose

    return OmegaConf.to_container(hydra_compose(path.parent, path.stem), resolve=True)


@pytest.mark.parametrize("shape", SHAPES)
def test_every_shape_is_detected_as_yacs(shape: str) -> None:
    assert detect_python_format(SHAPES_DIR / f"{shape}.py") == "yacs"


@pytest.mark.parametrize("shape", SHAPES)
def test_defaults_alone_equal_yacs(shape: str) -> None:
    assert dict(load_config(SHAPES_DIR / f"{shape}.py")) == lists(native_defaults(shape))


@pytest.mark.parametrize("experiment", MERGED)
@pytest.mark.parametrize("shape", SHAPES)
def test_merged_experiment_equals_merge_from_file(tmp_path: Path, shape: str, experiment: str) -> None:
    expected = native_merge(shape, experiment)
    path = caps_file(tmp_path, shape, experiment)
    assert lists(dict(load_config(path))) == expected
    assert compose(path) == expected


def native_error(shape: str, experiment: str) -> Optional[BaseException]:
    try:
        native_merge(shape, experiment)
    except (KeyError, ValueError, AssertionError) as e:
        return e
    return None


@pytest.mark.parametrize("experiment", sorted(REFUSED))
@pytest.mark.parametrize("shape", SHAPES)
def test_refused_experiment_is_refused_like_yacs_naming_the_key(tmp_path: Path, shape: str, experiment: str) -> None:
    native = native_error(shape, experiment)
    assert native is not None, "yacs accepts it: the fixture is wrong"
    path = caps_file(tmp_path, shape, experiment)
    with pytest.raises(AlchemyError) as info:
        load_config(path)
    assert REFUSED[experiment] in str(info.value)
    assert isinstance(info.value, type(native))  # KeyError or ValueError, as yacs raises
    if experiment == "renamed":
        assert "SOLVER.BASE_LR" in str(info.value)  # the rename's message, as yacs gives it


def test_refused_through_hydra_names_file_and_key(tmp_path: Path) -> None:
    path = caps_file(tmp_path, "torchreid_style", "unknown_key")
    with pytest.raises(Exception) as info:
        compose(path)
    assert "MODEL.WIDTH" in str(info.value) and "unknown_key.yaml" in str(info.value)
