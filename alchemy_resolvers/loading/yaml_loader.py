"""The one YAML loader of hydra-alchemy: OmegaConf's rules, whichever way a file is reached.

Hydra users expect a YAML file to mean what it means to Hydra: ``lr: 1e-3`` is the
float 0.001 (PyYAML's YAML 1.1 resolver reads it as the string ``"1e-3"``), dates stay
strings, a duplicate key is an error. Every YAML file hydra-alchemy reads (served
configs, MMCV/fvcore/YACS bases, ``caps`` entries, the converter) goes through
:func:`load_yaml_text`, which uses OmegaConf's own safe loader.

``rules="yacs"`` is the one documented exception: PyYAML's plain ``safe_load``, which
is what yacs's ``CfgNode.merge_from_file`` uses. It is only chosen for YAML merged
onto YACS defaults, so that such a file gives exactly the values yacs would give it
(yacs then decodes strings with ``literal_eval`` itself).
"""
from __future__ import annotations

import copy
import json
import os
from typing import Any, Literal, Optional

from alchemy_resolvers.loading.common import by_stamp
from alchemy_resolvers.loading.errors import ConfigExecutionError, UnsupportedConfigError

__all__ = ["load_yaml_text", "load_yaml_file", "parse_data_text", "parse_data_file", "dump_yaml", "YamlRules"]

YamlRules = Literal["omegaconf", "yacs"]

_loader: Any = None


def _omegaconf_loader() -> Any:
    global _loader
    if _loader is None:
        from omegaconf._utils import get_yaml_loader  # OmegaConf's loader, as OmegaConf.load uses

        _loader = get_yaml_loader()
    return _loader


def load_yaml_text(text: str, path: str, rules: YamlRules = "omegaconf") -> Any:
    """Parse YAML ``text`` read from ``path``; an empty document is ``None``.

    A syntax error becomes :class:`ConfigExecutionError` naming ``path:line``.
    """
    import yaml

    try:
        if rules == "yacs":
            # PyYAML's safe rules; libyaml's parser when present gives the same values
            return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe
        return yaml.load(text, Loader=_omegaconf_loader())  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        lineno = mark.line + 1 if mark is not None else None
        where = f"{path}:{lineno}" if lineno else path
        raise ConfigExecutionError(f"{where}: invalid YAML: {e}", path, lineno) from e


def load_yaml_file(path: str, rules: YamlRules = "omegaconf") -> Any:
    """``load_yaml_text`` of a file, parsed once while it does not change (a copy each
    call: callers merge into what they get)."""

    def parse() -> Any:
        with open(path, encoding="utf-8") as f:
            return load_yaml_text(f.read(), path, rules)

    return copy.deepcopy(by_stamp(f"yaml-{rules}", os.path.abspath(path), parse))


def parse_data_file(path: str, ext: str, rules: YamlRules = "omegaconf") -> dict:
    """:func:`parse_data_text` of a file, parsed once while it does not change."""

    def parse() -> dict:
        with open(path, encoding="utf-8") as f:
            return parse_data_text(f.read(), path, ext, rules)

    return copy.deepcopy(by_stamp(f"data-{ext}-{rules}", os.path.abspath(path), parse))


def parse_data_text(text: str, path: str, ext: str, rules: YamlRules = "omegaconf") -> dict:
    """Parse YAML/JSON ``text`` read from ``path``; the top level must be a mapping (an
    empty YAML file is ``{}``)."""
    if ext == ".json":
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigExecutionError(f"{path}:{e.lineno}: invalid JSON: {e.msg}", path, e.lineno) from e
    else:
        data = load_yaml_text(text, path, rules)
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise UnsupportedConfigError(
            f"{path}: the top level of a config file must be a mapping, got {type(data).__name__}",
            file=path,
        )
    return data


def dump_yaml(tree: Any, stream: Optional[Any] = None) -> Any:
    """Block-style YAML of a plain tree, keys in order (what the converter writes)."""
    import yaml

    return yaml.safe_dump(tree, stream, sort_keys=False, allow_unicode=True, default_flow_style=False)
