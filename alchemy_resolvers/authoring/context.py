"""Where the authoring API is being used from: the config files being loaded.

The loaders (``alchemy_resolvers.loading``, a layer above) push the real path of each
file they execute; the authoring API reads it to know which file defined a DEP and
which file a relative ``caps``/``Config('path')`` is relative to. Composing another
file (``Config('addon.py')``) is done by the loader that the loading layer installs
with :func:`set_file_loader`: authoring never imports the loaders.
"""
from __future__ import annotations

import contextvars
from typing import Any, Callable, Optional, Tuple

from alchemy_resolvers.errors import AlchemyError

__all__ = ["current_file", "loading_stack", "push_file", "pop_file", "set_file_loader", "load_file",
           "set_write_hook"]

# Real paths of the files being loaded on this thread, outermost first: the requesting
# file for relative paths, and the chain shown when caps/composition form a cycle.
_loading: contextvars.ContextVar[Tuple[str, ...]] = contextvars.ContextVar("alchemy_loading", default=())

_file_loader: Optional[Callable[..., Any]] = None

#: ``hook(node, key)`` called after each write to a config node while provenance is
#: being recorded (``provenance.lines``); ``None`` otherwise, so a write costs one check.
write_hook: Optional[Callable[[Any, Any], None]] = None


def set_write_hook(hook: Optional[Callable[[Any, Any], None]]) -> None:
    global write_hook
    write_hook = hook


def current_file() -> Optional[str]:
    stack = _loading.get()
    return stack[-1] if stack else None


def loading_stack() -> Tuple[str, ...]:
    return _loading.get()


def push_file(path: str) -> Any:
    """Mark ``path`` as being loaded; returns the token for :func:`pop_file`."""
    return _loading.set(_loading.get() + (path,))


def pop_file(token: Any) -> None:
    _loading.reset(token)


def set_file_loader(loader: Callable[..., Any]) -> None:
    """Install ``loader(path, requester=...) -> Config`` (done by ``loading.alchemy``)."""
    global _file_loader
    _file_loader = loader


def load_file(path: Any, requester: Optional[str]) -> Any:
    """The tree of config file ``path`` (``Config('addon.py')``), through the loader."""
    if _file_loader is None:
        raise AlchemyError(
            f"Config({str(path)!r}) loads a config file, but no loader is installed",
            file=requester,
            hint="import Config from alchemy_resolvers (`from alchemy_resolvers import Config`), "
            "which installs the loaders, or import alchemy_resolvers.loading.alchemy first",
        )
    return _file_loader(path, requester=requester)
