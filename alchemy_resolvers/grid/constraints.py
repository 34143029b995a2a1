"""``subject_to`` constraints: which values of an axis are legal given earlier choices.

Constraints see only axes that come earlier in the grid's order. Python
``subject_to(v)`` callables read earlier ``Param2Tune`` objects as ``param.cur_val``
(set by the grid while walking); YAML ``subject_to: EXPR`` strings are evaluated by the
safe evaluator with ``v`` (the candidate value) and every earlier axis by its key. An
expression that names a later axis is refused before the sweep starts.
"""
from __future__ import annotations

import ast
from typing import Any, Callable, Dict, List, Sequence

from alchemy_resolvers.expr import Lookup, safe_eval
from alchemy_resolvers.grid.axes import Axis, Constraint, GridError, segments

__all__ = ["check_expressions", "allowed", "empty_message"]


class _Leaf:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Scope(Lookup):
    """Dotted keys of earlier axes, readable by attribute in a safe expression."""

    def __init__(self, tree: Dict[str, Any], prefix: str) -> None:
        self._tree = tree
        self._prefix = prefix

    def lookup_attr(self, name: str) -> Any:
        if name not in self._tree:
            raise GridError(f"`{self._prefix}.{name}` is not an earlier swept key")
        v = self._tree[name]
        return v.value if isinstance(v, _Leaf) else _Scope(v, f"{self._prefix}.{name}")

    def lookup_item(self, key: Any) -> Any:
        return self.lookup_attr(str(key))


def _expr_references(expr: str) -> List[str]:
    """Names and dotted attribute chains an expression reads (parsed, never run)."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        raise GridError(f"subject_to {expr!r} is not a valid expression: {e.msg}") from None
    refs: List[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts = []
            cur: ast.AST = node
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                parts.append(cur.id)
                refs.append(".".join(reversed(parts)))
        elif isinstance(node, ast.Name):
            refs.append(node.id)
    return refs


def check_expressions(axes: Sequence[Axis]) -> None:
    """Refuse, before anything runs, an expression that reads a later axis (or itself)."""
    for pos, axis in enumerate(axes):
        if not isinstance(axis.subject_to, str):
            continue
        refs = [r for r in _expr_references(axis.subject_to) if r != "v"]
        for later in axes[pos:]:
            dotted = ".".join(segments(later.path))
            leaf = segments(later.path)[-1]
            if any(r == dotted or r.startswith(dotted + ".") or r == leaf for r in refs):
                what = "itself" if later is axis else f"`{later.path}`, which comes later in the order"
                raise GridError(
                    f"subject_to of `{axis.path}` ({axis.subject_to!r}) reads "
                    f"{what}; a constraint may only read params that come "
                    f"earlier (use `v` for the value of `{axis.path}`, or give "
                    f"`{later.path}` a lower priority)",
                    key=axis.path,
                )


def _scope(axes: Sequence[Axis], chosen: Sequence[int], value: Any) -> Dict[str, Any]:
    """Names an expression sees: earlier axes by dotted key (and by leaf), ``v``."""
    tree: Dict[str, Any] = {}
    leaves: Dict[str, List[Any]] = {}
    for a, i in zip(axes, chosen):
        segs = segments(a.path)
        node = tree
        for s in segs[:-1]:
            nxt = node.setdefault(s, {})
            if not isinstance(nxt, dict):
                break
            node = nxt
        else:
            node[segs[-1]] = _Leaf(a.values[i])
        leaves.setdefault(segs[-1], []).append(a.values[i])
    names: Dict[str, Any] = {}
    for k, v in tree.items():
        names[k] = v.value if isinstance(v, _Leaf) else _Scope(v, k)
    for leaf, vals in leaves.items():
        if len(vals) == 1 and leaf not in names:
            names[leaf] = vals[0]
    names["v"] = value
    return names


def allowed(axes: Sequence[Axis], level: int, value: Any, chosen: Sequence[int]) -> bool:
    """Whether ``value`` of ``axes[level]`` passes its constraint, given ``chosen``."""
    axis = axes[level]
    constraint = axis.subject_to
    if constraint is None:
        return True
    try:
        if isinstance(constraint, str):
            return bool(safe_eval(constraint, _scope(axes[:level], chosen, value)))
        return bool(constraint(value))
    except GridError:
        raise
    except RuntimeError as e:
        if "cur_val" not in str(e):
            raise GridError(_failed(axis, value, e), key=axis.path) from e
        later = ", ".join(f"`{a.path}`" for a in axes[level + 1 :]) or "none"
        raise GridError(
            f"subject_to of `{axis.path}` reads a param that comes later in the "
            f"order (later params: {later}). Give it a lower priority than "
            f"`{axis.path}` or define it earlier.",
            key=axis.path,
        ) from None
    except Exception as e:  # noqa: BLE001 - report which axis and value broke
        raise GridError(_failed(axis, value, e), key=axis.path) from e


def _failed(axis: Axis, value: Any, err: BaseException) -> str:
    where = f"subject_to of `{axis.path}`"
    if isinstance(axis.subject_to, str):
        where += f" ({axis.subject_to!r})"
    return f"{where} failed for value {value!r}: {type(err).__name__}: {err}"


def empty_message(axes: Sequence[Axis]) -> str:
    constrained = [f"`{a.path}`" for a in axes if a.subject_to is not None and not _is_trivial(a.subject_to)]
    return (
        "the sweep has no legal combination: every combination is rejected by the "
        f"subject_to constraints of {', '.join(constrained) or 'the params'}"
    )


def _is_trivial(constraint: Constraint) -> bool:
    return callable(constraint) and getattr(constraint, "__name__", "") == "<lambda>" and _always_true(constraint)


def _always_true(fn: Callable[[Any], Any]) -> bool:
    code = getattr(fn, "__code__", None)
    return code is not None and code.co_code == (lambda v: True).__code__.co_code
