"""The corpus part of ``bench_loaders.py``: real configs, native tool against ours.

Each row is a corpus (a project's configs, or a YACS tree); each column the mean
milliseconds per file of one way to load it, and its ratio to the native tool. The
corpus comes from ``tests/real_configs.py`` (downloaded once into a cache).
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

Case = Tuple[Path, Callable[[], Any], Callable[[], Any], Callable[[], Any], Callable[[], Any], Callable[[], Any]]


def clear_caches() -> None:
    """Forget every parsed, compiled or served file, as a fresh process would."""
    from alchemy_resolvers.loading import common
    from alchemy_resolvers.lowering import config_dir

    common._stamped.clear()
    config_dir.clear_cache()


def compose(config_dir: Path, name: str) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return hydra_compose(name)


def as_yaml(load: Callable[[], Any], tmp: Path, name: str) -> Callable[[], Any]:
    """A compose of the same tree written as a plain YAML file: Hydra's own cost."""

    from alchemy_resolvers.loading.yaml_loader import dump_yaml

    tree = load().to_dict()
    path = tmp / f"{name}.yaml"
    path.write_text(dump_yaml(_escaped(tree)))
    return lambda: compose(tmp, name)


def _escaped(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _escaped(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_escaped(v) for v in tree]
    return tree.replace("${", "\\${") if isinstance(tree, str) else tree


def mm_cases(project: str, per_project: int, tmp: Path) -> List[Case]:
    import real_configs as rc
    from mmengine import Config

    from alchemy_resolvers.loading.alchemy import load_tree
    from alchemy_resolvers.lowering.lower import load_config

    paths, _ = rc.configs(project)
    root = rc.fetch(project)
    step = max(1, len(paths) // per_project)
    cases: List[Case] = []
    for path in paths[::step]:
        if len(cases) == per_project:
            break
        try:  # only configs the native tool loads (some are refused by both)
            Config.fromfile(str(path), import_custom_modules=False)
        except Exception:  # noqa: BLE001
            continue
        rel = str(path.relative_to(root).with_suffix(""))
        cases.append((
            path,
            lambda p=path: Config.fromfile(str(p), import_custom_modules=False).to_dict(),
            lambda p=path: load_tree(p),
            lambda p=path: load_config(p),
            lambda r=rel: compose(root, r),
            as_yaml(lambda p=path: load_config(p), tmp, f"{project}_{len(cases)}"),
        ))
    return cases


def yacs_cases(defaults: Path, experiments: List[Path], tmp: Path) -> List[Case]:
    from alchemy_resolvers.loading.alchemy import load_tree
    from alchemy_resolvers.lowering.lower import load_config

    def native(exp: Path) -> Any:
        namespace: Dict[str, Any] = {"__name__": "native_defaults"}
        exec(compile(defaults.read_text(), str(defaults), "exec"), namespace)  # noqa: S102 - fixture
        node = namespace["_C"].clone()
        node.merge_from_file(str(exp))
        return node

    cases: List[Case] = []
    for i, exp in enumerate(experiments):
        cfg = tmp / f"{defaults.parent.name}_{i}.py"
        cfg.write_text(f"from alchemy_resolvers import Config\ncfg = Config(caps=({str(defaults)!r}, {str(exp)!r}))\n")
        cases.append((exp, lambda e=exp: native(e), lambda c=cfg: load_tree(c), lambda c=cfg: load_config(c),
                      lambda c=cfg: compose(c.parent, c.stem),
                      as_yaml(lambda c=cfg: load_config(c), tmp, f"{cfg.stem}_yaml")))
    return cases


def measure(cases: List[Case]) -> Dict[str, Tuple[float, float]]:
    """Mean ms per file, cold (caches cleared before each file) and warm (again)."""
    out: Dict[str, Tuple[float, float]] = {}
    for col, idx in (("native", 1), ("loader", 2), ("load_config", 3), ("compose", 4), ("yaml", 5)):
        cold: List[float] = []
        warm: List[float] = []
        for case in cases:
            clear_caches()
            for bucket in (cold, warm):
                start = time.perf_counter()
                case[idx]()
                bucket.append((time.perf_counter() - start) * 1000)
        out[col] = (statistics.mean(cold), statistics.mean(warm))
    return out


def run_corpus(per_project: int) -> None:
    warnings.simplefilter("ignore")
    tmp = Path(tempfile.mkdtemp(prefix="bench-corpus-"))
    corpora: List[Tuple[str, List[Case]]] = []
    try:
        import real_configs as rc

        for project in rc.PROJECTS:
            corpora.append((project, mm_cases(project, per_project, tmp)))
    except Exception as e:  # noqa: BLE001 - offline or mmengine missing: YACS rows only
        print(f"(OpenMMLab corpus unavailable: {e})", file=sys.stderr)
    fixtures = REPO / "tests" / "fixtures"
    corpora.append(("detectron2 style (fvcore)", yacs_cases(
        fixtures / "d2_tree" / "defaults.py",
        [p for p in sorted((fixtures / "d2_tree" / "configs").rglob("*.yaml")) if "RetinaNet" not in p.name], tmp)))
    corpora.append(("HRNet style (yacs)", yacs_cases(
        fixtures / "hrnet_tree" / "default.py", sorted((fixtures / "hrnet_tree").rglob("*.yaml")), tmp)))
    print("ms per file (ratio to the native tool); 'compose' is hydra.compose of the file through")
    print("alchemy://, 'same as YAML' hydra.compose of the same tree written as plain YAML (Hydra's own cost)")
    print(f"{'corpus':27s} {'files':>5s}  {'':5s} {'native ms':>9s} {'loader':>15s} {'load_config':>15s} "
          f"{'compose':>15s} {'same as YAML':>15s}")
    for name, cases in corpora:
        if not cases:
            continue
        result = measure(cases)
        for i, phase in enumerate(("cold", "warm")):
            base = result["native"][i]
            cols = " ".join(f"{result[c][i]:7.2f} ({result[c][i] / base:4.2f}x)" for c in ("loader", "load_config", "compose", "yaml"))
            print(f"{name if i == 0 else '':27s} {len(cases) if i == 0 else '':>5} {phase:5s} {base:9.2f} {cols}")
