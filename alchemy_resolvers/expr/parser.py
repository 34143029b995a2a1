"""From the text of a dep expression to a checked syntax tree.

``ast.parse(mode="eval")`` only builds a tree: nothing is compiled to code or run. The
text is bounded before parsing (the parser itself can recurse deeply or use a lot of
memory on hostile input), every parser failure becomes an ``ExpressionSyntaxError`` or
``ExpressionLimitError``, and the tree is validated before it is cached, so a refused
expression is refused every time and an accepted one is parsed once.
"""
from __future__ import annotations

import ast
import functools
from typing import List

from alchemy_resolvers.expr.limits import (
    MAX_EXPR_LENGTH,
    ExpressionSyntaxError,
    UnsafeExpressionError,
    _limit,
    _snippet,
)
from alchemy_resolvers.expr.validator import _Validator

__all__: List[str] = []


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
    tree = _parse(expr)
    # positions in the tree refer to the stripped text
    _Validator(expr.strip()).run(tree)
    return tree.body


def _parse(expr: str) -> ast.Expression:
    """``ast.parse`` with every way it can fail turned into an expression error."""
    try:
        return ast.parse(expr.strip(), mode="eval")
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
