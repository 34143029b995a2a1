"""Differential suite: real configs of other projects, loaded by us and by their own tool.

For every config the tree we compose must equal the native tool's (after tuples ->
lists), or the test names the config and the first differing key. Corpora:

- OpenMMLab projects (mmdet, mmsegmentation, mmpretrain, mmaction2, mmagic): the
  ``.mim/configs`` trees of their released wheels, fetched at test time into a cache
  (``tests/real_configs.py``; big projects are sampled deterministically), compared
  with ``mmengine.Config.fromfile``; every 20th is also composed through Hydra.
- detectron2 style (``tests/fixtures/d2_tree``): fvcore ``_BASE_`` YAML on a defaults
  module, compared with fvcore's ``CfgNode.merge_from_file``; each YAML alone through
  Hydra, compared with ``CfgNode.load_yaml_with_base``.
- HRNet style (``tests/fixtures/hrnet_tree``): yacs ``_C`` + experiment YAML, compared
  with yacs's ``merge_from_file``.

A table of counts per project and format is printed at the end (``-s`` not needed).
Marked ``slow``: ``pytest -m slow tests/test_differential.py``.
"""
from __future__ import annotations

import collections
import re
import types
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
from omegaconf import OmegaConf

import alchemy_resolvers  # noqa: F401 - registers the resolvers
import real_configs as rc
from alchemy_resolvers.errors import AlchemyError
from alchemy_resolvers.lowering.lower import load_config

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent / "fixtures"
D2_TREE = FIXTURES / "d2_tree"
HRNET_TREE = FIXTURES / "hrnet_tree"
HYDRA_EVERY = 20

Row = Dict[str, Any]
TABLE: Dict[Tuple[str, str], Row] = collections.OrderedDict()


@pytest.fixture(scope="module", autouse=True)
def print_table(request: pytest.FixtureRequest) -> Any:
    yield
    lines = [f"{'project':16s} {'format':22s} {'configs':>13s} {'equal':>6s} {'refused by both':>16s} {'differ':>7s}  note"]
    for (project, fmt), row in TABLE.items():
        count = f"{row['checked']}/{row['total']}"
        lines.append(f"{project:16s} {fmt:22s} {count:>13s} {row['equal']:6d} {row['both_refuse']:16d} "
                     f"{len(row['differ']):7d}  {row['note']}")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n\ndifferential suite: configs equal to the native tool's result")
        for line in lines:
            print(line)


def new_row(project: str, fmt: str, total: int, checked: int, note: str) -> Row:
    row: Row = {"total": total, "checked": checked, "equal": 0, "both_refuse": 0, "differ": [], "note": note}
    TABLE[(project, fmt)] = row
    return row


def compare(row: Row, name: str, ours: Callable[[], Any], native: Callable[[], Any]) -> None:
    """Load both ways and record the outcome in ``row``."""
    try:
        expected, native_error = rc.lists(native()), None
    except Exception as e:  # noqa: BLE001 - any refusal of the native tool
        expected, native_error = None, e
    try:
        got, our_error = rc.lists(ours()), None
    except Exception as e:  # noqa: BLE001
        got, our_error = None, e
    if native_error is not None and our_error is not None:
        row["both_refuse"] += 1
        return
    if our_error is not None:
        row["differ"].append(f"{name}: we refuse: {type(our_error).__name__}: {str(our_error)[:300]}")
        return
    if native_error is not None:
        row["differ"].append(f"{name}: the native tool refuses ({type(native_error).__name__}: "
                             f"{str(native_error)[:200]}), we load it")
        return
    difference = rc.first_difference(got, expected)
    if difference:
        row["differ"].append(f"{name}: first difference at {difference}")
    else:
        row["equal"] += 1


def assert_no_difference(row: Row) -> None:
    assert not row["differ"], f"{len(row['differ'])} config(s) differ:\n" + "\n".join(row["differ"])


def compose(config_dir: Path, name: str) -> Any:
    from conftest import hydra_compose

    cfg = OmegaConf.to_container(hydra_compose(config_dir, name), resolve=True)
    # Hydra places a primary config from a subdirectory at that directory's package
    for part in name.split("/")[:-1]:
        if isinstance(cfg, dict) and list(cfg) == [part]:
            cfg = cfg[part]
    return cfg


# ------------------------------------------------------------------------ OpenMMLab


def mmengine_native(path: Path) -> Any:
    from mmengine import Config

    tree = Config.fromfile(str(path), import_custom_modules=False).to_dict()
    # mmengine keeps top-level functions of a file in its dict; a config tree cannot
    # hold them and we drop them (README, section 8)
    return {k: v for k, v in tree.items() if not isinstance(v, types.FunctionType)}


