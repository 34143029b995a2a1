"""What the ``alchemy://`` source does; the plugin class in ``alchemy_config_source.py``
only forwards here. The file logic itself (finding, loading, caching, tunable configs)
is :mod:`alchemy_resolvers.lowering.config_dir`; this module turns it into Hydra's
``ConfigResult`` and Hydra's errors.
"""
from __future__ import annotations

import os
from typing import Any, List, Optional

from hydra.core.object_type import ObjectType
from hydra.errors import CompactHydraException
from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource
from omegaconf import OmegaConf

from alchemy_resolvers.errors import AlchemyError
from alchemy_resolvers.lowering import config_dir


class AlchemyConfigError(CompactHydraException):
    """A config file the source cannot serve (missing ``caps`` file, cycle, error while
    a Python config runs, invalid YAML): Hydra prints the message alone, which names the
    file, the key where known, and the fix. The library's error is ``__cause__``
    (``HYDRA_FULL_ERROR=1`` shows its traceback); ``file``/``key``/``hint`` are copied."""

    def __init__(self, error: AlchemyError) -> None:
        message = str(error)
        lineno = getattr(error, "lineno", None)  # a Python config that failed to parse/run
        if lineno and "\n" not in message:
            message += f" (line {lineno})"
        super().__init__(f"Error in config file: {message}")
        self.file, self.key, self.hint = error.file, error.key, error.hint


def load_config(source: ConfigSource, config_path: str) -> ConfigResult:
    tuned_base = config_dir.tuned_caps_file(config_path)
    full_path = tuned_base or config_dir.find_config_file(source.path, config_path)
    if full_path is None:
        raise ConfigLoadError(
            f"Config not found : {os.path.join(source.path, config_path)}"
            " (looked for .yaml and .py files of that name)"
        )
    full_path = os.path.realpath(full_path)
    with open(full_path, encoding="utf-8") as f:
        header = ConfigSource._get_header_dict(f.read(512))
    if tuned_base:  # a base of a tunable caps: a whole config
        header["package"] = "_global_"
    elif header["package"] is None:
        header["package"] = config_dir.default_package(full_path)
    try:
        tree = config_dir.load_config_file(full_path)
    except AlchemyError as e:
        raise AlchemyConfigError(e) from e
    at_root = header["package"] == "_global_" or (header["package"] is None and "/" not in config_path)
    if at_root:  # only there does a ``hydra`` key reach Hydra's own config
        tree = config_dir.with_multirun_guard(tree)
        if _in_hydra_app():
            tree = config_dir.with_provenance_callback(tree)
    return ConfigResult(
        config=OmegaConf.create(tree),
        path=f"{source.scheme()}://{source.path}",
        provider=source.provider,
        header=header,
    )


def _in_hydra_app() -> bool:
    """Whether Hydra is composing (an app, or the compose API), not a caller using the
    source directly (Hydra's ConfigSourceTestSuite compares the served configs)."""
    from hydra.core.global_hydra import GlobalHydra

    return GlobalHydra.instance().is_initialized()


def is_group(directory: str, config_path: str) -> bool:
    if config_dir.tuned_caps_options(config_path) is not None:
        return True
    return os.path.isdir(os.path.join(directory, config_path))


def is_config(directory: str, config_path: str) -> bool:
    return (
        config_dir.tuned_caps_file(config_path) is not None
        or config_dir.find_config_file(directory, config_path) is not None
    )


def list_dir(source: Any, config_path: str, results_filter: Optional[ObjectType]) -> List[str]:
    hidden = config_dir.tuned_caps_options(config_path)
    if hidden is not None:
        return hidden if results_filter in (None, ObjectType.CONFIG) else []
    files: List[str] = []
    full_path = os.path.join(source.path, config_path)
    for file in os.listdir(full_path):
        source._list_add_result(
            files=files,
            file_path=os.path.join(config_path, file),
            file_name=file,
            results_filter=results_filter,
        )
    return sorted(set(files))
