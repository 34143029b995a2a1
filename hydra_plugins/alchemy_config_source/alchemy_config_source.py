"""``alchemy://`` config source and the search-path plugin that puts it in front.

Thin plugin classes (Hydra imports this module at start-up of every app): the work is
in :mod:`._impl` (serving files) and :mod:`._hydra_internals` (the one place that
touches a Hydra internal), both imported on first use.

The source serves a directory like Hydra's ``file://`` source, plus Python config files
(AlchemyCat, MMCV, YACS) found by name without extension, and stamps every
``${dep:...}`` with where it was loaded so that ``c`` means the node the file was
mounted at. The search-path plugin serves every file-system dir of the search path (the
app's own config dir, ``--config-dir``, ``hydra.searchpath``) through it, so users need
no extra set-up.
"""
from __future__ import annotations

from typing import List, Optional

from hydra.core.config_search_path import ConfigSearchPath
from hydra.core.object_type import ObjectType
from hydra.plugins.config_source import ConfigResult, ConfigSource
from hydra.plugins.search_path_plugin import SearchPathPlugin

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
        from hydra_plugins.alchemy_config_source import _impl

        return _impl.load_config(self, config_path)

    def available(self) -> bool:
        return self.is_group("")

    def is_group(self, config_path: str) -> bool:
        from hydra_plugins.alchemy_config_source import _impl

        return _impl.is_group(self.path, config_path)

    def is_config(self, config_path: str) -> bool:
        from hydra_plugins.alchemy_config_source import _impl

        return _impl.is_config(self.path, config_path)

    def list(self, config_path: str, results_filter: Optional[ObjectType]) -> List[str]:
        from hydra_plugins.alchemy_config_source import _impl

        return _impl.list_dir(self, config_path, results_filter)


class AlchemySearchPathPlugin(SearchPathPlugin):
    """Serve every file-system dir of the search path through ``alchemy://``."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from hydra_plugins.alchemy_config_source import _hydra_internals

        for element in search_path.get_path():
            element.path = _hydra_internals.through_alchemy(element.path)
        _hydra_internals.serve_later_dirs_through_alchemy(search_path)
