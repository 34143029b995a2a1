"""Safe evaluation of ``${dep:EXPR}`` expressions.

A ``dep`` expression is written in a YAML file, so it must not be able to run arbitrary
code or keep the process busy for hours: this package never calls ``eval``/``exec``.
``parser`` parses ``EXPR`` with ``ast.parse(expr, mode="eval")`` and ``validator``
checks the tree against an allow-list once (the checked tree is cached per expression
text); this module walks it with its own small interpreter, which charges the work
bounds of ``limits`` as it goes (``budget``) and calls only the implementations in
``functions``.

Contract used by the rest of the package
----------------------------------------
- ``class Lookup`` (``allowlists``): base class for the only objects whose attributes
  an expression may read. ``x.name`` calls ``x.lookup_attr("name")``, ``x[k]`` calls
  ``x.lookup_item(k)``.
- ``safe_eval(expr, names)`` evaluates ``expr`` with ``names`` as the only variables.
- ``UnsafeExpressionError`` (``limits``; a ``ValueError``): the expression uses
  something not allowed, or would do unbounded work.

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
import math
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from alchemy_resolvers.expr.allowlists import (
    _RESERVED,
    SAFE_FUNCTIONS,
    STR_METHODS,
    Lookup,
    _callable_list,
)
from alchemy_resolvers.expr.budget import WorkTotal, _Budget, _check_format_spec, _Generator, _len_or_big
from alchemy_resolvers.expr.functions import _FUNCTION_IMPLS, _MATH_IMPLS, _STR_METHOD_IMPLS
from alchemy_resolvers.expr.limits import (
    LOOKUP_STEPS,
    MAX_ITEMS,
    ExpressionNameError,
    UnsafeExpressionError,
    _limit,
    _snippet,
)
from alchemy_resolvers.expr.parser import _compile

__all__ = ["safe_eval"]

_SUBSCRIPTABLE = (str, list, tuple, dict, range)

_BINOPS: Dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
    ast.Pow: lambda a, b: a ** b, ast.LShift: lambda a, b: a << b,
    ast.RShift: lambda a, b: a >> b, ast.BitOr: lambda a, b: a | b,
    ast.BitXor: lambda a, b: a ^ b, ast.BitAnd: lambda a, b: a & b,
}
_CMPOPS: Dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b,
    ast.Lt: lambda a, b: a < b, ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}

_Env = Tuple[Dict[str, Any], ...]


class _Evaluator(_Budget):
    def __init__(self, expr: str, names: Mapping[str, Any], total: Optional[WorkTotal] = None) -> None:
        super().__init__(expr, total)
        self.names = names

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
            self.step(LOOKUP_STEPS)
            return obj.lookup_attr(node.attr)
        raise UnsafeExpressionError(
            f"attribute access is only allowed on config nodes (and `.method(...)` calls of "
            f"the str methods {', '.join(STR_METHODS)}): `{self.src(node)}` reads "
            f"`.{node.attr}` of a {type(obj).__name__}")

    def e_Subscript(self, node: ast.Subscript, env: _Env) -> Any:
        obj = self.evaluate_node(node.value, env)
        key = self.evaluate_node(node.slice, env)
        if isinstance(obj, Lookup):
            self.step(LOOKUP_STEPS)
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
        if op is ast.Mod and isinstance(a, (str, bytes)):
            raise UnsafeExpressionError(
                f"`%` formatting of strings is not allowed (use an f-string): "
                f"`{self.src(node)}`")
        self.charge_binop(op, a, b, node)
        result = _BINOPS[op](a, b)
        return self.check_size(result, node)

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

    # ---- comprehensions
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


# --------------------------------------------------------------------------- entry point

def safe_eval(expr: str, names: Mapping[str, Any], total: Optional[WorkTotal] = None) -> Any:
    """Evaluate ``expr`` with ``names`` as its only variables, under the allow-list.

    A whole-result generator expression or ``range`` is returned as a list, so the value
    can be stored in a config. ``total`` shares the work bounds with other evaluations
    (the dependencies one config entry reads); without it the bounds are this call's.
    """
    body = _compile(expr)
    ev = _Evaluator(expr.strip(), names, total)
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
