"""AlchemyCat's authoring API: ``Config``, ``DEP``, ``P_DEP``, ``Cfg2Tune``.

A config file builds a tree of :class:`Config` nodes (a ``dict`` with attribute access)
and names it ``cfg`` (or ``config``). This module reproduces AlchemyCat's semantics:

- Reading a missing key gives an empty, *detached* child that attaches itself to its
  parent on the first write below it, so ``cfg.a.b.c = 1`` builds the chain while
  ``if cfg.log:`` reads nothing into the tree. An empty subtree is falsy.
- Only ``Config`` values are subtrees. A plain ``dict`` assigned as a value is a leaf,
  replaced whole on merge; building a ``Config`` *from* a dict converts nested dicts.
- Merge (inheritance, :meth:`Config.dict_update`, ``|``) is a recursive update:
  subtrees merge key by key, everything else (lists included) is replaced.
  :meth:`Config.override` marks a subtree whole: it replaces instead of merging.
- ``Config(caps=...)`` inherits lazily: the bases are loaded when the file is loaded,
  left to right, each fully resolved, and the config itself wins. Unlike AlchemyCat,
  ``caps`` on a subtree (``cfg.sched = Config(caps='addon.py')``) work too, and a
  cycle is an error that shows the chain.
- ``Config('addon.py')`` composes: the other file's tree, loaded now, mounted where the
  new node is assigned.
- ``DEP(fn)`` / ``@cfg.x.set_DEP()`` / ``P_DEP(fn)``: a value computed from the config
  as ``fn(c)``. ``c`` is the root of the tree the DEP was first mounted in (its *rel
  root*): the file's ``cfg``, or an addon's root once composed. Each DEP remembers how
  many levels its parent node is below that root (``DEP.level``); lowering turns it
  into an OmegaConf interpolation that climbs that many levels (see ``lower.py``).


Files named by ``caps`` or ``Config('path')`` are found and loaded by
:mod:`alchemy_resolvers.loading.alchemy`; this module never imports the loaders
(a path given to ``Config()`` goes through :func:`~alchemy_resolvers.authoring.context.load_file`).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from alchemy_resolvers.authoring.context import current_file, load_file
from alchemy_resolvers.authoring.dep import DEP, P_DEP, ROOT_LEVEL
from alchemy_resolvers.authoring.node import ATTRS, TreeNode
from alchemy_resolvers.authoring.params import is_param, param_definition_index
from alchemy_resolvers.authoring.printer import config_to_py_lines

__all__ = ["Config", "Cfg2Tune", "DEP", "P_DEP", "ROOT_LEVEL", "param_definition_index", "merge_under"]

PathLike = Union[str, "os.PathLike[str]"]


class Config(TreeNode):
    """A config tree node: a ``dict`` with attribute access (see the module doc).

    ``Config(*cfgs, caps=(), **kwargs)``: each positional ``cfg`` is a dict (nested
    dicts become subtrees) or the path of a config file to compose (loaded now);
    they are merged in order, then ``kwargs``. ``caps`` is a path, a dict, or a
    sequence of them: bases resolved when the file is loaded (see module doc).
    """

    def __init__(
        self,
        *cfgs: Any,
        caps: Any = (),
        cfgs_update_at_parser: Any = (),
        **kwargs: Any,
    ) -> None:
        dict.__init__(self)
        self._init_attrs(None, None, True)
        if caps and cfgs_update_at_parser:
            raise TypeError("give `caps` or its old name `cfgs_update_at_parser`, not both")
        caps = caps or cfgs_update_at_parser
        if isinstance(caps, (str, os.PathLike, dict)) or is_param(caps):
            caps = (caps,)
        caps = tuple(caps)
        for cfg in cfgs:
            if isinstance(cfg, (str, os.PathLike)):
                loaded = load_file(cfg, requester=current_file())
                self.dict_update(loaded)
                self._inherit_format(loaded)
            elif isinstance(cfg, dict):
                self.dict_update(cfg)
                if isinstance(cfg, Config) and cfg._ac_caps:
                    # The other tree still has bases to resolve: they come before ours.
                    caps = tuple(cfg._ac_caps) + caps
            else:
                raise TypeError(
                    f"Config() takes dicts or config file paths, got {type(cfg).__name__}: {cfg!r}"
                )
        if kwargs:
            self.dict_update(kwargs)
        object.__setattr__(self, "_ac_caps", caps)
        object.__setattr__(self, "_ac_caps_from", current_file())

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Recursive update, like inheritance (AlchemyCat's ``update``)."""
        if len(args) > 1:
            raise TypeError(f"update expected at most 1 argument, got {len(args)}")
        if args:
            other = args[0]
            self.dict_update(other if isinstance(other, dict) else dict(other))
        if kwargs:
            self.dict_update(kwargs)

    @classmethod
    def fromkeys(cls, iterable: Iterable[Any], value: Any = None) -> "Config":  # type: ignore[override]
        node = cls()
        for k in iterable:
            node[k] = value
        return node

    # -- merging -------------------------------------------------------------------

    def dict_update(self, other: dict, incremental: bool = False) -> None:
        """Merge ``other`` into this tree (a copy of its branches; leaves shared).

        Subtrees merge key by key unless ``other``'s subtree is whole; everything else
        is replaced. ``incremental=True`` only adds missing keys (still recursing into
        subtrees both sides have).
        """
        if not isinstance(other, dict):
            raise TypeError(f"dict_update expects a dict, got {type(other).__name__}")
        _merge(self, self._convert(other), incremental)

    def __or__(self, other: Any) -> "Config":
        if not isinstance(other, dict):
            return NotImplemented
        new = self.branch_copy()
        new.dict_update(other)
        return new

    # AlchemyCat: ``d | cfg`` is ``cfg | d`` (the plain dict's values win).
    __ror__ = __or__

    def __ior__(self, other: Any) -> "Config":
        if not isinstance(other, dict):
            return NotImplemented
        self.dict_update(other)
        return self

    def branch_copy(self) -> "Config":
        """A new tree with copied branches and shared leaves (AlchemyCat's copy)."""
        return self._tree_copy(self, False)

    copy = branch_copy  # type: ignore[assignment]

    def __copy__(self) -> "Config":
        return self.branch_copy()

    def __reduce_ex__(self, protocol: Any) -> Any:
        import copyreg

        state = {name: self.__dict__.get(name) for name in ATTRS}
        return copyreg.__newobj__, (type(self),), state, None, iter(dict.items(self))

    def __setstate__(self, state: Dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    # -- traversal -----------------------------------------------------------------

    @property
    def named_branches(self) -> Iterator[Tuple[str, "Config"]]:
        return _named_branches(self, "")

    @property
    def branches(self) -> Iterator["Config"]:
        return (b for _, b in _named_branches(self, ""))

    @property
    def named_ckl(self) -> Iterator[Tuple[str, Tuple["Config", Any, Any]]]:
        return _named_ckl(self, "")

    @property
    def ckl(self) -> Iterator[Tuple["Config", Any, Any]]:
        return (ckl for _, ckl in _named_ckl(self, ""))

    @property
    def leaves(self) -> Iterator[Any]:
        return (leaf for _, (_, _, leaf) in _named_ckl(self, ""))

    def to_dict(self) -> Dict[Any, Any]:
        """Plain nested dicts (leaves shared)."""
        return {k: v.to_dict() if isinstance(v, Config) else v for k, v in self.items()}

    # -- DEP helpers ---------------------------------------------------------------

    def set_DEP(self, name: Optional[str] = None, priority: int = 1, rel: bool = True) -> Callable[[Callable], Callable]:  # noqa: N802
        """Decorator: ``@cfg.x.set_DEP()`` sets ``cfg.x.<fn name>`` to ``DEP(fn)``."""

        def decorator(fn: Callable) -> Callable:
            self[name if name is not None else fn.__name__] = DEP(fn, priority=priority, rel=rel)
            return fn

        return decorator

    set_IL = set_DEP  # noqa: N815 - AlchemyCat's older name

    def set_P_DEP(self, name: Optional[str] = None, priority: int = 1, rel: bool = True) -> Callable[[Callable], Callable]:  # noqa: N802
        def decorator(fn: Callable) -> Callable:
            self[name if name is not None else fn.__name__] = P_DEP(fn, priority=priority, rel=rel)
            return fn

        return decorator
    # -- printing ------------------------------------------------------------------

    def to_txt(self, prefix: str = "cfg.") -> str:
        """AlchemyCat's pretty print: one ``cfg.a.b = value`` line per leaf; runs as
        Python when the leaves are built-in values."""
        return "\n".join(config_to_py_lines(self, prefix.rstrip(".") or "cfg"))

    def __str__(self) -> str:
        return self.to_txt()


class Cfg2Tune(Config):
    """A Config whose entries may be ``Param2Tune`` axes (run with the alchemy sweeper)."""


def _merge(dst: Config, src: Config, incremental: bool) -> None:
    """Merge ``src`` (a private copy, consumed) into ``dst``."""
    for k in list(src.keys()):
        v = dict.__getitem__(src, k)
        dict.__delitem__(src, k)
        if isinstance(v, Config):
            v._demount()
        cur = dict.get(dst, k)
        if isinstance(v, Config) and not v._ac_whole and isinstance(cur, Config):
            _merge(cur, v, incremental)
            cur._inherit_format(v)
        elif incremental and k in dst:
            continue
        else:
            dst[k] = v


def _merge_under(node: Config, base: Config) -> None:
    """In place: ``node`` becomes ``base`` updated by ``node`` (node's values win), in
    the base's key order; node's own subtrees keep their identity (closures in the
    config file that captured them keep seeing the final tree)."""
    items: List[Tuple[Any, Any]] = []
    for k, b in list(dict.items(base)):
        if k in node:
            mine = dict.__getitem__(node, k)
            if isinstance(mine, Config) and not mine._ac_whole and isinstance(b, Config):
                _merge_under(mine, b)
            items.append((k, mine))
        else:
            items.append((k, b))
    for k, mine in dict.items(node):
        if k not in base:
            items.append((k, mine))
    dict.clear(node)
    dict.clear(base)
    for k, v in items:
        if isinstance(v, Config):
            object.__setattr__(v, "_ac_parent", node)
            object.__setattr__(v, "_ac_key", k)
            object.__setattr__(v, "_ac_mounted", True)
        dict.__setitem__(node, k, v)
    node._inherit_format(base)


def _named_branches(node: Config, name: str) -> Iterator[Tuple[str, Config]]:
    yield name, node
    for k, v in node.items():
        if isinstance(v, Config):
            yield from _named_branches(v, f"{name}.{k}" if name else str(k))


def _named_ckl(node: Config, prefix: str) -> Iterator[Tuple[str, Tuple[Config, Any, Any]]]:
    for k, v in node.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Config):
            yield from _named_ckl(v, name)
        else:
            yield name, (node, k, v)



#: For the loaders: ``node`` becomes ``base`` updated by ``node`` (caps resolution).
merge_under = _merge_under
