"""The ``dep`` and ``rel`` resolvers: entries computed from other entries.

``${dep:EXPR,DEPTH}`` evaluates ``EXPR`` with the safe evaluator. ``c`` is the
*relative root*: the node where the config file holding the expression was mounted.
Hydra forgets where a file was mounted once it has merged it, so the loader records,
for every expression, how many levels its parent container sits below the file's own
root (``DEPTH``); at resolution the relative root is that many levels above
``_parent_``, wherever Hydra placed the file (group package, ``group@pkg`` override,
``# @package`` header). ``DEPTH`` is absent for expressions that did not come through
our loader (command-line overrides, other config sources): they see the whole config,
like a primary config does. A negative ``DEPTH`` means "the whole config" explicitly.

Resolution stays lazy and uncached between reads, so every override is reflected: a
dep reading another dep gets its current value, and cycles are reported by key. Within
one read, each entry is computed once and the evaluator's work bounds hold for the
whole resolution (``_Resolution``).
"""
from __future__ import annotations

import enum
import re
from typing import Any, Callable, Iterator, List, Optional

from omegaconf import AnyNode, DictConfig, ListConfig, Node, OmegaConf
from omegaconf.errors import ConfigKeyError, InterpolationResolutionError

from alchemy_resolvers._compat import register_resolver
from alchemy_resolvers.deps.resolution import (
    DepCycleError,
    DepError,
    DepLimitError,
    compute_entry,
    current_work_total,
    evaluation_count,
    evaluation_guard,
    node_key,
    read_child,
)
from alchemy_resolvers.expr import GeneratorValue, Lookup, safe_eval

__all__ = [
    "ConfigView",
    "DepError",
    "DepCycleError",
    "DepLimitError",
    "check_config_value",
    "evaluation_count",
    "relative_root",
    "view_of",
    "evaluation_guard",
    "compute_entry",
    "register",
]

ROOT_DEPTH = -1


def relative_root(parent: Node, depth: Optional[int], root: Node) -> Node:
    """The node ``depth`` levels above ``parent``; the whole config when unknown.

    A depth that climbs past the root means the file's tree no longer has the shape it
    was loaded with (e.g. a subtree was copied elsewhere by interpolation): falling
    back to the root would silently compute with the wrong ``c``, so refuse instead.
    """
    if depth is None or depth < 0:
        return root
    node: Optional[Node] = parent
    for _ in range(depth):
        node = node._get_parent() if node is not None else None
        if node is None:
            raise DepError(
                f"cannot find the relative root {depth} level(s) above "
                f"`{node_key(parent)}`: the entry was moved out of the tree it was "
                "loaded with"
            )
    assert node is not None
    return node


class ConfigView(Lookup):
    """Read-only view of a config node for expressions and Python DEP functions.

    Attribute and item reads return resolved values: containers come back as views,
    so ``c.loader.ini.batch_size`` works like on AlchemyCat's ``Config``. Only this
    class is readable through attributes in safe expressions, which keeps expressions
    from reaching Python internals.
    """

    __slots__ = ("_node", "_name")

    def __init__(self, node: Node, name: str = "c") -> None:
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_name", name)

    # --- Lookup protocol (used by the safe evaluator) ---------------------------
    def lookup_attr(self, name: str) -> Any:
        return self._get(name)

    def lookup_item(self, key: Any) -> Any:
        return self._get(key)

    # --- Python access (used by DEP functions written in Python configs) --------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._get(name)
        except DepError as e:
            raise AttributeError(str(e)) from None

    def __getitem__(self, key: Any) -> Any:
        return self._get(key)

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError("config views are read-only inside a dependency")

    def __len__(self) -> int:
        return len(self._node)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        node = self._node
        if isinstance(node, DictConfig):
            return iter(list(node.keys()))
        return (self._get(i) for i in range(len(node)))  # type: ignore[arg-type]

    def __contains__(self, key: Any) -> bool:
        node = self._node
        if isinstance(node, DictConfig):
            return key in node
        return any(v == key for v in self)

    def keys(self) -> List[Any]:
        return list(self._node.keys()) if isinstance(self._node, DictConfig) else []

    def items(self) -> List[Any]:
        return [(k, self._get(k)) for k in self.keys()]

    def values(self) -> List[Any]:
        return [self._get(k) for k in self.keys()]

    def get(self, key: Any, default: Any = None) -> Any:
        return self._get(key) if key in self else default

    def to_container(self) -> Any:
        """A plain resolved copy (dicts and lists) of the viewed subtree."""
        return OmegaConf.to_container(self._node, resolve=True)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"ConfigView({node_key(self._node)})"

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, ConfigView):
            return self.to_container() == other.to_container()
        return bool(self.to_container() == other)

    __hash__ = None  # type: ignore[assignment]

    def _get(self, key: Any) -> Any:
        node = self._node
        try:
            if not isinstance(node, (DictConfig, ListConfig)):
                raise DepError(f"`{node_key(node)}` is a value, not a config node")
            # never `key in node`: it resolves the entry, and reading it again would
            # double the work per level of a chain of dependencies
            child = node._get_node(key, throw_on_missing_key=False)  # type: ignore[arg-type]
            if child is None:
                raise ConfigKeyError(str(key))
            value = read_child(node, key, child, _direct_read(node, child))  # type: ignore[arg-type]
        except (ConfigKeyError, KeyError, IndexError, AttributeError, TypeError):
            raise DepError(self._missing_message(key)) from None
        if isinstance(value, (DictConfig, ListConfig)):
            return ConfigView(value, f"{self._name}.{key}")
        return value

    def _missing_message(self, key: Any) -> str:
        node = self._node
        where = node_key(node)
        if isinstance(node, DictConfig):
            have = ", ".join(str(k) for k in node.keys()) or "nothing"
            return (
                f"`{self._name}.{key}` does not exist: `{self._name}` is `{where}`, "
                f"which has: {have}"
            )
        return f"`{self._name}[{key!r}]` is out of range: `{where}` has {len(node)} items"  # type: ignore[arg-type]


