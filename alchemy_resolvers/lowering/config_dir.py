"""Config files of one directory, found by name without extension like Hydra's YAML.

This is the logic behind the ``alchemy://`` ConfigSource: YAML and Python config files
side by side, every ``${dep:...}`` quoted and stamped with its depth (see
``loading/annotate.py``). YAML is parsed by the one YAML loader (OmegaConf's rules);
Python files are code and are executed (see ``lower.load_for_hydra``), at most once
per process while neither they nor any file they inherit from changes
(:func:`load_config_file` caches what it serves).

A root-level config that holds ``Param2Tune`` axes gets two additions
(:func:`with_multirun_guard`): a callback that fails a single run, and
``override hydra/sweeper: alchemy`` in its defaults list (unless the config chooses
a sweeper itself), so ``-m`` alone sweeps it.
"""
from __future__ import annotations

import copy
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from alchemy_resolvers import registry
from alchemy_resolvers.errors import AlchemyError
from alchemy_resolvers.loading.annotate import annotate_tree
from alchemy_resolvers.loading.errors import ConfigExecutionError
from alchemy_resolvers.loading.yaml_loader import load_yaml_file
from alchemy_resolvers.lowering.tuned_caps import (  # noqa: F401 - re-exported for the plugins
    TUNED_CAPS_GROUP,
    find_tuned_caps,
    tuned_caps_file,
    tuned_caps_option,
    tuned_caps_options,
)

__all__ = [
    "CONFIG_EXTENSIONS",
    "ConfigFileError",
    "default_package",
    "find_config_file",
    "tuned_caps_file",
    "tuned_caps_options",
    "with_multirun_guard",
    "with_provenance_callback",
    "load_config_file",
    "files_read",
    "clear_cache",
]

#: In lookup order: when ``name.yaml`` and ``name.py`` both exist, the YAML file wins,
#: so an app whose config dir also holds its scripts (``config_path="."``) keeps its
#: meaning.
CONFIG_EXTENSIONS = (".yaml", ".py")


class ConfigFileError(AlchemyError, ValueError):
    """A config file could not be read; the message names the file."""


def find_config_file(directory: str, config_path: str) -> Optional[str]:
    """The file serving ``config_path`` (a name without extension, or with one)."""
    base = os.path.join(directory, config_path)
    if config_path.endswith(CONFIG_EXTENSIONS):
        return base if os.path.isfile(base) else None
    for ext in CONFIG_EXTENSIONS:
        if os.path.isfile(base + ext):
            return base + ext
    return None


#: AlchemyCat's layout: one folder per experiment, its config in ``cfg.py``.
EXPERIMENT_CONFIG_NAME = "cfg.py"


def default_package(path: str) -> Optional[str]:
    """The package of a config file that has no ``# @package`` header.

    Hydra places a config at its directory's path (``mnist/base/cfg`` under
    ``mnist.base``), which suits group options but not AlchemyCat experiments, whose
    ``<experiment>/cfg.py`` is always a whole config. Those go to the root; every other
    file keeps Hydra's rule (``None``).
    """
    return "_global_" if os.path.basename(path) == EXPERIMENT_CONFIG_NAME else None


# ------------------------------------------------------------------ tunable configs

#: Added to the ``hydra.callbacks`` of a root-level config that holds Param2Tunes.
#: Keep in sync with the class in hydra_plugins/alchemy_sweeper/_guard.py.
REQUIRE_MULTIRUN_CALLBACK = "hydra_plugins.alchemy_sweeper._guard.RequireMultirunCallback"

#: The sweeper a tunable config chooses for itself (``-m`` alone then sweeps it).
SWEEPER_GROUP, SWEEPER_OPTION = "hydra/sweeper", "alchemy"


def with_multirun_guard(tree: Any) -> Any:
    """``tree`` made ready for a sweep, if it holds Param2Tunes (else ``tree`` itself).

    - a callback that fails single runs: a tuned entry only fails when it is read;
      without this guard a task that never reads it would run once with a placeholder
      instead of sweeping;
    - ``override hydra/sweeper: alchemy`` in its defaults list, unless the config
      chooses a sweeper itself, so ``python app.py -m`` sweeps the grid.
    """
    if not isinstance(tree, dict) or not _holds_param(tree):
        return tree
    hydra_node = dict(tree.get("hydra") or {})
    callbacks = dict(hydra_node.get("callbacks") or {})
    callbacks.setdefault("alchemy_require_multirun", {"_target_": REQUIRE_MULTIRUN_CALLBACK})
    hydra_node["callbacks"] = callbacks
    return dict(tree, hydra=hydra_node, defaults=_with_sweeper(tree.get("defaults")))


#: Added to the ``hydra.callbacks`` of every root-level config served to a Hydra app:
#: writes ``.hydra/provenance.yaml`` (hydra_plugins/alchemy_provenance/_callback.py).
PROVENANCE_CALLBACK = "hydra_plugins.alchemy_provenance._callback.ProvenanceCallback"


def with_provenance_callback(tree: Any) -> Any:
    """``tree`` with the provenance callback, so every job records where its values
    came from without a user flag (``HYDRA_ALCHEMY_PROVENANCE=0``: ``tree`` itself)."""
    from alchemy_resolvers.provenance.report import enabled

    if not isinstance(tree, dict) or not enabled():
        return tree
    hydra_node = dict(tree.get("hydra") or {})
    callbacks = dict(hydra_node.get("callbacks") or {})
    callbacks.setdefault("alchemy_provenance", {"_target_": PROVENANCE_CALLBACK})
    hydra_node["callbacks"] = callbacks
    return dict(tree, hydra=hydra_node)


