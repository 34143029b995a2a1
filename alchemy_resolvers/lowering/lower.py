"""Lower a loaded ``Config`` tree into the plain tree Hydra composes.

OmegaConf holds primitives and containers only. A Python config also holds DEPs,
Param2Tune axes and arbitrary objects (classes, functions, transforms). Each of those
is kept in the process-local :mod:`~alchemy_resolvers.registry` and replaced by an
interpolation naming its token:

- ``DEP`` at key K   -> ``${alchemy_pydep:TOKEN,N}``: ``fn(c)`` computed on every read,
  so a Hydra override of a source key is reflected; ``N`` is how many levels ``c``
  (the DEP's rel root) sits above K's parent container, ``-1`` for the whole config.
  Counting from the parent keeps it right wherever Hydra mounts the file.
- ``P_DEP``          -> ``${alchemy_pdep:TOKEN,N}``: same resolution (a single run
  works); the alchemy sweeper replaces them per job with :func:`compute_pdeps`.
- ``Param2Tune``     -> ``${alchemy_param:TOKEN}``: an error outside a sweep; the
  sweeper finds them with :func:`find_params` (the very objects of the file, so
  constraints that read ``cfg.x.cur_val`` keep working).
- anything else that is not ``None``/bool/int/float/str -> ``${alchemy_obj:TOKEN}``:
  reading it gives back the same object (``cfg.opt.cls is torch.optim.AdamW``), and
  the saved ``.hydra/config.yaml`` shows the interpolation, which ``OmegaConf.load``
  reads back (the object only exists where the ``.py`` file was loaded).

Tuples become lists (OmegaConf 2.3 has no tuple node). Sets and dict keys other than
str/int/float/bool/None/Enum are errors naming the file and key. Strings pass through,
so ``${...}`` interpolations written in an AlchemyCat ``.py`` file work as in YAML (the
loader already made the strings of MMCV/YACS/plain Python configs text).

Tokens come from the served file's real path and the key, so every process loading
the same file gets the same tokens (Hydra re-composes configs in launcher workers).
"""
from __future__ import annotations

import os
import re
from typing import Any, Dict, List, Optional, Tuple

from omegaconf import DictConfig, ListConfig, Node, OmegaConf

from alchemy_resolvers import registry
from alchemy_resolvers._compat import register_resolver
from alchemy_resolvers.authoring.config import Config
from alchemy_resolvers.authoring.dep import DEP, P_DEP
from alchemy_resolvers.authoring.params import param_definition_index
from alchemy_resolvers.authoring.tune import Param2Tune
from alchemy_resolvers.deps.resolvers import ConfigView, DepError, compute_entry, node_key, relative_root
from alchemy_resolvers.errors import AlchemyError
from alchemy_resolvers.lowering.tuned_caps import TUNED_CAPS_GROUP, tuned_caps_option

__all__ = [
    "load_for_hydra",
    "load_config",
    "lower",
    "compute_pdeps",
    "find_params",
    "register",
    "LoweringError",
]

_PRIMITIVES = (type(None), bool, int, float, str)

_PDEP_RE = re.compile(r"^\$\{alchemy_pdep:([A-Za-z0-9]+),(-?\d+)\}$")
_PARAM_RE = re.compile(r"^\$\{alchemy_param:([A-Za-z0-9]+)\}$")


class LoweringError(AlchemyError, ValueError):
    """A Python config value cannot be expressed for Hydra; the message names file and key."""


# ----------------------------------------------------------------------- lowering


def load_for_hydra(path: str) -> Dict[Any, Any]:
    """Load the config file ``path`` (AlchemyCat/MMCV/YACS ``.py``, YAML, JSON) with its
    ``caps`` resolved, and return the plain tree for ``OmegaConf.create``."""
    from alchemy_resolvers.loading.alchemy import find_config_path, load_tree  # runs code: lazy

    real = find_config_path(path)
    return lower(load_tree(real), real)


def load_config(path: str, resolve: bool = True) -> Config:
    """Load a config file like AlchemyCat's ``load_config`` (without the experiment
    dir): caps resolved, and with ``resolve`` every DEP computed (through the same
    OmegaConf resolvers Hydra uses) and the tree frozen."""
    from alchemy_resolvers.loading.alchemy import find_config_path, load_tree  # runs code: lazy

    real = find_config_path(path)
    tree = load_tree(real)
    if not resolve:
        return tree
    plain = OmegaConf.to_container(OmegaConf.create(lower(tree, real)), resolve=True)
    return type(tree)(plain).freeze()


