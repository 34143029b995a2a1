"""Safe evaluation of ``${dep:EXPR}`` expressions.

A ``dep`` expression is written in a YAML file, so it must not be able to run arbitrary
code or keep the process busy for hours: this module never calls ``eval``/``exec``.
It parses ``EXPR`` with ``ast.parse(expr, mode="eval")``, checks the tree against an
allow-list once (the checked tree is cached per expression text, ``functools.lru_cache``)
and walks it with its own small interpreter, which enforces work bounds as it goes.

Contract used by the rest of the package
----------------------------------------
- ``class Lookup``: base class for the only objects whose attributes an expression may
  read. ``x.name`` calls ``x.lookup_attr("name")``, ``x[k]`` calls ``x.lookup_item(k)``.
  Nothing else of a ``Lookup`` is reachable: ``c.lookup_attr`` reads the config key
  ``lookup_attr`` (through ``lookup_attr``), and calling any value is refused. Iterating
  a ``Lookup`` (``for x in c.l``, ``list(c.l)``, ``x in c.l``, ``len(c.l)``) uses its
  ``__iter__``/``__contains__``/``__len__`` when the subclass defines them.
- ``safe_eval(expr, names)`` evaluates ``expr`` with ``names`` as the only variables.
- ``UnsafeExpressionError`` (a ``ValueError``): the expression uses something not
  allowed, or would do unbounded work. Its message says what is not allowed. Subclasses:
  ``ExpressionSyntaxError`` (not a Python expression: never a bare ``SyntaxError``),
  ``ExpressionNameError`` (an unknown variable; also a ``NameError``; the message lists
  the available names) and ``ExpressionLimitError`` (a work or size bound).

What an expression may use
--------------------------
- Literals: int, float, complex, str, True/False/None; tuple, list, dict and set
  displays, with ``*x`` / ``**d`` unpacking (``**`` of a plain dict only).
- Operators: ``+ - * / // % ** << >> & | ^``, unary ``- + ~ not``, comparisons
  (chained too, ``in``, ``not in``, ``is``, ``is not``), ``and``/``or``,
  ``a if cond else b``.
- Subscripts and slices on str, list, tuple, dict, range and ``Lookup`` objects
  (``c['_key']`` reads a key named ``_key`` through ``lookup_item``).
- f-strings, with ``!s``/``!r``/``!a`` and format specs (widths and precisions up to
  ``MAX_FORMAT_WIDTH``).
- ``x.name`` only when ``x`` is a ``Lookup`` (a config node).
- Calls of these functions only (positional arguments, plus the keywords shown):
  ``abs all any bool dict(**kw) enumerate(start=) float int(base=) len list
  max(default=) min(default=) range repr round(ndigits=) set sorted(reverse=) str
  sum(start=) tuple zip``; ``zip`` and ``enumerate`` return lists; ``sum`` adds numbers
  only; ``key=`` is not accepted. ``math`` is a namespace, not a value: ``math.NAME(...)``
  calls a function of the math module (``MATH_FUNCTIONS``: sqrt, log, log2, log10, exp,
  ceil, floor, trunc, sin, cos, ..., factorial, comb, perm, gcd, lcm, isqrt, prod, fsum)
  and ``math.pi``, ``math.e``, ``math.tau``, ``math.inf``, ``math.nan`` are constants.
  ``math`` and the function names are reserved: they cannot be read as values, bound
  as loop variables, or replaced by an entry of ``names`` (such an entry is ignored).
- Methods of str values: ``upper lower strip lstrip rstrip startswith endswith split
  replace``, called at once (``s.upper()``); ``format``, ``join`` and the rest are
  refused (``str.format`` can reach attributes).
- List, set and dict comprehensions and generator expressions, with Python's scoping:
  the first iterable is evaluated outside, loop variables are local to the
  comprehension, and a generator made inside one reads loop variables when it runs
  (late binding, as in Python). ``_`` is allowed as a loop variable. At most
  ``MAX_COMPREHENSION_LOOPS`` ``for`` clauses per comprehension; loop variables must be
  plain names or tuples of names. A generator expression is lazy
  (``any(... for ...)`` stops early); one that is the whole result is returned as a
  list, as is a ``range``.

Refused: names starting with ``_``; attributes of anything but a ``Lookup``; calls of
anything but the functions above (values of the config, methods of ``Lookup`` objects,
``getattr``, ``eval``, ``open``, ``type``, ...); lambda; ``:=``; ``@``; bytes and
``...`` literals; ``%`` on strings (it reads ``__getitem__`` and has no width bound:
use an f-string); ``**`` in calls; async comprehensions; ``dict()`` of a config node.

Bounds (module constants)
-------------------------
- ``MAX_EXPR_LENGTH`` (4000) characters of source; ``MAX_AST_NODES`` (2000) syntax
  nodes; ``MAX_AST_DEPTH`` (100) levels of nested expressions (checked without
  recursion; a parser ``RecursionError``/``MemoryError`` is caught and refused too).
- ``MAX_STEPS`` (200,000) evaluated nodes and loop iterations per call; a config read
  counts ``LOOKUP_STEPS`` (10).
- ``MAX_WORK`` (10,000,000) element operations per call, charged by everything whose
  cost grows with its operands: comparing, hashing, copying, sorting, summing,
  converting to text (``TEXT_COST`` per item), sizing containers (``CONTAINER_COST`` per
  container visited), big-int multiplication and division (quadratic in 64-bit words).
- ``MAX_ITEMS`` (1,000,000): the largest value produced, counted deeply (a str counts
  its length, a container its elements' sizes, an int one per 64 bits; a shared
  sub-list counts once per reference, since ``str`` or ``==`` would walk it each time).
- ``MAX_INT_BITS`` (100,000) bits in a produced int; ``MAX_FORMAT_WIDTH`` (1000) for
  f-string widths and precisions and ``round`` digits.

Sizes are estimated *before* ``**``, ``*``, ``<<``, ``+``, ``range``, ``math.factorial``,
``math.comb``, ``math.perm``, ``math.prod``, ``math.lcm`` and ``str.replace`` compute, so
``10**10**10``, ``'a'*10**10`` or ``sum(range(10**12))`` is refused without being
computed. With these bounds the worst expressions found take about one second.

Errors
------
Every refusal raises ``UnsafeExpressionError`` (or a subclass) before the offending
computation. Errors raised by the evaluation itself (``ZeroDivisionError``,
``TypeError`` from ``1 + 'a'``, ``KeyError``/``IndexError``, ``OverflowError``, and
whatever a ``Lookup`` raises, e.g. a missing key) propagate unchanged in type; on
Python >= 3.11 a note naming the expression is added to them.
"""
from __future__ import annotations

