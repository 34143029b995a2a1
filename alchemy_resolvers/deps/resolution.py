"""One read of a dependency, with every dependency it reads in turn.

OmegaConf resolves lazily and on demand: a dep that reads a dep recurses through the
resolvers. Left alone, that costs three things: a cycle ends in a bare RecursionError,
an entry read twice is computed twice (a diamond of n levels costs 2**n evaluations),
and a chain of a few dozen entries exhausts Python's stack (each level is ~30 frames of
OmegaConf and the evaluator). One :class:`_Resolution` per outermost read fixes all
three: it keeps the chain of entries being computed (cycles are reported by key), one
work total (the evaluator's bounds hold for the whole resolution, so a fan-out of reads
fails quickly instead of running for hours), the values already computed (each entry
is evaluated once: linear in the entries read) and, every ``MAX_NESTING`` levels,
continues the read on a fresh thread's stack (the current one waits), so chains of any
length resolve without a RecursionError.

The config cannot change during one read, so nothing cached here can go stale; the next
read starts a new resolution, so overrides are always reflected.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional

from omegaconf import Node
from omegaconf.errors import InterpolationResolutionError

from alchemy_resolvers.errors import AlchemyError
from alchemy_resolvers.expr import ExpressionLimitError, WorkTotal

__all__ = [
    "DepError",
    "DepCycleError",
    "DepLimitError",
    "node_key",
    "evaluation_guard",
    "compute_entry",
    "evaluation_count",
    "current_work_total",
    "read_child",
    "MAX_NESTING",
]

#: Nested dependency levels computed on one thread's stack before a read continues on
#: a fresh one (each level costs about 30 frames).
MAX_NESTING = 12


class DepError(AlchemyError, ValueError):
    """A dependency could not be computed; the message names the entry that holds it."""


class DepCycleError(DepError):
    """Dependencies read each other in a cycle; the message lists the keys in order."""


class DepLimitError(DepError, ExpressionLimitError):
    """Resolving one entry, with every dependency it reads, exceeds the work bounds."""


def node_key(node: Node) -> str:
    """Full dotted key of ``node`` in its config ("<root>" for the root itself)."""
    key = node._get_full_key(None)
    return str(key) if key not in (None, "") else "<root>"


class _Resolution:
    __slots__ = ("chain", "base", "total", "memo", "reads")

    def __init__(self, key: str) -> None:
        self.chain: List[str] = []
        self.base = 0  # length of `chain` when the current thread took over
        self.total = WorkTotal(f"resolving `{key}` (with every dependency it reads)")
        self.memo: Dict[Any, Any] = {}
        self.reads: Dict[int, Any] = {}


_local = threading.local()
_evaluations = [0]


def evaluation_count() -> int:
    """How many dependencies this process has computed (tests and benchmarks count
    work with it instead of timing it)."""
    return _evaluations[0]


def current_work_total() -> Optional[WorkTotal]:
    """The work total of the resolution in progress on this thread, if any."""
    session = getattr(_local, "session", None)
    return session.total if session is not None else None


def read_child(container: Node, key: Any, child: Node, read: Optional[Callable[[], Any]] = None) -> Any:
    """``container[key]`` (whose node is ``child``) read once per resolution; a read
    nested too deeply continues on a fresh stack (see module doc). ``read`` is a
    quicker way to the same value, if the caller knows one."""
    session: Optional[_Resolution] = getattr(_local, "session", None)
    if session is None or not child._is_interpolation():
        return container[key]  # type: ignore[index]
    found = session.reads.get(id(child), _MISSING)
    if found is not _MISSING:
        return found
    if read is None:
        read = lambda: container[key]  # type: ignore[index]  # noqa: E731
    if len(session.chain) - session.base >= MAX_NESTING:
        value = _on_fresh_stack(session, read)
    else:
        value = read()
    session.reads[id(child)] = value
    return value


def _on_fresh_stack(session: _Resolution, read: Callable[[], Any]) -> Any:
    """``read()`` in a new thread, which has a stack and a recursion count of its own;
    this thread waits, so the resolution's state is never used by two at once."""
    result: Dict[str, Any] = {}

    def run() -> None:
        _local.session = session
        try:
            result["value"] = read()
        except BaseException as e:  # noqa: BLE001 - re-raised in the waiting thread
            result["error"] = e
        finally:
            _local.session = None

    saved, session.base = session.base, len(session.chain)
    try:
        worker = threading.Thread(target=run, name="alchemy-dep-resolution", daemon=True)
        worker.start()
        worker.join()
    finally:
        session.base = saved
    if "error" in result:
        raise result["error"]
    return result["value"]


_MISSING = object()


@contextmanager
def _in_chain(session: _Resolution, node: Node) -> Iterator[None]:
    chain = session.chain
    key = node_key(node)
    if key in chain:
        raise DepCycleError("dependency cycle: " + " -> ".join(chain[chain.index(key):] + [key]))
    chain.append(key)
    try:
        yield
    finally:
        chain.pop()


@contextmanager
def evaluation_guard(node: Node) -> Iterator[None]:
    """Report a cycle through ``node`` by key (for code that reads the config without
    :func:`compute_entry`); starts a resolution when none is in progress."""
    session: Optional[_Resolution] = getattr(_local, "session", None)
    if session is not None:
        with _in_chain(session, node):
            yield
        return
    _local.session = session = _Resolution(node_key(node))
    try:
        with _in_chain(session, node):
            yield
    finally:
        _local.session = None


def compute_entry(node: Node, where: str, compute: Callable[[], Any], memo_key: Any = None) -> Any:
    """Run ``compute()`` as the value of ``node`` (a dep, or a Python DEP).

    Cycles are reported by key; every other failure becomes a :class:`DepError` whose
    message starts with ``where`` (the entry and what it holds), so a failure deep in a
    chain of dependencies still names each entry on the way. With ``memo_key`` the
    value is computed once per resolution.
    """
    session: Optional[_Resolution] = getattr(_local, "session", None)
    if session is not None:
        return _compute_nested(session, node, where, compute, memo_key)
    _local.session = session = _Resolution(node_key(node))
    try:
        return _compute_nested(session, node, where, compute, memo_key)
    finally:
        _local.session = None


def _compute_nested(session: _Resolution, node: Node, where: str, compute: Callable[[], Any], memo_key: Any) -> Any:
    if memo_key is not None and memo_key in session.memo:
        return session.memo[memo_key]
    with _in_chain(session, node):
        _evaluations[0] += 1
        try:
            value = compute()
        except DepCycleError:
            raise
        except InterpolationResolutionError as e:
            inner = _unwrap_error(e)
            if isinstance(inner, DepCycleError):
                raise inner from None
            raise _named(where, inner) from e
        except Exception as e:  # noqa: BLE001 - every failure must name the entry
            raise _named(where, e) from e
    if memo_key is not None:
        session.memo[memo_key] = value
    return value


def _unwrap_error(err: BaseException) -> BaseException:
    """The innermost dep error behind OmegaConf's interpolation wrappers."""
    seen = err
    while isinstance(seen, InterpolationResolutionError) and seen.__cause__ is not None:
        seen = seen.__cause__
    return seen


def _named(where: str, inner: BaseException) -> DepError:
    """``inner`` as a DepError whose message starts with ``where``; a work-limit error
    stays one, so callers can tell it from a wrong expression."""
    if isinstance(inner, ExpressionLimitError):
        return DepLimitError(f"{where}: {inner}")
    if isinstance(inner, DepError):
        return DepError(f"{where}: {inner}")
    return DepError(f"{where}: {type(inner).__name__}: {inner}")
