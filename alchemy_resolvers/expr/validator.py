"""The allow-list check of a parsed dep expression.

The tree is checked once, before any evaluation, so a refused construct never runs even
in part; the evaluator can then trust the tree's shape (only allowed nodes, calls only
of allowed names) and re-checks only what depends on values (e.g. attribute access is
allowed on config nodes, which only the evaluator can tell apart).
"""
from __future__ import annotations

import ast
from typing import List, Optional, Tuple

from alchemy_resolvers.expr.allowlists import (
    _FUNCTION_KEYWORDS,
    _RESERVED,
    MATH_CONSTANTS,
    MATH_FUNCTIONS,
    STR_METHODS,
    _callable_list,
)
from alchemy_resolvers.expr.limits import (
    MAX_AST_DEPTH,
    MAX_AST_NODES,
    MAX_COMPREHENSION_LOOPS,
    MAX_INT_BITS,
    UnsafeExpressionError,
    _limit,
    _snippet,
)

__all__: List[str] = []

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

# Constructs a user may well try: say what is refused in their words, not the AST's.
_NAMED_REFUSALS = {
    "Lambda": "lambda is not allowed",
    "NamedExpr": "assignment expressions (`:=`) are not allowed",
    "MatMult": "the `@` operator is not allowed",
    "Await": "`await` is not allowed",
    "Yield": "`yield` is not allowed",
    "YieldFrom": "`yield from` is not allowed",
}

_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _is_private(name: str) -> bool:
    return name.startswith("_") and name != "_"


def _private_message(kind: str, name: str) -> str:
    return f"{kind} `{name}` is not allowed: names starting with `_` are private"


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
        """Walk the tree with an explicit stack: a deeply nested expression must be
        refused by the depth bound, not crash the validator with a RecursionError."""
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
        if not isinstance(node, _ALLOWED_NODES):
            raise self.refusal(node)
        if isinstance(node, ast.Constant):
            self.check_constant(node)
        elif isinstance(node, ast.Name):
            self.check_name(node, ok_names)
        elif isinstance(node, ast.Attribute):
            self.check_attribute(node, ok_names, ok_attrs)
        elif isinstance(node, ast.Call):
            self.check_call(node, ok_names, ok_attrs)
        elif isinstance(node, ast.Starred):
            if not isinstance(parent, (ast.List, ast.Tuple, ast.Set, ast.Call)) or \
                    not isinstance(node.ctx, ast.Load):
                raise self.fail(f"`*` unpacking is only allowed in list, tuple and set "
                                f"displays and call arguments: `{self.src(node)}`")
        elif isinstance(node, ast.comprehension):
            self.check_comprehension(node, parent)
        elif isinstance(node, ast.FormattedValue):
            if node.conversion not in (-1, ord("s"), ord("r"), ord("a")):
                raise self.fail("unknown f-string conversion")
        elif isinstance(node, (ast.List, ast.Tuple, ast.Subscript)):
            if not isinstance(node.ctx, ast.Load) and not isinstance(parent, ast.comprehension) \
                    and not isinstance(parent, (ast.Tuple, ast.List)):
                raise self.fail(f"assigning to `{self.src(node)}` is not allowed")

    def refusal(self, node: ast.AST) -> UnsafeExpressionError:
        name = type(node).__name__
        if name in _NAMED_REFUSALS:
            return self.fail(_NAMED_REFUSALS[name])
        if isinstance(node, ast.expr):
            return self.fail(f"{name} expressions are not allowed: `{self.src(node)}`")
        return self.fail(f"{name} is not allowed")

    def check_constant(self, node: ast.Constant) -> None:
        v = node.value
        if type(v) not in (int, float, complex, str, bool, type(None)):
            raise self.fail(f"{type(v).__name__} literals are not allowed: `{self.src(node)}`")
        if type(v) is int and v.bit_length() > MAX_INT_BITS:
            raise _limit(f"integer literal has more than {MAX_INT_BITS} bits")

    def check_name(self, node: ast.Name, ok_names: set) -> None:
        if _is_private(node.id):
            raise self.fail(_private_message("name", node.id))
        if isinstance(node.ctx, ast.Store):
            if node.id in _RESERVED:
                raise self.fail(f"`{node.id}` is reserved and cannot be a loop variable")
        elif node.id in _RESERVED and id(node) not in ok_names:
            if node.id == "math":
                raise self.fail("`math` can only be used as `math.NAME`")
            raise self.fail(f"`{node.id}` can only be called, as `{node.id}(...)`")

    def check_attribute(self, node: ast.Attribute, ok_names: set, ok_attrs: set) -> None:
        if _is_private(node.attr):
            raise self.fail(_private_message("attribute", node.attr))
        if not isinstance(node.ctx, ast.Load):
            raise self.fail(f"assigning to `{self.src(node)}` is not allowed")
        if isinstance(node.value, ast.Name) and node.value.id == "math":
            ok_names.add(id(node.value))
            self.check_math(node.attr, id(node) in ok_attrs)

    def check_math(self, attr: str, called: bool) -> None:
        if called and attr not in MATH_FUNCTIONS:
            raise self.fail(f"`math.{attr}` is not an allowed math function; "
                            f"allowed: {', '.join(sorted(MATH_FUNCTIONS))}")
        if not called and attr not in MATH_CONSTANTS:
            if attr in MATH_FUNCTIONS:
                raise self.fail(f"`math.{attr}` can only be called")
            raise self.fail(f"`math.{attr}` is not an allowed math constant; "
                            f"allowed: {', '.join(MATH_CONSTANTS)}")

    def check_comprehension(self, node: ast.comprehension, parent: Optional[ast.AST]) -> None:
        if node.is_async:
            raise self.fail("async comprehensions are not allowed")
        if isinstance(parent, _COMPREHENSIONS) and len(parent.generators) > MAX_COMPREHENSION_LOOPS:
            raise _limit(f"a comprehension has more than {MAX_COMPREHENSION_LOOPS} "
                         f"`for` clauses")
        self.check_target(node.target)

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
        if label is None:
            self.deferred.append(self.call_refusal(func))
            return
        self.check_keywords(node, label, keywords)

    def call_refusal(self, func: ast.expr) -> UnsafeExpressionError:
        if isinstance(func, ast.Attribute):
            return self.fail(
                f"attribute access is only allowed on config nodes (reading `node.key`), "
                f"and the only methods that can be called are the str methods "
                f"{', '.join(STR_METHODS)}: calling `{self.src(func)}` is not allowed "
                f"(values from the config and methods of config nodes cannot be called)")
        return self.fail(
            f"calling `{self.src(func)}` is not allowed: only the functions "
            f"{_callable_list()} can be called (values from the config and methods of "
            f"config nodes cannot be called)")

    def check_keywords(self, node: ast.Call, label: str,
                       keywords: Optional[Tuple[str, ...]]) -> None:
        for kw in node.keywords:
            if kw.arg is None:
                raise self.fail(f"`**` arguments are not allowed: `{self.src(node)}`")
            if _is_private(kw.arg):
                raise self.fail(_private_message("keyword argument", kw.arg))
            if keywords is not None and kw.arg not in keywords:
                allowed = ", ".join(f"{k}=" for k in keywords) or "none"
                raise self.fail(f"keyword argument `{kw.arg}=` is not allowed in "
                                f"`{label}(...)`; allowed keywords: {allowed}")
