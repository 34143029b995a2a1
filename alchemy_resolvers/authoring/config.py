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

Finding files named by ``caps`` or ``Config('path')``: AlchemyCat configs spell paths
from the project root (``caps='configs/mnist/base/cfg.py'``) and AlchemyCat resolves
them against the working directory only, which breaks as soon as something else picks
the working directory (Hydra's run dir, a test's tmp dir, a cluster job). A relative
path is looked up (1) as given when absolute, (2) under the working directory, then
(3) under each directory that contains the requesting file, nearest first (the file's
own directory, its parent, ... up to ``/``). The first existing file wins; a missing
one is an error that names the requesting file and every place searched.

Loading a Python config executes its source in a fresh namespace every time (compiled
with its real file name, so tracebacks show ``file:line``); it is never imported as a
module, so loading a base, then a child that changes it, then the base again gives the
base's own values each time (AlchemyCat mutates the cached module's ``cfg``).
"""
from __future__ import annotations

import builtins
import contextlib
import contextvars
import itertools
import os
import weakref
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from alchemy_resolvers.loading.common import (
    BaseFileNotFoundError,
    ConfigExecutionError,
    InheritanceCycleError,
    UnsupportedConfigError,
    error_line,
    compile_config,
    run_config,
)

__all__ = [
    "Config",
    "Cfg2Tune",
    "DEP",
    "P_DEP",
    "CapsNotFoundError",
    "load_config",
    "load_tree",
    "find_config_path",
]

PathLike = Union[str, "os.PathLike[str]"]

#: ``DEP.level`` of a DEP whose ``c`` is the whole config (``rel=False``).
ROOT_LEVEL = -1

_DATA_EXTS = (".yaml", ".yml", ".json")


class CapsNotFoundError(BaseFileNotFoundError):
    """A file named by ``caps=`` or ``Config('path')`` does not exist anywhere searched."""


# --------------------------------------------------------------------------- DEP


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
        self.file: Optional[str] = _current_file() or getattr(getattr(fn, "__code__", None), "co_filename", None)

    def __call__(self, c: Any) -> Any:
        return self.fn(c)

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        return f"{type(self).__name__}({name}, priority={self.priority}, rel={self.rel}, level={self.level})"


class P_DEP(DEP):  # noqa: N801 - AlchemyCat's public name
    """A DEP computed per sweep job before the job starts (it may read tuned values);
    the job's saved config shows its computed value."""


# ------------------------------------------------------------------ load context

# Real paths of the files being loaded on this thread, outermost first: the requesting
# file for relative paths, and the chain shown when caps/composition form a cycle.
_loading: contextvars.ContextVar[Tuple[str, ...]] = contextvars.ContextVar("alchemy_loading", default=())


def _current_file() -> Optional[str]:
    stack = _loading.get()
    return stack[-1] if stack else None


@contextlib.contextmanager
def _loading_file(path: str) -> Iterator[None]:
    stack = _loading.get()
    if path in stack:
        chain = stack[stack.index(path):] + (path,)
        raise InheritanceCycleError(
            "config inheritance/composition cycle: " + " -> ".join(_short(p) for p in chain)
        )
    token = _loading.set(stack + (path,))
    try:
        yield
    finally:
        _loading.reset(token)


