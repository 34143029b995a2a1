"""Record, while a config file loads, where each key got its value.

Why a hook and not a parse of the source: a Python config computes its keys
(``for``, helpers, ``Config(...)`` built elsewhere), so only the write itself knows the
key; the line is that of the user's frame that made the write (``sys._getframe``,
cheap). :func:`recording` collects the writes of one file; :func:`leaf_lines` maps
them onto the file's final tree; the result goes to a per-process :data:`table`
keyed by the file's real path (a cached load never runs twice, so it is filled once).

A source is ``(file, line or None, via)``: ``via`` is the chain of files that
inherited it through ``caps`` (nearest first), so a base value reads
``base.py:3 (caps of exp/a.py)``.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple

from alchemy_resolvers.authoring import context

__all__ = ["Source", "table", "recording", "leaf_lines", "leaves", "note_file", "sources_of", "with_base"]

Source = Tuple[str, Optional[int], Tuple[str, ...]]

#: real path of a loaded file -> dotted leaf (relative to the file's root) -> Source.
table: Dict[str, Dict[str, Source]] = {}

# One frame of recording per Python file being executed (composition nests them):
# (path, {(id(node), key): line}, nodes kept alive so ids stay unique).
_stack: List[Tuple[str, Dict[Tuple[int, Any], int], List[Any]]] = []

_MAX_FRAMES = 12


def _on_write(node: Any, key: Any) -> None:
    """Called by ``TreeNode.__setitem__`` while recording: note the user's line."""
    path, events, keep = _stack[-1]
    frame = sys._getframe(2)
    for _ in range(_MAX_FRAMES):
        if frame is None:
            return
        if frame.f_code.co_filename == path:
            events[(id(node), key)] = frame.f_lineno
            keep.append(node)
            return
        frame = frame.f_back


@contextlib.contextmanager
def recording(path: str) -> Iterator[Dict[Tuple[int, Any], int]]:
    """Collect ``(id(node), key) -> line`` for the writes made by ``path``'s code."""
    events: Dict[Tuple[int, Any], int] = {}
    _stack.append((path, events, []))
    context.set_write_hook(_on_write)
    try:
        yield events
    finally:
        _stack.pop()
        if not _stack:
            context.set_write_hook(None)


def leaf_lines(tree: dict, events: Dict[Tuple[int, Any], int]) -> Dict[str, int]:
    """Dotted leaf -> line of the write that set it (or set a subtree holding it)."""
    out: Dict[str, int] = {}

    def walk(node: dict, prefix: str, inherited: Optional[int]) -> None:
        for key, value in dict.items(node):
            line = events.get((id(node), key), inherited)
            dotted = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                walk(value, dotted + ".", line)
            elif line is not None:
                out[dotted] = line

    walk(tree, "", None)
    return out


def leaves(tree: Any, prefix: str = "") -> Dict[str, Any]:
    """Dotted leaf -> value of a plain (or Config) tree; lists and empty dicts are leaves."""
    out: Dict[str, Any] = {}
    if isinstance(tree, dict):
        for key, value in dict.items(tree):
            dotted = f"{prefix}{key}"
            if isinstance(value, dict) and value:
                out.update(leaves(value, dotted + "."))
            else:
                out[dotted] = value
    return out


def note_file(path: str, sources: Dict[str, Source]) -> None:
    table[path] = sources


def sources_of(path: str) -> Optional[Dict[str, Source]]:
    return table.get(path)


def with_base(prefix: str, base: Dict[str, Source], child: str) -> Dict[str, Source]:
    """``base``'s sources mounted at ``prefix`` and marked as inherited by ``child``."""
    return {f"{prefix}{k}": (f, line, via + (child,)) for k, (f, line, via) in base.items()}
