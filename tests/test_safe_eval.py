"""The safe evaluator behind ``${dep:EXPR}``: what works, what is refused, what is bounded.

Refusals of unbounded work run in a forked child with a wall-clock limit and a memory
limit, so a regression shows up as "computed instead of refusing" rather than as a hung
or swapping CI machine. The fuzz tests trip wires on ``__import__``, ``open``, ``eval``
and friends and on every attribute read or call of an object from the config.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import importlib
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alchemy_resolvers.expr import (
    ExpressionLimitError,
    ExpressionNameError,
    ExpressionSyntaxError,
    Lookup,
    UnsafeExpressionError,
    safe_eval,
)

# the module that defines and caches ``_compile`` (the package exports only the API)
parser = importlib.import_module("alchemy_resolvers.expr.parser")


# --------------------------------------------------------------------------- doubles

class Canary:
    """A non-Lookup object stored in the config: nothing may read or call it."""

    touched: List[str] = []

    def __getattribute__(self, name: str) -> Any:
        # isinstance() reads __class__ of objects it does not recognise: harmless.
        if name != "__class__":
            Canary.touched.append(name)
        return object.__getattribute__(self, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        Canary.touched.append("__call__")
        return "called"


class Node(Lookup):
    """A config node double that records every way the evaluator touches it."""

    reads: List[Tuple[str, Any]] = []
    foreign: List[str] = []
    _OWN = {"lookup_attr", "lookup_item", "__class__", "_get"}

    def __init__(self, data: Dict[str, Any]) -> None:
        object.__setattr__(self, "_data", data)

    def __getattribute__(self, name: str) -> Any:
        if name not in Node._OWN:
            Node.foreign.append(name)
        return object.__getattribute__(self, name)

    def lookup_attr(self, name: str) -> Any:
        Node.reads.append(("attr", name))
        return self._get(name)

    def lookup_item(self, key: Any) -> Any:
        Node.reads.append(("item", key))
        return self._get(key)

    def _get(self, key: Any) -> Any:
        data = object.__getattribute__(self, "_data")
        if key not in data:
            raise KeyError(f"no config key {key!r}")
        v = data[key]
        return Node(v) if isinstance(v, dict) else v


def called_back(*args: Any) -> str:  # a function stored in the config
    called_back.calls.append(args)  # type: ignore[attr-defined]
    return "called"


called_back.calls = []  # type: ignore[attr-defined]


def make_cfg() -> Node:
    return Node({
        "epochs": 10, "warm_epochs": 2, "a": 3, "b": 2.5, "l": [5, 6, 7], "flag": True,
        "off": False, "s": "Adam", "none": None, "w": 10**9, "lookup_attr": "a key",
        "sub": {"x": 4, "y": [1, 2], "name": "inner"}, "d": {"k": 1},
        "obj": Canary(), "fn": called_back, "big": list(range(10**5)),
    })


def ev(expr: str, **extra: Any) -> Any:
    cfg = make_cfg()
    names = {"c": cfg, "root": cfg}
    names.update(extra)
    return safe_eval(expr, names)


# --------------------------------------------------------------------------- what works

@pytest.mark.parametrize("expr, expected", [
    ("round(0.1 * c.epochs)", 1),
    ("c.epochs - c.warm_epochs", 8),
    ("min(c.a, 2)", 2),
    ("max(c.l)", 7),
    ("c.l[0]", 5),
    ("c.l[-1]", 7),
    ("c.l[1:]", [6, 7]),
    ("c.a > 2", True),
    ("1 < c.a < 5", True),
    ("1 < c.a < 2", False),
    ("'yes' if c.flag else 'no'", "yes"),
    ("'yes' if c.off else 'no'", "no"),
    ("c.flag and c.a", 3),
    ("c.off or c.s", "Adam"),
    ("not c.off", True),
    ("math.sqrt(c.epochs ** 2)", 10.0),
    ("math.ceil(c.b)", 3),
    ("math.floor(math.log2(1024))", 10),
    ("math.pi", math.pi),
    ("-math.inf", -math.inf),
    ("c.sub.x * 2", 8),
    ("root.sub.y[1]", 2),
    ("c['sub']['x']", 4),
    ("c.d['k']", 1),
    ("c.lookup_attr", "a key"),  # a key read through lookup_attr, not the method
    ("c.s.lower()", "adam"),
    ("c.s.startswith('Ad')", True),
    ("'a,b'.split(',')", ["a", "b"]),
    ("'x-y'.replace('-', '_')", "x_y"),
    ("f'{c.s}-{c.epochs:03d}-{c.b:.2f}-{c.l!r}'", "Adam-010-2.50-[5, 6, 7]"),
    ("f'{c.a:>{c.a}}'", "  3"),
    ("c.none is None", True),
    ("2 in c.sub.y", True),
    ("(1, 'a', None, True, 2.5, 1j)", (1, "a", None, True, 2.5, 1j)),
    ("{'a': c.a, **(c.sub.y and {'b': 2})}", {"a": 3, "b": 2}),
    ("[*c.l, *range(2)]", [5, 6, 7, 0, 1]),
    ("{1, 2} | {3}", {1, 2, 3}),
    ("7 // 2, 7 % 2, 2 ** 10, 1 << 4, 255 >> 4, 6 & 3, 6 | 3, 6 ^ 3, ~0",
     (3, 1, 1024, 16, 15, 2, 7, 5, -1)),
    ("[x * 2 for x in c.l if x > 5]", [12, 14]),
    ("{x: x ** 2 for x in range(3)}", {0: 0, 1: 1, 2: 4}),
    ("{x % 2 for x in c.l}", {0, 1}),
    ("sum(x for x in c.l)", 18),
    ("[(i, v) for i, v in enumerate(c.l)]", [(0, 5), (1, 6), (2, 7)]),
    ("[a + b for a, b in zip(c.l, c.sub.y)]", [6, 8]),
    ("[[y for y in range(x)] for x in range(3)]", [[], [0], [0, 1]]),
    ("[c for c in c.l]", [5, 6, 7]),  # the first iterable is read outside the loop
    ("[x for x in c.l for x in range(x, x + 1)]", [5, 6, 7]),
    ("sorted(c.l, reverse=True)", [7, 6, 5]),
    ("len(c.l), len(c.s), abs(-2), int('12'), int('ff', base=16), float('1.5')",
     (3, 4, 2, 12, 255, 1.5)),
    ("str(c.a) + repr(c.s)", "3'Adam'"),
    ("bool(c.l), any([]), all([])", (True, False, True)),
    ("tuple(c.l), list('ab'), set([1, 1]), dict(a=1), dict([('b', 2)])",
     ((5, 6, 7), ["a", "b"], {1}, {"a": 1}, {"b": 2})),
    ("sum(range(10**6))", 499999500000),
    ("max([], default=0)", 0),
    ("round(2.567, 2)", 2.57),
    ("(x for x in c.l)", [5, 6, 7]),  # a whole-result generator comes back as a list
    ("range(3)", [0, 1, 2]),
    ("'ab' * 1000 == 'ab' * 1000", True),
    ("len([0] * 10**6)", 10**6),
    ("2 ** 1000 > 10 ** 300", True),
    ("math.factorial(20)", 2432902008176640000),
])
def test_expressions_evaluate(expr: str, expected: Any) -> None:
    assert ev(expr) == expected


def test_comprehension_variables_stay_local() -> None:
    with pytest.raises(ExpressionNameError, match="name `x` is not defined"):
        ev("[x for x in c.l] and x")


def test_generator_expressions_are_lazy() -> None:
    # any() stops at the first true item: 1/0 is never computed
    assert ev("any(1 / x > 0 for x in [1, 0])") is True


def test_generator_expression_scoping_matches_python() -> None:
    # a generator made inside a comprehension reads the loop variable when it runs
    # (late binding), exactly as Python does
    expr = "[sum(g) for g in [(y * k for y in range(3)) for k in (1, 10)]]"
    assert ev(expr) == [sum(g) for g in [(y * k for y in range(3)) for k in (1, 10)]] == [30, 30]
    assert ev("[sum(y * k for y in range(3)) for k in (1, 10)]") == [3, 30]


def test_names_mapping_gives_the_only_variables() -> None:
    assert safe_eval("x + y", {"x": 1, "y": 2}) == 3
    with pytest.raises(ExpressionNameError) as info:
        safe_eval("c.a + zz", {"c": make_cfg(), "root": make_cfg()})
    msg = str(info.value)
    assert "name `zz` is not defined" in msg and "available names: c, root" in msg
    assert isinstance(info.value, NameError) and isinstance(info.value, ValueError)


def test_reserved_names_win_over_names_mapping() -> None:
    # `math` and the function names always mean the safe ones
    assert safe_eval("math.pi", {"math": "shadow"}) == math.pi
    with pytest.raises(UnsafeExpressionError, match="`len` can only be called"):
        safe_eval("len", {"len": 3})


def test_syntax_errors_are_clear() -> None:
    with pytest.raises(ExpressionSyntaxError, match=r"not a valid Python expression.*`1 \+`"):
        ev("1 +")
    with pytest.raises(ExpressionSyntaxError, match="empty"):
        ev("   ")
    with pytest.raises(ExpressionSyntaxError):
        ev("x = 1")  # a statement, not an expression
    assert issubclass(ExpressionSyntaxError, UnsafeExpressionError)


def test_surrounding_whitespace_and_newlines_are_fine() -> None:
    assert ev("  (c.a +\n 1)  ") == 4


@pytest.mark.parametrize("expr, error", [
    ("1 / 0", ZeroDivisionError),
    ("1 + 'a'", TypeError),
    ("c.missing", KeyError),
    ("c.l[10]", IndexError),
    ("math.sqrt(-1)", ValueError),
    ("math.exp(1000)", OverflowError),
])
def test_evaluation_errors_propagate_with_their_type(expr: str, error: type) -> None:
    with pytest.raises(error) as info:
        ev(expr)
    assert not isinstance(info.value, UnsafeExpressionError)
    if sys.version_info >= (3, 11):
        assert any(expr in note for note in info.value.__notes__)


def test_parsed_expressions_are_cached() -> None:
    expr = "c.a * 3 + 0"
    ev(expr)
    before = parser._compile.cache_info().hits
    ev(expr)
    ev(expr)
    assert parser._compile.cache_info().hits == before + 2


# --------------------------------------------------------------------------- refusals

ESCAPES = [
    ("().__class__.__bases__[0].__subclasses__()", "names starting with `_` are private"),
    ("[c for c in ().__class__.__base__.__subclasses__()]", "names starting with `_`"),
    ("__import__('os').system('x')", "name `__import__` is not allowed"),
    ("__builtins__", "names starting with `_` are private"),
    ("getattr(c, 'a')", "calling `getattr` is not allowed"),
    ("eval('1')", "calling `eval` is not allowed"),
    ("exec('1')", "calling `exec` is not allowed"),
    ("open('/etc/passwd')", "calling `open` is not allowed"),
    ("globals()", "calling `globals` is not allowed"),
    ("vars(c)", "calling `vars` is not allowed"),
    ("type(1)", "calling `type` is not allowed"),
    ("type", "name `type` is not defined"),
    ("f'{c.__class__}'", "attribute `__class__` is not allowed"),
    ("f'{c.__class__.__init__.__globals__}'", "names starting with `_` are private"),
    ("'{0.__class__}'.format(1)", "calling `'{0.__class__}'.format` is not allowed"),
    ("'{0}'.format", "attribute access is only allowed on config nodes"),
    ("'%(a)s' % c", "`%` formatting of strings is not allowed"),
    ("''.join(['a'])", "attribute access is only allowed on config nodes"),
    ("(1).real", "attribute access is only allowed on config nodes"),
    ("c.s.upper", "attribute access is only allowed on config nodes"),
    ("c.l.append(1)", "attribute access is only allowed on config nodes"),
    ("c.d.get('k')", "attribute access is only allowed on config nodes"),
    ("(lambda: 1)()", "lambda is not allowed"),
    ("(lambda x: x)", "lambda is not allowed"),
    ("[f(1) for f in [lambda x: x]]", "lambda is not allowed"),
    ("(x := 1)", "assignment expressions"),
    ("(x for x in []).gi_frame", "attribute access is only allowed on config nodes"),
    ("(x for x in []).gi_frame.f_back", "attribute access is only allowed on config nodes"),
    ("c.lookup_attr('a')", "cannot be called"),
    ("c.lookup_item('a')", "cannot be called"),
    ("c.sub.lookup_attr('x')", "cannot be called"),
    ("c._data", "attribute `_data` is not allowed"),
    ("c.fn()", "calling `c.fn` is not allowed"),
    ("c.fn", None),  # reading is fine, calling is not
    ("c.l[0]()", "calling `c.l[0]` is not allowed"),
    ("[f() for f in [c.fn]]", "calling `f` is not allowed"),
    ("(c.fn if True else 0)()", "values from the config"),
    ("c.obj.anything", "attribute access is only allowed on config nodes"),
    ("c.obj()", "calling `c.obj` is not allowed"),
    ("min", "`min` can only be called"),
    ("[len for len in c.l]", "`len` can only be called"),
    ("[1 for len in c.l]", "`len` is reserved"),
    ("math", "`math` can only be used as `math.NAME`"),
    ("math.sqrt", "`math.sqrt` can only be called"),
    ("math.os", "not an allowed math constant"),
    ("math.__loader__", "names starting with `_` are private"),
    ("math.system('x')", "not an allowed math function"),
    ("sorted(c.l, key=len)", "keyword argument `key=` is not allowed"),
    ("max(**{'default': 1})", "`**` arguments are not allowed"),
    ("dict(__class__=1)", "names starting with `_` are private"),
    ("b'abc'", "bytes literals are not allowed"),
    ("...", "literals are not allowed"),
    ("c.a @ c.a", "the `@` operator is not allowed"),
    ("[x async for x in c.l]", "not allowed"),
    ("await c", "`await` is not allowed"),
    ("{**c.obj}", "`**` unpacking needs a dict"),
    ("c.obj[0]", "subscripts are only allowed"),
]


@pytest.mark.parametrize("expr, fragment", ESCAPES)
def test_sandbox_escapes_are_refused(expr: str, fragment: Any) -> None:
    Canary.touched.clear()
    Node.foreign.clear()
    called_back.calls.clear()  # type: ignore[attr-defined]
    if fragment is None:
        assert ev(expr) is called_back
    else:
        with pytest.raises(UnsafeExpressionError) as info:
            ev(expr)
        assert fragment in str(info.value)
    assert Canary.touched == []
    assert Node.foreign == []
    assert called_back.calls == []  # type: ignore[attr-defined]


def test_refusal_message_names_the_expression() -> None:
    with pytest.raises(UnsafeExpressionError) as info:
        ev("c.a + ().__class__")
    assert "names starting with `_` are private" in str(info.value)
    assert "c.a + ().__class__" in str(info.value)


def test_private_keys_are_readable_by_subscript_only() -> None:
    # `c['_x']` is a key read through lookup_item, never a Python attribute
    Node.reads.clear()
    assert safe_eval("c['__class__']", {"c": Node({"__class__": 1})}) == 1
    assert Node.reads == [("item", "__class__")]


def test_format_spec_cannot_reach_attributes() -> None:
    # a format spec only formats: it has no field names, unlike str.format
    assert ev("f'{c.a:{c.s[0] == \"A\" and \">\" or \"<\"}5}'") == "    3"
    with pytest.raises(UnsafeExpressionError):
        ev("f'{c.a:{c.__class__}}'")


# --------------------------------------------------------------------------- bounds

def _eval_in_child(expr: str, conn: Any) -> None:  # pragma: no cover - runs in a child
    try:
        import resource

        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) for line in f if line.startswith("VmSize"))
        cap = vm * 1024 + (1 << 30)  # at most 1 GiB more than the parent had
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    except Exception:
        pass
    try:
        value = ev(expr)
        conn.send(("value", repr(value)[:200]))
    except UnsafeExpressionError as e:
        conn.send(("refused", f"{type(e).__name__}: {e}"))
    except BaseException as e:  # noqa: BLE001 - report anything else to the parent
        conn.send(("error", f"{type(e).__name__}: {e}"[:500]))


def refuse_within(expr: str, seconds: float = 20.0) -> Tuple[str, str]:
    """Evaluate in a forked child; a child still computing after ``seconds`` is killed
    and reported as ``timeout`` (the expression was computed instead of refused)."""
    # fork is fast (no re-import) but unsafe once other threads run in this process
    fork_ok = "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
    method = "fork" if fork_ok else "spawn"
    ctx = multiprocessing.get_context(method)
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_eval_in_child, args=(expr, child))
    proc.start()
    child.close()
    try:
        if parent.poll(seconds):
            return parent.recv()
        return ("timeout", f"still computing after {seconds} s")
    except EOFError:
        return ("crash", f"child exited with {proc.exitcode}")
    finally:
        proc.kill()
        proc.join()


BOUNDED = [
    ("10**10**10", "bits, over the limit"),
    ("2**100000000", "bits, over the limit"),
    ("(-3)**10**8", "bits, over the limit"),
    ("'a'*10**10", "items, over the limit"),
    ("10**10*'a'", "items, over the limit"),
    ("[0]*10**9", "items, over the limit"),
    ("[[0]*10**6]*10**6", "items, over the limit"),
    ("(('a' * 1000,) * 1000) * 1000", "items, over the limit"),
    ("range(10**12)", "range() of"),
    ("sum(range(10**12))", "range() of"),
    ("list(range(10**12))", "range() of"),
    ("1<<10**9", "bits, over the limit"),
    ("2**99999 * 2**99999", "bits"),
    ("-" * 1500 + "1", "nested"),
    ("not " * 900 + "1", "nested"),
    ("(" * 10000 + "1" + ")" * 10000, "characters long"),
    ("[" * 150 + "]" * 150, None),  # the parser's own nesting limit or ours
    ("1+" * 3000 + "1", "characters long"),
    ("c.a" + "+1" * 1990, "nested more than"),
    ("x" * 100000, "characters long"),
    ("sum(x for x in range(10**6))", "evaluation steps"),
    ("[x for x in range(10**6) for y in range(10**6)]", "evaluation steps"),
    ("[[0] * 1000 for _ in range(10**6)]", "counted deeply"),
    ("[c.big == c.big for _ in range(10**6)]", "element operations"),
    ("[sorted(c.big) for _ in range(1000)]", "element operations"),
    ("str([[0] * 1000] * 400)", "characters, over the limit"),
    ("f'{1:>{c.w}}'", "width or precision"),
    ("f'{1.5:.{c.w}f}'", "width or precision"),
    ("f'{c.s * 1000}' * 1000", "over the limit"),
    ("round(5, -10**9)", "ndigits"),
    ("math.factorial(10**9)", "bits"),
    ("math.comb(10**9, 10**8)", "bits"),
    ("math.prod([2**99999] * 100)", "bits"),
    ("'ab'.replace('', 'x' * 10**6)", "characters"),
    ("[2**49999 * 2**49999 > 0 for _ in range(10**5)]", "element operations"),
    ("[x for x in 'a' * 10**6 for y in 'b' * 10**6]", "evaluation steps"),
    ("[(y, y) for y in [[0] * 10**5 for _ in range(9)]]", "counted deeply"),
    ("[1 " + " ".join(f"for y{i} in c.l" for i in range(25)) + "]", "`for` clauses"),
]


@pytest.mark.parametrize("expr, fragment", BOUNDED, ids=[e[:40] for e, _ in BOUNDED])
def test_unbounded_work_is_refused_not_computed(expr: str, fragment: Any) -> None:
    kind, detail = refuse_within(expr)
    assert kind == "refused", f"{expr[:60]!r}: {kind}: {detail}"
    if fragment is not None:
        assert detail.startswith(ExpressionLimitError.__name__ + ":")
        assert fragment in detail


def test_bounds_leave_room_for_real_configs() -> None:
    # sizes a config actually needs stay well inside the bounds
    assert ev("len(str(2 ** 10000))") == 3011
    assert ev("len(list(range(10**5)))") == 10**5
    assert ev("len('x' * 10**5)") == 10**5
    assert ev("sum([x ** 2 for x in range(10**4)])") == 333283335000


# --------------------------------------------------------------------------- fuzzing

class Tripwire(BaseException):
    """Raised by a patched dangerous builtin; BaseException so nothing swallows it."""


class TookTooLong(BaseException):
    """Raised by the alarm in ``time_limit``: the expression was computed, not refused."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt a runaway evaluation (a generous bound, not a speed assertion)."""
    in_main = threading.current_thread() is threading.main_thread()
    if not hasattr(signal, "setitimer") or not in_main:
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise TookTooLong(f"still evaluating after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def tripwires() -> Iterator[List[str]]:
    hits: List[str] = []
    saved: Dict[Tuple[Any, str], Any] = {}

    def wire(owner: Any, name: str) -> None:
        original = saved[(owner, name)] = getattr(owner, name)

        def tripped(*args: Any, **kwargs: Any) -> Any:
            if name == "__import__" and args and args[0] == "unicodedata":
                # the parser imports it to normalise non-ASCII identifiers
                return original(*args, **kwargs)
            hits.append(name)
            raise Tripwire(name)

        setattr(owner, name, tripped)

    for name in ("__import__", "open", "eval", "exec", "breakpoint", "input",
                 "globals", "locals", "vars"):
        wire(builtins, name)
    # ast.parse compiles to an AST only; compiling to code must never happen
    real_compile = builtins.compile

    def ast_only_compile(source: Any, filename: Any, mode: Any, flags: int = 0,
                         *args: Any, **kwargs: Any) -> Any:
        if not flags & ast.PyCF_ONLY_AST:
            hits.append("compile")
            raise Tripwire("compile")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    saved[(builtins, "compile")] = real_compile
    builtins.compile = ast_only_compile  # type: ignore[assignment]
    for name in ("system", "popen", "execv", "remove", "fork"):
        wire(os, name)
    wire(subprocess, "Popen")
    try:
        yield hits
    finally:
        for (owner, name), value in saved.items():
            setattr(owner, name, value)


ORDINARY_ERRORS = (UnsafeExpressionError, ArithmeticError, TypeError, ValueError,
                   KeyError, IndexError)

SAFE_ATOMS = [
    "0", "1", "-2", "3.5", "1e308", "2j", "True", "None", "'ab'", "''", "'%s'", "'{0}'",
    "c", "root", "c.a", "c.b", "c.l", "c.s", "c.sub", "c.sub.y", "c.d", "c.obj", "c.fn",
    "c.none", "c.w", "c.big", "math.pi", "math.inf", "x", "_", "[]", "()", "{}",
    "10**10**10", "2**99999", "'a'*10**6",
]
FORBIDDEN_ATOMS = [
    "__import__", "().__class__", "c.__class__", "c._data", "c.lookup_attr", "''.join",
    "(1).real", "type", "open", "getattr", "eval", "lambda: 1", "(lambda: c)",
    "globals()", "b'x'", "...", "(x for x in []).gi_frame", "c['__class__']",
    "(y := 1)", "min", "math", "math.sqrt", "math.os", "c.obj.x",
]
SAFE_FUNCS = ["min", "max", "abs", "round", "int", "float", "str", "bool", "len", "sum",
              "any", "all", "sorted", "range", "tuple", "list", "dict", "set", "repr", "zip",
              "enumerate", "math.sqrt", "math.floor", "math.factorial", "math.comb",
              "math.log"]
FORBIDDEN_FUNCS = ["type", "getattr", "eval", "open", "print", "vars", "c.fn",
                   "c.lookup_attr", "c.obj", "().__class__", "math.system"]
BINOPS = ["+", "-", "*", "/", "//", "%", "**", "<<", ">>", "&", "|", "^", "==", "!=",
          "<", "<=", ">", ">=", "in", "not in", "is", "is not", "and", "or"]
ATTRS = ["a", "l", "sub", "x", "y", "real", "upper", "format", "join", "__class__", "_data",
         "lookup_attr", "lookup_item", "gi_frame", "__globals__", "mro"]
SAFE_METHODS = ["upper", "lower", "strip", "split", "replace", "startswith"]
FORBIDDEN_METHODS = ["format", "join", "encode", "lookup_attr", "lookup_item",
                     "__getattribute__", "mro", "append"]
SPECS = ["", ":>5", ":.2f", ":x", ":>{c.w}", ":{c.a}", "!r", "!s:>3", ":,"]


def _extend(children: st.SearchStrategy[str], with_forbidden: bool) -> st.SearchStrategy[str]:
    two = st.tuples(children, children)
    args = st.lists(children, max_size=3)
    safe = st.one_of(
        st.builds(lambda ab, op: f"({ab[0]} {op} {ab[1]})", two, st.sampled_from(BINOPS)),
        st.builds(lambda a, op: f"({op}{a})", children, st.sampled_from(["-", "+", "~", "not "])),
        st.builds(lambda a, b, cnd: f"({a} if {cnd} else {b})", children, children, children),
        st.builds(lambda f, xs: f"{f}({', '.join(xs)})", st.sampled_from(SAFE_FUNCS), args),
        st.builds(lambda a, m, xs: f"({a}).{m}({', '.join(xs)})", children,
                  st.sampled_from(SAFE_METHODS), args),
        st.builds(lambda a, n: f"({a}).{n}", children,
                  st.sampled_from(ATTRS if with_forbidden else ATTRS[:5])),
        st.builds(lambda a, b: f"({a})[{b}]", children, children),
        st.builds(lambda a, b: f"({a})[{b}:]", children, children),
        st.builds(lambda xs: f"[{', '.join(xs)}]", args),
        st.builds(lambda xs: f"({''.join(x + ', ' for x in xs)})", args),
        st.builds(lambda a, b: f"{{{a}: {b}}}", children, children),
        st.builds(lambda a: f"[*{a}]", children),
        st.builds(lambda a: f"{{**{a}}}", children),
        st.builds(lambda a, b, cnd, br: f"{br[0]}{a} for x in {b} if {cnd}{br[1]}",
                  children, children, children, st.sampled_from(["[]", "{}", "()"])),
        st.builds(lambda a, sp: f'f"{{{a}{sp}}}"', children, st.sampled_from(SPECS)),
    )
    forbidden = st.one_of(
        st.builds(lambda f, xs: f"{f}({', '.join(xs)})", st.sampled_from(FORBIDDEN_FUNCS), args),
        st.builds(lambda a, m, xs: f"({a}).{m}({', '.join(xs)})", children,
                  st.sampled_from(FORBIDDEN_METHODS), args),
        st.builds(lambda a, b: f"({a} @ {b})", children, children),
        st.builds(lambda a: f"(lambda: {a})()", children),
        st.builds(lambda a: f"(z := {a})", children),
    )
    # mostly allowed forms, so that many examples evaluate deep into the evaluator
    return st.one_of(safe, safe, safe, forbidden) if with_forbidden else safe


EXPRESSIONS = st.recursive(
    st.one_of(st.sampled_from(SAFE_ATOMS), st.sampled_from(SAFE_ATOMS),
              st.sampled_from(SAFE_ATOMS), st.sampled_from(FORBIDDEN_ATOMS)),
    lambda children: _extend(children, True), max_leaves=12)
ALLOWED_EXPRESSIONS = st.recursive(
    st.sampled_from(SAFE_ATOMS), lambda children: _extend(children, False), max_leaves=12)


def _check_outcome(expr: str) -> None:
    Canary.touched.clear()
    Node.foreign.clear()
    Node.reads.clear()
    called_back.calls.clear()  # type: ignore[attr-defined]
    cfg = make_cfg()
    outcome = None
    with tripwires() as hits, time_limit(20):
        try:
            safe_eval(expr, {"c": cfg, "root": cfg})
            outcome = "value"
        except ORDINARY_ERRORS as e:
            # AttributeError, NameError, SyntaxError, RecursionError, MemoryError, the
            # tripwire and the time limit are not in the tuple: they fail the test as they are
            outcome = type(e).__name__
    assert outcome is not None
    assert hits == [], f"{expr!r} reached {hits}"
    assert Canary.touched == [], f"{expr!r} touched a config object: {Canary.touched}"
    assert Node.foreign == [], f"{expr!r} read {Node.foreign} of a config node"
    assert called_back.calls == [], f"{expr!r} called a config value"  # type: ignore[attr-defined]
    assert all(not (kind == "attr" and str(name).startswith("_"))
               for kind, name in Node.reads)


FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@FUZZ
@given(EXPRESSIONS)
def test_fuzz_grammar_never_escapes(expr: str) -> None:
    _check_outcome(expr)


@FUZZ
@given(ALLOWED_EXPRESSIONS)
def test_fuzz_allowed_grammar_evaluates_or_fails_plainly(expr: str) -> None:
    _check_outcome(expr)


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_random_text_gives_clear_errors(text: str) -> None:
    _check_outcome(text)


@FUZZ
@given(st.text(alphabet="()[]{}.,:;+-*/%<>=!~&|^@'\"0123456789acxl_ \n\\f", max_size=60))
def test_fuzz_python_like_text_gives_clear_errors(text: str) -> None:
    _check_outcome(text)


# --------------------------------------------------------------------------- error types

def test_errors_are_alchemy_errors_and_keep_their_builtin_bases() -> None:
    import pickle

    from alchemy_resolvers.errors import AlchemyError

    for cls in (UnsafeExpressionError, ExpressionSyntaxError, ExpressionNameError,
                ExpressionLimitError):
        assert issubclass(cls, AlchemyError) and issubclass(cls, ValueError)
    assert issubclass(ExpressionNameError, NameError)
    with pytest.raises(ExpressionNameError) as info:
        ev("nope + 1")
    assert str(info.value).startswith("name `nope` is not defined in dep expression")
    copy = pickle.loads(pickle.dumps(info.value))
    assert type(copy) is ExpressionNameError and str(copy) == str(info.value)