def _short(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return path
    return path if rel.startswith("..") else rel


# ------------------------------------------------------------ Param2Tune order

# Definition order of Param2Tune values (order of first assignment into a Config), so
# that the sweeper can use it when no priority is given, whatever the tree order.
_param_counter = itertools.count()
_param_seq: Dict[int, Tuple[Any, int]] = {}


def _note_param(value: Any) -> None:
    key = id(value)
    if key in _param_seq:
        return
    try:
        ref: Any = weakref.ref(value, lambda _r, key=key: _param_seq.pop(key, None))
    except TypeError:  # not weak-referenceable: keep it alive instead
        ref = value
    _param_seq[key] = (ref, next(_param_counter))


def param_definition_index(param: Any) -> Optional[int]:
    """Order in which ``param`` was first assigned into a Config (None if never)."""
    entry = _param_seq.get(id(param))
    return None if entry is None else entry[1]


def _is_param(value: Any) -> bool:
    from alchemy_resolvers.authoring.tune import Param2Tune

    return isinstance(value, Param2Tune)


# ------------------------------------------------------------------------ Config

# ``_ac_format`` is "yacs" for a tree built on YACS defaults: a YAML file later in its
# ``caps`` then merges like ``merge_from_file``; ``_ac_yacs_new_allowed`` holds the
# dotted paths of the defaults' nodes created with ``new_allowed=True``.
_ATTRS = (
    "_ac_parent", "_ac_key", "_ac_mounted", "_ac_whole", "_ac_caps", "_ac_caps_from",
    "_ac_format", "_ac_yacs_new_allowed", "_ac_frozen", "_ac_tuned_caps",
)
_INHERITED_ATTRS = ("_ac_format", "_ac_yacs_new_allowed")


class Config(dict):
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
        if isinstance(caps, (str, os.PathLike, dict)) or _is_param(caps):
            caps = (caps,)
        caps = tuple(caps)
        for cfg in cfgs:
            if isinstance(cfg, (str, os.PathLike)):
                loaded = load_tree(cfg, requester=_current_file())
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
        object.__setattr__(self, "_ac_caps_from", _current_file())

    # -- construction helpers ------------------------------------------------------

    def _init_attrs(self, parent: Optional["Config"], key: Any, mounted: bool) -> None:
        set_ = object.__setattr__
        set_(self, "_ac_parent", parent)
        set_(self, "_ac_key", key)
        set_(self, "_ac_mounted", mounted)
        set_(self, "_ac_whole", False)
        set_(self, "_ac_caps", ())
        set_(self, "_ac_caps_from", None)
        set_(self, "_ac_format", None)
        set_(self, "_ac_yacs_new_allowed", frozenset())
        set_(self, "_ac_frozen", False)
        set_(self, "_ac_tuned_caps", None)  # a TunedCaps once caps are resolved

    @classmethod
    def _blank(cls, parent: Optional["Config"] = None, key: Any = None, mounted: bool = True) -> "Config":
        node = cls.__new__(cls)
        dict.__init__(node)
        node._init_attrs(parent, key, mounted)
        return node

    def _copy_attrs_to(self, other: "Config") -> None:
        for name in ("_ac_whole", "_ac_caps", "_ac_caps_from") + _INHERITED_ATTRS:
            object.__setattr__(other, name, getattr(self, name))

    def _inherit_format(self, other: "Config") -> None:
        """Take ``other``'s source format (YACS) when this node has none yet."""
        if other._ac_format and not self._ac_format:
            for name in _INHERITED_ATTRS:
                object.__setattr__(self, name, getattr(other, name))

    @classmethod
    def _convert(cls, value: dict) -> "Config":
        """Copy of a tree to merge: Config nodes copied, nested plain dicts converted
        (only when the container being converted is itself a plain dict)."""
        return cls._tree_copy(value, convert_dicts=not isinstance(value, Config))

    @classmethod
    def _tree_copy(cls, src: dict, convert_dicts: bool, _path: Tuple[int, ...] = ()) -> "Config":
        if id(src) in _path:
            raise ValueError("a config tree contains itself (circular reference)")
        path = _path + (id(src),)
        node = (type(src) if isinstance(src, Config) else cls)._blank()
        if isinstance(src, Config):
            src._copy_attrs_to(node)
        for k, v in src.items():
            if isinstance(v, Config):
                v = v._tree_copy(v, False, path)
            elif convert_dicts and isinstance(v, dict):
                v = cls._tree_copy(v, True, path)
            node[k] = v
        return node

    # -- attribute access ----------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name in _ATTRS:  # not yet set (unpickling): behave like a plain object
            raise AttributeError(name)
        return self[name]

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(type(self), name):
            raise AttributeError(
                f"`{name}` is a method/attribute of {type(self).__name__} and cannot be "
                f"set as a key with `.{name} = ...`; use `cfg[{name!r}] = ...`"
            )
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    # -- dict protocol -------------------------------------------------------------

    def __missing__(self, key: Any) -> "Config":
        # A detached child: attaches itself on the first write below it.
        return type(self)._blank(self, key, mounted=False)

    def __setitem__(self, key: Any, value: Any) -> None:
        if "_ac_parent" not in self.__dict__:  # unpickling: attributes come after items
            dict.__setitem__(self, key, value)
            return
        self._check_writable()
        self._mount()
        if isinstance(value, Config):
            if value is dict.get(self, key):
                return
            if not value._ac_mounted and value._ac_parent is self and value._ac_key == key:
                object.__setattr__(value, "_ac_mounted", True)
            elif value._ac_parent is not None:
                # Already part of another tree: mount a copy (one node, one parent).
                value = value._tree_copy(value, False)
                object.__setattr__(value, "_ac_parent", self)
                object.__setattr__(value, "_ac_key", key)
            else:
                object.__setattr__(value, "_ac_parent", self)
                object.__setattr__(value, "_ac_key", key)
                object.__setattr__(value, "_ac_mounted", True)
        old = dict.get(self, key)
        if isinstance(old, Config) and old is not value:
            old._demount()
        dict.__setitem__(self, key, value)
        if isinstance(value, DEP) and value.level is None:
            value.level = self._depth()
        elif _is_param(value):
            _note_param(value)

    def __delitem__(self, key: Any) -> None:
        self._check_writable()
        value = dict.__getitem__(self, key)
        if isinstance(value, Config):
            value._demount()
        dict.__delitem__(self, key)

    def clear(self) -> None:
        self._check_writable()
        for v in dict.values(self):
            if isinstance(v, Config):
                v._demount()
        dict.clear(self)

    _NO_DEFAULT = object()

    def pop(self, key: Any, default: Any = _NO_DEFAULT) -> Any:
        self._check_writable()
        if key not in self:
            if default is Config._NO_DEFAULT:
                raise KeyError(key)
            return default
        value = dict.pop(self, key)
        if isinstance(value, Config):
            value._demount()
        return value

    def popitem(self) -> Tuple[Any, Any]:
        self._check_writable()
        k, v = dict.popitem(self)
        if isinstance(v, Config):
            v._demount()
        return k, v

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

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

    # -- tree structure ------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._ac_frozen:
            raise RuntimeError(f"{type(self).__name__} is frozen (loaded configs are read-only); call .unfreeze() first")

    def _mount(self) -> None:
        if not self._ac_mounted:
            parent = self._ac_parent
            parent[self._ac_key] = self  # mounts the parent chain first, recursively

    def _demount(self) -> None:
        object.__setattr__(self, "_ac_parent", None)
        object.__setattr__(self, "_ac_key", None)
        object.__setattr__(self, "_ac_mounted", True)

    def _depth(self) -> int:
        depth, node = 0, self._ac_parent
        while node is not None:
            depth, node = depth + 1, node._ac_parent
        return depth

    @property
    def is_whole(self) -> bool:
        return bool(self._ac_whole)

    def override(self, is_whole: bool = True) -> "Config":
        """Mark this subtree whole: on merge it replaces the base's subtree instead of
        updating it key by key. Attaches the node (``cfg.a.override()`` creates ``a``)."""
        object.__setattr__(self, "_ac_whole", bool(is_whole))
        self._mount()
        return self

    set_whole = override

    def empty_leaf(self) -> "Config":
        """Clear and mark whole: in a child config, "delete" the base's subtree (the key
        stays, its value empty)."""
        self.clear()
        return self.override(True)

    def empty_tree(self) -> "Config":
        self.clear()
        return self.override(False)

    def freeze(self, frozen: bool = True) -> "Config":
        for node in self.branches:
            object.__setattr__(node, "_ac_frozen", frozen)
        return self

    def unfreeze(self) -> "Config":
        return self.freeze(False)

    @property
    def is_frozen(self) -> bool:
        return bool(self._ac_frozen)

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

        state = {name: self.__dict__.get(name) for name in _ATTRS}
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
        from alchemy_resolvers.convert import config_to_py_lines

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


# ----------------------------------------------------------------------- loading


def find_config_path(path: PathLike, requester: Optional[str] = None) -> str:
    """Real path of the config file ``path`` asked for by ``requester`` (see the
    module doc for the search order); :class:`CapsNotFoundError` when missing."""
    path = os.fspath(path)
    expanded = os.path.expanduser(path)
    if os.path.isabs(expanded):
        if os.path.isfile(expanded):
            return os.path.realpath(expanded)
        searched = [expanded]
    else:
        candidates = [os.getcwd()]
        if requester:
            d = os.path.dirname(os.path.abspath(requester))
            while True:
                if d not in candidates:
                    candidates.append(d)
                parent = os.path.dirname(d)
                if parent == d:
                    break
                d = parent
        for d in candidates:
            full = os.path.join(d, expanded)
            if os.path.isfile(full):
                return os.path.realpath(full)
        searched = [os.path.join(d, expanded) for d in candidates]
    asker = f"`{requester}`" if requester else "the caller"
    raise CapsNotFoundError(
        f"config file {path!r} asked for by {asker} was not found; searched (the working "
        "directory, then each directory containing the asking file):\n  "
        + "\n  ".join(searched)
    )


def load_tree(path: PathLike, requester: Optional[str] = None) -> Config:
    """Load one config file (any supported format) into a fresh :class:`Config` tree
    with its ``caps`` resolved and its DEPs still unevaluated."""
    real = find_config_path(path, requester)
    with _loading_file(real):
        ext = os.path.splitext(real)[1].lower()
        if ext == ".py":
            from alchemy_resolvers.loading.detect import detect_python_format

            fmt = detect_python_format(real)
            if fmt == "alchemy":
                return _load_alchemy(real)
            if fmt == "yacs":
                from alchemy_resolvers.loading.yacs import load_yacs_node, yacs_new_allowed_paths, yacs_to_dict

                node = load_yacs_node(real)
                tree = Config(yacs_to_dict(node))
                object.__setattr__(tree, "_ac_format", "yacs")
                object.__setattr__(tree, "_ac_yacs_new_allowed", frozenset(yacs_new_allowed_paths(node)))
                return tree
            from alchemy_resolvers.loading.common import load_foreign

            return Config(load_foreign(real, fmt=fmt))
        if ext in _DATA_EXTS:
            from alchemy_resolvers.loading.annotate import annotate_tree
            from alchemy_resolvers.loading.common import load_foreign

            # ``c`` of a ``${dep:...}`` in this file is this file's root, wherever its
            # tree ends up: stamp depths now, before it is merged or composed.
            return Config(annotate_tree(load_foreign(real)))
        raise UnsupportedConfigError(
            f"{real}: cannot load a config with extension {ext!r}; "
            "supported: .py (AlchemyCat, MMCV, YACS), .yaml, .yml, .json"
        )


def load_config(path: PathLike, resolve: bool = True) -> Config:
    """Load a config file like AlchemyCat's ``load_config`` (without the experiment
    dir): caps resolved, and with ``resolve`` every DEP computed (through the same
    OmegaConf resolvers Hydra uses) and the tree frozen."""
    tree = load_tree(path, requester=None)
    if not resolve:
        return tree
    from omegaconf import OmegaConf

    from alchemy_resolvers.lowering.lower import lower

    real = find_config_path(path)
    plain = OmegaConf.to_container(OmegaConf.create(lower(tree, real)), resolve=True)
    cfg = type(tree)(plain)
    return cfg.freeze()


_code_cache: Dict[str, Tuple[Tuple[int, int], Any]] = {}


def _compile(path: str) -> Any:
    st = os.stat(path)
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _code_cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with open(path, "rb") as f:
        code = compile_config(f.read(), path)
    _code_cache[path] = (stamp, code)
    return code


def _load_alchemy(path: str) -> Config:
    code = _compile(path)
    namespace: Dict[str, Any] = {
        "__name__": "__alchemy_config__",
        "__file__": path,
        "__builtins__": builtins,
    }
    # Errors of inherited/composed files already name the file they are about.
    run_config(code, path, namespace, passthrough=(ConfigExecutionError, InheritanceCycleError, CapsNotFoundError))
    tree = _config_of(namespace, path)
    _resolve_caps(tree, path)
    return tree


def _config_of(namespace: Dict[str, Any], path: str) -> Config:
    has_cfg, has_config = "cfg" in namespace, "config" in namespace
    if has_cfg and has_config and namespace["cfg"] is not namespace["config"]:
        raise UnsupportedConfigError(
            f"{path} defines both `cfg` and `config` and they differ: keep one of them"
        )
    if not (has_cfg or has_config):
        raise UnsupportedConfigError(
            f"{path} defines neither `cfg` nor `config`: an AlchemyCat config file must "
            "end with its tree in a variable named `cfg` (e.g. `cfg = Config()`)"
        )
    tree = namespace["cfg"] if has_cfg else namespace["config"]
    if isinstance(tree, Config):
        return tree
    if isinstance(tree, dict):
        return Config(tree)
    raise UnsupportedConfigError(
        f"{path}: `cfg` must be a Config (or a dict), got {type(tree).__name__}"
    )


def _resolve_caps(tree: Config, path: str) -> None:
    """Resolve ``caps`` of every node of ``tree`` (children before parents), then stamp
    ``${dep:...}`` strings with their depth below this file's root."""
    for node in list(tree.branches)[::-1]:  # deepest first
        if node._ac_caps:
            _apply_caps(node, path)
    _annotate_strings(tree, 0)


def _apply_caps(node: Config, path: str) -> None:
    caps = node._ac_caps
    requester = node._ac_caps_from or path
    base: Config = type(node)._blank()
    for position, entry in enumerate(caps):
        if _is_param(entry):
            _note_tuned_caps(node, entry, position, requester, path)
            continue
        if isinstance(entry, dict):
            base.dict_update(entry)
            continue
        if not isinstance(entry, (str, os.PathLike)):
            raise TypeError(f"{path}: `caps` entries must be paths or dicts, got {entry!r}")
        ext = os.path.splitext(os.fspath(entry))[1].lower()
        if base._ac_format == "yacs" and ext in (".yaml", ".yml"):
            # A YAML over YACS defaults means ``merge_from_file``: only known keys, with
            # the defaults' types.
            from alchemy_resolvers.loading.yacs import merge_yacs_yaml

            real = find_config_path(entry, requester)
            merged = Config(merge_yacs_yaml(base.to_dict(), real, new_allowed=base._ac_yacs_new_allowed))
            merged._inherit_format(base)
            base = merged
            continue
        loaded = load_tree(entry, requester=requester)
        base.dict_update(loaded)
        base._inherit_format(loaded)
    object.__setattr__(node, "_ac_caps", ())
    _merge_under(node, base)


def _note_tuned_caps(node: Config, param: Any, position: int, requester: str, path: str) -> None:
    """Keep a ``Param2Tune`` of base files for the sweeper instead of merging it now.

    The base then changes from job to job, which one tree cannot express: lowering
    turns it into a hidden config group whose options are the base files, placed
    before the config's own entries in its defaults list. That order is only right
    when the tuned base comes first among the caps, so anything else is refused.
    """
    if node._ac_parent is not None:
        raise UnsupportedConfigError(
            f"{path}: a tunable `caps` is only supported on the whole config "
            f"(Cfg2Tune(caps=Param2Tune([...]))), not on the subtree `{node._ac_key}`"
        )
    if position != 0:
        raise UnsupportedConfigError(
            f"{path}: a tunable `caps` must be the first entry of `caps` (the bases after "
            "it, and the config itself, then win over it as usual)"
        )
    files = [find_config_path(entry, requester) for entry in param.optional_values]
    object.__setattr__(node, "_ac_tuned_caps", TunedCaps(param, files))


class TunedCaps:
    """A ``Param2Tune`` over base files and the files' resolved paths, in order."""

    def __init__(self, param: Any, files: List[str]) -> None:
        self.param = param
        self.files = files


def _annotate_strings(node: Any, depth: int) -> None:
    from alchemy_resolvers.loading.annotate import annotate_tree, annotate_value

    items = dict.items(node) if isinstance(node, dict) else enumerate(node)
    for k, v in list(items):
        if isinstance(v, str) and ("${" in v or v.lstrip().startswith("$<")):
            new = annotate_value(v, depth)
            if new != v:
                _raw_set(node, k, new)
        elif isinstance(v, Config):
            _annotate_strings(v, depth + 1)
        elif isinstance(v, (dict, list)):
            new = annotate_tree(v, depth + 1)
            if new != v:
                _raw_set(node, k, new)


def _raw_set(node: Any, key: Any, value: Any) -> None:
    if isinstance(node, Config):
        dict.__setitem__(node, key, value)
    else:
        node[key] = value
