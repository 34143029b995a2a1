"""Lazy grid expansion: the axes of a sweep, their order, constraints and names.

A grid is the product of its axes, filtered by each axis' ``subject_to``. It is walked
depth first, one combination at a time, so a 100,000-point grid never exists in memory
and the first job starts as soon as the first legal combination is found.

Order: lower ``priority`` is the outer loop. An axis without a priority takes its
definition index as priority (config-defined axes first, then command-line sweeps), so
``priority`` only needs to be set where the default order is not wanted. Ties keep
definition order.

Constraints see only axes that come earlier in this order. Python ``subject_to(v)``
callables read earlier ``Param2Tune`` objects as ``param.cur_val`` (set here while
walking); YAML ``subject_to: EXPR`` strings are evaluated by the safe evaluator with
``v`` (the candidate value) and every earlier axis by its key. An expression that
names a later axis is refused before the sweep starts.

This module needs no Hydra: overrides are plain ``key=value`` strings.
"""
from __future__ import annotations

import ast
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from alchemy_resolvers.expr import Lookup
from alchemy_resolvers.authoring.tune import Param2Tune, value_names

__all__ = [
    "Axis",
    "Grid",
    "GridError",
    "Combination",
    "display_keys",
    "key_path",
    "to_override_value",
    "folder_safe",
]

Constraint = Union[None, str, Callable[[Any], Any]]

#: Folder names longer than this (bytes) are cut and made unique with a hash.
MAX_FOLDER_BYTES = 200


class GridError(ValueError):
    """The grid cannot be expanded: a bad constraint, or no legal combination."""


def key_path(key: str) -> str:
    """The config path an override key addresses: ``+a.b`` -> ``a.b``, ``db@x`` -> ``db``."""
    path = key.lstrip("+~")
    if "@" in path:
        path = path.split("@", 1)[0]
    return path


def _segments(path: str) -> List[str]:
    return [s for s in path.replace("/", ".").split(".") if s]


def display_keys(paths: Sequence[str]) -> List[str]:
    """For every path, its shortest dotted suffix that no other path ends with.

    ``loader.ini.batch_size`` shows as ``batch_size`` unless another axis also ends in
    ``batch_size``; then ``ini.batch_size`` (or longer) tells them apart, never a silent
    collision in folder names or the frame's index.
    """
    segs = [_segments(p) or [p] for p in paths]
    out: List[str] = []
    for i, s in enumerate(segs):
        chosen = ".".join(s)
        for k in range(1, len(s) + 1):
            suffix = s[-k:]
            if all(other[-k:] != suffix for j, other in enumerate(segs) if j != i):
                chosen = ".".join(suffix)
                break
        out.append(chosen)
    return out


def folder_safe(text: str) -> str:
    """``text`` usable as one path component: no separators, no backslashes."""
    return str(text).replace("/", "-").replace("\\", "-").replace("\0", "")


# --------------------------------------------------------------------------- values


def _parser() -> Any:
    global _PARSER
    if _PARSER is None:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        _PARSER = OverridesParser.create()
    return _PARSER


_PARSER: Any = None


def _parses_to(text: str, value: str) -> bool:
    try:
        parsed = _parser().parse_override(f"k={text}")
    except Exception:  # noqa: BLE001 - any parse failure means "not this spelling"
        return False
    return not parsed.is_sweep_override() and parsed.value() == value and isinstance(
        parsed.value(), str
    )


def _quote(value: str) -> str:
    # In Hydra's quoted strings only backslashes right before a quote are escapes.
    out: List[str] = []
    i = 0
    while i < len(value):
        j = i
        while j < len(value) and value[j] == "\\":
            j += 1
        run = value[i:j]
        if j < len(value) and value[j] == "'":
            out.append(run * 2 + "\\'")
            i = j + 1
        elif j == len(value):
            out.append(run * 2)
            i = j
        else:
            out.append(run + value[j] if j > i else value[j])
            i = j + 1
    return "'" + "".join(out) + "'"


def _string_override(value: str) -> str:
    from hydra._internal.grammar.utils import escape_special_characters

    plain = escape_special_characters(value)
    if _parses_to(plain, value):
        return plain
    quoted = _quote(value)
    if _parses_to(quoted, value):
        return quoted
    raise GridError(f"cannot write the string {value!r} as a Hydra override value")


