"""The safe evaluator behind ``${dep:EXPR}`` and ``subject_to`` strings: Python
expression syntax, an allow-list of operations, bounded work, never ``eval``.

Modules, each importing only those above it: ``limits`` (bounds, errors),
``allowlists`` (what may be called or read), ``validator`` (the allow-list check of a
tree), ``parser`` (text to checked tree), ``budget`` (work accounting), ``functions``
(the callable functions), ``evaluator`` (the interpreter and ``safe_eval``).
"""
from alchemy_resolvers.expr.allowlists import Lookup
from alchemy_resolvers.expr.budget import WorkTotal
from alchemy_resolvers.expr.budget import _Generator as GeneratorValue
from alchemy_resolvers.expr.evaluator import safe_eval
from alchemy_resolvers.expr.limits import (
    ExpressionLimitError,
    ExpressionNameError,
    ExpressionSyntaxError,
    UnsafeExpressionError,
)

__all__ = [
    "Lookup",
    "WorkTotal",
    "GeneratorValue",
    "safe_eval",
    "UnsafeExpressionError",
    "ExpressionSyntaxError",
    "ExpressionNameError",
    "ExpressionLimitError",
]
