"""Load any config file into a ``Config`` tree: :func:`load` (= :func:`load_tree`).

One function for every format: AlchemyCat ``.py`` files run here (with their
``caps`` resolved); MMCV/plain ``.py``, YACS defaults, YAML and JSON go through the
foreign loaders (:mod:`~alchemy_resolvers.loading.foreign`) and become a tree.

Finding files named by ``caps`` or ``Config('path')``: AlchemyCat configs spell paths
from the project root (``caps='configs/mnist/base/cfg.py'``) and AlchemyCat resolves
them against the working directory only, which breaks as soon as something else picks
the working directory (Hydra's run dir, a test's tmp dir, a cluster job). A relative
path is looked up (1) as given when absolute, (2) under the working directory, then
(3) under each directory that contains the requesting file, nearest first (the file's
own directory, its parent, ... up to ``/``). The first existing file wins; a missing
one is an error that names the requesting file and every place searched.

Loading a Python config executes its source in a fresh namespace every time (compiled
with its real file name, so tracebacks show ``file:line``); it is never imported as a
module, so loading a base, then a child that changes it, then the base again gives the
base's own values each time (AlchemyCat mutates the cached module's ``cfg``).

Cycles in ``caps``/composition chains are found by :mod:`~alchemy_resolvers.loading.cycles`,
as for MMCV ``_base_`` and fvcore ``_BASE_`` chains. Importing this module installs
:func:`load_tree` as the loader the authoring API uses for ``Config('file')``.
"""
from __future__ import annotations

import builtins
import contextlib
import os
from typing import Any, Dict, Iterator, List, Optional, Set, Tuple, Union

from alchemy_resolvers.authoring import context
from alchemy_resolvers.authoring.config import Config, merge_under
from alchemy_resolvers.authoring.params import is_param
from alchemy_resolvers.loading import cycles
from alchemy_resolvers.loading.annotate import annotate_tree, annotate_value, as_text
from alchemy_resolvers.loading.common import compiled_python, run_config
from alchemy_resolvers.loading.detect import detect_python_format
from alchemy_resolvers.loading.errors import (
    CapsNotFoundError,
    ConfigExecutionError,
    InheritanceCycleError,
    UnsupportedConfigError,
)
from alchemy_resolvers.loading.foreign import load_foreign
from alchemy_resolvers.provenance import lines as provenance
from alchemy_resolvers.loading.yacs import load_yacs_node, merge_yacs_yaml, yacs_new_allowed_paths, yacs_to_dict

__all__ = ["load", "load_tree", "find_config_path", "loaded_files", "TunedCaps", "CapsNotFoundError"]

PathLike = Union[str, "os.PathLike[str]"]

_DATA_EXTS = (".yaml", ".yml", ".json")


# ------------------------------------------------------------------ load context


@contextlib.contextmanager
def _loading_file(path: str) -> Iterator[None]:
    cycles.enter(context.loading_stack(), path, "config inheritance/composition")
    token = context.push_file(path)
    try:
        yield
    finally:
        context.pop_file(token)


# Files read by the loads running inside :func:`loaded_files` (a cache checks them).
_collectors: List[Set[str]] = []


def _note_loaded(path: str) -> None:
    for collected in _collectors:
        collected.add(path)


@contextlib.contextmanager
def loaded_files() -> Iterator[Set[str]]:
    """Collect the real path of every config file loaded inside the block (the file,
    its caps and composed files, at any depth)."""
    collected: Set[str] = set()
    _collectors.append(collected)
    try:
        yield collected
    finally:
        _collectors.remove(collected)


# ----------------------------------------------------------------------- loading


def find_config_path(path: PathLike, requester: Optional[str] = None) -> str:
    """Real path of the config file ``path`` asked for by ``requester`` (see the
    module doc for the search order); :class:`CapsNotFoundError` when missing."""
    path = os.fspath(path)
    expanded = os.path.expanduser(path)
    if os.path.isabs(expanded):
        if os.path.isfile(expanded):
            return os.path.realpath(expanded)
        searched = [expanded]
    else:
        candidates = [os.getcwd()]
        if requester:
            d = os.path.dirname(os.path.abspath(requester))
            while True:
                if d not in candidates:
                    candidates.append(d)
                parent = os.path.dirname(d)
                if parent == d:
                    break
                d = parent
        for d in candidates:
            full = os.path.join(d, expanded)
            if os.path.isfile(full):
                return os.path.realpath(full)
        searched = [os.path.join(d, expanded) for d in candidates]
    asker = f"`{requester}`" if requester else "the caller"
    raise CapsNotFoundError(
        f"config file {path!r} asked for by {asker} was not found; searched (the working "
        "directory, then each directory containing the asking file):\n  "
        + "\n  ".join(searched),
        file=requester,
        hint=f"fix the path {path!r} (relative paths are tried from the working directory, "
        "then from the asking file's directory upwards), or create the file",
    )


