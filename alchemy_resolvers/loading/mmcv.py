"""MMCV / MMEngine ``_base_`` configs, loaded the way ``mmengine.Config.fromfile`` does.

The result equals ``mmengine.Config.fromfile(path).to_dict()`` (checked against
mmengine 0.10 by ``tests/test_format_mmcv.py``) but is a plain tree: nested ``dict``,
``list``, ``tuple`` (kept as tuples, as mmengine keeps them), primitives, and whatever
other objects the file binds (classes, builtin functions). mmengine is not needed.

Semantics, in mmengine's order, for one file:

1. Text substitutions: ``{{ fileDirname }}``, ``{{ fileBasename }}``,
   ``{{ fileBasenameNoExtension }}``, ``{{ fileExtname }}`` (backslashes become ``/``)
   and environment variables ``{{$NAME:default}}``.
2. ``_base_`` (a literal path or list of paths, relative to the file) is read without
   running the file; each base loads depth-first in its own fresh namespace, so a
   base's variables are evaluated inside the base. Sibling bases must not share a
   top-level key.
3. The file runs with ``_base_`` bound to the merged bases (attribute access, like
   mmengine's ``ConfigDict``); top-level names starting with ``__``, functions
   (``types.FunctionType``, lambdas included) and modules are dropped. Classes and
   builtin functions (``math.sqrt``) are kept, as mmengine keeps them.
4. ``{{_base_.a.b}}`` references are replaced by the bases' values.
5. The file's dict merges into the bases: dicts recursively, anything else replaced;
   ``_delete_=True`` replaces the base dict instead. On a key the base lacks, mmengine
   leaves ``_delete_`` in the result, and so do we (results must equal mmengine's).

Where we are deliberately better than mmengine:

- ``{{_base_.x}}`` inside a larger string (``'{{_base_.data_root}}images/'``) gives
  the text with the value put in when the value is a ``str``/``int``/``float``, and a
  :class:`~alchemy_resolvers.loading.errors.BaseReferenceError` otherwise; mmengine leaves
  its random placeholder in the string (or fails to parse a double-quoted string).
  Written as a whole quoted string (``'{{_base_.x}}'``) it substitutes the value, as
  the unquoted form does. A reference may index a list (``{{_base_.pipeline.0}}``).
- Errors name the file: syntax errors and exceptions raised while a config runs carry
  ``file:line`` (:class:`~alchemy_resolvers.loading.errors.ConfigExecutionError`, original
  chained); a missing base names the file asking for it and the path looked for; a
  duplicate key names the key and both base files; a dict over a non-dict names the
  file and the dotted key; a cycle of bases is an error instead of a RecursionError.
- ``__file__`` is defined while a config runs (mmengine leaves it undefined).

Not provided: package-scoped bases (``'mmdet::configs/...'``, which need the installed
OpenMMLab package: an error says so), ``custom_imports`` (kept as a value, not
imported), mmengine's refusal of the reserved top-level keys ``filename``, ``text``,
``pretty_text`` and ``env_variables``, and mmengine's switch to "lazy import" mode for
a plain config that imports a non-standard-library module (we run such a file as
written). The newer ``with read_base(): from .base import *`` style is supported for
relative imports of sibling config files (see :mod:`~alchemy_resolvers.loading.mmcv_read_base`), without
mmengine's ``LazyObject`` for other imports.

Python configs are code: they run with the full interpreter (as in mmengine), each
time in a fresh namespace, never imported as a module, so loading one file twice or a
base and then its child gives the same result as loading each alone. YAML and JSON
files are read with the one YAML loader (OmegaConf's rules) and ``json``.

The pieces: text substitutions and the ``_base_`` dict in ``mmcv_support``, the
``read_base()`` style in ``mmcv_read_base``; this module loads files and merges.
"""
from __future__ import annotations

import ast
import copy
import os
import sys
import types
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

from alchemy_resolvers.expr import ExpressionNameError, safe_eval
from alchemy_resolvers.loading import cycles
from alchemy_resolvers.loading.common import compile_config, run_config
from alchemy_resolvers.loading.errors import (
    BaseFileNotFoundError,
    BaseMergeTypeError,
    BaseReferenceError,
    ConfigExecutionError,
    ConfigFileNotFoundError,
    DuplicateBaseKeyError,
    UnsupportedConfigError,
)
from alchemy_resolvers.loading.mmcv_read_base import exec_read_base, has_read_base
from alchemy_resolvers.loading.mmcv_support import (
    BASE_KEY,
    REF_FUNC as _REF_FUNC,
    AttrDict as _AttrDict,
    lookup_base as _lookup_base,
    pre_substitute_base_refs as _pre_substitute_base_refs,
    substitute_base_refs as _substitute_base_refs,
    substitute_env_vars as _substitute_env_vars,
    substitute_predefined_vars as _substitute_predefined_vars,
    to_plain as _to_plain,
    type_name as _type_name,
)
from alchemy_resolvers.loading.yaml_loader import parse_data_text