@pytest.mark.parametrize("project", list(rc.PROJECTS))
def test_openmmlab_configs_equal_mmengine(project: str) -> None:
    pytest.importorskip("mmengine")
    try:
        paths, total = rc.configs(project)
    except RuntimeError as e:
        pytest.skip(f"cannot fetch {project}: {e}")
    root = rc.fetch(project)
    sampled = "" if len(paths) == total else f"every {total / len(paths):.1f}th, sorted by path"
    row = new_row(project, "mmengine .py", total, len(paths), sampled)
    hydra_row = new_row(project, "  composed by Hydra", len(paths), len(paths[::HYDRA_EVERY]), f"every {HYDRA_EVERY}th of those")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, path in enumerate(paths):
            name = str(path.relative_to(root))
            compare(row, name, lambda: load_config(path).to_dict(), lambda: mmengine_native(path))
            if i % HYDRA_EVERY == 0:
                rel = path.relative_to(root).with_suffix("")
                compare(hydra_row, name, lambda: compose(root, str(rel)), lambda: mmengine_native(path))
    assert_no_difference(row)
    assert_no_difference(hydra_row)


# ------------------------------------------------------------- detectron2 and HRNet


def caps_file(tmp_path: Path, defaults: Path, experiment: Path) -> Path:
    path = tmp_path / f"exp_{abs(hash(str(experiment)))}.py"
    path.write_text(f"from alchemy_resolvers import Config\n\ncfg = Config(caps=({str(defaults)!r}, {str(experiment)!r}))\n")
    return path


def native_merge(defaults: Path, experiment: Path) -> Any:
    namespace: Dict[str, Any] = {"__name__": "native_defaults"}
    exec(compile(defaults.read_text(), str(defaults), "exec"), namespace)  # noqa: S102 - our fixture
    node = namespace["_C"].clone()
    node.merge_from_file(str(experiment))
    return node


_FLOAT = re.compile(r"^[-+]?(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)[eE][-+]?\d+$")


def omegaconf_floats(tree: Any) -> Any:
    """fvcore's PyYAML reads ``2e-2`` as a string, OmegaConf's YAML as 0.02: the one
    documented difference of a YAML file served by Hydra (README, section 8). In a
    merge onto defaults, yacs decodes the string to the same float."""
    if isinstance(tree, dict):
        return {k: omegaconf_floats(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [omegaconf_floats(v) for v in tree]
    return float(tree) if isinstance(tree, str) and _FLOAT.match(tree) else tree


def yaml_files(root: Path) -> List[Path]:
    return sorted(root.rglob("*.yaml"))


def test_detectron2_style_tree_equals_fvcore(tmp_path: Path) -> None:
    fvcore_config = pytest.importorskip("fvcore.common.config")
    configs = D2_TREE / "configs"
    files = yaml_files(configs)
    merged = new_row("detectron2 style", "fvcore _BASE_ + defaults", len(files), len(files),
                     "fixtures; Base-RetinaNet needs yaml.unsafe_load")
    alone = new_row("detectron2 style", "  YAML alone, by Hydra", len(files), len(files),
                    "OmegaConf's float rule applied to fvcore's result (README)")
    for path in files:
        name = str(path.relative_to(configs))
        compare(merged, name, lambda: load_config(caps_file(tmp_path, D2_TREE / "defaults.py", path)).to_dict(),
                lambda: native_merge(D2_TREE / "defaults.py", path))
        rel = path.relative_to(configs).with_suffix("")
        compare(alone, name, lambda: compose(configs, str(rel)),
                lambda: omegaconf_floats(fvcore_config.CfgNode.load_yaml_with_base(str(path))))
    assert merged["both_refuse"] == 1 and alone["both_refuse"] == 1  # Base-RetinaNet
    assert_no_difference(merged)
    assert_no_difference(alone)


def test_yaml_python_tags_are_refused_naming_the_file() -> None:
    with pytest.raises(AlchemyError) as info:
        load_config(D2_TREE / "configs" / "Base-RetinaNet.yaml")
    assert "Base-RetinaNet.yaml" in str(info.value)


def test_hrnet_style_tree_equals_yacs(tmp_path: Path) -> None:
    pytest.importorskip("yacs")
    files = yaml_files(HRNET_TREE / "experiments")
    row = new_row("HRNet style", "yacs _C + merge_from_file", len(files), len(files), "fixtures")
    for path in files:
        name = str(path.relative_to(HRNET_TREE))
        compare(row, name, lambda: load_config(caps_file(tmp_path, HRNET_TREE / "default.py", path)).to_dict(),
                lambda: native_merge(HRNET_TREE / "default.py", path))
        assert row["differ"] or row["equal"], name
    assert_no_difference(row)