def load_tree(path: PathLike, requester: Optional[str] = None) -> Config:
    """Load one config file (any supported format) into a fresh :class:`Config` tree
    with its ``caps`` resolved and its DEPs still unevaluated."""
    real = find_config_path(path, requester)
    with _loading_file(real):
        _note_loaded(real)
        ext = os.path.splitext(real)[1].lower()
        if ext == ".py":
            fmt = detect_python_format(real)
            if fmt == "alchemy":
                return _load_alchemy(real)
            # MMCV, mmengine and yacs never interpolate: their strings are text
            if fmt == "yacs":
                node = load_yacs_node(real)
                tree = Config(as_text(yacs_to_dict(node)))
                object.__setattr__(tree, "_ac_format", "yacs")
                object.__setattr__(tree, "_ac_yacs_new_allowed", frozenset(yacs_new_allowed_paths(node)))
                object.__setattr__(tree, "_ac_yacs_keys", node if hasattr(node, "key_is_deprecated") else None)
                return tree
            return Config(as_text(load_foreign(real, fmt=fmt)))
        if ext in _DATA_EXTS:
            # ``c`` of a ``${dep:...}`` in this file is this file's root, wherever its
            # tree ends up: stamp depths now, before it is merged or composed.
            tree = load_foreign(real)
            if not (isinstance(tree, dict) and ("_base_" in tree or "_BASE_" in tree)):
                # inherited YAML is left unknown: its keys may come from its bases
                provenance.note_file(real, {k: (real, None, ()) for k in provenance.leaves(tree)})
            return Config(annotate_tree(tree))
        raise UnsupportedConfigError(
            f"{real}: cannot load a config with extension {ext!r}; "
            "supported: .py (AlchemyCat, MMCV, YACS), .yaml, .yml, .json",
            file=real,
        )



load = load_tree





def _compile(path: str) -> Any:
    return compiled_python(path)


def _load_alchemy(path: str) -> Config:
    code = _compile(path)
    namespace: Dict[str, Any] = {
        "__name__": "__alchemy_config__",
        "__file__": path,
        "__builtins__": builtins,
    }
    # Errors of inherited/composed files already name the file they are about.
    with provenance.recording(path) as events:
        run_config(code, path, namespace, passthrough=(ConfigExecutionError, InheritanceCycleError, CapsNotFoundError))
    tree = _config_of(namespace, path)
    own = provenance.leaf_lines(tree, events)
    caps = _caps_files(tree, path)
    _resolve_caps(tree, path)
    _note_sources(path, own, caps)
    return tree


def _caps_files(tree: Config, path: str) -> List[Tuple[str, str]]:
    """``(dotted prefix, real path)`` of every ``caps`` file, in the order they are
    overridden (outer nodes first, left to right): for provenance only, so a path
    that cannot be found is skipped (resolving the caps reports it)."""
    out: List[Tuple[str, str]] = []
    for name, node in tree.named_branches:
        for entry in node._ac_caps:
            if isinstance(entry, (str, os.PathLike)):
                try:
                    out.append((name + "." if name else "", find_config_path(entry, node._ac_caps_from or path)))
                except CapsNotFoundError:
                    pass
    return out


def _note_sources(path: str, own: Dict[str, int], caps: List[Tuple[str, str]]) -> None:
    """Record where each leaf of ``path``'s loaded tree came from (last writer wins)."""
    sources: Dict[str, provenance.Source] = {}
    for prefix, base in caps:
        based = provenance.sources_of(base)
        if based is None:  # a format whose keys are not recorded: unknown, not this file
            sources = {k: v for k, v in sources.items() if not k.startswith(prefix)}
            continue
        sources.update(provenance.with_base(prefix, based, path))
    sources.update({k: (path, line, ()) for k, line in own.items()})
    provenance.note_file(path, sources)


