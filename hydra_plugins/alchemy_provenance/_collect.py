"""The provenance of a composed config, from Hydra's record of how it was composed.

Hydra keeps in ``hydra.runtime`` the config dirs (``config_sources``), the primary
config (``hydra.job.config_name``) and every group choice (``choices``); with
``hydra.overrides.task`` that is enough to find the files a job was composed from.
Each file's per-key sources come from the loader's table
(:mod:`alchemy_resolvers.provenance.lines`); a YAML file this process has not loaded (a
job in a fresh process) is read here, through the same per-process cache; a Python
file is not (it is code, and runs in the sweep's process only).

Checked on hydra-core 1.3.2 and 1.3.8 (``hydra.runtime.config_sources``/``choices``).
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Optional, Tuple

from omegaconf import DictConfig, OmegaConf

from alchemy_resolvers.errors import AlchemyError
from alchemy_resolvers.lowering import config_dir
from alchemy_resolvers.provenance import lines, report
from alchemy_resolvers.provenance.attribute import Candidate, attribute, render

_HEADER = re.compile(r"^#\s*@package\s+(\S+)", re.M)
_SKIP_ROOT = ("defaults", "hydra")


def entries(config: DictConfig, hydra: Any) -> Dict[str, Dict[str, Any]]:
    """``{dotted leaf: {value, source}}`` for ``config`` (``hydra``: its hydra node)."""
    final = lines.leaves(_raw_without_hydra(config))
    base_dir = OmegaConf.select(hydra, "runtime.cwd") or os.getcwd()
    dirs = [s.path for s in hydra.runtime.config_sources if s.schema in ("alchemy", "file")]
    choices = {k: v for k, v in hydra.runtime.choices.items() if v is not None}
    candidates: List[Candidate] = []
    for key, option in choices.items():
        group, _, package = key.partition("@")
        if group == "hydra" or group.startswith("hydra/"):
            continue
        cand = _candidate(dirs, f"{group}/{option}", package or group.replace("/", "."), base_dir)
        if cand is not None:
            candidates.append(cand)
    primary = hydra.job.config_name and _candidate(dirs, hydra.job.config_name, "", base_dir)
    if primary:
        candidates.append(primary)
    sources = attribute(final, list(hydra.overrides.task), set(choices), candidates)
    return {k: {"value": _value(config, k, v), "source": sources[k]} for k, v in final.items()}


def _raw_without_hydra(config: DictConfig) -> Dict[str, Any]:
    """The job's own part, unresolved (converting ``hydra`` too would double the cost)."""
    out: Dict[str, Any] = {}
    for key in config.keys():
        if key == "hydra":
            continue
        node = config._get_node(key)
        out[key] = OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node._value()
    return out


def _value(config: DictConfig, key: str, raw: Any) -> Any:
    if not (isinstance(raw, str) and "${" in raw) and not isinstance(raw, (list, dict)):
        return report.plain(raw)  # nothing to resolve: skip OmegaConf's select
    try:
        value = OmegaConf.select(config, key, throw_on_missing=False)
    except Exception:  # noqa: BLE001 - an unresolvable value is shown as written
        return report.plain(raw)
    if isinstance(value, DictConfig) or OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    return report.plain(value)


# (real path, package, base dir) -> (stamps of the files it read, Candidate): a sweep
# asks for the same files once per job.
_memo: Dict[Tuple[str, str, str], Tuple[Any, Candidate]] = {}


def _candidate(dirs: List[str], config_path: str, package: str, base_dir: str) -> Optional[Candidate]:
    found = config_dir.tuned_caps_file(config_path)
    for d in dirs if found is None else []:
        found = config_dir.find_config_file(d, config_path)
        if found:
            break
    if found is None:
        return _structured(config_path, package)
    real = os.path.realpath(found)
    memo_key = (real, package, base_dir)
    hit = _memo.get(memo_key)
    if hit is not None and _stamps(hit[0]) == hit[0]:
        return hit[1]
    cand = _file_candidate(real, config_path, package, base_dir)
    if cand is not None:
        files = sorted({real, *config_dir.files_read(real)})
        _memo[memo_key] = (_stamps(tuple((f, 0, 0) for f in files)), cand)
    return cand


def _stamps(stamps: Any) -> Any:
    out = []
    for f, _, _ in stamps:
        try:
            st = os.stat(f)
            out.append((f, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((f, -1, -1))
    return tuple(out)


def _file_candidate(real: str, config_path: str, package: str, base_dir: str) -> Optional[Candidate]:
    if real.endswith(".py") and lines.sources_of(real) is None:
        # A Python config file is code and runs in the sweep's process only (a job in
        # a fresh process gets the composed config): never execute it here just to
        # attribute values. Its keys are then `unknown` in this job's provenance.
        return None
    try:
        tree = config_dir.load_config_file(real)
    except AlchemyError:
        return None
    values = lines.leaves({k: v for k, v in tree.items() if k not in _SKIP_ROOT} if isinstance(tree, dict) else {})
    recorded = lines.sources_of(real)
    if recorded is None and not real.endswith(".py") and not _inherits(tree):
        recorded = {k: (real, None, ()) for k in values}
    sources = {k: render(s, base_dir) for k, s in (recorded or {}).items()}
    pkg = "" if config_dir.tuned_caps_file(config_path) else _package(real, package, config_path)
    return Candidate(pkg, values, sources)


def _inherits(tree: Any) -> bool:
    return isinstance(tree, dict) and ("_base_" in tree or "_BASE_" in tree)


def _package(real: str, default: str, config_path: str) -> str:
    with open(real, encoding="utf-8", errors="replace") as f:
        match = _HEADER.search(f.read(512))
    package = match.group(1) if match else (config_dir.default_package(real) or default)
    if package == "_global_":
        return ""
    if package == "_group_":
        return os.path.dirname(config_path).replace("/", ".")
    return package


def _structured(config_path: str, package: str) -> Optional[Candidate]:
    """A config from Hydra's ConfigStore: each leaf is the default of its dataclass."""
    from hydra.core.config_store import ConfigStore

    try:
        node = ConfigStore.instance().load(config_path + ".yaml")
    except Exception:  # noqa: BLE001 - not in the store either: unknown
        return None
    cfg = node.node
    values = lines.leaves(OmegaConf.to_container(cfg, resolve=False))
    values = {k: v for k, v in values.items() if k.split(".")[0] not in _SKIP_ROOT}
    sources: Dict[str, str] = {}
    _structured_sources(cfg, "", sources)
    pkg = node.package if node.package not in (None, "_group_") else package
    return Candidate("" if pkg == "_global_" else pkg, values, sources)


def _structured_sources(cfg: Any, prefix: str, out: Dict[str, str]) -> None:
    cls = OmegaConf.get_type(cfg)
    for key in cfg.keys():
        child = cfg._get_node(key)
        dotted = f"{prefix}{key}"
        if isinstance(child, DictConfig) and not child._is_none() and not child._is_missing() and len(child):
            _structured_sources(child, dotted + ".", out)
        elif cls is not None and cls is not dict:
            out[dotted] = f"default of {cls.__name__}"
