"""AlchemyCat's text form of a config tree: ``cfg = Config()`` then one line per leaf.

``Config.to_txt()`` / ``print(cfg)`` use it with ``repr`` leaves; the converter
(``alchemy_resolvers.convert``) uses it with :class:`PySource` to write a Python
config file that imports what it needs.
"""
from __future__ import annotations

import keyword
import re
import sys
import types
from typing import Any, List, Optional, Set, Tuple

from alchemy_resolvers.authoring.node import TreeNode

__all__ = ["config_to_py_lines", "PySource", "import_path", "strip_address"]

_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")


def strip_address(text: str) -> str:
    """``text`` without memory addresses (`` at 0x7f...``), stable between runs."""
    return _ADDRESS_RE.sub("", text)


def _import_path(obj: Any) -> Optional[Tuple[str, str]]:
    """(module, qualname) when ``obj`` can be imported back by that name."""
    if isinstance(obj, types.ModuleType):
        return obj.__name__, ""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not (isinstance(module, str) and isinstance(qualname, str)):
        return None
    if "<" in qualname or module.startswith("__"):
        return None
    mod = sys.modules.get(module)
    target: Any = mod
    for part in qualname.split("."):
        target = getattr(target, part, None)
    return (module, qualname) if target is obj else None


def _attr_ok(key: Any, cls: type) -> bool:
    return (
        isinstance(key, str)
        and key.isidentifier()
        and not keyword.iskeyword(key)
        and not hasattr(cls, key)
    )


def _child(name: str, key: Any, cls: type) -> str:
    return f"{name}.{key}" if _attr_ok(key, cls) else f"{name}[{key!r}]"


class _Source:
    """Python source for values; collects the imports it needs."""

    def __init__(self) -> None:
        self.imports: Set[str] = set()
        self.failed: List[str] = []

    def __call__(self, value: Any, dotted: str) -> Optional[str]:
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value)
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                return f"float({str(value)!r})"
            return repr(value)
        if isinstance(value, (list, tuple)):
            parts = [self(v, f"{dotted}.{i}") for i, v in enumerate(value)]
            if any(p is None for p in parts):
                return None
            inner = ", ".join(parts)  # type: ignore[arg-type]
            if isinstance(value, tuple):
                return "(" + inner + ("," if len(parts) == 1 else "") + ")"
            return "[" + inner + "]"
        if type(value) is dict:
            items = []
            for k, v in value.items():
                ks, vs = self(k, dotted), self(v, f"{dotted}.{k}")
                if ks is None or vs is None:
                    return None
                items.append(f"{ks}: {vs}")
            return "{" + ", ".join(items) + "}"
        found = _import_path(value)
        if found is not None:
            module, qualname = found
            self.imports.add(f"import {module}")
            return f"{module}.{qualname}" if qualname else module
        return None


def config_to_py_lines(cfg: Any, root: str = "cfg", source: Optional[_Source] = None) -> List[str]:
    """AlchemyCat's text form of a Config: ``root = Config()``, then one line per leaf,
    per whole subtree (``.override()``) and per empty subtree (``.empty_tree()``), in
    tree order so that running the lines rebuilds the same key order. With ``source``,
    leaves are written as Python source (a comment line when impossible); without, as
    ``repr`` (``print(cfg)``)."""
    lines = [f"{root} = {type(cfg).__name__}()"]

    def walk(node: Any, name: str, dotted: str) -> None:
        if node.is_whole:
            lines.append(f"{name}.override()")
        elif not node and name != root:
            lines.append(f"{name}.empty_tree()")
        for k, v in node.items():
            child = _child(name, k, type(cfg))
            child_dotted = f"{dotted}.{k}" if dotted else str(k)
            if isinstance(v, TreeNode):
                walk(v, child, child_dotted)
                continue
            if source is None:
                lines.append(f"{child} = {v!r}")
                continue
            text = source(v, child_dotted)
            if text is None:
                source.failed.append(child_dotted)
                lines.append(f"# {child} = {strip_address(repr(v))}  # NOT WRITTEN: no Python source for this value")
            else:
                lines.append(f"{child} = {text}")

    walk(cfg, root, "")
    return lines


PySource = _Source
import_path = _import_path
