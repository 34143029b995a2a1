"""One check for inheritance cycles, shared by every loader.

AlchemyCat ``caps`` chains (and ``Config('file')`` composition), MMCV ``_base_``
chains and fvcore/YACS ``_BASE_`` chains all carry the tuple of files being loaded;
:func:`enter` adds the next file, or raises :class:`InheritanceCycleError` naming the
whole chain when the file is already being loaded.
"""
from __future__ import annotations

import os
from typing import Tuple

from alchemy_resolvers.loading.errors import InheritanceCycleError

__all__ = ["enter", "short_path"]


def enter(chain: Tuple[str, ...], path: str, what: str) -> Tuple[str, ...]:
    """``chain + (path,)``; :class:`InheritanceCycleError` if ``path`` is in ``chain``.

    ``what`` names the mechanism in the message (``"_base_ inheritance"``,
    ``"config inheritance/composition"``, ...).
    """
    if path in chain:
        cycle = chain[chain.index(path):] + (path,)
        raise InheritanceCycleError(
            f"{what} cycle: " + " -> ".join(short_path(p) for p in cycle),
            file=path,
            hint="remove one of these inheritance links: a config cannot (indirectly) inherit from itself",
        )
    return chain + (path,)


def short_path(path: str) -> str:
    """``path`` relative to the working directory when below it, else as given."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # pragma: no cover - other drive on Windows
        return path
    return path if rel.startswith("..") else rel