__all__ = ["load_mmcv"]

DELETE_KEY = "_delete_"
DEPRECATION_KEY = "_deprecation_"
_EXTS = (".py", ".json", ".yaml", ".yml")


def load_mmcv(path: "str | os.PathLike[str]") -> dict:
    """Load an MMCV/MMEngine config (``.py``, ``.yaml``, ``.yml`` or ``.json``).

    Equal to ``mmengine.Config.fromfile(path).to_dict()``, as plain Python. Tuples
    stay tuples here; OmegaConf 2.3 turns them into lists once the tree becomes a
    ``DictConfig``.
    """
    filename = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isfile(filename):
        raise ConfigFileNotFoundError(f"MMCV config file not found: {filename}", file=filename)
    return _to_plain(_file2dict(filename, ()))


# ---------------------------------------------------------------------------- loading


def _file2dict(filename: str, chain: Tuple[str, ...]) -> dict:
    """Load one config file merged onto its bases; ``chain`` is the files loading it."""
    chain = cycles.enter(chain, filename, "_base_ inheritance")
    ext = os.path.splitext(filename)[1]
    if ext not in _EXTS:
        raise UnsupportedConfigError(
            f"{filename}: MMCV configs must be .py, .json, .yaml or .yml files"
        )
    with open(filename, encoding="utf-8") as f:
        text = f.read()
    text = _substitute_predefined_vars(text, filename)
    text = _substitute_env_vars(text, filename)
    text, refs = _pre_substitute_base_refs(text, filename, ext)

    if ext == ".py":
        tree = _parse_python(text, filename)
        if has_read_base(tree):
            cfg_dict = exec_read_base(tree, filename, chain, _file2dict)
            base_cfg: dict = _AttrDict()
        else:
            base_files = _python_base_files(tree, filename)
            base_cfg = _load_bases(base_files, filename, chain)
            cfg_dict = _exec_python(tree, filename, base_cfg)
    else:
        cfg_dict = parse_data_text(text, filename, ext)
        base_files = _normalise_base_files(cfg_dict.get(BASE_KEY, []), filename)
        base_cfg = _load_bases(base_files, filename, chain)

    for key, value in list(cfg_dict.items()):
        if isinstance(value, (types.FunctionType, types.ModuleType)):
            del cfg_dict[key]

    if DEPRECATION_KEY in cfg_dict:
        info = cfg_dict.pop(DEPRECATION_KEY)
        msg = f"The config file {filename} will be deprecated in the future."
        if isinstance(info, dict):
            if "expected" in info:
                msg += f" Please use {info['expected']} instead."
            if "reference" in info:
                msg += f" More information can be found at {info['reference']}"
        warnings.warn(msg, DeprecationWarning, stacklevel=2)

    if refs:
        cfg_dict = _substitute_base_refs(cfg_dict, refs, base_cfg, filename)
    cfg_dict.pop(BASE_KEY, None)
    merged = _merge_a_into_b(cfg_dict, base_cfg, filename, ())
    return {k: v for k, v in merged.items() if not (isinstance(k, str) and k.startswith("__"))}


def _load_bases(base_files: Sequence[str], filename: str, chain: Tuple[str, ...]) -> _AttrDict:
    base_cfg = _AttrDict()
    origin: Dict[str, str] = {}
    for rel in base_files:
        base_path = _resolve_base(rel, filename)
        sub_cfg = _file2dict(base_path, chain)
        duplicates = [k for k in sub_cfg if k in base_cfg]
        if duplicates:
            lines = "; ".join(
                f"{k!r} is defined in both {origin[k]} and {base_path}" for k in duplicates
            )
            raise DuplicateBaseKeyError(
                f"{filename}: duplicate top-level key among its _base_ files "
                f"(mmengine forbids sibling bases from sharing a key): {lines}. "
                "Define the key in only one base, or set it in this file instead"
            )
        for key, value in sub_cfg.items():
            base_cfg[key] = value
            origin[key] = base_path
    return base_cfg


def _resolve_base(rel: str, filename: str) -> str:
    if "::" in rel:
        raise UnsupportedConfigError(
            f"{filename}: base {rel!r} names a config inside an installed OpenMMLab "
            "package ('scope::path'); package-scoped bases are not supported: copy the "
            "base next to this file and use a relative path"
        )
    path = os.path.normpath(os.path.join(os.path.dirname(filename), os.path.expanduser(rel)))
    if not os.path.isfile(path):
        raise BaseFileNotFoundError(
            f"{filename}: _base_ file {rel!r} not found (looked for {path})"
        )
    return path


