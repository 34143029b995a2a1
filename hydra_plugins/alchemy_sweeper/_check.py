"""Checks of every job of a sweep before launch, and ``hydra.sweeper.dry_run``.

(Placeholder: filled in by the dry-run work; until then both are no-ops.)
"""
from __future__ import annotations

from typing import Any, List

from alchemy_resolvers.grid import Grid

__all__ = ["dry_run", "check_before_launch"]


def dry_run(loop: Any, grid: Grid) -> List[List[Any]]:
    return []


def check_before_launch(loop: Any, grid: Grid) -> None:
    return None
