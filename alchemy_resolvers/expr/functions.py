"""The functions, math functions and str methods an expression may call.

Each takes the evaluation's ``_Budget`` first and charges it, or refuses, *before*
calling the real function, since the real one cannot be interrupted once it runs
(``math.factorial(10**6)``, ``sum(range(10**12))``). The tables at the end are what the
evaluator dispatches on; the names must match ``allowlists`` (asserted below), which
is what the validator let through.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List

from alchemy_resolvers.expr.allowlists import (
    _FUNCTION_KEYWORDS,
    _MATH_PLAIN,
    MATH_FUNCTIONS,
    STR_METHODS,
    Lookup,
)
from alchemy_resolvers.expr.budget import (
    _NUMBER_TYPES,
    _Budget,
    _fmt_big,
    _Generator,
    _range_len,
)
from alchemy_resolvers.expr.limits import (
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_ITEMS,
    TEXT_COST,
    UnsafeExpressionError,
    _check_int,
    _limit,
)

__all__: List[str] = []

_PLAIN_NUMBERS = frozenset({int, bool, float, complex})
_FLOATS = frozenset({float})


def _is_number(v: Any) -> bool:
    return isinstance(v, _NUMBER_TYPES)


def _f_abs(ev: _Budget, x: Any) -> Any:
    return abs(x)


def _f_bool(ev: _Budget, x: Any = False) -> bool:
    return bool(x)


def _f_len(ev: _Budget, x: Any) -> int:
    if isinstance(x, _Generator):
        raise TypeError("object of type 'generator' has no len()")
    return len(x)


def _f_float(ev: _Budget, x: Any = 0.0) -> float:
    ev.cost(x)
    return float(x)


def _f_int(ev: _Budget, x: Any = 0, base: Any = None) -> int:
    if isinstance(x, str):
        ev.charge((len(x) // 19 + 1) ** 2)  # decimal text -> int is quadratic
    if base is None:
        return int(x)
    return int(x, base)


def _f_str(ev: _Budget, x: Any = "") -> str:
    return ev.to_text(x, str, "`str(...)`")


def _f_repr(ev: _Budget, x: Any) -> str:
    return ev.to_text(x, repr, "`repr(...)`")


def _f_round(ev: _Budget, x: Any, ndigits: Any = None) -> Any:
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
    def impl(ev: _Budget, *args: Any, **kwargs: Any) -> Any:
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


def _f_sum(ev: _Budget, iterable: Any, start: Any = 0) -> Any:
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


def _f_any(ev: _Budget, iterable: Any) -> bool:
    for v in (iterable if isinstance(iterable, _Generator) else
              ev.materialize(iterable, "the argument of any()")):
        ev.charge(1)
        if v:
            return True
    return False


def _f_all(ev: _Budget, iterable: Any) -> bool:
    for v in (iterable if isinstance(iterable, _Generator) else
              ev.materialize(iterable, "the argument of all()")):
        ev.charge(1)
        if not v:
            return False
    return True


def _f_sorted(ev: _Budget, iterable: Any, reverse: Any = False) -> List[Any]:
    items = ev.materialize(iterable, "the argument of sorted()")
    n = len(items)
    ev.charge(ev.size(items) * max(1, n.bit_length()))
    return sorted(items, reverse=bool(reverse))


def _f_range(ev: _Budget, *args: Any) -> range:
    for a in args:
        if not isinstance(a, int):
            raise TypeError(f"range() arguments must be integers, got {type(a).__name__}")
    r = range(*args)
    n = _range_len(r)
    if n > MAX_ITEMS:
        raise _limit(f"range() of {_fmt_big(n)} items is over the limit of {MAX_ITEMS}")
    return r


def _f_tuple(ev: _Budget, iterable: Any = ()) -> tuple:
    return tuple(ev.materialize(iterable, "the argument of tuple()"))


def _f_list(ev: _Budget, iterable: Any = ()) -> list:
    return list(ev.materialize(iterable, "the argument of list()"))


def _f_set(ev: _Budget, iterable: Any = ()) -> set:
    items = ev.materialize(iterable, "the argument of set()")
    ev.cost(items)
    return set(items)


def _f_dict(ev: _Budget, *args: Any, **kwargs: Any) -> dict:
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


def _f_zip(ev: _Budget, *iterables: Any) -> List[tuple]:
    lists = [ev.materialize(it, "an argument of zip()") for it in iterables]
    return list(zip(*lists))


def _f_enumerate(ev: _Budget, iterable: Any, start: Any = 0) -> List[tuple]:
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
    def impl(ev: _Budget, *args: Any) -> Any:
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


def _charge_bits(ev: _Budget, bits: float) -> None:
    """Charge for computing an int of ``bits`` bits by repeated multiplication."""
    w = int(bits) // 64 + 1
    ev.charge(w * w)


def _m_factorial(ev: _Budget, n: Any) -> int:
    if isinstance(n, int) and n > 1 and _lgamma_bits(n) > MAX_INT_BITS:
        raise _limit(f"math.factorial({_fmt_big(n)}) would have more than {MAX_INT_BITS} bits")
    if isinstance(n, int) and n > 1:
        _charge_bits(ev, _lgamma_bits(n))
    return math.factorial(n)


def _m_comb(ev: _Budget, n: Any, k: Any) -> int:
    if isinstance(n, int) and isinstance(k, int) and 0 <= k <= n:
        bits = _lgamma_bits(n) - _lgamma_bits(k) - _lgamma_bits(n - k)
        if bits > MAX_INT_BITS or n.bit_length() > MAX_INT_BITS // 4:
            raise _limit(f"math.comb() would have more than {MAX_INT_BITS} bits")
        _charge_bits(ev, bits + _lgamma_bits(min(k, n - k)))
    return math.comb(n, k)


def _m_perm(ev: _Budget, n: Any, k: Any = None) -> int:
    if isinstance(n, int) and (k is None or isinstance(k, int)):
        kk = n if k is None else k
        if 0 <= kk <= n:
            bits = _lgamma_bits(n) - _lgamma_bits(n - kk)
            if bits > MAX_INT_BITS or n.bit_length() > MAX_INT_BITS // 4:
                raise _limit(f"math.perm() would have more than {MAX_INT_BITS} bits")
            _charge_bits(ev, bits + kk.bit_length() * 64)
    return math.perm(n, k)


def _m_prod(ev: _Budget, iterable: Any, start: Any = 1) -> Any:
    items = ev.materialize(iterable, "the argument of math.prod()")
    ev.cost(items)
    bits = sum(v.bit_length() for v in [*items, start] if isinstance(v, int))
    if bits > MAX_INT_BITS:
        raise _limit(f"math.prod() would have more than {MAX_INT_BITS} bits")
    _charge_bits(ev, bits)
    return math.prod(items, start=start)


def _m_lcm(ev: _Budget, *ints: Any) -> int:
    bits = sum(v.bit_length() for v in ints if isinstance(v, int))
    if bits > MAX_INT_BITS:
        raise _limit(f"math.lcm() would have more than {MAX_INT_BITS} bits")
    w = bits // 64 + 1
    ev.charge(w * w)
    return math.lcm(*ints)


def _m_fsum(ev: _Budget, iterable: Any) -> float:
    items = ev.materialize(iterable, "the argument of math.fsum()")
    ev.cost(items)
    return math.fsum(items)


_MATH_IMPLS: Dict[str, Callable[..., Any]] = {
    name: _plain_math(getattr(math, name)) for name in _MATH_PLAIN if hasattr(math, name)
}
_MATH_IMPLS.update({"factorial": _m_factorial, "fsum": _m_fsum, "prod": _m_prod,
                    "comb": _m_comb, "perm": _m_perm, "lcm": _m_lcm})
assert tuple(sorted(_MATH_IMPLS)) == MATH_FUNCTIONS


# ---- str methods (always str's own method, so a str subclass cannot override them)

def _s_replace(ev: _Budget, s: str, old: Any, new: Any, count: Any = -1) -> str:
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

    def impl(ev: _Budget, s: str, *args: Any) -> Any:
        ev.charge(len(s))
        ev.cost(*args)
        return fn(s, *args)
    return impl


_STR_METHOD_IMPLS: Dict[str, Callable[..., Any]] = {
    name: _str_method(name) for name in STR_METHODS if name != "replace"
}
_STR_METHOD_IMPLS["replace"] = _s_replace
