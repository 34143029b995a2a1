"""The hidden config group of a tunable ``caps`` (``Cfg2Tune(caps=Param2Tune([...]))``).

``_alchemy_caps/<token>`` has one option per base file, ``base<index>`` (not a bare
number, which Hydra's override grammar reads as an int). Lowering puts it first in the
config's defaults list, the config source serves its options, and the sweeper sweeps it.
"""
from __future__ import annotations

import re
from typing import Any, List, Optional

from alchemy_resolvers import registry

__all__ = ["TUNED_CAPS_GROUP", "tuned_caps_option", "tuned_caps_file", "tuned_caps_options", "find_tuned_caps"]

TUNED_CAPS_GROUP = "_alchemy_caps"


def tuned_caps_option(index: int) -> str:
    return f"base{index}"


def tuned_caps_file(config_path: str) -> Optional[str]:
    """The base file that option ``_alchemy_caps/<token>/base<index>`` stands for."""
    parts = config_path.strip("/").split("/")
    if len(parts) != 3 or parts[0] != TUNED_CAPS_GROUP or not re.fullmatch(r"base\d+", parts[2]):
        return None
    tuned = find_tuned_caps(parts[1])
    index = int(parts[2][len("base"):])
    return tuned.files[index] if tuned is not None and index < len(tuned.files) else None


def tuned_caps_options(config_path: str) -> Optional[List[str]]:
    """Option names of the hidden group at ``config_path``; ``None`` if it is not one."""
    parts = config_path.strip("/").split("/")
    if parts[0] != TUNED_CAPS_GROUP or len(parts) > 2:
        return None
    if len(parts) == 1:
        return []
    tuned = find_tuned_caps(parts[1])
    return None if tuned is None else [tuned_caps_option(i) for i in range(len(tuned.files))]


def find_tuned_caps(token: str) -> Any:
    """The ``TunedCaps`` registered under ``token``, or ``None``.

    Filled when the config holding the tunable caps was loaded in this process; the
    registry never loads anything itself.
    """
    from alchemy_resolvers.loading.alchemy import TunedCaps  # the loaders: only when asked

    try:
        found = registry.lookup(token)
    except LookupError:
        return None
    return found if isinstance(found, TunedCaps) else None
