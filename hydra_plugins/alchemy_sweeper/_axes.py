"""The grid of a sweep, from its three sources (combined in this definition order):

1. ``Param2Tune`` entries of the composed config: a Python ``Cfg2Tune`` served by the
   alchemy config source holds ``${alchemy_param:TOKEN}`` at every tuned key (and a
   tunable ``caps`` is a hidden config group);
2. ``hydra.sweeper.params``: ``key: [v1, v2]``, ``key: "v1,v2"`` (Hydra's sweep
   syntax, as the basic sweeper reads it) or
   ``key: {values: [...], names: [...], priority: N, subject_to: EXPR}``;
3. sweeps on the command line, as Hydra's basic sweeper understands them.

A later definition of the same key replaces the earlier one in place.

Axes advance together instead of forming a product when ``hydra.sweeper.zip`` lists
them (``[[opt.lr, sched.warmup], ...]``, any source) or when the config zips its
``Param2Tune`` objects (``Param2Tune.zip``, ``zip_with=``).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from omegaconf import DictConfig, ListConfig, OmegaConf

from alchemy_resolvers import registry
from alchemy_resolvers.authoring.tune import Param2Tune
from alchemy_resolvers.grid import Axis, Grid, ZipError, key_path, value_names

from hydra_plugins.alchemy_sweeper._overrides import SweepConfigError, check_axis, override_value

__all__ = ["build_grid", "find_param_tokens"]

PARAM_REF = re.compile(r"^\$\{alchemy_param:\s*([A-Za-z0-9_]+)\s*\}$")
PARAMS = "hydra.sweeper.params"
ZIP = "hydra.sweeper.zip"
SPEC_FIELDS = {"values", "names", "priority", "subject_to"}

Slot = Union[str, Axis]


def find_param_tokens(cfg: DictConfig) -> List[Tuple[str, str]]:
    """``(dotted_key, token)`` of every ``${alchemy_param:TOKEN}`` in ``cfg`` (not ``hydra``).

    Read without resolving: the resolver refuses to run outside a sweep.
    """
    found: List[Tuple[str, str]] = []

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if prefix == "" and k == "hydra":
                    continue
                walk(v, f"{prefix}.{k}" if prefix else str(k))
        elif isinstance(node, str):
            m = PARAM_REF.match(node.strip())
            if m:
                found.append((prefix, m.group(1)))

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return found


# --------------------------------------------------------------------------- 1. config


def config_axes(cfg: DictConfig) -> List[Axis]:
    """Axes for the Param2Tunes in the composed config, in definition order."""
    items = []
    for key, token in find_param_tokens(cfg):
        try:
            param = registry.lookup(token)
        except LookupError as e:
            raise SweepConfigError(f"`{key}`: {e}", key=key) from None
        if not isinstance(param, Param2Tune):
            raise SweepConfigError(f"`{key}` refers to {type(param).__name__}, not a Param2Tune", key=key)
        items.append((key, token, param))
    rank = _definition_rank(cfg, items)
    items.sort(key=lambda t: rank.get(t[0], len(rank)))
    axes = [Axis.from_param(key, param, token, source="config") for key, token, param in items]
    for axis in axes:
        check_axis(axis)
    return tuned_caps_axes(cfg) + axes


def _definition_rank(cfg: DictConfig, items: List[Tuple[str, str, Any]]) -> Dict[str, int]:
    try:  # the Python config layer knows the order the files assigned the params in
        from alchemy_resolvers.lowering.lower import find_params
    except ImportError:
        ordered = sorted(items, key=lambda t: getattr(t[2], "_seq", 0))
        return {key: i for i, (key, _, _) in enumerate(ordered)}
    return {key: i for i, (key, _) in enumerate(find_params(cfg))}


def tuned_caps_axes(cfg: DictConfig) -> List[Axis]:
    """Axes for tunable ``caps``: their hidden config group, one option per base file.

    The caps are set when the config is created, so they come first in definition order.
    """
    from alchemy_resolvers.lowering.tuned_caps import TUNED_CAPS_GROUP, find_tuned_caps, tuned_caps_option

    choices = OmegaConf.select(cfg, "hydra.runtime.choices", default=None) or {}
    axes = []
    for group in choices:
        parts = str(group).split("/")
        if len(parts) != 2 or parts[0] != TUNED_CAPS_GROUP:
            continue
        tuned = find_tuned_caps(parts[1])
        if tuned is None:
            raise SweepConfigError(f"`{group}`: the tunable caps it stands for is not loaded", key=str(group))
        axis = Axis.from_param(str(group), tuned.param, source="config")
        axis.overrides = [tuned_caps_option(i) for i in range(len(tuned.files))]
        axis.label = "caps"
        axes.append(axis)
    return axes


# --------------------------------------------------------------------------- 2. hydra.sweeper.params


def values_axis(key: str, values: Sequence[Any], names: Optional[Sequence[Any]] = None,
                priority: Any = None, subject_to: Any = None) -> Axis:
    """An axis from ``hydra.sweeper.params.<key>`` given as a list or a mapping."""
    where = f"{PARAMS}.{key}"
    overrides = [override_value(v, where) for v in values]
    try:
        nm = value_names(list(values), None if names is None else [str(n) for n in names])
    except ValueError as e:
        raise SweepConfigError(f"{where}: {e}", key=where) from None
    if subject_to is not None and not isinstance(subject_to, str):
        raise SweepConfigError(
            f"{where}.subject_to must be an expression string, e.g. `v * batch_size <= 1920`; "
            f"got {subject_to!r}", key=f"{where}.subject_to")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, (int, float))):
        raise SweepConfigError(f"{where}.priority must be a number, got {priority!r}", key=f"{where}.priority")
    return Axis(key=key, values=list(values), overrides=overrides, names=nm, priority=priority,
                subject_to=subject_to, source=PARAMS)


def _spec_axis(key: str, spec: Mapping[str, Any]) -> Axis:
    where = f"{PARAMS}.{key}"
    unknown = set(spec) - SPEC_FIELDS
    if unknown:
        raise SweepConfigError(
            f"{where} has unknown field(s) {sorted(unknown)}; allowed: {', '.join(sorted(SPEC_FIELDS))}",
            key=where)
    values = spec["values"]
    if not isinstance(values, (list, tuple)) or not values:
        raise SweepConfigError(f"{where}.values must be a non-empty list", key=f"{where}.values")
    return values_axis(key, values, spec.get("names"), spec.get("priority"), spec.get("subject_to"))


def params_slots(params: Mapping[str, Any], parser: Any) -> List[Tuple[str, Slot]]:
    """``(path, axis or fixed override)`` for every entry of ``hydra.sweeper.params``."""
    out: List[Tuple[str, Slot]] = []
    for key, spec in params.items():
        key = str(key)
        if isinstance(spec, str):
            ov = parser.parse_override(f"{key}={spec}")
            out.append(_override_slot(ov, PARAMS))
        elif isinstance(spec, (list, tuple)):
            out.append((key_path(key), values_axis(key, spec)))
        elif isinstance(spec, dict) and "values" in spec:
            out.append((key_path(key), _spec_axis(key, spec)))
        else:
            out.append((key_path(key), f"{key}={override_value(spec, f'{PARAMS}.{key}')}"))
    return out


# --------------------------------------------------------------------------- 3. command line


def override_axis(override: Any, source: str) -> Axis:
    """An axis for a parsed sweep override (``a=1,2``, ``choice()``, ``range()``, ``glob()``)."""
    from hydra.core.override_parser.types import Override

    if not override.is_discrete_sweep():
        raise SweepConfigError(
            f"the alchemy sweeper does not support sweep type "
            f"{override.value_type.name} ({override.input_line}); use choice(), range(), "
            "glob() or a comma-separated list", key=override.get_key_element())
    raw = list(override.sweep_iterator())
    values = [Override._convert_value(x) for x in raw]
    strings = [Override._get_value_element_as_str(x) for x in raw]
    return Axis(key=override.get_key_element(), values=values, overrides=strings, source=source)


def _override_slot(ov: Any, source: str) -> Tuple[str, Slot]:
    path = key_path(ov.get_key_element())
    if ov.is_sweep_override():
        return path, override_axis(ov, source)
    return path, f"{ov.get_key_element()}={ov.get_value_element_as_str()}"


# --------------------------------------------------------------------------- together


def build_grid(config: DictConfig, params: Mapping[str, Any], priorities: Mapping[str, Any],
               arguments: Sequence[str], parser: Any, is_group: Callable[[str], bool],
               zip_groups: Any = None) -> Grid:
    """The sweep's grid: config axes, then ``hydra.sweeper.params``, then the command line;
    ``zip_groups`` (``hydra.sweeper.zip``) lists axes that advance together."""
    slots: Dict[str, Slot] = {}
    from_config = config_axes(config)
    for axis in from_config:
        slots[axis.path] = axis
    for path, slot in params_slots(params, parser):
        slots[path] = slot
    for ov in parser.parse_overrides(list(arguments)):
        path, slot = _override_slot(ov, "the command line")
        slots[path] = slot
    swept = {p: s for p, s in slots.items() if isinstance(s, Axis)}
    for path, axis in swept.items():
        axis.is_group = is_group(path)
        if path in priorities:
            axis.priority = _priority(path, priorities[path])
    unknown = set(priorities) - set(swept)
    if unknown:
        raise SweepConfigError(
            f"hydra.sweeper.priorities names {sorted(unknown)}, which are not swept; "
            f"swept keys: {sorted(swept)}", key="hydra.sweeper.priorities",
            hint="name only swept keys (their dotted config path)")
    setting = zip_setting(zip_groups)
    try:
        return Grid(list(slots.values()), zip_groups=config_zip_groups(from_config, slots) + setting)
    except ZipError as e:  # the same rules for every source; say which one holds the group
        in_setting = any(e.group is g for g in setting)
        where = f"{ZIP}: " if in_setting else ""
        raise SweepConfigError(where + str(e.args[0]), key=ZIP if in_setting else e.key, hint=e.hint) from None


# --------------------------------------------------------------------------- zipped axes


def zip_setting(raw: Any) -> List[List[str]]:
    """``hydra.sweeper.zip`` as lists of keys (it may arrive as a ListConfig)."""
    if raw is None:
        return []
    if isinstance(raw, (DictConfig, ListConfig)):
        raw = OmegaConf.to_container(raw, resolve=True)
    ok = isinstance(raw, (list, tuple)) and all(
        isinstance(g, (list, tuple)) and all(isinstance(k, str) for k in g) for g in raw)
    if not ok:
        raise SweepConfigError(
            f"{ZIP} must be a list of lists of swept keys, got {raw!r}", key=ZIP,
            hint="e.g. hydra.sweeper.zip=[[opt.lr,sched.warmup]]")
    return [[str(k) for k in g] for g in raw]


def config_zip_groups(from_config: Sequence[Axis], slots: Mapping[str, Slot]) -> List[List[str]]:
    """Zip groups the config's own ``Param2Tune`` objects declare, as lists of paths.

    A member that ``hydra.sweeper.params`` or the command line replaced (or pinned to
    one value, so it is no longer in the composed config) would leave its partners
    advancing alone, or break a row constraint: refused, naming the group. Replacing
    every member drops the config's zip.
    """
    keys_of: Dict[int, str] = {id(a.param): a.path for a in from_config if a.param is not None}
    out: List[List[str]] = []
    seen = set()
    for axis in from_config:
        group = getattr(axis.param, "zip_group", None)
        if group is None or id(group) in seen:
            continue
        seen.add(id(group))
        paths = [keys_of.get(id(m)) or _registered_key(m) for m in group.members]
        if any(p is None for p in paths):
            raise SweepConfigError(
                f"zipped Param2Tune: `{axis.path}` is zipped with a Param2Tune that no key of "
                "the config holds", key=axis.path,
                hint="assign every param Param2Tune.zip returns (or zip_with names) to a key")
        named = [str(p) for p in paths]
        replaced = [p for p, m in zip(named, group.members)
                    if id(m) not in keys_of or slots.get(p) is not _axis_at(from_config, p)]
        if len(replaced) == len(named):
            continue  # every member set anew: the config's zip no longer applies
        if replaced:
            kept = [p for p in named if p not in replaced]
            raise SweepConfigError(
                f"{', '.join(f'`{p}`' for p in replaced)} set on the command line or in {PARAMS}, "
                f"but zipped in the config with {', '.join(f'`{p}`' for p in kept)}: zipped params "
                "change together", key=replaced[0], hint=f"set all of {named}, or none of them")
        out.append(named)
    return out


def _registered_key(param: Any) -> Optional[str]:
    """The key a Param2Tune was lowered at, though the composed config lost it (pinned)."""
    for obj, _file, key in registry.snapshot().values():
        if obj is param:
            return key
    return None


def _axis_at(axes: Sequence[Axis], path: str) -> Optional[Axis]:
    return next((a for a in axes if a.path == path), None)


def _priority(path: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SweepConfigError(f"hydra.sweeper.priorities.{path} must be a number, got {value!r}",
                               key=f"hydra.sweeper.priorities.{path}") from None