#: The form the loader gives every ``${dep:...}`` (see ``loading/annotate.py``), when the
#: expression needs no unescaping: it can be evaluated without OmegaConf's parser,
#: which costs more than most expressions.
_ANNOTATED = re.compile(r"^\$\{dep:'([^'\\$]*)',(-?\d+)\}$")


def _direct_read(container: Node, child: Node) -> Optional[Callable[[], Any]]:
    """A read of ``child`` that calls the dep resolver directly, as OmegaConf would
    (same arguments, same result); ``None``
    unless ``child`` is an untyped node holding exactly one annotated dep."""
    if type(child) is not AnyNode:
        return None
    raw = child._value()
    match = _ANNOTATED.match(raw) if type(raw) is str else None
    if match is None:
        return None
    expr, depth = match.group(1), int(match.group(2))

    def read() -> Any:  # OmegaConf gives a resolver's result back as it is, too
        return _dep(expr, depth, _parent_=container, _node_=child, _root_=container._get_root())

    return read


def view_of(value: Any, name: str = "c") -> Any:
    """Wrap containers in a :class:`ConfigView`; leave other values as they are."""
    if isinstance(value, (DictConfig, ListConfig)):
        return ConfigView(value, name)
    return value


_SCALARS = (type(None), bool, int, float, str, bytes)


def check_config_value(value: Any, path: str = "") -> Any:
    """Refuse a result OmegaConf cannot hold as a value (a set, a generator, a view of
    the config, any other object) with an error, instead of letting it turn into
    something else later; the caller names the entry. Tuples are lists in a config."""
    if isinstance(value, _SCALARS) or isinstance(value, enum.Enum):
        return value
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_config_value(v, f"{path}[{i}]")
        return value
    at = f" at `{path}` of the result" if path else ""
    if isinstance(value, dict):
        for k, v in value.items():
            if k is not None and not isinstance(k, (str, int, float, enum.Enum)):
                raise DepError(f"the result has the {type(k).__name__} key {k!r}{at}, "
                               "which a config cannot hold (keys are str, int, float, bool)")
            check_config_value(v, f"{path}.{k}" if path else str(k))
        return value
    if isinstance(value, ConfigView):
        hint = "a dependency gives a value, not a part of the config: use ${rel:...} to reuse a subtree"
    elif isinstance(value, (set, frozenset)):
        hint = "a config has no sets: use sorted(...) or list(...)"
    elif isinstance(value, GeneratorValue):
        hint = "a generator expression is lazy: use [... for ...] or list(...)"
    else:
        hint = "a config value is None, bool, int, float, str, or a list or dict of them"
    raise DepError(f"the result{at} is a {type(value).__name__}, not a config value; {hint}")


def _dep(expr: str, depth: Optional[int] = None, *, _parent_: Node, _node_: Node, _root_: Node) -> Any:
    where = f"in `{node_key(_node_)}` (${{dep:{expr}}})"

    def compute() -> Any:
        c = relative_root(_parent_, depth, _root_)
        names = {"c": view_of(c, "c"), "root": view_of(_root_, "root")}
        return check_config_value(safe_eval(str(expr), names, current_work_total()))

    return compute_entry(_node_, where, compute, ("dep", id(_node_), str(expr), depth))


def _rel(path: str, depth: Optional[int] = None, *, _parent_: Node, _node_: Node, _root_: Node) -> Any:
    key = node_key(_node_)

    def compute() -> Any:
        base = relative_root(_parent_, depth, _root_)
        found = OmegaConf.select(base, str(path), throw_on_missing=True, default=_MISSING)  # type: ignore[arg-type]
        if found is _MISSING:
            have = ", ".join(map(str, base.keys())) if isinstance(base, DictConfig) else ""
            raise DepError(
                f"in `{key}` (${{rel:{path}}}): `{path}` does not exist under the "
                f"relative root `{node_key(base)}`" + (f", which has: {have}" if have else "")
            )
        return found

    try:
        return compute_entry(_node_, f"in `{key}` (${{rel:{path}}})", compute)
    except DepError as e:
        if isinstance(e, DepCycleError) or not isinstance(e.__cause__, DepError):
            raise
        raise e.__cause__ from None  # a missing key is reported once, not "in x: in x"


_MISSING = object()


def register() -> None:
    """Register ``dep`` and ``rel``; safe to call any number of times."""
    register_resolver("dep", _dep)
    register_resolver("rel", _rel)