def _with_sweeper(defaults: Any) -> List[Any]:
    entries = list(defaults or [])
    if any(_chooses_sweeper(entry) for entry in entries):
        return entries
    if "_self_" not in entries:  # keep the composition order Hydra gives without a list
        entries.append("_self_")
    # Absolute (``/hydra/sweeper``): a config in a subdirectory names groups relative
    # to its own directory otherwise.
    return entries + [{f"override /{SWEEPER_GROUP}": SWEEPER_OPTION}]


def _chooses_sweeper(entry: Any) -> bool:
    keys = entry.keys() if isinstance(entry, dict) else [entry] if isinstance(entry, str) else []
    for key in keys:
        name = re.sub(r"^(override|optional)\s+", "", str(key).strip()).split("@")[0].split("=")[0]
        if name.strip().strip("/") == SWEEPER_GROUP:
            return True
    return False


def _holds_param(tree: Any) -> bool:
    if isinstance(tree, str):
        return tree.startswith("${alchemy_param:")
    if isinstance(tree, dict):
        return any(_holds_param(v) for v in tree.values())
    if isinstance(tree, list):
        return any(_holds_param(v) for v in tree)
    return False


# --------------------------------------------------------------------------- serving

# real path -> (stamps of every file the load read, tokens it refers to, plain tree)
_cache: Dict[str, Tuple[Tuple[Tuple[str, int, int], ...], Tuple[str, ...], Any]] = {}

_TOKEN_RE = re.compile(r"\$\{alchemy_\w+:([A-Za-z0-9]+)|/" + TUNED_CAPS_GROUP + r"/([A-Za-z0-9]+)")


def load_config_file(path: str) -> Any:
    """The plain tree (dicts, lists, primitives, interpolation strings) of ``path``.

    Cached per process: a Python config runs once per sweep even though Hydra composes
    every job again. The cache key is the real path; an entry is used while every file
    the load read (the file, its ``caps``, composed files) keeps its mtime and size,
    and while the registry still holds the Python objects it refers to. Callers get a
    deep copy, so they cannot change what the next caller gets.
    """
    real = os.path.realpath(path)
    hit = _cache.get(real)
    if hit is not None and _stamps(f for f, _, _ in hit[0]) == hit[0] and all(map(registry.known, hit[1])):
        return copy.deepcopy(hit[2])
    tree, files = _load_uncached(real)
    _cache[real] = (_stamps(files), tuple(_tokens(tree)), tree)
    return copy.deepcopy(tree)


def files_read(path: str) -> Tuple[str, ...]:
    """Every file the cached load of ``path`` read (empty when not loaded in this process)."""
    hit = _cache.get(os.path.realpath(path))
    return tuple(f for f, _, _ in hit[0]) if hit else ()


def clear_cache() -> None:
    _cache.clear()


_BASE_KEYS = ("_base_", "_BASE_")


def _load_uncached(path: str) -> Tuple[Any, List[str]]:
    if not path.endswith(".py"):
        tree = _load_yaml(path)
        if not _inherits(tree, path):
            return annotate_tree(tree), [path]
    from alchemy_resolvers.loading.alchemy import loaded_files  # code, and heavier: lazy
    from alchemy_resolvers.lowering.lower import load_for_hydra

    with loaded_files() as files:
        tree = load_for_hydra(path)
    return annotate_tree(tree), sorted(files | {path})


def _stamps(files: Any) -> Tuple[Tuple[str, int, int], ...]:
    out = []
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            out.append((f, -1, -1))
        else:
            out.append((f, st.st_mtime_ns, st.st_size))
    return tuple(out)


def _tokens(tree: Any) -> List[str]:
    if isinstance(tree, str):
        return [a or b for a, b in _TOKEN_RE.findall(tree)]
    if isinstance(tree, dict):
        return [t for k, v in tree.items() for t in _tokens(k) + _tokens(v)]
    if isinstance(tree, list):
        return [t for v in tree for t in _tokens(v)]
    return []


def _inherits(tree: Any, path: str) -> bool:
    """Whether a YAML file inherits as mmengine (``_base_``) or fvcore/detectron2
    (``_BASE_``) files do: it is then loaded as its own tool loads it, never served with
    the base key as a plain value. A file that also has a Hydra defaults list could
    mean either, so it is refused, naming the file."""
    if not isinstance(tree, dict):
        return False
    found = [k for k in _BASE_KEYS if k in tree]
    if not found:
        return False
    if "defaults" in tree or len(found) > 1:
        what = "a Hydra `defaults` list" if "defaults" in tree else "both `_base_` and `_BASE_`"
        raise ConfigFileError(
            f"{path}: the file has `{found[0]}` (mmengine/fvcore inheritance) and {what}: "
            "it cannot be read both ways",
            file=path, key=found[0],
            hint="inherit with one mechanism: Hydra's defaults list, or _base_ (mmengine), "
            "or _BASE_ (fvcore/detectron2)",
        )
    return True


def _load_yaml(path: str) -> Any:
    try:
        tree = load_yaml_file(path)
    except ConfigExecutionError as e:
        raise ConfigFileError(str(e), file=path) from e
    if tree is None:
        return {}
    if not isinstance(tree, (dict, list)):
        raise ConfigFileError(
            f"{path}: a config file must hold a mapping or a list, not a "
            f"{type(tree).__name__}",
            file=path,
        )
    return tree