def _normalise_base_files(value: Any, filename: str) -> List[str]:
    files = list(value) if isinstance(value, (list, tuple)) else [value]
    for item in files:
        if not isinstance(item, str):
            raise UnsupportedConfigError(
                f"{filename}: _base_ must be a path or a list of paths (strings), "
                f"got {value!r}"
            )
    return files

# ------------------------------------------------------------------------ python files


def _parse_python(text: str, filename: str) -> ast.Module:
    try:
        return ast.parse(text, filename=filename)
    except SyntaxError as e:
        raise ConfigExecutionError(
            f"{filename}:{e.lineno}: syntax error in config: {e.msg}", filename, e.lineno
        ) from e


def _is_base_assign(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == BASE_KEY
    )


def _python_base_files(tree: ast.Module, filename: str) -> List[str]:
    node = next((n for n in tree.body if _is_base_assign(n)), None)
    if node is None:
        return []
    try:
        value = ast.literal_eval(node.value)  # type: ignore[attr-defined]
    except ValueError:
        value = _base_expression(node, filename)
    return _normalise_base_files(value, filename)


def _base_expression(node: ast.Assign, filename: str) -> Any:
    """The value of a ``_base_`` that is an expression, not a literal
    (``['i3d_' + 'kinetics.py']`` in mmaction2). mmengine evaluates it on its own,
    before the file runs, so it cannot read the file's variables; the safe evaluator
    gives the same values for the expressions that can work (concatenation, f-strings,
    comprehensions, str methods)."""
    text = ast.unparse(node.value)
    try:
        return safe_eval(text, {})
    except ExpressionNameError as e:
        raise UnsupportedConfigError(
            f"{filename}:{node.lineno}: _base_ = {text} reads a variable: mmengine evaluates "
            f"`_base_` before the file runs, without its variables ({e})",
            file=filename, key=BASE_KEY, hint="write the paths in the _base_ expression itself",
        ) from None
    except UnsupportedConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - any failure: say which line and why
        raise UnsupportedConfigError(
            f"{filename}:{node.lineno}: cannot evaluate _base_ = {text}: {e}",
            file=filename, key=BASE_KEY, hint="write _base_ as a path or a list of paths",
        ) from None


class _RemoveBaseAssign(ast.NodeTransformer):
    def visit_Assign(self, node: ast.Assign) -> Optional[ast.Assign]:
        return None if _is_base_assign(node) else node


def _exec_python(tree: ast.Module, filename: str, base_cfg: dict) -> dict:
    tree = _RemoveBaseAssign().visit(tree)
    ast.fix_missing_locations(tree)
    def base_ref(dotted: str) -> Any:
        where = f"{filename}:{sys._getframe(1).f_lineno}"
        return copy.deepcopy(_lookup_base(base_cfg, dotted, where))

    namespace: Dict[str, Any] = {
        BASE_KEY: base_cfg,
        _REF_FUNC: base_ref,
        "__file__": filename,
        "__name__": "__config__",
    }
    _run(tree, filename, namespace)
    return {
        k: v
        for k, v in namespace.items()
        if k != BASE_KEY and not (isinstance(k, str) and k.startswith("__"))
    }


def _run(tree: ast.Module, filename: str, namespace: Dict[str, Any]) -> None:
    run_config(compile_config(tree, filename), filename, namespace, passthrough=(BaseReferenceError,))


# ------------------------------------------------------------------------------ merge


def _merge_a_into_b(a: dict, b: dict, filename: str, path: Tuple[str, ...]) -> dict:
    """mmengine's ``Config._merge_a_into_b``, with errors that name file and key."""
    b = dict(b)
    for k, v in a.items():
        if isinstance(v, dict):
            v = dict(v)
            # ``_delete_`` is only consumed when the base has the key: mmengine leaves
            # it in the result otherwise, and results must equal mmengine's.
            if k in b and not v.pop(DELETE_KEY, False):
                if not isinstance(b[k], dict):
                    dotted = ".".join(map(str, path + (k,)))
                    raise BaseMergeTypeError(
                        f"{filename}: key {dotted!r} is a dict in this config but of type "
                        f"{_type_name(b[k])} ({b[k]!r}) in its _base_; a dict can only "
                        f"merge into a dict. Set `{DELETE_KEY}=True` in the dict to "
                        "replace the base value instead"
                    )
                b[k] = _merge_a_into_b(v, b[k], filename, path + (k,))
            else:
                b[k] = v
        else:
            b[k] = v
    return b


