"""The one Hydra internal the ``alchemy://`` source relies on, and why.

Checked on hydra-core 1.3.2 and 1.3.8 (``hydra/_internal/config_search_path_impl.py``
and the callers below are identical in both).

What we need: every file-system directory of the search path served through
``alchemy://`` instead of ``file://``, so Python config files there are found like
YAML. A ``SearchPathPlugin`` is the public hook, but Hydra calls it once, inside
``hydra._internal.utils.create_config_search_path``, *before* two kinds of entries
exist:

- ``--config-dir`` is prepended afterwards (``hydra._internal.utils._run_hydra``,
  ``add_conf_dir``: ``search_path.prepend(..., path="file://<dir>")``);
- ``hydra.searchpath`` entries (from the primary config or the command line) are
  appended by ``ConfigLoaderImpl._process_config_searchpath`` during composition,
  on the same object or a deep copy of it.

Hydra has no callback for entries added later, and a ``ConfigSource`` is chosen by the
entry's scheme (``SourcesRegistry.register`` refuses a second class for ``file``,
or keeps the first one when the names match). So the plugin swaps the class of the search path object Hydra
built (a ``ConfigSearchPathImpl``) for a subclass whose ``append``/``prepend`` rewrite
``file://`` (and bare) paths to ``alchemy://``. If a Hydra version changes that class,
the swap is skipped (``type(...) is ConfigSearchPathImpl``) and only the entries present
when the plugin runs are served through ``alchemy://``.
"""
from __future__ import annotations

from typing import Any, Optional, Union

from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
from hydra.core.config_search_path import SearchPathQuery

SCHEME = "alchemy"


def through_alchemy(path: str) -> str:
    """``alchemy://`` for a file-system dir (``file://`` or a bare path); else ``path``."""
    if path.startswith("file://"):
        return SCHEME + "://" + path[len("file://"):]
    if "://" not in path:  # the app's own config dir comes as a bare path
        return SCHEME + "://" + path
    return path


class _AlchemySearchPath(ConfigSearchPathImpl):
    """The search path Hydra builds, serving dirs added later through ``alchemy://``."""

    def append(self, provider: str, path: str, anchor: Optional[Union[SearchPathQuery, str]] = None) -> None:
        super().append(provider, through_alchemy(path), anchor)

    def prepend(self, provider: str, path: str, anchor: Optional[Union[SearchPathQuery, str]] = None) -> None:
        super().prepend(provider, through_alchemy(path), anchor)


def serve_later_dirs_through_alchemy(search_path: Any) -> None:
    """Make dirs appended/prepended to ``search_path`` later go through ``alchemy://``."""
    if type(search_path) is ConfigSearchPathImpl:
        search_path.__class__ = _AlchemySearchPath