import ast
import functools
import math
import re
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional,
                    Sequence, Tuple)

__all__ = [
    "Lookup",
    "safe_eval",
    "UnsafeExpressionError",
    "ExpressionSyntaxError",
    "ExpressionNameError",
    "ExpressionLimitError",
    "SAFE_FUNCTIONS",
    "MATH_FUNCTIONS",
    "MATH_CONSTANTS",
    "STR_METHODS",
    "MAX_EXPR_LENGTH",
    "MAX_AST_NODES",
    "MAX_AST_DEPTH",
    "MAX_STEPS",
    "MAX_WORK",
    "MAX_ITEMS",
    "MAX_INT_BITS",
    "MAX_FORMAT_WIDTH",
    "MAX_COMPREHENSION_LOOPS",
]

MAX_EXPR_LENGTH = 4000
MAX_AST_NODES = 2000
MAX_AST_DEPTH = 100
MAX_STEPS = 200_000
MAX_WORK = 10_000_000
MAX_ITEMS = 1_000_000
MAX_INT_BITS = 100_000
MAX_FORMAT_WIDTH = 1000
MAX_COMPREHENSION_LOOPS = 20
LOOKUP_STEPS = 10  # a config read may resolve interpolations: it counts as 10 steps
CONTAINER_COST = 50  # work units for visiting one container while sizing a value
TEXT_COST = 10  # work units per item for turning a value into text


class UnsafeExpressionError(ValueError):
    """An expression uses a construct outside the allow-list or exceeds a work bound."""


class ExpressionSyntaxError(UnsafeExpressionError):
    """The text is not a Python expression (a clear error, not a bare SyntaxError)."""


class ExpressionNameError(UnsafeExpressionError, NameError):
    """An expression reads a variable that is not defined."""


class ExpressionLimitError(UnsafeExpressionError):
    """An expression would produce too large a value or do too much work."""


class Lookup:
    """Objects whose attributes and items an expression may read."""

    def lookup_attr(self, name: str) -> Any:
        raise NotImplementedError

    def lookup_item(self, key: Any) -> Any:
        raise NotImplementedError


# --------------------------------------------------------------------------- helpers

_NUMBER_TYPES = (int, float, complex)  # bool is an int
_CONTAINER_TYPES = (list, tuple, set, frozenset, dict)
_FLAT_SCALARS = frozenset({float, bool, type(None), complex})
_FLAT_INTS = frozenset({int, bool})
_FLAT_STR = frozenset({str})
_PLAIN_NUMBERS = frozenset({int, bool, float, complex})
_FLOATS = frozenset({float})
_SUBSCRIPTABLE = (str, list, tuple, dict, range)


def _snippet(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_private(name: str) -> bool:
    return name.startswith("_") and name != "_"


def _private_message(kind: str, name: str) -> str:
    return f"{kind} `{name}` is not allowed: names starting with `_` are private"


def _limit(message: str) -> ExpressionLimitError:
    return ExpressionLimitError(message)


def _check_int(v: Any) -> Any:
    if type(v) is int and v.bit_length() > MAX_INT_BITS:
        raise _limit(f"integer result has {v.bit_length()} bits, over the limit of {MAX_INT_BITS}")
    return v


# --------------------------------------------------------------------------- allow-lists

MATH_CONSTANTS = ("pi", "e", "tau", "inf", "nan")

_MATH_PLAIN = (
    "acos acosh asin asinh atan atan2 atanh cbrt ceil copysign cos cosh degrees dist erf "
    "erfc exp exp2 expm1 fabs floor fmod frexp gamma gcd hypot isclose isfinite isinf "
    "isnan isqrt ldexp lgamma log log10 log1p log2 modf nextafter pow radians remainder "
    "sin sinh sqrt tan tanh trunc ulp"
).split()

STR_METHODS = ("upper", "lower", "strip", "lstrip", "rstrip", "startswith", "endswith",
               "split", "replace")

# Keywords each function accepts; ``None`` means any (non-private) keyword.
_FUNCTION_KEYWORDS: Dict[str, Optional[Tuple[str, ...]]] = {
    "abs": (), "all": (), "any": (), "bool": (), "dict": None, "enumerate": ("start",),
    "float": (), "int": ("base",), "len": (), "list": (), "max": ("default",),
    "min": ("default",), "range": (), "repr": (), "round": ("ndigits",), "set": (),
    "sorted": ("reverse",), "str": (), "sum": ("start",), "tuple": (), "zip": (),
}
SAFE_FUNCTIONS = tuple(sorted(_FUNCTION_KEYWORDS))


class _Generator:
    """Marker base for the evaluator's lazy generator expressions (see ``_genexp``)."""


# --------------------------------------------------------------------------- validation

_ALLOWED_NODES = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Store, ast.BinOp, ast.UnaryOp,
    ast.BoolOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Slice, ast.Attribute, ast.Call,
    ast.keyword, ast.List, ast.Tuple, ast.Set, ast.Dict, ast.ListComp, ast.SetComp,
    ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.JoinedStr, ast.FormattedValue,
    ast.Starred,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.LShift,
    ast.RShift, ast.BitOr, ast.BitXor, ast.BitAnd,
    ast.UAdd, ast.USub, ast.Not, ast.Invert, ast.And, ast.Or,
    ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Is, ast.IsNot, ast.In,
    ast.NotIn,
)

_NAMED_REFUSALS = {
    "Lambda": "lambda is not allowed",
    "NamedExpr": "assignment expressions (`:=`) are not allowed",
    "MatMult": "the `@` operator is not allowed",
    "Await": "`await` is not allowed",
    "Yield": "`yield` is not allowed",
    "YieldFrom": "`yield from` is not allowed",
}

