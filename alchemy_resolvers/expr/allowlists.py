"""What a dep expression may call and read, named once for the validator (which refuses
anything else before evaluation) and the evaluator (which implements exactly these).

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
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

__all__ = ["Lookup", "SAFE_FUNCTIONS", "MATH_FUNCTIONS", "MATH_CONSTANTS", "STR_METHODS"]


class Lookup:
    """Objects whose attributes and items an expression may read.

    ``x.name`` calls ``x.lookup_attr("name")``, ``x[k]`` calls ``x.lookup_item(k)``.
    Nothing else of a ``Lookup`` is reachable: ``c.lookup_attr`` reads the config key
    ``lookup_attr`` (through ``lookup_attr``), and calling any value is refused.
    Iterating a ``Lookup`` (``for x in c.l``, ``list(c.l)``, ``x in c.l``, ``len(c.l)``)
    uses its ``__iter__``/``__contains__``/``__len__`` when the subclass defines them.
    """

    def lookup_attr(self, name: str) -> Any:
        raise NotImplementedError

    def lookup_item(self, key: Any) -> Any:
        raise NotImplementedError


MATH_CONSTANTS = ("pi", "e", "tau", "inf", "nan")

_MATH_PLAIN = (
    "acos acosh asin asinh atan atan2 atanh cbrt ceil copysign cos cosh degrees dist erf "
    "erfc exp exp2 expm1 fabs floor fmod frexp gamma gcd hypot isclose isfinite isinf "
    "isnan isqrt ldexp lgamma log log10 log1p log2 modf nextafter pow radians remainder "
    "sin sinh sqrt tan tanh trunc ulp"
).split()

# Math functions whose result can grow without bound: each has its own size estimate.
_MATH_SPECIAL = ("factorial", "fsum", "prod", "comb", "perm", "lcm")

# Only the names this Python's math module has (cbrt, exp2 are 3.11+).
MATH_FUNCTIONS = tuple(sorted({name for name in _MATH_PLAIN if hasattr(math, name)}
                              | set(_MATH_SPECIAL)))

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

_RESERVED = frozenset(_FUNCTION_KEYWORDS) | {"math"}


def _callable_list() -> str:
    return (", ".join(SAFE_FUNCTIONS) + ", math.NAME (math functions) and the str methods "
            + ", ".join(STR_METHODS))
