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

Resolution stays lazy and uncached, so every override is reflected: a dep reading
another dep gets its current value, and cycles are reported by key.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional

from omegaconf import DictConfig, ListConfig, Node, OmegaConf
from omegaconf.errors import ConfigKeyError, InterpolationResolutionError

from alchemy_resolvers._compat import register_resolver
from alchemy_resolvers.errors import AlchemyError
from alchemy_resolvers.expr import Lookup, safe_eval

__all__ = [
    "ConfigView",
    "DepError",
    "DepCycleError",
    "relative_root",
    "view_of",
    "evaluation_guard",
    "compute_entry",
    "register",
]

ROOT_DEPTH = -1


class DepError(AlchemyError, ValueError):
    """A dependency could not be computed; the message names the entry that holds it."""


class DepCycleError(DepError):
    """Dependencies read each other in a cycle; the message lists the keys in order."""


def node_key(node: Node) -> str:
    """Full dotted key of ``node`` in its config ("<root>" for the root itself)."""
    key = node._get_full_key(None)
    return str(key) if key not in (None, "") else "<root>"


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
            if isinstance(node, ListConfig):
                value = node[key]
            elif isinstance(node, DictConfig):
                if key not in node:
                    raise ConfigKeyError(str(key))
                value = node[key]
            else:
                raise DepError(f"`{node_key(node)}` is a value, not a config node")
        except (ConfigKeyError, KeyError, IndexError, AttributeError):
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


def view_of(value: Any, name: str = "c") -> Any:
    """Wrap containers in a :class:`ConfigView`; leave other values as they are."""
    if isinstance(value, (DictConfig, ListConfig)):
        return ConfigView(value, name)
    return value


_stack = threading.local()


@contextmanager
def evaluation_guard(node: Node) -> Iterator[None]:
    """Track the entries being computed on this thread to report cycles by key.

    OmegaConf resolves lazily and on demand, so a dep that reads a dep recurses through
    the resolvers; without this, a cycle would end in a bare RecursionError.
    """
    chain: List[str] = getattr(_stack, "chain", None) or []
    _stack.chain = chain
    key = node_key(node)
    if key in chain:
        cycle = chain[chain.index(key):] + [key]
        raise DepCycleError("dependency cycle: " + " -> ".join(cycle))
    chain.append(key)
    try:
        yield
    finally:
        chain.pop()


def _unwrap_error(err: BaseException) -> BaseException:
    """The innermost dep error behind OmegaConf's interpolation wrappers."""
    seen = err
    while isinstance(seen, InterpolationResolutionError) and seen.__cause__ is not None:
        seen = seen.__cause__
    return seen


def compute_entry(node: Node, where: str, compute: Callable[[], Any]) -> Any:
    """Run ``compute()`` as the value of ``node`` (a dep, or a Python DEP).

    Cycles are reported by key; every other failure becomes a :class:`DepError` whose
    message starts with ``where`` (the entry and what it holds), so a failure deep in a
    chain of dependencies still names each entry on the way.
    """
    with evaluation_guard(node):
        try:
            return compute()
        except DepCycleError:
            raise
        except InterpolationResolutionError as e:
            inner = _unwrap_error(e)
            if isinstance(inner, DepCycleError):
                raise inner from None
            if isinstance(inner, DepError):
                raise DepError(f"{where}: {inner}") from inner
            raise DepError(f"{where}: {type(inner).__name__}: {inner}") from e
        except DepError as e:
            raise DepError(f"{where}: {e}") from e
        except Exception as e:  # noqa: BLE001 - every failure must name the entry
            raise DepError(f"{where}: {type(e).__name__}: {e}") from e


def _dep(expr: str, depth: Optional[int] = None, *, _parent_: Node, _node_: Node, _root_: Node) -> Any:
    def compute() -> Any:
        c = relative_root(_parent_, depth, _root_)
        return safe_eval(str(expr), {"c": view_of(c, "c"), "root": view_of(_root_, "root")})

    return compute_entry(_node_, f"in `{node_key(_node_)}` (${{dep:{expr}}})", compute)


def _rel(path: str, depth: Optional[int] = None, *, _parent_: Node, _node_: Node, _root_: Node) -> Any:
    key = node_key(_node_)
    with evaluation_guard(_node_):
        base = relative_root(_parent_, depth, _root_)
        found = OmegaConf.select(base, str(path), throw_on_missing=True, default=_MISSING)  # type: ignore[arg-type]
        if found is _MISSING:
            have = ", ".join(map(str, base.keys())) if isinstance(base, DictConfig) else ""
            raise DepError(
                f"in `{key}` (${{rel:{path}}}): `{path}` does not exist under the "
                f"relative root `{node_key(base)}`" + (f", which has: {have}" if have else "")
            )
        return found


_MISSING = object()


def register() -> None:
    """Register ``dep`` and ``rel``; safe to call any number of times."""
    register_resolver("dep", _dep)
    register_resolver("rel", _rel)