_RESERVED = frozenset(_FUNCTION_KEYWORDS) | {"math"}


def _callable_list() -> str:
    return (", ".join(SAFE_FUNCTIONS) + ", math.NAME (math functions) and the str methods "
            + ", ".join(STR_METHODS))


class _Validator:
    def __init__(self, expr: str) -> None:
        self.expr = expr

    def src(self, node: ast.AST) -> str:
        seg = None
        try:
            seg = ast.get_source_segment(self.expr, node)
        except Exception:  # pragma: no cover - positions are always there for parsed trees
            seg = None
        return _snippet(seg if seg is not None else ast.dump(node))

    def fail(self, message: str) -> UnsafeExpressionError:
        return UnsafeExpressionError(f"{message} (in dep expression `{_snippet(self.expr)}`)")

    def run(self, tree: ast.Expression) -> None:
        count = 0
        ok_names: set = set()  # ids of Name nodes used as `f(...)` or `math.x`
        ok_attrs: set = set()  # ids of Attribute nodes that are called
        # Calls of disallowed things are reported after the walk, so that the more
        # specific refusal (a private name, a lambda) is what the user reads.
        self.deferred: List[UnsafeExpressionError] = []
        stack: List[Tuple[ast.AST, int, Optional[ast.AST]]] = [(tree.body, 1, tree)]
        while stack:
            node, depth, parent = stack.pop()
            count += 1
            if count > MAX_AST_NODES:
                raise _limit(f"expression has more than {MAX_AST_NODES} syntax nodes")
            if isinstance(node, ast.expr):
                depth += 1
                if depth > MAX_AST_DEPTH:
                    raise _limit(f"expression is nested more than {MAX_AST_DEPTH} levels deep")
            self.check(node, parent, ok_names, ok_attrs)
            # reversed: nodes are checked left to right, so the first problem is reported
            for child in reversed(list(ast.iter_child_nodes(node))):
                stack.append((child, depth, node))
        if self.deferred:
            raise self.deferred[0]

    def check(self, node: ast.AST, parent: Optional[ast.AST], ok_names: set,
              ok_attrs: set) -> None:
        name = type(node).__name__
        if not isinstance(node, _ALLOWED_NODES):
            if name in _NAMED_REFUSALS:
                raise self.fail(_NAMED_REFUSALS[name])
            if isinstance(node, ast.expr):
                raise self.fail(f"{name} expressions are not allowed: `{self.src(node)}`")
            raise self.fail(f"{name} is not allowed")
        if isinstance(node, ast.Constant):
            v = node.value
            if type(v) not in (int, float, complex, str, bool, type(None)):
                raise self.fail(f"{type(v).__name__} literals are not allowed: `{self.src(node)}`")
            if type(v) is int and v.bit_length() > MAX_INT_BITS:
                raise _limit(f"integer literal has more than {MAX_INT_BITS} bits")
        elif isinstance(node, ast.Name):
            if _is_private(node.id):
                raise self.fail(_private_message("name", node.id))
            if isinstance(node.ctx, ast.Store):
                if node.id in _RESERVED:
                    raise self.fail(f"`{node.id}` is reserved and cannot be a loop variable")
            elif node.id in _RESERVED and id(node) not in ok_names:
                if node.id == "math":
                    raise self.fail("`math` can only be used as `math.NAME`")
                raise self.fail(f"`{node.id}` can only be called, as `{node.id}(...)`")
        elif isinstance(node, ast.Attribute):
            if _is_private(node.attr):
                raise self.fail(_private_message("attribute", node.attr))
            if not isinstance(node.ctx, ast.Load):
                raise self.fail(f"assigning to `{self.src(node)}` is not allowed")
            if isinstance(node.value, ast.Name) and node.value.id == "math":
                ok_names.add(id(node.value))
                called = id(node) in ok_attrs
                if called and node.attr not in MATH_FUNCTIONS:
                    raise self.fail(f"`math.{node.attr}` is not an allowed math function; "
                                    f"allowed: {', '.join(sorted(MATH_FUNCTIONS))}")
                if not called and node.attr not in MATH_CONSTANTS:
                    if node.attr in MATH_FUNCTIONS:
                        raise self.fail(f"`math.{node.attr}` can only be called")
                    raise self.fail(f"`math.{node.attr}` is not an allowed math constant; "
                                    f"allowed: {', '.join(MATH_CONSTANTS)}")
        elif isinstance(node, ast.Call):
            self.check_call(node, ok_names, ok_attrs)
        elif isinstance(node, ast.Starred):
            if not isinstance(parent, (ast.List, ast.Tuple, ast.Set, ast.Call)) or \
                    not isinstance(node.ctx, ast.Load):
                raise self.fail(f"`*` unpacking is only allowed in list, tuple and set "
                                f"displays and call arguments: `{self.src(node)}`")
        elif isinstance(node, ast.comprehension):
            if node.is_async:
                raise self.fail("async comprehensions are not allowed")
            if isinstance(parent, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)) \
                    and len(parent.generators) > MAX_COMPREHENSION_LOOPS:
                raise _limit(f"a comprehension has more than {MAX_COMPREHENSION_LOOPS} "
                             f"`for` clauses")
            self.check_target(node.target)
        elif isinstance(node, ast.FormattedValue):
            if node.conversion not in (-1, ord("s"), ord("r"), ord("a")):
                raise self.fail("unknown f-string conversion")
        elif isinstance(node, ast.BinOp):
            pass
        elif isinstance(node, (ast.List, ast.Tuple, ast.Subscript)):
            if not isinstance(node.ctx, ast.Load) and not isinstance(parent, ast.comprehension) \
                    and not isinstance(parent, (ast.Tuple, ast.List)):
                raise self.fail(f"assigning to `{self.src(node)}` is not allowed")

    def check_target(self, target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            return
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self.check_target(elt)
            return
        raise self.fail(f"comprehension variables must be plain names: `{self.src(target)}`")

    def check_call(self, node: ast.Call, ok_names: set, ok_attrs: set) -> None:
        func = node.func
        keywords: Optional[Tuple[str, ...]] = ()
        label = None
        if isinstance(func, ast.Name):
            if _is_private(func.id):
                raise self.fail(_private_message("name", func.id))
            if func.id in _FUNCTION_KEYWORDS:
                ok_names.add(id(func))
                keywords = _FUNCTION_KEYWORDS[func.id]
                label = func.id
        elif isinstance(func, ast.Attribute):
            if _is_private(func.attr):
                raise self.fail(_private_message("attribute", func.attr))
            if isinstance(func.value, ast.Name) and func.value.id == "math":
                ok_attrs.add(id(func))
                label = f"math.{func.attr}"
            elif func.attr in STR_METHODS:
                label = f"str.{func.attr}"
        if label is None and isinstance(func, ast.Attribute):
            self.deferred.append(self.fail(
                f"attribute access is only allowed on config nodes (reading `node.key`), "
                f"and the only methods that can be called are the str methods "
                f"{', '.join(STR_METHODS)}: calling `{self.src(func)}` is not allowed "
                f"(values from the config and methods of config nodes cannot be called)"))
            return
        if label is None:
            self.deferred.append(self.fail(
                f"calling `{self.src(func)}` is not allowed: only the functions "
                f"{_callable_list()} can be called (values from the config and methods of "
                f"config nodes cannot be called)"))
            return
        for kw in node.keywords:
            if kw.arg is None:
                raise self.fail(f"`**` arguments are not allowed: `{self.src(node)}`")
            if _is_private(kw.arg):
                raise self.fail(_private_message("keyword argument", kw.arg))
            if keywords is not None and kw.arg not in keywords:
                allowed = ", ".join(f"{k}=" for k in keywords) or "none"
                raise self.fail(f"keyword argument `{kw.arg}=` is not allowed in "
                                f"`{label}(...)`; allowed keywords: {allowed}")


@functools.lru_cache(maxsize=2048)
def _compile(expr: str) -> ast.expr:
    """Parse and validate ``expr`` once; the same expression is evaluated many times."""
    if not isinstance(expr, str):
        raise UnsafeExpressionError(f"a dep expression must be a string, got {type(expr).__name__}")
    if len(expr) > MAX_EXPR_LENGTH:
        raise _limit(f"expression is {len(expr)} characters long, over the limit of "
                     f"{MAX_EXPR_LENGTH}")
    if not expr.strip():
        raise ExpressionSyntaxError("a dep expression is empty")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        detail = e.msg if getattr(e, "msg", None) else str(e)
        where = f" at column {e.offset}" if getattr(e, "offset", None) else ""
        raise ExpressionSyntaxError(
            f"not a valid Python expression ({detail}{where}): `{_snippet(expr)}`") from None
    except (RecursionError, MemoryError):
        raise _limit(f"expression is nested too deeply to parse: `{_snippet(expr)}`") from None
    except (ValueError, TypeError, OverflowError) as e:  # e.g. NUL characters
        raise ExpressionSyntaxError(f"not a valid Python expression ({e}): "
                                    f"`{_snippet(expr)}`") from None
    # positions in the tree refer to the stripped text
    _Validator(expr.strip()).run(tree)
    return tree.body


# --------------------------------------------------------------------------- evaluator

_BINOPS: Dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a ** b, ast.LShift: lambda a, b: a << b,
    ast.RShift: lambda a, b: a >> b, ast.BitOr: lambda a, b: a | b,
    ast.BitXor: lambda a, b: a ^ b, ast.BitAnd: lambda a, b: a & b,
}
_OP_SYMBOLS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
               ast.Mod: "%", ast.Pow: "**", ast.LShift: "<<", ast.RShift: ">>",
               ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&"}
