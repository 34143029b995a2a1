"""mmengine's newer "lazy import" config style, ``with read_base(): from .base import *``.

Part of the MMCV loader (:mod:`alchemy_resolvers.loading.mmcv`): bases named by the
relative imports are loaded by the caller's ``load_base`` (the ``_base_`` loader, so
cycles and nested bases behave the same in both styles).
"""
from __future__ import annotations

import ast
import copy
import os
from typing import Any, Callable, Dict, List, Tuple

from alchemy_resolvers.loading.common import compile_config, run_config
from alchemy_resolvers.loading.errors import BaseFileNotFoundError, BaseReferenceError, UnsupportedConfigError
from alchemy_resolvers.loading.mmcv_support import AttrDict as _AttrDict

__all__ = ["has_read_base", "exec_read_base"]


def _is_read_base_with(node: ast.AST) -> bool:
    if not isinstance(node, ast.With) or len(node.items) != 1:
        return False
    expr = node.items[0].context_expr
    if not isinstance(expr, ast.Call):
        return False
    func = expr.func
    return (isinstance(func, ast.Name) and func.id == "read_base") or (
        isinstance(func, ast.Attribute) and func.attr == "read_base"
    )


def _has_read_base(tree: ast.Module) -> bool:
    return any(_is_read_base_with(n) for n in tree.body)


def exec_read_base(
    tree: ast.Module, filename: str, chain: Tuple[str, ...], load_base: Callable[[str, Tuple[str, ...]], dict]
) -> dict:
    """Run a config written in mmengine's newer style::

        with read_base():
            from .._base_.models.resnet50 import *
            from .._base_.schedules.sgd import optim_wrapper as optim

    Each relative import inside ``read_base()`` names a sibling config file
    (``from ..a.b import x`` is ``../a/b.py``); that file is loaded by this module (in
    a fresh namespace, with its own bases) and the imported names are bound in this
    file's namespace, as deep copies, before the rest of it runs. The result is the
    namespace after the file ran; names imported from bases are kept (they are the
    inherited config, as in mmengine). Other imports run as ordinary Python imports:
    mmengine's ``LazyObject`` (which turns ``from torch.optim import SGD`` into the
    string ``'torch.optim.SGD'`` in ``to_dict()``) is not reproduced, and top-level
    modules and functions are dropped as in the ``_base_`` style (mmengine's lazy mode
    keeps them in the dict, where they are of no use to a config tree).
    ``from mmengine.config import read_base`` is skipped, so mmengine need not be
    installed.
    """
    namespace: Dict[str, Any] = {"__file__": filename, "__name__": "__config__"}
    body: List[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name == "read_base" for a in node.names):
            # ``from mmengine.config import read_base`` only serves the ``with``
            # block we interpret here: drop it, so mmengine need not be installed.
            names = [a for a in node.names if a.name != "read_base"]
            if not names:
                continue
            node = ast.ImportFrom(module=node.module, names=names, level=node.level)
        if not _is_read_base_with(node):
            body.append(node)
            continue
        for stmt in node.body:  # type: ignore[attr-defined]
            _bind_base_import(stmt, filename, chain, load_base, namespace)
    module = ast.Module(body=body, type_ignores=[])
    ast.fix_missing_locations(module)
    run_config(compile_config(module, filename), filename, namespace, passthrough=(BaseReferenceError,))
    return {
        k: v for k, v in namespace.items() if not (isinstance(k, str) and k.startswith("__"))
    }


def _bind_base_import(stmt: ast.stmt, filename: str, chain: Tuple[str, ...],
                      load_base: Callable[[str, Tuple[str, ...]], dict], namespace: Dict[str, Any]) -> None:
    """Load the base file one ``from .x import a`` inside ``read_base()`` names and bind
    the imported names (deep copies) in ``namespace``."""
    if not isinstance(stmt, ast.ImportFrom) or stmt.level == 0:
        raise UnsupportedConfigError(
            f"{filename}:{stmt.lineno}: only relative imports of config files "
            "(`from .base import *`) are supported inside `with read_base():`",
            file=filename,
        )
    parts = stmt.module.split(".") if stmt.module else []
    base_path = os.path.normpath(
        os.path.join(os.path.dirname(filename), *([".."] * (stmt.level - 1)), *parts) + ".py"
    )
    if not os.path.isfile(base_path):
        raise BaseFileNotFoundError(
            f"{filename}:{stmt.lineno}: read_base() import "
            f"{'.' * stmt.level}{stmt.module or ''} not found (looked for {base_path})",
            file=filename,
        )
    base_cfg = load_base(base_path, chain)
    for alias in stmt.names:
        if alias.name == "*":
            for key, value in base_cfg.items():
                namespace[key] = _AttrDict._hook(copy.deepcopy(value))
            continue
        if alias.name not in base_cfg:
            raise BaseReferenceError(
                f"{filename}:{stmt.lineno}: cannot import {alias.name!r} from "
                f"{base_path}: the config defines {sorted(base_cfg)}",
                file=filename, key=alias.name,
            )
        namespace[alias.asname or alias.name] = _AttrDict._hook(copy.deepcopy(base_cfg[alias.name]))


has_read_base = _has_read_base
