"""The safe evaluator behind ``${dep:EXPR}`` and ``subject_to`` strings: Python
expression syntax, an allow-list of operations, bounded work, never ``eval``."""
from alchemy_resolvers.expr.evaluator import (
    ExpressionLimitError,
    ExpressionNameError,
    ExpressionSyntaxError,
    Lookup,
    UnsafeExpressionError,
    safe_eval,
)

__all__ = [
    "Lookup",
    "safe_eval",
    "UnsafeExpressionError",
    "ExpressionSyntaxError",
    "ExpressionNameError",
    "ExpressionLimitError",
]