def to_override_value(value: Any) -> str:
    """``value`` in Hydra's override grammar; interpolations in strings are kept.

    Raises ``TypeError`` for values the grammar cannot express (classes, objects).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string_override(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(to_override_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"dict key {k!r} cannot be written as an override")
            items.append(f"{to_override_value(k)}:{to_override_value(v)}")
        return "{" + ",".join(items) + "}"
    # OmegaConf containers read from YAML.
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        if isinstance(value, (DictConfig, ListConfig)):
            return to_override_value(OmegaConf.to_container(value, resolve=False))
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be written as an override")


def is_literal(value: Any) -> bool:
    """Whether a Python value survives a ``key=value`` override exactly as it is.

    Tuples (would become lists), dicts (would merge into the node) and strings with
    ``${`` (would become interpolations) do not.
    """
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return "${" not in value
    if isinstance(value, list):
        return all(is_literal(v) for v in value)
    return False


# --------------------------------------------------------------------------- axes


@dataclass
class Axis:
    """One swept key: its values, how each is written as an override, and its names."""

    key: str
    values: List[Any]
    overrides: List[str]
    names: List[Any] = field(default_factory=list)
    priority: Optional[float] = None
    subject_to: Constraint = None
    param: Optional[Param2Tune] = None
    source: str = "config"
    is_group: bool = False
    #: Name in folders and the frame when the key is not meant for people (the hidden
    #: group of a tunable ``caps`` shows as ``caps``); empty: derived from the key.
    label: str = ""
    # Filled by Grid.
    def_index: int = 0
    display: str = ""

    def __post_init__(self) -> None:
        if len(self.values) != len(self.overrides):
            raise GridError(f"`{self.key}`: {len(self.values)} values but {len(self.overrides)} overrides")
        if not self.values:
            raise GridError(f"`{self.key}` has no values to sweep over")
        if not self.names:
            self.names = value_names(self.values)
        elif len(self.names) != len(self.values):
            raise GridError(
                f"`{self.key}`: {len(self.values)} values but {len(self.names)} names"
            )

    @property
    def path(self) -> str:
        return key_path(self.key)

    @classmethod
    def from_param(cls, key: str, param: Param2Tune, token: Optional[str] = None, source: str = "config") -> "Axis":
        """An axis for a ``Param2Tune`` found at ``key``.

        Values an override cannot spell exactly go to the job as
        ``${alchemy_value:TOKEN,IDX}``, which needs the token the config source
        registered the param under.
        """
        overrides: List[str] = []
        for i, v in enumerate(param.optional_values):
            text: Optional[str] = None
            if is_literal(v):
                try:
                    text = to_override_value(v)
                except (TypeError, GridError):
                    text = None
            if text is None:
                if token is None:
                    raise GridError(
                        f"`{key}`: value {v!r} cannot be written as a Hydra override; a "
                        "Python config file that Hydra loads through the alchemy config "
                        "source can tune it"
                    )
                text = f"${{alchemy_value:{token},{i}}}"
            overrides.append(text)
        try:
            names = param.value_names
        except ValueError as e:
            raise GridError(f"`{key}`: {e}") from None
        return cls(
            key=key,
            values=list(param.optional_values),
            overrides=overrides,
            names=names,
            priority=param.priority,
            subject_to=param.subject_to,
            param=param,
            source=source,
        )


@dataclass(frozen=True)
class Combination:
    """One point of the grid: its position and the value index chosen on every axis."""

    index: int
    choice: Tuple[int, ...]  # value index per axis, in grid order


class _Leaf:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Scope(Lookup):
    """Dotted keys of earlier axes, readable by attribute in a safe expression."""

    def __init__(self, tree: Dict[str, Any], prefix: str) -> None:
        self._tree = tree
        self._prefix = prefix

    def lookup_attr(self, name: str) -> Any:
        if name not in self._tree:
            raise GridError(f"`{self._prefix}.{name}` is not an earlier swept key")
        v = self._tree[name]
        return v.value if isinstance(v, _Leaf) else _Scope(v, f"{self._prefix}.{name}")

    def lookup_item(self, key: Any) -> Any:
        return self.lookup_attr(str(key))


def _expr_references(expr: str) -> List[str]:
    """Names and dotted attribute chains an expression reads (parsed, never run)."""
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        raise GridError(f"subject_to {expr!r} is not a valid expression: {e.msg}") from None
    refs: List[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            parts = []
            cur: ast.AST = node
            while isinstance(cur, ast.Attribute):
                parts.append(cur.attr)
                cur = cur.value
            if isinstance(cur, ast.Name):
                parts.append(cur.id)
                refs.append(".".join(reversed(parts)))
        elif isinstance(node, ast.Name):
            refs.append(node.id)
    return refs


class Grid:
    """The ordered product of axes, filtered by constraints, walked lazily.

    ``slots`` fixes the order of overrides in a job (definition order, with fixed
    command-line overrides in their place); the axes' priorities fix the loop order.
    """

    def __init__(self, slots: Sequence[Union[str, Axis]]) -> None:
        self.slots: List[Union[str, Axis]] = list(slots)
        defined = [s for s in self.slots if isinstance(s, Axis)]
        seen: Dict[str, str] = {}
        for i, axis in enumerate(defined):
            axis.def_index = i
            if axis.path in seen:
                raise GridError(
                    f"`{axis.path}` is swept twice ({seen[axis.path]} and {axis.source}); "
                    "keep one of them"
                )
            seen[axis.path] = axis.source
        self.axes: List[Axis] = sorted(
            defined,
            key=lambda a: (a.def_index if a.priority is None else a.priority, a.def_index),
        )
        for axis, disp in zip(self.axes, display_keys([a.label or a.path for a in self.axes])):
            axis.display = folder_safe(disp)
        self._check_expressions()
        self._position = {id(a): i for i, a in enumerate(self.axes)}

    # -- info -----------------------------------------------------------------
    @property
    def keys(self) -> List[str]:
        """Display keys in grid (priority) order: the frame's index names."""
        return [a.display for a in self.axes]

    def names(self, combo: Combination) -> List[Any]:
        return [a.names[i] for a, i in zip(self.axes, combo.choice)]

    def values(self, combo: Combination) -> List[Any]:
        return [a.values[i] for a, i in zip(self.axes, combo.choice)]

    def params(self, combo: Combination) -> Dict[str, Tuple[Any, Any]]:
        """``{key: (value, name)}`` like AlchemyCat's ``param_comb``."""
        return {a.path: (a.values[i], a.names[i]) for a, i in zip(self.axes, combo.choice)}

    def axis_overrides(self, combo: Combination) -> List[str]:
        """The ``key=value`` overrides of the swept axes (definition order)."""
        return [
            f"{s.key}={s.overrides[combo.choice[self._position[id(s)]]]}"
            for s in self.slots
            if isinstance(s, Axis)
        ]

    def overrides(self, combo: Combination) -> List[str]:
        """Every override of the job: fixed ones and swept ones, in slot order."""
        out: List[str] = []
        for s in self.slots:
            if isinstance(s, Axis):
                out.append(f"{s.key}={s.overrides[combo.choice[self._position[id(s)]]]}")
            else:
                out.append(s)
        return out

    def group_overrides(self, combo: Combination) -> Tuple[str, ...]:
        """Overrides that choose config-group options: jobs that share them compose alike."""
        return tuple(
            f"{a.key}={a.overrides[i]}" for a, i in zip(self.axes, combo.choice) if a.is_group
        )

    def folder(self, combo: Combination) -> str:
        """``key=name`` joined by ``,`` in grid order: the job's folder name."""
        text = ",".join(
            f"{a.display}={folder_safe(str(a.names[i]))}" for a, i in zip(self.axes, combo.choice)
        )
        if not text:
            text = "job"
        raw = text.encode("utf-8")
        if len(raw) > MAX_FOLDER_BYTES:
            digest = hashlib.sha1(raw).hexdigest()[:8]
            cut = raw[: MAX_FOLDER_BYTES - 10].decode("utf-8", "ignore")
            text = f"{cut},~{digest}"
        return text

    def key_of(self, combo: Combination) -> str:
        """Identity of a combination across runs: its swept overrides."""
        return "\x1f".join(self.axis_overrides(combo))

    # -- expansion ----------------------------------------------------------------
    def __iter__(self) -> Iterator[Combination]:
        count = 0
        for choice in self._walk(0, []):
            yield Combination(count, tuple(choice))
            count += 1
        if count == 0:
            raise GridError(self._empty_message())

    def _walk(self, level: int, chosen: List[int]) -> Iterator[List[int]]:
        if level == len(self.axes):
            yield chosen
            return
        axis = self.axes[level]
        for later in self.axes[level:]:
            if later.param is not None:
                later.param.reset()
        for i, value in enumerate(axis.values):
            if not self._allowed(level, axis, value, chosen):
                continue
            if axis.param is not None:
                axis.param.cur_val = value
            chosen.append(i)
            yield from self._walk(level + 1, chosen)
            chosen.pop()
            # Deeper levels may have left values set; the next sibling must not see them.
            for later in self.axes[level + 1 :]:
                if later.param is not None:
                    later.param.reset()
        if axis.param is not None:
            axis.param.reset()

    def _allowed(self, level: int, axis: Axis, value: Any, chosen: List[int]) -> bool:
        constraint = axis.subject_to
        if constraint is None:
            return True
        try:
            if isinstance(constraint, str):
                from alchemy_resolvers.expr import safe_eval

                return bool(safe_eval(constraint, self._names(level, value, chosen)))
            return bool(constraint(value))
        except GridError:
            raise
        except RuntimeError as e:
            if "cur_val" in str(e):
                later = ", ".join(f"`{a.path}`" for a in self.axes[level + 1 :]) or "none"
                raise GridError(
                    f"subject_to of `{axis.path}` reads a param that comes later in the "
                    f"order (later params: {later}). Give it a lower priority than "
                    f"`{axis.path}` or define it earlier."
                ) from None
            raise GridError(self._failed(axis, value, e)) from e
        except Exception as e:  # noqa: BLE001 - report which axis and value broke
            raise GridError(self._failed(axis, value, e)) from e

    def _failed(self, axis: Axis, value: Any, err: BaseException) -> str:
        where = f"subject_to of `{axis.path}`"
        if isinstance(axis.subject_to, str):
            where += f" ({axis.subject_to!r})"
        return f"{where} failed for value {value!r}: {type(err).__name__}: {err}"

    def _names(self, level: int, value: Any, chosen: List[int]) -> Dict[str, Any]:
        tree: Dict[str, Any] = {}
        leaves: Dict[str, List[Any]] = {}
        for a, i in zip(self.axes[:level], chosen):
            segs = _segments(a.path)
            node = tree
            for s in segs[:-1]:
                nxt = node.setdefault(s, {})
                if not isinstance(nxt, dict):
                    break
                node = nxt
            else:
                node[segs[-1]] = _Leaf(a.values[i])
            leaves.setdefault(segs[-1], []).append(a.values[i])
        names: Dict[str, Any] = {}
        for k, v in tree.items():
            names[k] = v.value if isinstance(v, _Leaf) else _Scope(v, k)
        for leaf, vals in leaves.items():
            if len(vals) == 1 and leaf not in names:
                names[leaf] = vals[0]
        names["v"] = value
        return names

    def _check_expressions(self) -> None:
        """Refuse, before anything runs, an expression that reads a later axis."""
        for pos, axis in enumerate(self.axes):
            if not isinstance(axis.subject_to, str):
                continue
            refs = _expr_references(axis.subject_to)
            for later in self.axes[pos:]:
                dotted = ".".join(_segments(later.path))
                leaf = _segments(later.path)[-1]
                for ref in refs:
                    if ref == "v":
                        continue
                    if ref == dotted or ref.startswith(dotted + ".") or ref == leaf:
                        what = "itself" if later is axis else f"`{later.path}`, which comes later in the order"
                        raise GridError(
                            f"subject_to of `{axis.path}` ({axis.subject_to!r}) reads "
                            f"{what}; a constraint may only read params that come "
                            f"earlier (use `v` for the value of `{axis.path}`, or give "
                            f"`{later.path}` a lower priority)"
                        )

    def _empty_message(self) -> str:
        constrained = [f"`{a.path}`" for a in self.axes if a.subject_to is not None and not _is_trivial(a.subject_to)]
        return (
            "the sweep has no legal combination: every combination is rejected by the "
            f"subject_to constraints of {', '.join(constrained) or 'the params'}"
        )


def _is_trivial(constraint: Constraint) -> bool:
    return callable(constraint) and getattr(constraint, "__name__", "") == "<lambda>" and _always_true(constraint)


def _always_true(fn: Callable[[Any], Any]) -> bool:
    code = getattr(fn, "__code__", None)
    return code is not None and code.co_code == (lambda v: True).__code__.co_code