def lower(tree: Any, path: str) -> Dict[Any, Any]:
    """The plain tree of a loaded ``Config`` ``tree`` from file ``path`` (see module doc)."""
    register()
    real = os.path.realpath(path)
    out = _lower_value(tree, (), real)
    if not isinstance(out, dict):  # pragma: no cover - load_tree always gives a Config
        raise LoweringError(f"{path}: the config must be a mapping")
    tuned = tree.__dict__.get("_ac_tuned_caps")
    if tuned is not None:
        out = _with_tuned_caps_group(out, tuned, real)
    return out


def _with_tuned_caps_group(out: Dict[Any, Any], tuned: Any, path: str) -> Dict[Any, Any]:
    """Put the tuned base first in the defaults list, as a group the sweeper sweeps."""
    token = registry.register(tuned, path, "caps", "p")
    defaults = list(out.get("defaults") or [])
    if "_self_" not in defaults:
        defaults.append("_self_")
    return dict(out, defaults=[{f"/{TUNED_CAPS_GROUP}/{token}": tuned_caps_option(0)}] + defaults)


def _lower_value(value: Any, keys: Tuple[Any, ...], path: str) -> Any:
    if isinstance(value, _PRIMITIVES) and not _is_enum(value):
        return value
    if isinstance(value, dict):
        if isinstance(value, Config) or type(value) is dict or _is_plain_mapping(value):
            return {_checked_key(k, keys, path): _lower_value(v, keys + (k,), path) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return [_lower_value(v, keys + (i,), path) for i, v in enumerate(value)]
    dotted = _dotted(keys)
    if isinstance(value, (set, frozenset)):
        raise LoweringError(
            f"{path}: `{dotted}` is a {type(value).__name__}, which a Hydra/OmegaConf config "
            "cannot hold (its order is not even fixed)",
            file=path, key=dotted, hint="use a sorted list, e.g. sorted({...})",
        )
    if isinstance(value, DEP):
        depth = _dep_depth(value, keys, path)
        kind, resolver = ("pd", "alchemy_pdep") if isinstance(value, P_DEP) else ("d", "alchemy_pydep")
        token = registry.register(value, path, dotted, kind)
        return "${" + f"{resolver}:{token},{depth}" + "}"
    if isinstance(value, Param2Tune):
        token = registry.register(value, path, dotted, "p")
        return "${alchemy_param:" + token + "}"
    token = registry.register(value, path, dotted, "o")
    return "${alchemy_obj:" + token + "}"


_KEY_TYPES = (str, int, float, bool, type(None))


def _checked_key(key: Any, keys: Tuple[Any, ...], path: str) -> Any:
    """A dict key OmegaConf can hold (str, int, float, bool, None, Enum), or an error
    naming the file and the key path: a tuple key (``{(1, 2): x}``) would otherwise
    fail deep inside OmegaConf, or be turned into something else."""
    if isinstance(key, _KEY_TYPES) or _is_enum(key):
        return key
    where = _dotted(keys)
    raise LoweringError(
        f"{path}: the mapping at `{where}` has the {type(key).__name__} key {key!r}; "
        "a Hydra/OmegaConf config only has str, int, float, bool, None or Enum keys",
        file=path, key=where, hint="use a str key (e.g. '1,2' for (1, 2)) or a list of pairs",
    )


def _is_enum(value: Any) -> bool:
    import enum

    return isinstance(value, enum.Enum)


def _is_plain_mapping(value: dict) -> bool:
    # dict subclasses from other config systems (yacs CfgNode, mmengine ConfigDict,
    # OrderedDict) are trees too; other dict subclasses with behaviour stay objects.
    name = type(value).__name__
    return name in ("CfgNode", "ConfigDict", "OrderedDict", "AttrDict", "ADict", "Dict")


def _dotted(keys: Tuple[Any, ...]) -> str:
    return ".".join(str(k) for k in keys) or "<root>"


def _dep_depth(dep: Any, keys: Tuple[Any, ...], path: str) -> int:
    parent_depth = len(keys) - 1  # depth of the container holding the DEP
    level = dep.level
    if level is None:  # never mounted in a Config (inside a list or a plain dict)
        return parent_depth
    if level < 0:
        return -1
    if level > parent_depth:
        raise LoweringError(
            f"{path}: the DEP at `{_dotted(keys)}` was defined {level} level(s) below its "
            f"config's root but now sits only {parent_depth} level(s) deep: its `c` "
            "would be above the file's root (use rel=False to read the whole config)",
            file=path, key=_dotted(keys), hint="use DEP(fn, rel=False) to read the whole config",
        )
    return level


# ----------------------------------------------------------------------- resolvers


def _compute(token: str, depth: Any, kind: str, _parent_: Node, _node_: Node, _root_: Node) -> Any:
    dep = registry.lookup(token)
    where = f"in `{node_key(_node_)}` ({kind} from {dep.file or registry.origin(token)[0]})"
    value = compute_entry(_node_, where, lambda: dep.fn(ConfigView(relative_root(_parent_, int(depth), _root_))))
    return _as_node_value(value, _parent_)


def _as_node_value(value: Any, parent: Node) -> Any:
    """Containers come back as config nodes (``cfg.x.y`` works on a DEP's dict)."""
    if isinstance(value, ConfigView):
        value = value.to_container()
    if isinstance(value, Config):
        value = value.to_dict()
    if isinstance(value, (dict, list)):
        try:
            return OmegaConf.create(value, parent=parent)
        except Exception:  # noqa: BLE001 - objects inside: keep the plain container
            return value
    return value


def _pydep(token: str, depth: Any = -1, *, _parent_: Node, _node_: Node, _root_: Node) -> Any:
    return _compute(token, depth, "DEP", _parent_, _node_, _root_)


def _pdep(token: str, depth: Any = -1, *, _parent_: Node, _node_: Node, _root_: Node) -> Any:
    return _compute(token, depth, "P_DEP", _parent_, _node_, _root_)


def _obj(token: str) -> Any:
    return registry.lookup(token)


def _param(token: str, *, _node_: Node) -> Any:
    try:
        file = registry.origin(token)[0]
    except KeyError:
        file = "a Python config not loaded in this process"
    raise DepError(
        f"`{node_key(_node_)}` is a Param2Tune (a grid axis) from {file}: run with -m "
        "to sweep it (a Cfg2Tune primary config picks hydra/sweeper=alchemy itself; "
        "otherwise add -m hydra/sweeper=alchemy)",
        file=file, key=node_key(_node_),
    )


def register() -> None:
    """Register the resolvers for lowered Python values; safe to call repeatedly."""
    register_resolver("alchemy_pydep", _pydep)
    register_resolver("alchemy_pdep", _pdep)
    register_resolver("alchemy_obj", _obj)
    register_resolver("alchemy_param", _param)


# ------------------------------------------------------------- sweeper helpers


def _raw_items(cfg: Any, prefix: str = "") -> List[Tuple[str, Any]]:
    """(dotted key, unresolved value) of every leaf, in tree order."""
    out: List[Tuple[str, Any]] = []
    if isinstance(cfg, DictConfig):
        keys = list(cfg.keys())
        get = cfg._get_node
    elif isinstance(cfg, ListConfig):
        keys = list(range(len(cfg)))
        get = cfg._get_node
    else:
        return out
    for k in keys:
        node = get(k)
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(node, (DictConfig, ListConfig)) and not node._is_interpolation() and not node._is_none() and not node._is_missing():
            out.extend(_raw_items(node, name))
        else:
            out.append((name, node._value() if node is not None else None))
    return out


def compute_pdeps(cfg: DictConfig) -> Dict[str, Any]:
    """``{dotted key: value}`` of every P_DEP in a composed config, computed now.

    The alchemy sweeper calls this per job (after the job's overrides, tuned values
    included, are applied) and turns the result into overrides, so the job's saved
    config shows the computed values. Containers come back as plain dicts/lists.
    """
    out: Dict[str, Any] = {}
    for key, raw in _raw_items(cfg):
        if isinstance(raw, str) and _PDEP_RE.match(raw):
            value = OmegaConf.select(cfg, key, throw_on_missing=True)
            if isinstance(value, (DictConfig, ListConfig)):
                value = OmegaConf.to_container(value, resolve=True)
            out[key] = value
    return out


def find_params(cfg: DictConfig) -> List[Tuple[str, Any]]:
    """``(dotted key, Param2Tune)`` of every grid axis in a composed config, without
    resolving anything, in definition order (the order the config files assigned
    them; tree order for any the loader did not see assigned)."""
    found: List[Tuple[str, Any]] = []
    for key, raw in _raw_items(cfg):
        if isinstance(raw, str):
            m = _PARAM_RE.match(raw)
            if m:
                found.append((key, registry.lookup(m.group(1))))
    order = {id(p): i for i, (_, p) in enumerate(found)}

    def rank(item: Tuple[str, Any]) -> Tuple[float, int]:
        idx: Optional[int] = param_definition_index(item[1])
        return (float("inf") if idx is None else idx, order[id(item[1])])

    return sorted(found, key=rank)
