"""Axes of a sweep: one swept key each, with its values, override spellings and names.

Also the key helpers the grid and the sweeper share: the config path an override key
addresses, and the shortest display key that tells axes apart.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Sequence, Union

from alchemy_resolvers.authoring.tune import Param2Tune
from alchemy_resolvers.errors import SettingsError
from alchemy_resolvers.grid.names import value_names
from alchemy_resolvers.grid.spelling import is_literal, to_override_value

__all__ = ["Axis", "GridError", "Constraint", "key_path", "segments", "display_keys", "folder_safe"]

Constraint = Union[None, str, Callable[[Any], Any]]


class GridError(SettingsError):
    """The grid cannot be expanded: a bad axis or constraint, or no legal combination.

    A :class:`~alchemy_resolvers.errors.SettingsError` (so also a ``ValueError``): it is
    wrong for the whole sweep and found before any job starts.
    """


def key_path(key: str) -> str:
    """The config path an override key addresses: ``+a.b`` -> ``a.b``, ``db@x`` -> ``db``."""
    path = key.lstrip("+~")
    if "@" in path:
        path = path.split("@", 1)[0]
    return path


def segments(path: str) -> List[str]:
    """``a.b/c`` -> ``['a', 'b', 'c']``."""
    return [s for s in path.replace("/", ".").split(".") if s]


def display_keys(paths: Sequence[str]) -> List[str]:
    """For every path, its shortest dotted suffix that no other path ends with.

    ``loader.ini.batch_size`` shows as ``batch_size`` unless another axis also ends in
    ``batch_size``; then ``ini.batch_size`` (or longer) tells them apart, never a silent
    collision in folder names or the frame's index.
    """
    segs = [segments(p) or [p] for p in paths]
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
            raise GridError(f"`{self.key}` has no values to sweep over", key=self.key,
                            hint="give it at least one value")
        if not self.names:
            self.names = value_names(self.values)
        elif len(self.names) != len(self.values):
            raise GridError(f"`{self.key}`: {len(self.values)} values but {len(self.names)} names", key=self.key)

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
        overrides = [_param_override(key, v, i, token) for i, v in enumerate(param.optional_values)]
        try:
            names = value_names(param.optional_values, param.optional_value_names)
        except ValueError as e:
            raise GridError(f"`{key}`: {e}", key=key) from None
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


def _param_override(key: str, value: Any, index: int, token: Optional[str]) -> str:
    if is_literal(value):
        try:
            return to_override_value(value)
        except TypeError:
            pass
    if token is None:
        raise GridError(
            f"`{key}`: value {value!r} cannot be written as a Hydra override; a "
            "Python config file that Hydra loads through the alchemy config "
            "source can tune it",
            key=key,
        )
    return f"${{alchemy_value:{token},{index}}}"
