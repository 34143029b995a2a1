"""``alchemy://`` config source and the search-path plugin that puts it in front.

The source serves a directory like Hydra's ``file://`` source, plus Python config files
(AlchemyCat, MMCV, YACS) found by name without extension, and stamps every
``${dep:...}`` with where it was loaded so that ``c`` means the node the file was
mounted at. The search-path plugin serves every file-system dir of the search path (the
app's own config dir, ``--config-dir``, ``hydra.searchpath``) through it, so users need
no extra set-up.
"""
from __future__ import annotations

import os
from typing import List, Optional, Union

from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
from hydra.core.config_search_path import ConfigSearchPath, SearchPathQuery
from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigLoadError, ConfigResult, ConfigSource
from hydra.plugins.search_path_plugin import SearchPathPlugin
from omegaconf import OmegaConf

SCHEME = "alchemy"


class AlchemyConfigSource(ConfigSource):
    def __init__(self, provider: str, path: str) -> None:
        if path.find("://") == -1:
            path = f"{self.scheme()}://{path}"
        super().__init__(provider=provider, path=path)

    @staticmethod
    def scheme() -> str:
        return SCHEME

    def load_config(self, config_path: str) -> ConfigResult:
        from alchemy_resolvers.lowering.config_dir import (
            default_package,
            find_config_file,
            load_config_file,
            tuned_caps_file,
            with_multirun_guard,
        )

        full_path = tuned_caps_file(config_path) or find_config_file(self.path, config_path)
        if full_path is None:
            raise ConfigLoadError(f"Config not found : {os.path.join(self.path, config_path)}")
        full_path = os.path.realpath(full_path)
        with open(full_path, encoding="utf-8") as f:
            header = ConfigSource._get_header_dict(f.read(512))
        if tuned_caps_file(config_path):  # a base of a tunable caps: a whole config
            header["package"] = "_global_"
        elif header["package"] is None:
            header["package"] = default_package(full_path)
        tree = load_config_file(full_path)
        at_root = header["package"] == "_global_" or (header["package"] is None and "/" not in config_path)
        if at_root:  # only there does a ``hydra`` key reach Hydra's own config
            tree = with_multirun_guard(tree)
        return ConfigResult(
            config=OmegaConf.create(tree),
            path=f"{self.scheme()}://{self.path}",
            provider=self.provider,
            header=header,
        )

    def available(self) -> bool:
        return self.is_group("")

    def is_group(self, config_path: str) -> bool:
        from alchemy_resolvers.lowering.config_dir import tuned_caps_options

        if tuned_caps_options(config_path) is not None:
            return True
        return os.path.isdir(os.path.join(self.path, config_path))

    def is_config(self, config_path: str) -> bool:
        from alchemy_resolvers.lowering.config_dir import find_config_file, tuned_caps_file

        return tuned_caps_file(config_path) is not None or find_config_file(self.path, config_path) is not None

    def list(self, config_path: str, results_filter: Optional[ObjectType]) -> List[str]:
        from alchemy_resolvers.lowering.config_dir import tuned_caps_options

        hidden = tuned_caps_options(config_path)
        if hidden is not None:
            return hidden if results_filter in (None, ObjectType.CONFIG) else []
        files: List[str] = []
        full_path = os.path.join(self.path, config_path)
        for file in os.listdir(full_path):
            self._list_add_result(
                files=files,
                file_path=os.path.join(config_path, file),
                file_name=file,
                results_filter=results_filter,
            )
        return sorted(set(files))


def _through_alchemy(path: str) -> str:
    """``alchemy://`` for a file-system dir (``file://`` or a bare path); else ``path``."""
    if path.startswith("file://"):
        return SCHEME + "://" + path[len("file://"):]
    if "://" not in path:  # the app's own config dir comes as a bare path
        return SCHEME + "://" + path
    return path


class _AlchemySearchPath(ConfigSearchPathImpl):
    """The search path Hydra builds, serving dirs added later through ``alchemy://``.

    ``--config-dir`` and ``hydra.searchpath`` (from a config or the command line) are
    appended after search-path plugins ran, on this object or a deep copy of it, so
    this is the one place where every file-system dir of the search path passes.
    """

    def append(self, provider: str, path: str, anchor: Optional[Union[SearchPathQuery, str]] = None) -> None:
        super().append(provider, _through_alchemy(path), anchor)

    def prepend(self, provider: str, path: str, anchor: Optional[Union[SearchPathQuery, str]] = None) -> None:
        super().prepend(provider, _through_alchemy(path), anchor)


class AlchemySearchPathPlugin(SearchPathPlugin):
    """Serve every file-system dir of the search path through ``alchemy://``."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        for element in search_path.get_path():
            element.path = _through_alchemy(element.path)
        if type(search_path) is ConfigSearchPathImpl:
            search_path.__class__ = _AlchemySearchPath
