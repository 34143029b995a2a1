"""Config files of one directory, found by name without extension like Hydra's YAML.

This is the logic behind the ``alchemy://`` ConfigSource: YAML and Python config files
side by side, every ``${dep:...}`` quoted and stamped with its depth (see
``annotate.py``). YAML is parsed with OmegaConf's own safe loader; Python files are
code and are executed (see ``lower.load_for_hydra``).
"""
from __future__ import annotations

import os
import re
from typing import Any, List, Optional

import yaml

from alchemy_resolvers.loading.annotate import annotate_tree

__all__ = ["CONFIG_EXTENSIONS", "ConfigFileError", "default_package", "find_config_file", "tuned_caps_file", "tuned_caps_options", "with_multirun_guard", "load_config_file"]

#: In lookup order: when ``name.yaml`` and ``name.py`` both exist, the YAML file wins,
#: so an app whose config dir also holds its scripts (``config_path="."``) keeps its
#: meaning.
CONFIG_EXTENSIONS = (".yaml", ".py")


class ConfigFileError(ValueError):
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


#: Added to the ``hydra.callbacks`` of a root-level config that holds Param2Tunes.
REQUIRE_MULTIRUN_CALLBACK = "hydra_plugins.alchemy_sweeper._impl.RequireMultirunCallback"


def with_multirun_guard(tree: Any) -> Any:
    """``tree`` with a callback that fails single runs, if it holds Param2Tunes.

    A tuned entry only fails when it is read; without this guard a task that never
    reads it would run once with a placeholder instead of sweeping.
    """
    if not isinstance(tree, dict) or not _holds_param(tree):
        return tree
    hydra_node = dict(tree.get("hydra") or {})
    callbacks = dict(hydra_node.get("callbacks") or {})
    callbacks.setdefault("alchemy_require_multirun", {"_target_": REQUIRE_MULTIRUN_CALLBACK})
    hydra_node["callbacks"] = callbacks
    return dict(tree, hydra=hydra_node)


def _holds_param(tree: Any) -> bool:
    if isinstance(tree, str):
        return tree.startswith("${alchemy_param:")
    if isinstance(tree, dict):
        return any(_holds_param(v) for v in tree.values())
    if isinstance(tree, list):
        return any(_holds_param(v) for v in tree)
    return False


#: Hidden config group of a tunable ``caps`` (``Cfg2Tune(caps=Param2Tune([...]))``):
#: ``_alchemy_caps/<token>`` has one option per base file, ``base<index>`` (not a bare
#: number, which Hydra's override grammar reads as an int). Lowering puts it first in
#: the config's defaults list and the sweeper sweeps it.
TUNED_CAPS_GROUP = "_alchemy_caps"


def tuned_caps_option(index: int) -> str:
    return f"base{index}"


def tuned_caps_file(config_path: str) -> Optional[str]:
    """The base file that option ``_alchemy_caps/<token>/base<index>`` stands for."""
    parts = config_path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != TUNED_CAPS_GROUP or not re.fullmatch(r"base\d+", parts[2]):
        return None
    tuned = find_tuned_caps(parts[1])
    index = int(parts[2][len("base"):])
    return tuned.files[index] if tuned is not None and index < len(tuned.files) else None


def tuned_caps_options(config_path: str) -> Optional[List[str]]:
    """Option names of the hidden group at ``config_path``; ``None`` if it is not one."""
    parts = config_path.strip("/").split("/")
    if parts[0] != TUNED_CAPS_GROUP or len(parts) > 2:
        return None
    if len(parts) == 1:
        return []
    tuned = find_tuned_caps(parts[1])
    return None if tuned is None else [tuned_caps_option(i) for i in range(len(tuned.files))]


def find_tuned_caps(token: str) -> Any:
    # Filled when the config holding the tunable caps was loaded in this process; the
    # registry never loads anything itself.
    from alchemy_resolvers import registry
    from alchemy_resolvers.authoring.config import TunedCaps

    try:
        found = registry.lookup(token)
    except LookupError:
        return None
    return found if isinstance(found, TunedCaps) else None


def load_config_file(path: str) -> Any:
    """The plain tree (dicts, lists, primitives, interpolation strings) of ``path``."""
    if path.endswith(".py"):
        from alchemy_resolvers.lowering.lower import load_for_hydra  # code, and heavier: lazy

        tree = load_for_hydra(path)
    else:
        tree = _load_yaml(path)
    return annotate_tree(tree)


def _load_yaml(path: str) -> Any:
    from omegaconf._utils import get_yaml_loader

    try:
        with open(path, encoding="utf-8") as f:
            tree = yaml.load(f, Loader=get_yaml_loader())
    except yaml.YAMLError as e:
        raise ConfigFileError(f"{path}: invalid YAML: {e}") from e
    if tree is None:
        return {}
    if not isinstance(tree, (dict, list)):
        raise ConfigFileError(
            f"{path}: a config file must hold a mapping or a list, not a "
            f"{type(tree).__name__}"
        )
    return tree
