"""The bounds every dep expression runs under, and the errors that refuse one.

Everything else in ``alchemy_resolvers.expr`` imports from here and this module imports
nothing of the package but ``alchemy_resolvers.errors``, so the bounds and the error
types have one definition that the parser, the validator and the evaluator share.

Bounds
------
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
- ``MAX_COMPREHENSION_LOOPS`` (20) ``for`` clauses per comprehension.

Sizes are estimated *before* ``**``, ``*``, ``<<``, ``+``, ``range``, ``math.factorial``,
``math.comb``, ``math.perm``, ``math.prod``, ``math.lcm`` and ``str.replace`` compute, so
``10**10**10``, ``'a'*10**10`` or ``sum(range(10**12))`` is refused without being
computed. With these bounds the worst expressions found take about one second.

Errors
------
``UnsafeExpressionError`` (a ``ValueError`` and an ``AlchemyError``): the expression uses
something not allowed, or would do unbounded work; its message says what. Subclasses:
``ExpressionSyntaxError`` (not a Python expression: never a bare ``SyntaxError``),
``ExpressionNameError`` (an unknown variable; also a ``NameError``; the message lists
the available names) and ``ExpressionLimitError`` (a work or size bound).
"""
from __future__ import annotations

from typing import Any

from alchemy_resolvers.errors import AlchemyError

__all__ = [
    "UnsafeExpressionError",
    "ExpressionSyntaxError",
    "ExpressionNameError",
    "ExpressionLimitError",
    "MAX_EXPR_LENGTH",
    "MAX_AST_NODES",
    "MAX_AST_DEPTH",
    "MAX_STEPS",
    "MAX_WORK",
    "MAX_ITEMS",
    "MAX_INT_BITS",
    "MAX_FORMAT_WIDTH",
    "MAX_COMPREHENSION_LOOPS",
    "LOOKUP_STEPS",
    "CONTAINER_COST",
    "TEXT_COST",
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


class UnsafeExpressionError(AlchemyError, ValueError):
    """An expression uses a construct outside the allow-list or exceeds a work bound."""


class ExpressionSyntaxError(UnsafeExpressionError):
    """The text is not a Python expression (a clear error, not a bare SyntaxError)."""


class ExpressionNameError(UnsafeExpressionError, NameError):
    """An expression reads a variable that is not defined."""


class ExpressionLimitError(UnsafeExpressionError):
    """An expression would produce too large a value or do too much work."""


def _snippet(text: str, limit: int = 80) -> str:
    """The expression as one short line: messages quote it, and YAML may fold it."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _limit(message: str) -> ExpressionLimitError:
    return ExpressionLimitError(message)


def _check_int(v: Any) -> Any:
    """Refuse an int that is already too big, before anything converts or compares it."""
    if type(v) is int and v.bit_length() > MAX_INT_BITS:
        raise _limit(f"integer result has {v.bit_length()} bits, over the limit of {MAX_INT_BITS}")
    return v
