"""``DEP`` and ``P_DEP``: config entries computed from the config (AlchemyCat's API).

``fn(c)`` gives the value. ``c`` is the root of the tree the DEP was first mounted in
(its *rel root*): the file's ``cfg``, or an addon's root once composed. Each DEP
remembers how many levels its parent node is below that root (``DEP.level``);
lowering turns it into an OmegaConf interpolation that climbs that many levels.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from alchemy_resolvers.authoring.context import current_file

__all__ = ["DEP", "P_DEP", "ROOT_LEVEL"]

#: ``DEP.level`` of a DEP whose ``c`` is the whole config (``rel=False``).
ROOT_LEVEL = -1


class DEP:
    """An entry computed from the config: ``fn(c)`` gives its value.

    ``priority`` is accepted for AlchemyCat compatibility and otherwise unused: entries
    resolve lazily, on demand, so a DEP reading another DEP simply gets its value.
    ``rel=True``: ``c`` is the rel root (see the module doc); ``rel=False``: the whole
    config.
    """

    def __init__(self, fn: Callable[[Any], Any], priority: int = 1, rel: bool = True) -> None:
        if not callable(fn):
            raise TypeError(f"{type(self).__name__} needs a callable, got {fn!r}")
        self.fn = fn
        self.priority = priority
        self.rel = rel
        #: Levels from the node holding this DEP up to its rel root; set when first
        #: mounted in a Config, kept through copies and merges (AlchemyCat's rule).
        self.level: Optional[int] = None if rel else ROOT_LEVEL
        #: The config file that defined this DEP, for error messages.
        self.file: Optional[str] = current_file() or getattr(getattr(fn, "__code__", None), "co_filename", None)

    def __call__(self, c: Any) -> Any:
        return self.fn(c)

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        return f"{type(self).__name__}({name}, priority={self.priority}, rel={self.rel}, level={self.level})"


class P_DEP(DEP):  # noqa: N801 - AlchemyCat's public name
    """A DEP computed per sweep job before the job starts (it may read tuned values);
    the job's saved config shows its computed value."""

