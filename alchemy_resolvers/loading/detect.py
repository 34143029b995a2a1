"""Tell which loader a ``.py`` config file needs, without running it.

Hydra's search path may hold AlchemyCat ``Config`` files, MMCV/MMEngine ``_base_``
configs, YACS defaults and plain modules of variables side by side, all named
``*.py``. Running a file to find out what it is would run it with the wrong loader
(and twice), so the decision is made on the file's syntax tree alone.
"""
from __future__ import annotations

import ast
import os
from typing import Iterator, List, Literal, Set

from alchemy_resolvers.loading.common import by_stamp, parsed_python
from alchemy_resolvers.loading.errors import ConfigExecutionError

__all__ = ["detect_python_format", "detect_python_source_format", "PythonFormat"]

PythonFormat = Literal["alchemy", "mmcv", "yacs", "plain"]

_ALCHEMY_PACKAGES = ("alchemy_resolvers", "alchemy_cat")
_ALCHEMY_CLASSES = {"Config", "Cfg2Tune"}
_ALCHEMY_TARGETS = {"cfg", "config"}
_YACS_CLASSES = {"CN", "CfgNode"}
_YACS_FUNCTIONS = {"get_default_config", "get_cfg"}
_YACS_WORDS = ("CN", "CfgNode", "get_cfg")


def detect_python_format(path: "str | os.PathLike[str]") -> PythonFormat:
    """Return ``"alchemy"``, ``"mmcv"``, ``"yacs"`` or ``"plain"`` for a ``.py`` config.

    Checked in this order, on top-level statements:

    - ``alchemy``: ``cfg = Config(...)`` / ``Cfg2Tune(...)`` (or ``config = ...``) where
      the class comes from ``alchemy_resolvers`` or ``alchemy_cat`` (imported by name,
      aliased, or reached through an imported module: ``dl_config.Config(...)``).
    - ``mmcv``: an assignment to ``_base_``, or a ``with read_base():`` block.
    - ``yacs``: a name bound to ``CN()`` / ``CfgNode()`` (``_C = CN()``; also
      ``yacs.config.CfgNode()`` and aliases of it), a ``get_cfg_defaults`` function, or
      with ``CfgNode`` imported from yacs/fvcore/detectron2, a ``get_default_config``
      (torchreid) or ``get_cfg`` (detectron2, SlowFast) function.
    - ``plain``: anything else, a module of top-level variables; ``load_mmcv`` reads
      it like an MMCV config without ``_base_``.

    A file that does not parse raises :class:`~alchemy_resolvers.loading.common.ConfigExecutionError`
    naming ``file:line``.
    """
    filename = os.path.abspath(os.fspath(path))

    def detect() -> PythonFormat:
        with open(filename, encoding="utf-8") as f:
            source = f.read()
        return _detect_tree(parsed_python(filename), source)

    return by_stamp("python-format", filename, detect)  # type: ignore[no-any-return]


def detect_python_source_format(source: str, filename: str = "<config>") -> PythonFormat:
    """:func:`detect_python_format` for source text already read."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as e:
        raise ConfigExecutionError(
            f"{filename}:{e.lineno}: syntax error in config: {e.msg}", filename, e.lineno
        ) from e
    return _detect_tree(tree, source)


def _detect_tree(tree: ast.Module, source: str) -> PythonFormat:
    # each check walks the tree: skip those whose names the text does not even hold
    if any(p in source for p in _ALCHEMY_PACKAGES) and _is_alchemy(tree):
        return "alchemy"
    if ("_base_" in source or "read_base" in source) and _is_mmcv(tree):
        return "mmcv"
    if any(word in source for word in _YACS_WORDS) and _is_yacs(tree):
        return "yacs"
    return "plain"


def _targets(node: ast.stmt) -> Set[str]:
    names: Set[str] = set()
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    else:
        return names
    while targets:
        t = targets.pop()
        if isinstance(t, ast.Name):
            names.add(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            targets.extend(t.elts)
    return names


def _value(node: ast.stmt) -> "ast.expr | None":
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return node.value
    return None


def _imports(tree: ast.Module, packages: tuple, classes: Set[str]) -> "tuple[Set[str], Set[str]]":
    """Local names bound to ``classes`` imported from ``packages``, and local names of
    modules of those packages (``import alchemy_cat.dl_config as dc`` binds ``dc``)."""
    class_names: Set[str] = set()
    module_names: Set[str] = set()
    for node in _statements(tree.body):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in packages:
                continue
            for alias in node.names:
                if alias.name in classes:
                    class_names.add(alias.asname or alias.name)
                else:  # ``from alchemy_cat import dl_config``: maybe a module
                    module_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in packages:
                    module_names.add(alias.asname or alias.name.split(".")[0])
    return class_names, module_names


def _statements(body: List[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, also inside blocks and functions, without visiting expressions
    (imports are statements: walking every expression node costs most of a detection)."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                stack.extend(reversed([n for n in inner if isinstance(n, (ast.stmt, ast.excepthandler, getattr(ast, "match_case", ast.stmt)))]))


def _calls_class(value: "ast.expr | None", class_names: Set[str], module_names: Set[str], classes: Set[str]) -> bool:
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Name):
        return func.id in class_names
    if isinstance(func, ast.Attribute) and func.attr in classes:
        root = func.value
        while isinstance(root, ast.Attribute):
            root = root.value
        return isinstance(root, ast.Name) and root.id in module_names
    return False


def _is_alchemy(tree: ast.Module) -> bool:
    class_names, module_names = _imports(tree, _ALCHEMY_PACKAGES, _ALCHEMY_CLASSES)
    if not class_names and not module_names:
        return False
    for node in tree.body:
        if _targets(node) & _ALCHEMY_TARGETS and _calls_class(
            _value(node), class_names, module_names, _ALCHEMY_CLASSES
        ):
            return True
    return False


def _is_mmcv(tree: ast.Module) -> bool:
    for node in tree.body:
        if "_base_" in _targets(node):
            return True
        if isinstance(node, ast.With):
            for item in node.items:
                expr = item.context_expr
                if isinstance(expr, ast.Call):
                    func = expr.func
                    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                    if name == "read_base":
                        return True
    return False


def _is_yacs(tree: ast.Module) -> bool:
    class_names, module_names = _imports(
        tree, ("yacs", "fvcore", "detectron2"), {"CfgNode", "CN"}
    )
    imports_cfgnode = bool(class_names or module_names)
    class_names |= _YACS_CLASSES  # ``CN()`` is the universal spelling
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # get_cfg_defaults (yacs's README) alone; get_default_config (torchreid)
            # and get_cfg (detectron2, SlowFast) with a CfgNode import
            if node.name == "get_cfg_defaults" or (imports_cfgnode and node.name in _YACS_FUNCTIONS):
                return True
            continue
        if _targets(node) and _calls_class(_value(node), class_names, module_names, {"CfgNode", "CN"}):
            return True
    return False
