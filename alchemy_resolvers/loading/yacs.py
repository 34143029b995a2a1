"""YACS configs: a defaults file with a ``CfgNode``, and YAML files merged onto it.

- :func:`load_yacs` runs a Python defaults file (in a fresh namespace, never imported
  as a module) and returns its ``CfgNode`` as plain nested dicts.
- :func:`merge_yacs_yaml` merges a YAML file onto such defaults with the rules of
  yacs's ``CfgNode.merge_from_file`` (checked against yacs 0.1.8 by
  ``tests/test_format_yacs.py``): every key must exist in the defaults, string values
  are read as Python literals, and a value must keep its default's type (``None``
  either way and list <-> tuple are allowed; ``int`` vs ``float`` is an error, as in
  yacs). ``_BASE_`` in a YAML file follows fvcore/detectron2: the base files load
  first (relative to the file), later bases and then the file itself win, dicts merge
  recursively, and sibling bases may share keys.

Only :func:`load_yacs` needs yacs installed (the defaults file imports it); merging
works on plain dicts. YAML is read by the one YAML loader (``loading.yaml_loader``).
"""
from __future__ import annotations

import copy
import logging
import os
from ast import literal_eval
from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Set, Tuple, Union

from alchemy_resolvers.loading import cycles
from alchemy_resolvers.loading.common import compiled_python, config_errors, error_line, run_config
from alchemy_resolvers.loading.errors import (
    BaseFileNotFoundError,
    BaseMergeTypeError,
    ConfigExecutionError,
    ConfigFileNotFoundError,
    UnsupportedConfigError,
    YacsKeyError,
    YacsTypeError,
)
from alchemy_resolvers.loading.yaml_loader import YamlRules, parse_data_file

__all__ = [
    "load_yacs",
    "load_yacs_node",
    "yacs_to_dict",
    "yacs_new_allowed_paths",
    "merge_yacs_yaml",
    "load_yaml_with_base",
]

BASE_KEY = "_BASE_"
# What a CfgNode may hold besides CfgNodes (yacs's _VALID_TYPES).
_VALID_TYPES = {tuple, list, str, int, float, bool, type(None)}
#: Where a defaults file keeps its config, in lookup order: a function (yacs's README,
#: torchreid, detectron2/SlowFast) is called, a variable is taken as it is.
DEFAULT_FUNCTIONS = ("get_cfg_defaults", "get_default_config", "get_cfg")
_DEFAULT_NAMES = DEFAULT_FUNCTIONS + ("_C", "cfg")

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------- defaults files


def load_yacs(path: "str | os.PathLike[str]") -> dict:
    """Run a YACS defaults file and return its config as nested plain dicts.

    The file must define, looked up in this order, a function ``get_cfg_defaults()``,
    ``get_default_config()`` (torchreid) or ``get_cfg()`` (detectron2, SlowFast), which
    is called, a ``CfgNode`` named ``_C``, or ``cfg`` (a ``CfgNode`` or a dict, as in
    yacs's own Python-override files). Lists and tuples are kept as they are.
    """
    return yacs_to_dict(load_yacs_node(path))


def load_yacs_node(path: "str | os.PathLike[str]") -> Any:
    """Like :func:`load_yacs` but return the object the file defines (a ``CfgNode``).

    Pass it to :func:`merge_yacs_yaml` to keep what plain dicts cannot carry: nodes
    created with ``new_allowed=True`` and the deprecated/renamed keys registered on it.
    """
    filename = os.path.abspath(os.path.expanduser(os.fspath(path)))

    code = compiled_python(filename)
    namespace: Dict[str, Any] = {"__file__": filename, "__name__": "__config__"}
    run_config(code, filename, namespace)
    found = None
    for name in _DEFAULT_NAMES:
        obj = namespace.get(name)
        if name in DEFAULT_FUNCTIONS:
            if callable(obj) and getattr(obj, "__module__", None) == "__config__":
                with config_errors(filename):
                    found = obj()
                break
        elif obj is not None:
            found = obj
            break
    if found is None:
        raise UnsupportedConfigError(
            f"{filename}: a YACS config must define one of {', '.join(DEFAULT_FUNCTIONS)} "
            "(a function returning the CfgNode), _C or cfg; none was found",
            file=filename,
        )
    if not isinstance(found, dict):
        raise UnsupportedConfigError(
            f"{filename}: the YACS config is a {type(found).__name__}, expected a "
            "yacs CfgNode (or a dict)"
        )
    return found


def yacs_to_dict(node: Any) -> Any:
    """Convert a ``CfgNode`` (a dict subclass) into plain dicts, recursively.

    Leaves are returned as they are (lists stay lists, tuples stay tuples).
    """
    if isinstance(node, dict):
        return {k: yacs_to_dict(v) for k, v in node.items()}
    return copy.deepcopy(node)


