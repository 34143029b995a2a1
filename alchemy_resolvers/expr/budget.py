"""Work accounting for one evaluation: steps, element operations and value sizes.

Python gives no way to interrupt a computation that is already running, so every
operation whose cost grows with its operands is charged (or refused) *before* it runs.
``_Budget`` holds the counters; the evaluator and the allowed functions charge it
(``step``, ``charge``, ``cost``) and check what they produce (``check_size``).
"""
from __future__ import annotations

import ast
import math
import re
from typing import Any, Callable, Dict, Iterator, List, Sequence

from alchemy_resolvers.expr.limits import (
    CONTAINER_COST,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_STEPS,
    MAX_WORK,
    TEXT_COST,
    _check_int,
    _limit,
    _snippet,
)

__all__ = ["WorkTotal"]

_NUMBER_TYPES = (int, float, complex)  # bool is an int
_CONTAINER_TYPES = (list, tuple, set, frozenset, dict)
_FLAT_SCALARS = frozenset({float, bool, type(None), complex})
_FLAT_INTS = frozenset({int, bool})
_FLAT_STR = frozenset({str})


class _Generator:
    """Marker base for the evaluator's lazy generator expressions: the functions must
    tell them apart (``len`` refuses one, ``any``/``all`` stop early) without importing
    the evaluator."""


class WorkTotal:
    """Steps and element operations counted across several evaluations.

    Resolving one config entry may evaluate many expressions (every dependency it reads,
    and theirs): the bounds must hold for that whole resolution, or a fan-out of reads
    (each within bounds) could run for hours. The caller creates one ``WorkTotal`` per
    resolution and passes it to every ``safe_eval`` of that resolution.
    """

    __slots__ = ("steps", "work", "what")

    def __init__(self, what: str = "expression") -> None:
        self.steps = 0
        self.work = 0
        self.what = what


