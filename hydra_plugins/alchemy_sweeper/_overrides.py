"""Override strings, checked against Hydra's own parser.

The library writes values in the override grammar without Hydra
(:mod:`alchemy_resolvers.grid.spelling`); here, on the Hydra side, every string it
writes for a job is parsed back once, so a value Hydra would read differently is
refused before any job starts, with the key that holds it.
"""
from __future__ import annotations

from typing import Any, Optional

from alchemy_resolvers.errors import SettingsError
from alchemy_resolvers.grid import Axis, quote, to_override_value

__all__ = ["SweepConfigError", "override_value", "check_axis", "subdir_override", "parser"]

_PARSER: Any = None


class SweepConfigError(SettingsError):
    """The sweep's own settings are wrong (``hydra.sweeper.*``, the grid, a P_DEP)."""


def parser(config_loader: Optional[Any] = None) -> Any:
    """Hydra's override parser (one per process; with ``config_loader``: a new one that
    can expand ``glob()`` over config groups)."""
    global _PARSER
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if config_loader is not None:
        return OverridesParser.create(config_loader=config_loader)
    if _PARSER is None:
        _PARSER = OverridesParser.create()
    return _PARSER


def _reads_back(text: str, value: Any) -> bool:
    try:
        parsed = parser().parse_override(f"k={text}")
    except Exception:  # noqa: BLE001 - any parse failure means "not this value"
        return False
    return not parsed.is_sweep_override() and parsed.value() == value


def override_value(value: Any, where: str) -> str:
    """``value`` as an override value, checked; ``where`` names the setting in errors."""
    try:
        text = to_override_value(value)
    except TypeError as e:
        raise SweepConfigError(f"{where}: {e}", key=where) from None
    if isinstance(value, str) and not _reads_back(text, value):
        raise SweepConfigError(
            f"{where}: the string {value!r} cannot be written as a Hydra override value "
            f"(written {text}, Hydra reads it differently)", key=where)
    return text


def check_axis(axis: Axis) -> None:
    """Refuse an axis whose string values Hydra would read as something else."""
    for value, text in zip(axis.values, axis.overrides):
        if isinstance(value, str) and not text.startswith("${alchemy_value:") and not _reads_back(text, value):
            raise SweepConfigError(
                f"`{axis.key}`: the string {value!r} cannot be written as a Hydra "
                f"override value (written {text}, Hydra reads it differently)", key=axis.key)


def subdir_override(folder: str) -> str:
    """``hydra.sweep.subdir=<folder>``, the folder taken literally (no interpolation)."""
    return "hydra.sweep.subdir=" + quote(folder.replace("${", "\\${"))