def yacs_new_allowed_paths(node: Any, _prefix: str = "") -> Set[str]:
    """Dotted paths (``""`` for the root) of the nodes of a ``CfgNode`` tree that
    accept new keys when merged into (yacs's ``new_allowed``)."""
    paths: Set[str] = set()
    is_new_allowed = getattr(node, "is_new_allowed", None)
    if callable(is_new_allowed) and is_new_allowed():
        paths.add(_prefix)
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, dict):
                paths |= yacs_new_allowed_paths(v, f"{_prefix}.{k}" if _prefix else str(k))
    return paths


# ------------------------------------------------------------------- YAML overrides


def load_yaml_with_base(path: "str | os.PathLike[str]", rules: YamlRules = "omegaconf") -> dict:
    """fvcore's ``CfgNode.load_yaml_with_base``: a YAML file with its ``_BASE_`` files.

    ``_BASE_`` is a path or a list of paths, relative to the file (``~`` expanded,
    absolute paths and ``http(s)://`` left alone, though URLs cannot be read here). The
    bases load first, each with its own bases; later bases win over earlier ones, then
    the file wins over all of them. Dicts merge recursively; anything else is
    replaced; a dict over a non-dict base value is an error.

    ``rules``: how YAML scalars read (see :mod:`~alchemy_resolvers.loading.yaml_loader`):
    OmegaConf's, as Hydra reads the file; ``"yacs"`` for a file merged onto YACS
    defaults, which :func:`merge_yacs_yaml` passes so values equal yacs's own.
    """
    filename = os.path.abspath(os.path.expanduser(os.fspath(path)))
    return _load_yaml_with_base(filename, (), rules)


def _load_yaml_with_base(filename: str, chain: Tuple[str, ...], rules: YamlRules = "omegaconf") -> dict:
    chain = cycles.enter(chain, filename, "_BASE_ inheritance")
    cfg = _read_yaml(filename, rules)
    if BASE_KEY not in cfg:
        return cfg
    bases = cfg.pop(BASE_KEY)
    if isinstance(bases, list):
        base_cfg: dict = {}
        for base in bases:
            _fvcore_merge(_load_base(base, filename, chain, rules), base_cfg, filename, ())
    else:
        base_cfg = _load_base(bases, filename, chain, rules)
    _fvcore_merge(cfg, base_cfg, filename, ())
    return base_cfg


def _load_base(base: Any, filename: str, chain: Tuple[str, ...], rules: YamlRules) -> dict:
    if not isinstance(base, str):
        raise UnsupportedConfigError(
            f"{filename}: {BASE_KEY} must be a path or a list of paths, got {base!r}"
        )
    path = os.path.expanduser(base)
    if path.startswith(("https://", "http://")):
        raise UnsupportedConfigError(
            f"{filename}: {BASE_KEY} {base!r} is a URL; download it and use a local path"
        )
    if not os.path.isabs(path):
        path = os.path.join(os.path.dirname(filename), path)
    path = os.path.normpath(path)
    if not os.path.isfile(path):
        raise BaseFileNotFoundError(
            f"{filename}: {BASE_KEY} file {base!r} not found (looked for {path})"
        )
    return _load_yaml_with_base(path, chain, rules)


def _fvcore_merge(a: dict, b: dict, filename: str, path: Tuple[str, ...]) -> None:
    for k, v in a.items():
        if isinstance(v, dict) and k in b:
            if not isinstance(b[k], dict):
                dotted = ".".join(map(str, path + (k,)))
                raise BaseMergeTypeError(
                    f"{filename}: cannot inherit key {dotted!r} from {BASE_KEY}: it is a "
                    f"dict here but {b[k]!r} in the base"
                )
            _fvcore_merge(v, b[k], filename, path + (k,))
        else:
            b[k] = v


def _read_yaml(filename: str, rules: YamlRules = "omegaconf") -> dict:
    return parse_data_file(filename, ".yaml", rules)


def merge_yacs_yaml(
    defaults: Mapping[str, Any],
    yaml_path: "str | os.PathLike[str]",
    *,
    new_allowed: Union[bool, Iterable[str]] = False,
    leaf: Callable[[Any], Any] = lambda v: v,
    keys_from: Any = None,
) -> dict:
    """Return ``defaults`` with the YAML file merged in, as yacs's ``merge_from_file``.

    ``defaults`` is a plain dict tree (from :func:`load_yacs`) or a yacs ``CfgNode``;
    it is not modified. Keys the YAML sets must exist in the defaults, except below a
    node that allows new keys: with a ``CfgNode``, the nodes built with
    ``new_allowed=True``; with dicts, ``new_allowed=True`` (every node) or an iterable
    of dotted paths (``""`` is the root). Keys a ``CfgNode`` registered as deprecated
    are skipped with a warning; renamed keys are an error naming the new key.

    Errors name the key and the file: :class:`~alchemy_resolvers.loading.common.YacsKeyError`
    (a ``KeyError``, like yacs's "Non-existent config key") and
    :class:`~alchemy_resolvers.loading.common.YacsTypeError` (a ``ValueError``, like yacs's
    "Type mismatch"). ``leaf`` maps each value the YAML sets (the config source makes
    strings text for OmegaConf with it). ``keys_from``: the defaults' root ``CfgNode``
    when ``defaults`` is a plain dict, for its deprecated and renamed keys.
    """
    filename = os.path.abspath(os.path.expanduser(os.fspath(yaml_path)))
    if not os.path.isfile(filename):
        raise ConfigFileNotFoundError(f"YACS override file not found: {filename}", file=filename)
    if isinstance(new_allowed, bool):
        allowed: Union[bool, Set[str]] = new_allowed
    else:
        allowed = set(new_allowed)
    if _is_cfg_node(defaults):
        allowed = yacs_new_allowed_paths(defaults) | (allowed if isinstance(allowed, set) else set())
        if new_allowed is True:
            allowed = True
    root_node = defaults if _is_cfg_node(defaults) else keys_from
    # yacs reads the file with PyYAML's safe_load (dates become dates, ``1e-3`` a
    # string that literal_eval then decodes): same rules, same values and errors.
    other = load_yaml_with_base(filename, rules="yacs")
    _check_leaf_types(other, filename, [])
    result = yacs_to_dict(defaults)
    _merge_a_into_b(other, result, [], filename, (allowed, root_node, leaf))
    return result