class _Budget:
    def __init__(self, expr: str, total: "WorkTotal | None" = None) -> None:
        self.expr = expr
        self.total = total if total is not None else WorkTotal()
        self._sizes: Dict[int, int] = {}
        self._keep: List[Any] = []  # keeps sized objects alive so their ids stay unique

    def src(self, node: ast.AST) -> str:
        try:
            seg = ast.get_source_segment(self.expr, node)
        except Exception:  # pragma: no cover
            seg = None
        return _snippet(seg if seg is not None else ast.dump(node))

    def step(self, n: int = 1) -> None:
        total = self.total
        total.steps += n
        if total.steps > MAX_STEPS:
            raise _limit(f"{total.what} needs more than {MAX_STEPS} evaluation steps")

    def charge(self, n: int) -> None:
        total = self.total
        total.work += n
        if total.work > MAX_WORK:
            raise _limit(f"{total.what} needs more than {MAX_WORK} element operations")

    def size(self, v: Any) -> int:
        """Deep size of ``v``: leaves counted, a str counts its length, an int one per 64
        bits, shared sub-containers once per reference (that is what ``str`` or ``==``
        would walk). The walk stops soon after ``MAX_ITEMS`` and is charged to the work
        budget; results are cached per evaluation (nothing the evaluator can reach
        mutates a container)."""
        limit = MAX_ITEMS
        t = type(v)
        if t is str:
            return max(1, len(v))
        if t is int:
            return 1 + v.bit_length() // 64
        if t is range:
            return max(1, _range_len(v))
        if t not in _CONTAINER_TYPES:
            return 1
        key = id(v)
        cached = self._sizes.get(key)
        if cached is not None:
            return cached
        total = 0
        stack: List[Any] = [v]
        while stack:
            x = stack.pop()
            tx = type(x)
            if tx in _CONTAINER_TYPES:
                total += self._container_size(x, tx, stack)
            elif tx is str:
                total += max(1, len(x))
            elif tx is int:
                total += 1 + x.bit_length() // 64
            elif tx is range:
                total += max(1, _range_len(x))
            else:
                total += 1
            if total > limit:
                break
        self._sizes[key] = total
        self._keep.append(v)
        return total

    def _container_size(self, x: Any, tx: type, stack: List[Any]) -> int:
        """The size of the flat items of container ``x``; items that need a walk of their
        own are pushed on ``stack`` (counted as ``size`` pops them)."""
        sub = self._sizes.get(id(x))
        if sub is not None:
            return sub
        if not x:
            self.charge(CONTAINER_COST)
            return 1
        self.charge(len(x) + CONTAINER_COST)
        items = x.keys() if tx is dict else x
        types = set(map(type, items))
        total = 0
        if types <= _FLAT_SCALARS:
            total = len(x)
        elif types <= _FLAT_INTS:
            # one per element, plus one per 64 bits beyond the first 64 on average
            bits = sum(map(int.bit_length, items))
            total = len(x) + max(0, bits - 64 * len(x)) // 64
        elif types == _FLAT_STR:
            total = sum(map(len, items)) + sum(1 for s in items if not s)
        else:
            self.charge(len(x))  # a Python-level visit per element
            stack.extend(items)
        if tx is dict:
            stack.extend(x.values())
        return total

    def cost(self, *values: Any) -> None:
        """Charge work proportional to the size of ``values`` (comparing, hashing,
        converting them is linear in their size)."""
        for v in values:
            self.charge(self.size(v))

    def describe(self, what: Any) -> str:
        return f"`{self.src(what)}`" if isinstance(what, ast.AST) else str(what)

    def check_size(self, v: Any, what: Any) -> Any:
        if type(v) is str:
            if len(v) > MAX_ITEMS:
                raise _limit(f"{self.describe(what)} would be a string of {len(v)} characters, "
                             f"over the limit of {MAX_ITEMS}")
            return v
        if type(v) is int:
            return _check_int(v)
        if type(v) in _CONTAINER_TYPES:
            n = self.size(v)
            if n > MAX_ITEMS:
                raise _limit(f"{self.describe(what)} would hold more than {MAX_ITEMS} items "
                             f"(counted deeply)")
        return v

    def charge_binop(self, op: type, a: Any, b: Any, node: ast.AST) -> None:
        """Refuse or charge a binary operation before it runs, by its operands' sizes."""
        ta, tb = type(a), type(b)
        a_int, b_int = isinstance(a, int), isinstance(b, int)
        if a_int and b_int:
            self.int_op(op, a, b, node)
        elif op is ast.Mult:
            seq, n = (a, b) if b_int else (b, a) if a_int else (None, 0)
            if seq is not None and not isinstance(seq, _NUMBER_TYPES) and n > 0:
                per = self.size(seq) if type(seq) in (str, list, tuple) else _len_or_one(seq)
                if per * n > MAX_ITEMS:
                    raise _limit(f"`{self.src(node)}` would produce about {_fmt_big(per * n)} "
                                 f"items, over the limit of {MAX_ITEMS}")
                self.charge(per * n)
        elif op is ast.Add:
            if ta in (str, list, tuple) and tb is ta:
                total = self.size(a) + self.size(b)
                if total > MAX_ITEMS:
                    raise _limit(f"`{self.src(node)}` would produce about {_fmt_big(total)} "
                                 f"items, over the limit of {MAX_ITEMS}")
                self.charge(total)
        elif ta in (set, frozenset, dict) or tb in (set, frozenset, dict):
            self.cost(a, b)

    def int_op(self, op: type, a: int, b: int, node: ast.AST) -> None:
        """Refuse int operations whose result would be too large; charge the others by
        the size of their operands (big-int multiplication and division are superlinear)."""
        wa, wb = a.bit_length() // 64 + 1, b.bit_length() // 64 + 1
        if op is ast.Pow:
            self.charge(b.bit_length())  # one squaring per bit of the exponent
            if b > 0 and abs(a) > 1:
                if b.bit_length() > 64:
                    raise _limit(f"`{self.src(node)}` would have more than {MAX_INT_BITS} "
                                 f"bits")
                bits = b * math.log2(abs(a))
                if bits > MAX_INT_BITS:
                    raise _limit(f"`{self.src(node)}` would have about {_fmt_big(bits)} bits, "
                                 f"over the limit of {MAX_INT_BITS}")
                w = int(bits) // 64 + 1
                self.charge(w * w)
        elif op is ast.LShift:
            if a != 0 and b > 0 and b + a.bit_length() > MAX_INT_BITS:
                raise _limit(f"`{self.src(node)}` would have about {_fmt_big(b)} bits, "
                             f"over the limit of {MAX_INT_BITS}")
            self.charge(wa + max(0, min(b, MAX_INT_BITS)) // 64)
        elif op is ast.Mult:
            if a.bit_length() + b.bit_length() > MAX_INT_BITS:
                raise _limit(f"`{self.src(node)}` would have more than {MAX_INT_BITS} bits")
            self.charge(wa * wb)
        elif op in (ast.FloorDiv, ast.Mod, ast.Div):
            self.charge(wa * wb)
        else:
            self.charge(wa + wb)

    def charge_text(self, v: Any, what: Any) -> None:
        if type(v) in _CONTAINER_TYPES:
            self.check_size(v, what)
        n = self.size(v)
        self.charge(n * TEXT_COST)  # str() of a list costs ~10x more per item than len()
        if type(v) is int:
            self.charge(n * n // 4)  # int -> decimal text is quadratic

    def to_text(self, v: Any, fn: Callable[[Any], str], what: Any) -> str:
        self.charge_text(v, what)
        s = fn(v)
        self.charge(len(s))
        return self.check_size(s, what)

    def iterate(self, v: Any) -> Iterator[Any]:
        for item in iter(v):
            self.step()
            yield item

    def materialize(self, v: Any, what: Any) -> Sequence[Any]:
        """The items of ``v`` as a list or tuple (``v`` itself when it is one: callers
        never mutate the result, and reusing it keeps its cached size)."""
        if type(v) in (list, tuple, str, set, frozenset, dict, range):
            n = _len_or_big(v)
            if n > MAX_ITEMS:
                raise _limit(f"{self.describe(what)} has more than {MAX_ITEMS} items")
            self.charge(n)
            return v if type(v) in (list, tuple) else list(v)
        out: List[Any] = []
        for item in v:
            self.charge(1)
            out.append(item)
            if len(out) > MAX_ITEMS:
                raise _limit(f"{self.describe(what)} has more than {MAX_ITEMS} items")
        return out


def _range_len(r: range) -> int:
    """``len`` of a range, or a number over every bound when it does not fit a C long."""
    try:
        return len(r)
    except OverflowError:
        return MAX_ITEMS * 10 + 1


def _len_or_big(v: Any) -> int:
    if type(v) is range:
        return _range_len(v)
    try:
        return len(v)
    except OverflowError:
        return MAX_ITEMS * 10 + 1


def _len_or_one(v: Any) -> int:
    if type(v) in (str, list, tuple, set, frozenset, dict, range):
        return max(1, _len_or_big(v))
    return 1


def _fmt_big(x: float) -> str:
    try:
        return f"{x:.3g}"
    except (OverflowError, ValueError):  # pragma: no cover
        return "too many"


_SPEC_NUMBER = re.compile(r"\d+")


def _check_format_spec(spec: str) -> None:
    """Refuse format specs whose width or precision would build a huge string:
    ``format`` allocates the padding before anything could be charged."""
    if len(spec) > 100:
        raise _limit("f-string format spec is longer than 100 characters")
    for run in _SPEC_NUMBER.findall(spec):
        digits = run.lstrip("0")
        if len(digits) > 6 or (digits and int(digits) > MAX_FORMAT_WIDTH):
            raise _limit(f"f-string format spec `{_snippet(spec)}` asks for a width or "
                         f"precision over the limit of {MAX_FORMAT_WIDTH}")