def _config_of(namespace: Dict[str, Any], path: str) -> Config:
    has_cfg, has_config = "cfg" in namespace, "config" in namespace
    if has_cfg and has_config and namespace["cfg"] is not namespace["config"]:
        raise UnsupportedConfigError(
            f"{path} defines both `cfg` and `config` and they differ: keep one of them"
        )
    if not (has_cfg or has_config):
        raise UnsupportedConfigError(
            f"{path} defines neither `cfg` nor `config`: an AlchemyCat config file must "
            "end with its tree in a variable named `cfg` (e.g. `cfg = Config()`)"
        )
    tree = namespace["cfg"] if has_cfg else namespace["config"]
    if isinstance(tree, Config):
        return tree
    if isinstance(tree, dict):
        return Config(tree)
    raise UnsupportedConfigError(
        f"{path}: `cfg` must be a Config (or a dict), got {type(tree).__name__}"
    )


def _resolve_caps(tree: Config, path: str) -> None:
    """Resolve ``caps`` of every node of ``tree`` (children before parents), then stamp
    ``${dep:...}`` strings with their depth below this file's root."""
    for node in list(tree.branches)[::-1]:  # deepest first
        if node._ac_caps:
            _apply_caps(node, path)
    _annotate_strings(tree, 0)


def _apply_caps(node: Config, path: str) -> None:
    caps = node._ac_caps
    requester = node._ac_caps_from or path
    base: Config = type(node)._blank()
    for position, entry in enumerate(caps):
        if is_param(entry):
            _note_tuned_caps(node, entry, position, requester, path)
            continue
        if isinstance(entry, dict):
            base.dict_update(entry)
            continue
        if not isinstance(entry, (str, os.PathLike)):
            raise TypeError(f"{path}: `caps` entries must be paths or dicts, got {entry!r}")
        ext = os.path.splitext(os.fspath(entry))[1].lower()
        if base._ac_format == "yacs" and ext in (".yaml", ".yml"):
            # A YAML over YACS defaults means ``merge_from_file``: only known keys, with
            # the defaults' types.
            real = find_config_path(entry, requester)
            merged = Config(merge_yacs_yaml(base.to_dict(), real, new_allowed=base._ac_yacs_new_allowed, leaf=as_text,
                                           keys_from=base._ac_yacs_keys))
            merged._inherit_format(base)
            base = merged
            continue
        loaded = load_tree(entry, requester=requester)
        base.dict_update(loaded)
        base._inherit_format(loaded)
    object.__setattr__(node, "_ac_caps", ())
    merge_under(node, base)


def _note_tuned_caps(node: Config, param: Any, position: int, requester: str, path: str) -> None:
    """Keep a ``Param2Tune`` of base files for the sweeper instead of merging it now.

    The base then changes from job to job, which one tree cannot express: lowering
    turns it into a hidden config group whose options are the base files, placed
    before the config's own entries in its defaults list. That order is only right
    when the tuned base comes first among the caps, so anything else is refused.
    """
    if node._ac_parent is not None:
        raise UnsupportedConfigError(
            f"{path}: a tunable `caps` is only supported on the whole config "
            f"(Cfg2Tune(caps=Param2Tune([...]))), not on the subtree `{node._ac_key}`"
        )
    if position != 0:
        raise UnsupportedConfigError(
            f"{path}: a tunable `caps` must be the first entry of `caps` (the bases after "
            "it, and the config itself, then win over it as usual)"
        )
    files = [find_config_path(entry, requester) for entry in param.optional_values]
    object.__setattr__(node, "_ac_tuned_caps", TunedCaps(param, files))


class TunedCaps:
    """A ``Param2Tune`` over base files and the files' resolved paths, in order."""

    def __init__(self, param: Any, files: List[str]) -> None:
        self.param = param
        self.files = files


def _annotate_strings(node: Any, depth: int) -> None:
    items = dict.items(node) if isinstance(node, dict) else enumerate(node)
    for k, v in list(items):
        if isinstance(v, str) and ("${" in v or v.lstrip().startswith("$<")):
            new = annotate_value(v, depth)
            if new != v:
                _raw_set(node, k, new)
        elif isinstance(v, Config):
            _annotate_strings(v, depth + 1)
        elif isinstance(v, (dict, list)):
            new = annotate_tree(v, depth + 1)
            if new != v:
                _raw_set(node, k, new)


def _raw_set(node: Any, key: Any, value: Any) -> None:
    if isinstance(node, Config):
        dict.__setitem__(node, key, value)
    else:
        node[key] = value


context.set_file_loader(load_tree)