def _is_cfg_node(obj: Any) -> bool:
    return isinstance(obj, dict) and callable(getattr(obj, "is_new_allowed", None))


def _check_leaf_types(d: dict, filename: str, key_list: list) -> None:
    """What building a ``CfgNode`` from the loaded YAML checks: leaves of valid types."""
    for k, v in d.items():
        if isinstance(v, dict):
            _check_leaf_types(v, filename, key_list + [str(k)])
        elif type(v) not in _VALID_TYPES:
            raise YacsTypeError(
                f"{filename}: key {'.'.join(key_list + [str(k)])} has a value of type "
                f"{type(v).__name__} ({v!r}); YACS configs hold only "
                "str, int, float, bool, None, list and tuple values"
            )


def _decode_value(value: Any) -> Any:
    """yacs's ``_decode_cfg_value``: strings that spell a Python literal become it."""
    if isinstance(value, dict):
        return copy.deepcopy(value)
    if not isinstance(value, str):
        return value
    try:
        return literal_eval(value)
    except Exception:  # yacs catches ValueError/SyntaxError; keep the string for all
        return value


def _merge_a_into_b(a: dict, b: dict, key_list: list, filename: str, how: Tuple[Any, Any, Callable[[Any], Any]]) -> None:
    """yacs's ``_merge_a_into_b``; ``how``: which nodes take new keys, the ``CfgNode``
    (deprecated and renamed keys), and the map of set values."""
    allowed, root_node, leaf = how
    for k, v_ in a.items():
        full_key = ".".join(key_list + [str(k)])
        v = _decode_value(copy.deepcopy(v_))
        if k in b:
            v = _check_and_coerce(v, b[k], full_key, filename)
            if isinstance(v, dict):
                _merge_a_into_b(v, b[k], key_list + [str(k)], filename, how)
            else:
                b[k] = leaf(v)
        elif allowed is True or (isinstance(allowed, set) and ".".join(key_list) in allowed):
            b[k] = leaf(v)
        elif root_node is not None and root_node.key_is_deprecated(full_key):
            # yacs logs and skips (key_is_deprecated already logged); no warning, so
            # Hydra apps run with -Werror keep working.
            logger.info("%s: deprecated config key %s ignored", filename, full_key)
        elif root_node is not None and root_node.key_is_renamed(full_key):
            try:
                root_node.raise_key_rename_error(full_key)
            except KeyError as e:
                raise YacsKeyError(f"{filename}: {e.args[0] if e.args else e}") from e
        else:
            raise YacsKeyError(
                f"Non-existent config key: {full_key} (set in {filename}); the YACS "
                f"defaults have no such key. Keys at this level: {sorted(map(str, b))}"
            )


def _check_and_coerce(replacement: Any, original: Any, full_key: str, filename: str) -> Any:
    """yacs's ``_check_and_coerce_cfg_value_type`` on plain dicts (a dict is a node)."""
    original_type = dict if isinstance(original, dict) else type(original)
    replacement_type = dict if isinstance(replacement, dict) else type(replacement)
    if replacement_type == original_type:
        return replacement
    none = type(None)
    if (replacement_type is none and original_type in _VALID_TYPES) or (
        original_type is none and replacement_type in _VALID_TYPES
    ):
        return replacement
    if replacement_type is tuple and original_type is list:
        return list(replacement)
    if replacement_type is list and original_type is tuple:
        return tuple(replacement)

    def name(t: type) -> str:
        return "CfgNode (mapping)" if t is dict else t.__name__

    raise YacsTypeError(
        f"Type mismatch ({name(original_type)} vs. {name(replacement_type)}) with values "
        f"({original!r} vs. {replacement!r}) for config key: {full_key} (set in {filename}); "
        f"the default is of type {name(original_type)}: give a value of that type"
    )