_CMPOPS: Dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}

_Env = Tuple[Dict[str, Any], ...]


class _Evaluator:
    def __init__(self, expr: str, names: Mapping[str, Any]) -> None:
        self.expr = expr
        self.names = names
        self.steps = 0
        self.work = 0
        self._sizes: Dict[int, int] = {}
        self._keep: List[Any] = []  # keeps sized objects alive so their ids stay unique

    # ---- budgets
    def src(self, node: ast.AST) -> str:
        try:
            seg = ast.get_source_segment(self.expr, node)
        except Exception:  # pragma: no cover
            seg = None
        return _snippet(seg if seg is not None else ast.dump(node))

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _limit(f"expression needs more than {MAX_STEPS} evaluation steps")

    def charge(self, n: int) -> None:
        self.work += n
        if self.work > MAX_WORK:
            raise _limit(f"expression needs more than {MAX_WORK} element operations")

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
                sub = self._sizes.get(id(x))
                if sub is not None:
                    total += sub
                elif not x:
                    self.charge(CONTAINER_COST)
                    total += 1
                else:
                    self.charge(len(x) + CONTAINER_COST)
                    items = x.keys() if tx is dict else x
                    types = set(map(type, items))
                    if types <= _FLAT_SCALARS:
                        total += len(x)
                    elif types <= _FLAT_INTS:
                        # one per element, plus one per 64 bits beyond the first 64 on average
                        bits = sum(map(int.bit_length, items))
                        total += len(x) + max(0, bits - 64 * len(x)) // 64
                    elif types == _FLAT_STR:
                        total += sum(map(len, items)) + sum(1 for s in items if not s)
                    else:
                        self.charge(len(x))  # a Python-level visit per element
                        stack.extend(items)
                    if tx is dict:
                        stack.extend(x.values())
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

    # ---- dispatch
    def evaluate_node(self, node: ast.expr, env: _Env) -> Any:
        self.step()
        return _DISPATCH[type(node)](self, node, env)

    def e_Constant(self, node: ast.Constant, env: _Env) -> Any:
        return node.value

    def e_Name(self, node: ast.Name, env: _Env) -> Any:
        name = node.id
        for scope in reversed(env):
            if name in scope:
                return scope[name]
        if name in self.names and name not in _RESERVED:
            return self.names[name]
        local = sorted({k for scope in env for k in scope})
        available = sorted(k for k in self.names if k not in _RESERVED) + local
        raise ExpressionNameError(
            f"name `{name}` is not defined in dep expression `{_snippet(self.expr)}`; "
            f"available names: {', '.join(available) or '(none)'} (and math.NAME and the "
            f"functions {', '.join(SAFE_FUNCTIONS)})")

    def e_Attribute(self, node: ast.Attribute, env: _Env) -> Any:
        if isinstance(node.value, ast.Name) and node.value.id == "math":
            return getattr(math, node.attr)  # validated: a constant
        obj = self.evaluate_node(node.value, env)
        if isinstance(obj, Lookup):
            self.steps += LOOKUP_STEPS
            return obj.lookup_attr(node.attr)
        raise UnsafeExpressionError(
            f"attribute access is only allowed on config nodes (and `.method(...)` calls of "
            f"the str methods {', '.join(STR_METHODS)}): `{self.src(node)}` reads "
            f"`.{node.attr}` of a {type(obj).__name__}")

    def e_Subscript(self, node: ast.Subscript, env: _Env) -> Any:
        obj = self.evaluate_node(node.value, env)
        key = self.evaluate_node(node.slice, env)
        if isinstance(obj, Lookup):
            self.steps += LOOKUP_STEPS
            return obj.lookup_item(key)
        if type(obj) in _SUBSCRIPTABLE:
            if type(key) is slice:
                self.charge(min(_len_or_big(obj), MAX_ITEMS))
            elif type(obj) is dict:
                self.cost(key)
            return obj[key]
        raise UnsafeExpressionError(
            f"subscripts are only allowed on str, list, tuple, dict, range and config "
            f"nodes: `{self.src(node)}` indexes a {type(obj).__name__}")

    def e_Slice(self, node: ast.Slice, env: _Env) -> slice:
        parts = [None if p is None else self.evaluate_node(p, env)
                 for p in (node.lower, node.upper, node.step)]
        return slice(*parts)

    def e_UnaryOp(self, node: ast.UnaryOp, env: _Env) -> Any:
        v = self.evaluate_node(node.operand, env)
        op = type(node.op)
        if op is ast.Not:
            return not v
        if op is ast.USub:
            return -v
        if op is ast.UAdd:
            return +v
        return ~v

    def e_BinOp(self, node: ast.BinOp, env: _Env) -> Any:
        a = self.evaluate_node(node.left, env)
        b = self.evaluate_node(node.right, env)
        return self.binop(type(node.op), a, b, node)

    def binop(self, op: type, a: Any, b: Any, node: ast.AST) -> Any:
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
        elif op is ast.Mod and isinstance(a, (str, bytes)):
            raise UnsafeExpressionError(
                f"`%` formatting of strings is not allowed (use an f-string): "
                f"`{self.src(node)}`")
        elif ta in (set, frozenset, dict) or tb in (set, frozenset, dict):
            self.cost(a, b)
        result = _BINOPS[op](a, b)
        return self.check_size(result, node)

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

    def e_BoolOp(self, node: ast.BoolOp, env: _Env) -> Any:
        is_and = isinstance(node.op, ast.And)
        v: Any = None
        for value in node.values:
            v = self.evaluate_node(value, env)
            if bool(v) != is_and:
                return v
        return v

    def e_Compare(self, node: ast.Compare, env: _Env) -> Any:
        left = self.evaluate_node(node.left, env)
        result: Any = True
        for op, comp in zip(node.ops, node.comparators):
            right = self.evaluate_node(comp, env)
            if type(op) in (ast.In, ast.NotIn):
                self.cost(left, right)
            elif type(op) not in (ast.Is, ast.IsNot):
                self.charge(min(self.size(left), self.size(right)))
            result = _CMPOPS[type(op)](left, right)
            if not result:
                return result
            left = right
        return result

    def e_IfExp(self, node: ast.IfExp, env: _Env) -> Any:
        if self.evaluate_node(node.test, env):
            return self.evaluate_node(node.body, env)
        return self.evaluate_node(node.orelse, env)

    # ---- displays
    def elements(self, elts: Iterable[ast.expr], env: _Env) -> List[Any]:
        out: List[Any] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                out.extend(self.materialize(self.evaluate_node(elt.value, env), elt))
            else:
                out.append(self.evaluate_node(elt, env))
        return out

    def e_List(self, node: ast.List, env: _Env) -> Any:
        return self.check_size(self.elements(node.elts, env), "the list")

    def e_Tuple(self, node: ast.Tuple, env: _Env) -> Any:
        return self.check_size(tuple(self.elements(node.elts, env)), "the tuple")

    def e_Set(self, node: ast.Set, env: _Env) -> Any:
        items = self.elements(node.elts, env)
        self.cost(items)
        return self.check_size(set(items), "the set")

    def e_Dict(self, node: ast.Dict, env: _Env) -> Any:
        out: Dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                m = self.evaluate_node(v, env)
                if type(m) is not dict:
                    raise UnsafeExpressionError(
                        f"`**` unpacking needs a dict, got a {type(m).__name__}: `{self.src(v)}`")
                self.cost(m)
                out.update(m)
            else:
                key = self.evaluate_node(k, env)
                self.cost(key)
                out[key] = self.evaluate_node(v, env)
        return self.check_size(out, "the dict")

    # ---- f-strings
    def e_JoinedStr(self, node: ast.JoinedStr, env: _Env) -> str:
        parts: List[str] = []
        total = 0
        for value in node.values:
            if isinstance(value, ast.Constant):
                s = value.value
            else:
                s = self.evaluate_node(value, env)
            total += len(s)
            if total > MAX_ITEMS:
                raise _limit(f"the f-string would be longer than {MAX_ITEMS} characters")
            parts.append(s)
        return "".join(parts)

    def e_FormattedValue(self, node: ast.FormattedValue, env: _Env) -> str:
        v = self.evaluate_node(node.value, env)
        conv = node.conversion
        if conv != -1:
            v = self.to_text(v, {115: str, 114: repr, 97: ascii}[conv], node)
        spec = ""
        if node.format_spec is not None:
            spec = self.evaluate_node(node.format_spec, env)
            _check_format_spec(spec)
        self.charge_text(v, node)
        s = format(v, spec)
        if type(s) is not str:  # pragma: no cover - format() always returns str
            raise TypeError("__format__ must return a str")
        self.charge(len(s))
        return self.check_size(s, node)

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

    # ---- comprehensions
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

    def bind(self, target: ast.AST, value: Any, scope: Dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            scope[target.id] = value
            return
        assert isinstance(target, (ast.Tuple, ast.List))
        values = self.materialize(value, "the unpacked value") \
            if not isinstance(value, (list, tuple)) else value
        if len(values) != len(target.elts):
            raise ValueError(f"cannot unpack {len(values)} values into {len(target.elts)} names "
                             f"in `{self.src(target)}`")
        for t, v in zip(target.elts, values):
            self.bind(t, v, scope)

    def loops(self, gens: List[ast.comprehension], idx: int, env: _Env,
              scope: Dict[str, Any], first_iter: Any = None) -> Iterator[None]:
        gen = gens[idx]
        iterable = first_iter if idx == 0 else self.evaluate_node(gen.iter, env)
        for item in self.iterate(iterable):
            self.bind(gen.target, item, scope)
            if all(self.evaluate_node(cond, env) for cond in gen.ifs):
                if idx + 1 == len(gens):
                    yield None
                else:
                    yield from self.loops(gens, idx + 1, env, scope)

    def comp(self, node: Any, env: _Env) -> Tuple[Iterator[None], _Env, Dict[str, Any]]:
        # The first iterable is evaluated in the enclosing scope, as in Python.
        first = self.evaluate_node(node.generators[0].iter, env)
        scope: Dict[str, Any] = {}
        inner = env + (scope,)
        return self.loops(node.generators, 0, inner, scope, first), inner, scope

    def collect(self, node: Any, env: _Env, what: str) -> List[Any]:
        it, inner, _ = self.comp(node, env)
        out: List[Any] = []
        total = 0
        for _ in it:
            v = self.evaluate_node(node.elt, inner)
            total += 1 + self.size(v)
            if total > MAX_ITEMS:
                raise _limit(f"{what} `{self.src(node)}` would hold more than {MAX_ITEMS} items "
                             f"(counted deeply)")
            out.append(v)
        return out

    def e_ListComp(self, node: ast.ListComp, env: _Env) -> Any:
        return self.collect(node, env, "the list comprehension")

    def e_SetComp(self, node: ast.SetComp, env: _Env) -> Any:
        items = self.collect(node, env, "the set comprehension")
        self.cost(items)  # hashing is linear in the size of the items
        return set(items)

    def e_DictComp(self, node: ast.DictComp, env: _Env) -> Any:
        it, inner, _ = self.comp(node, env)
        out: Dict[Any, Any] = {}
        total = 0
        for _ in it:
            k = self.evaluate_node(node.key, inner)
            v = self.evaluate_node(node.value, inner)
            total += 2 + self.size(k) + self.size(v)
            self.cost(k)  # hashing
            if total > MAX_ITEMS:
                raise _limit(f"the dict comprehension `{self.src(node)}` would hold more than "
                             f"{MAX_ITEMS} items (counted deeply)")
            out[k] = v
        return out

    def e_GeneratorExp(self, node: ast.GeneratorExp, env: _Env) -> Any:
        it, inner, _ = self.comp(node, env)
        return _GenExp(self._genexp(node, it, inner))

    def _genexp(self, node: ast.GeneratorExp, it: Iterator[None], inner: _Env) -> Iterator[Any]:
        for _ in it:
            yield self.evaluate_node(node.elt, inner)

    # ---- calls
    def e_Call(self, node: ast.Call, env: _Env) -> Any:
        func = node.func
        if isinstance(func, ast.Attribute) and not (
                isinstance(func.value, ast.Name) and func.value.id == "math"):
            obj = self.evaluate_node(func.value, env)
            if isinstance(obj, Lookup):
                raise UnsafeExpressionError(
                    f"calling values from the config is not allowed: `{self.src(func)}` is "
                    f"read from a config node; only the functions {_callable_list()} can be "
                    f"called")
            if not isinstance(obj, str):
                raise UnsafeExpressionError(
                    f"attribute access is only allowed on config nodes (and `.method(...)` "
                    f"calls of the str methods {', '.join(STR_METHODS)}): `{self.src(func)}` "
                    f"reads `.{func.attr}` of a {type(obj).__name__}")
            args = self.elements(node.args, env)
            return self.check_size(_STR_METHOD_IMPLS[func.attr](self, obj, *args),
                                   node)
        args = self.elements(node.args, env)
        kwargs = {kw.arg: self.evaluate_node(kw.value, env) for kw in node.keywords}
        if isinstance(func, ast.Name):
            impl = _FUNCTION_IMPLS[func.id]
        else:
            impl = _MATH_IMPLS[func.attr]
        result = impl(self, *args, **kwargs)
        return self.check_size(result, node)


class _GenExp(_Generator):
    """A lazy generator expression; iterating it evaluates under the same budget."""

    __slots__ = ("_it",)

    def __init__(self, it: Iterator[Any]) -> None:
        self._it = it

    def __iter__(self) -> Iterator[Any]:
        return self._it

    def __repr__(self) -> str:
        return "<generator expression>"


_DISPATCH: Dict[type, Callable[[_Evaluator, Any, _Env], Any]] = {
    getattr(ast, name[2:]): fn for name, fn in vars(_Evaluator).items()
    if name.startswith("e_")
}


def _range_len(r: range) -> int:
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
    if len(spec) > 100:
        raise _limit("f-string format spec is longer than 100 characters")
    for run in _SPEC_NUMBER.findall(spec):
        digits = run.lstrip("0")
        if len(digits) > 6 or (digits and int(digits) > MAX_FORMAT_WIDTH):
            raise _limit(f"f-string format spec `{_snippet(spec)}` asks for a width or "
                         f"precision over the limit of {MAX_FORMAT_WIDTH}")


# --------------------------------------------------------------------------- functions

def _is_number(v: Any) -> bool:
    return isinstance(v, _NUMBER_TYPES)


def _f_abs(ev: _Evaluator, x: Any) -> Any:
    return abs(x)


def _f_bool(ev: _Evaluator, x: Any = False) -> bool:
    return bool(x)


def _f_len(ev: _Evaluator, x: Any) -> int:
    if isinstance(x, _Generator):
        raise TypeError("object of type 'generator' has no len()")
    return len(x)


def _f_float(ev: _Evaluator, x: Any = 0.0) -> float:
    ev.cost(x)
    return float(x)


def _f_int(ev: _Evaluator, x: Any = 0, base: Any = None) -> int:
    if isinstance(x, str):
        ev.charge((len(x) // 19 + 1) ** 2)  # decimal text -> int is quadratic
    if base is None:
        return int(x)
    return int(x, base)


def _f_str(ev: _Evaluator, x: Any = "") -> str:
    return ev.to_text(x, str, "`str(...)`")


def _f_repr(ev: _Evaluator, x: Any) -> str:
    return ev.to_text(x, repr, "`repr(...)`")


def _f_round(ev: _Evaluator, x: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        return round(x)
    if isinstance(ndigits, int) and abs(ndigits) > MAX_FORMAT_WIDTH:
        raise _limit(f"round() with ndigits={_fmt_big(ndigits)} is over the limit of "
                     f"{MAX_FORMAT_WIDTH} digits")
    if isinstance(x, int):
        w = x.bit_length() // 64 + 1 + MAX_FORMAT_WIDTH // 19
        ev.charge(w * w)
    return round(x, ndigits)


def _f_minmax(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    def impl(ev: _Evaluator, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1:
            items = ev.materialize(args[0], f"the argument of {name}()")
            ev.cost(items)
            return fn(items, **kwargs)
        if kwargs:
            raise TypeError(f"Cannot specify a default for {name}() with multiple "
                            f"positional arguments")
        ev.cost(args)
        return fn(*args)
    return impl


def _f_sum(ev: _Evaluator, iterable: Any, start: Any = 0) -> Any:
    if type(iterable) is range:
        if _range_len(iterable) > MAX_ITEMS:
            raise _limit(f"sum() over more than {MAX_ITEMS} items")
        ev.charge(_range_len(iterable))
        if not _is_number(start):
            raise UnsafeExpressionError("sum() only adds numbers: `start=` must be a number")
        return _check_int(sum(iterable, start))
    items = ev.materialize(iterable, "the argument of sum()")
    ev.cost(items)
    if _is_number(start) and set(map(type, items)) <= _PLAIN_NUMBERS:
        # each int is bounded, so the sum is too (a few bits more than the largest)
        return _check_int(sum(items, start))
    if not _is_number(start) or not all(_is_number(v) for v in items):
        raise UnsafeExpressionError(
            "sum() only adds numbers (use `+` or a comprehension to join lists or strings)")
    total = start
    for v in items:  # ints can grow: keep each partial sum bounded
        total = total + v
        if type(total) is int and total.bit_length() > MAX_INT_BITS:
            _check_int(total)
    return total


def _f_any(ev: _Evaluator, iterable: Any) -> bool:
    for v in (iterable if isinstance(iterable, _Generator) else
              ev.materialize(iterable, "the argument of any()")):
        ev.charge(1)
        if v:
            return True
    return False


def _f_all(ev: _Evaluator, iterable: Any) -> bool:
    for v in (iterable if isinstance(iterable, _Generator) else
              ev.materialize(iterable, "the argument of all()")):
        ev.charge(1)
        if not v:
            return False
    return True


def _f_sorted(ev: _Evaluator, iterable: Any, reverse: Any = False) -> List[Any]:
    items = ev.materialize(iterable, "the argument of sorted()")
    n = len(items)
    ev.charge(ev.size(items) * max(1, n.bit_length()))
    return sorted(items, reverse=bool(reverse))


def _f_range(ev: _Evaluator, *args: Any) -> range:
    for a in args:
        if not isinstance(a, int):
            raise TypeError(f"range() arguments must be integers, got {type(a).__name__}")
    r = range(*args)
    n = _range_len(r)
    if n > MAX_ITEMS:
        raise _limit(f"range() of {_fmt_big(n)} items is over the limit of {MAX_ITEMS}")
    return r


def _f_tuple(ev: _Evaluator, iterable: Any = ()) -> tuple:
    return tuple(ev.materialize(iterable, "the argument of tuple()"))


def _f_list(ev: _Evaluator, iterable: Any = ()) -> list:
    return list(ev.materialize(iterable, "the argument of list()"))


def _f_set(ev: _Evaluator, iterable: Any = ()) -> set:
    items = ev.materialize(iterable, "the argument of set()")
    ev.cost(items)
    return set(items)


def _f_dict(ev: _Evaluator, *args: Any, **kwargs: Any) -> dict:
    if len(args) > 1:
        raise TypeError(f"dict expected at most 1 argument, got {len(args)}")
    out: Dict[Any, Any] = {}
    if args:
        src = args[0]
        if type(src) is dict:
            ev.cost(src)
            out.update(src)
        elif isinstance(src, Lookup):
            raise UnsafeExpressionError(
                "dict() of a config node is not supported: build the dict from its keys, "
                "e.g. `{'a': c.x.a, 'b': c.x.b}`")
        else:
            for pair in ev.materialize(src, "the argument of dict()"):
                k, v = ev.materialize(pair, "an item of dict()") if not isinstance(
                    pair, (list, tuple)) else pair
                ev.cost(k)
                out[k] = v
    out.update(kwargs)
    return out


def _f_zip(ev: _Evaluator, *iterables: Any) -> List[tuple]:
    lists = [ev.materialize(it, "an argument of zip()") for it in iterables]
    return list(zip(*lists))


def _f_enumerate(ev: _Evaluator, iterable: Any, start: Any = 0) -> List[tuple]:
    if not isinstance(start, int):
        raise TypeError("enumerate() start must be an integer")
    return list(enumerate(ev.materialize(iterable, "the argument of enumerate()"), start))


_FUNCTION_IMPLS: Dict[str, Callable[..., Any]] = {
    "abs": _f_abs, "all": _f_all, "any": _f_any, "bool": _f_bool, "dict": _f_dict,
    "enumerate": _f_enumerate, "float": _f_float, "int": _f_int, "len": _f_len,
    "list": _f_list, "max": _f_minmax(max, "max"), "min": _f_minmax(min, "min"),
    "range": _f_range, "repr": _f_repr, "round": _f_round, "set": _f_set,
    "sorted": _f_sorted, "str": _f_str, "sum": _f_sum, "tuple": _f_tuple, "zip": _f_zip,
}
assert set(_FUNCTION_IMPLS) == set(_FUNCTION_KEYWORDS)


# ---- math

def _plain_math(fn: Callable[..., Any]) -> Callable[..., Any]:
    def impl(ev: _Evaluator, *args: Any) -> Any:
        ev.charge(len(args) * TEXT_COST)  # hypot(*xs), gcd(*xs): many arguments
        if set(map(type, args)) <= _FLOATS:
            return fn(*args)
        for a in args:
            if isinstance(a, int):
                w = a.bit_length() // 64 + 1
                ev.charge(w * w)  # gcd, isqrt, int -> float of big ints are superlinear
            elif isinstance(a, (list, tuple)):
                ev.cost(a)
            elif isinstance(a, _Generator):
                raise TypeError(f"math.{fn.__name__}() does not take a generator")
        return fn(*args)
    return impl


def _lgamma_bits(n: int) -> float:
    try:
        return math.lgamma(n + 1) / math.log(2)
    except (OverflowError, ValueError):
        return float("inf")


def _charge_bits(ev: _Evaluator, bits: float) -> None:
    """Charge for computing an int of ``bits`` bits by repeated multiplication."""
    w = int(bits) // 64 + 1
    ev.charge(w * w)


def _m_factorial(ev: _Evaluator, n: Any) -> int:
    if isinstance(n, int) and n > 1 and _lgamma_bits(n) > MAX_INT_BITS:
        raise _limit(f"math.factorial({_fmt_big(n)}) would have more than {MAX_INT_BITS} bits")
    if isinstance(n, int) and n > 1:
        _charge_bits(ev, _lgamma_bits(n))
    return math.factorial(n)


def _m_comb(ev: _Evaluator, n: Any, k: Any) -> int:
    if isinstance(n, int) and isinstance(k, int) and 0 <= k <= n:
        bits = _lgamma_bits(n) - _lgamma_bits(k) - _lgamma_bits(n - k)
        if bits > MAX_INT_BITS or n.bit_length() > MAX_INT_BITS // 4:
            raise _limit(f"math.comb() would have more than {MAX_INT_BITS} bits")
        _charge_bits(ev, bits + _lgamma_bits(min(k, n - k)))
    return math.comb(n, k)


def _m_perm(ev: _Evaluator, n: Any, k: Any = None) -> int:
    if isinstance(n, int) and (k is None or isinstance(k, int)):
        kk = n if k is None else k
        if 0 <= kk <= n:
            bits = _lgamma_bits(n) - _lgamma_bits(n - kk)
            if bits > MAX_INT_BITS or n.bit_length() > MAX_INT_BITS // 4:
                raise _limit(f"math.perm() would have more than {MAX_INT_BITS} bits")
            _charge_bits(ev, bits + kk.bit_length() * 64)
    return math.perm(n, k)


def _m_prod(ev: _Evaluator, iterable: Any, start: Any = 1) -> Any:
    items = ev.materialize(iterable, "the argument of math.prod()")
    ev.cost(items)
    bits = sum(v.bit_length() for v in [*items, start] if isinstance(v, int))
    if bits > MAX_INT_BITS:
        raise _limit(f"math.prod() would have more than {MAX_INT_BITS} bits")
    _charge_bits(ev, bits)
    return math.prod(items, start=start)


def _m_lcm(ev: _Evaluator, *ints: Any) -> int:
    bits = sum(v.bit_length() for v in ints if isinstance(v, int))
    if bits > MAX_INT_BITS:
        raise _limit(f"math.lcm() would have more than {MAX_INT_BITS} bits")
    w = bits // 64 + 1
    ev.charge(w * w)
    return math.lcm(*ints)


def _m_fsum(ev: _Evaluator, iterable: Any) -> float:
    items = ev.materialize(iterable, "the argument of math.fsum()")
    ev.cost(items)
    return math.fsum(items)


_MATH_IMPLS: Dict[str, Callable[..., Any]] = {
    name: _plain_math(getattr(math, name)) for name in _MATH_PLAIN if hasattr(math, name)
}
_MATH_IMPLS.update({"factorial": _m_factorial, "fsum": _m_fsum, "prod": _m_prod,
                    "comb": _m_comb, "perm": _m_perm, "lcm": _m_lcm})
MATH_FUNCTIONS = tuple(sorted(_MATH_IMPLS))


# ---- str methods (always str's own method, so a str subclass cannot override them)

def _s_replace(ev: _Evaluator, s: str, old: Any, new: Any, count: Any = -1) -> str:
    if not isinstance(old, str) or not isinstance(new, str):
        raise TypeError("replace() arguments must be str")
    ev.charge(len(s) + len(old) + len(new))
    n = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        n = min(n, count)
    if len(s) + n * (len(new) - len(old)) > MAX_ITEMS:
        raise _limit(f"str.replace() would produce more than {MAX_ITEMS} characters")
    return str.replace(s, old, new, count)


def _str_method(name: str) -> Callable[..., Any]:
    fn = getattr(str, name)

    def impl(ev: _Evaluator, s: str, *args: Any) -> Any:
        ev.charge(len(s))
        ev.cost(*args)
        return fn(s, *args)
    return impl


_STR_METHOD_IMPLS: Dict[str, Callable[..., Any]] = {
    name: _str_method(name) for name in STR_METHODS if name != "replace"
}
_STR_METHOD_IMPLS["replace"] = _s_replace


# --------------------------------------------------------------------------- entry point

def safe_eval(expr: str, names: Mapping[str, Any]) -> Any:
    """Evaluate ``expr`` with ``names`` as its only variables, under the allow-list.

    A whole-result generator expression or ``range`` is returned as a list, so the value
    can be stored in a config.
    """
    body = _compile(expr)
    ev = _Evaluator(expr.strip(), names)
    try:
        result = ev.evaluate_node(body, ())
        if isinstance(result, _Generator):
            result = ev.materialize(result, "the generator expression")
        elif type(result) is range:
            result = list(result)
        return result
    except UnsafeExpressionError:
        raise
    except Exception as e:
        if hasattr(e, "add_note"):
            e.add_note(f"while evaluating the dep expression `{_snippet(expr)}`")
        raise
