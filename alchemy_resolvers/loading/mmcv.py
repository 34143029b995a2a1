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
  :class:`~alchemy_resolvers.loading.common.BaseReferenceError` otherwise; mmengine leaves
  its random placeholder in the string (or fails to parse a double-quoted string).
  Written as a whole quoted string (``'{{_base_.x}}'``) it substitutes the value, as
  the unquoted form does. A reference may index a list (``{{_base_.pipeline.0}}``).
- Errors name the file: syntax errors and exceptions raised while a config runs carry
  ``file:line`` (:class:`~alchemy_resolvers.loading.common.ConfigExecutionError`, original
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
relative imports of sibling config files (see :func:`_exec_read_base`), without
mmengine's ``LazyObject`` for other imports.

Python configs are code: they run with the full interpreter (as in mmengine), each
time in a fresh namespace, never imported as a module, so loading one file twice or a
base and then its child gives the same result as loading each alone. YAML and JSON
files are read with safe loaders only.
"""
from __future__ import annotations

import ast
import copy
import io
import os
import re
import sys
import tokenize
import types
import uuid
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

from alchemy_resolvers.loading.common import (
    BaseFileNotFoundError,
    BaseMergeTypeError,
    BaseReferenceError,
    ConfigExecutionError,
    DuplicateBaseKeyError,
    InheritanceCycleError,
    UnsupportedConfigError,
    parse_data_text,
    error_line,
    compile_config,
    run_config,
)

__all__ = ["load_mmcv"]

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"
DEPRECATION_KEY = "_deprecation_"
_EXTS = (".py", ".json", ".yaml", ".yml")

_BASE_REF_RE = re.compile(r"\{\{\s*" + BASE_KEY + r"\.([\w\.]+)\s*\}\}")
_REF_FUNC = "__mmcv_base_ref__"
_ENV_RE = re.compile(r"\{\{[\'\"]?\s*\$(\w+)\s*\:\s*(\S*?)\s*[\'\"]?\}\}")


def load_mmcv(path: "str | os.PathLike[str]") -> dict:
    """Load an MMCV/MMEngine config (``.py``, ``.yaml``, ``.yml`` or ``.json``).

    Equal to ``mmengine.Config.fromfile(path).to_dict()``, as plain Python. Tuples
    stay tuples here; OmegaConf 2.3 turns them into lists once the tree becomes a
    ``DictConfig``.
    """
    filename = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.isfile(filename):
        raise FileNotFoundError(f"MMCV config file not found: {filename}")
    return _to_plain(_file2dict(filename, ()))


class _AttrDict(dict):
    """What a config sees as ``_base_``: a dict with attribute access, all the way down.

    mmengine hands configs a ``ConfigDict`` (an ``addict.Dict``); configs write
    ``_base_.model.backbone.depth`` and ``_base_.train_pipeline[0].type``, so nested
    dicts, also inside lists and tuples, get attribute access too. It never leaves
    this module: :func:`_to_plain` turns it back into ``dict``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    @classmethod
    def _hook(cls, item: Any) -> Any:
        if isinstance(item, dict) and not isinstance(item, _AttrDict):
            return cls(item)
        if type(item) in (list, tuple):
            return type(item)(cls._hook(elem) for elem in item)
        return item

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, self._hook(value))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"'_base_' config has no key {name!r} (keys: {sorted(map(str, self))})"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __deepcopy__(self, memo: Dict[int, Any]) -> "_AttrDict":
        other = _AttrDict()
        memo[id(self)] = other
        for key, value in self.items():
            dict.__setitem__(other, copy.deepcopy(key, memo), copy.deepcopy(value, memo))
        return other

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def copy(self) -> "_AttrDict":  # type: ignore[override]
        other = _AttrDict()
        dict.update(other, self)
        return other


# ---------------------------------------------------------------------------- loading


def _file2dict(filename: str, chain: Tuple[str, ...]) -> dict:
    """Load one config file merged onto its bases; ``chain`` is the files loading it."""
    if filename in chain:
        cycle = " -> ".join(chain[chain.index(filename):] + (filename,))
        raise InheritanceCycleError(f"_base_ inheritance cycle: {cycle}")
    chain = chain + (filename,)
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
        if _has_read_base(tree):
            cfg_dict = _exec_read_base(tree, filename, chain)
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


# ------------------------------------------------------------------ text substitutions


def _substitute_predefined_vars(text: str, filename: str) -> str:
    dirname = os.path.dirname(filename)
    basename = os.path.basename(filename)
    values = {
        "fileDirname": dirname,
        "fileBasename": basename,
        "fileBasenameNoExtension": os.path.splitext(basename)[0],
        "fileExtname": os.path.splitext(filename)[1],
    }
    for key, value in values.items():
        value = value.replace("\\", "/")
        text = re.sub(r"\{\{\s*" + key + r"\s*\}\}", lambda _m, v=value: v, text)
    return text


def _substitute_env_vars(text: str, filename: str) -> str:
    def replace(match: "re.Match[str]") -> str:
        name, default = match.group(1), match.group(2)
        value = os.environ.get(name, default)
        if not value:
            raise UnsupportedConfigError(
                f"{filename}: environment variable {name!r} used in the config is not "
                f"set and has no default; set it, or write {{{{${name}:DEFAULT}}}}"
            )
        return value

    return _ENV_RE.sub(replace, text)


class _Refs:
    """The ``{{_base_.x}}`` references of one file, replaced by placeholder tokens."""

    def __init__(self) -> None:
        self.prefix = f"_base_ref_{uuid.uuid4().hex[:10]}_"
        self.by_token: Dict[str, str] = {}
        self.pattern: Optional["re.Pattern[str]"] = None

    def token(self, dotted: str) -> str:
        tok = f"{self.prefix}{len(self.by_token)}_"
        self.by_token[tok] = dotted
        self.pattern = None
        return tok

    def regex(self) -> "re.Pattern[str]":
        if self.pattern is None:
            self.pattern = re.compile(re.escape(self.prefix) + r"\d+_")
        return self.pattern

    def __bool__(self) -> bool:
        return bool(self.by_token)


def _pre_substitute_base_refs(text: str, filename: str, ext: str) -> Tuple[str, _Refs]:
    """Replace each ``{{_base_.x}}`` by a token the file can still be parsed with.

    In Python code outside string literals the reference becomes a call
    ``__mmcv_base_ref__("a.b")`` that returns (a copy of) the base value while the
    config runs, so ``num_classes = {{_base_.num_classes}} + 1`` works (mmengine
    substitutes only after the file ran, so there it concatenates a placeholder
    string). In JSON outside strings it becomes a quoted token (valid JSON). Inside a
    string literal, and everywhere in YAML (where a bare word is a string), the token
    is written bare, which keeps the literal valid and lets
    :func:`_substitute_base_refs` find it, whole or inside longer text.
    """
    refs = _Refs()
    matches = list(_BASE_REF_RE.finditer(text))
    if not matches:
        return text, refs
    if ext == ".py":
        spans = _python_string_spans(text)
    elif ext == ".json":
        spans = _json_string_spans(text)
    else:
        spans = None  # YAML: always bare
    out: List[str] = []
    last = 0
    for m in matches:
        inside = spans is None or any(s <= m.start() < e for s, e in spans)
        out.append(text[last:m.start()])
        if inside:
            out.append(refs.token(m.group(1)))
        elif ext == ".py":
            out.append(f"{_REF_FUNC}({m.group(1)!r})")
        else:
            out.append(f'"{refs.token(m.group(1))}"')
        last = m.end()
    out.append(text[last:])
    return "".join(out), refs


def _python_string_spans(text: str) -> List[Tuple[int, int]]:
    """Character spans of string literals and comments in Python source."""
    # Lines as the tokenizer sees them (str.splitlines would also split at form feeds).
    line_starts = [0]
    for line in io.StringIO(text):
        line_starts.append(line_starts[-1] + len(line))

    def offset(pos: Tuple[int, int]) -> int:
        row, col = pos
        return line_starts[row - 1] + col if row - 1 < len(line_starts) else len(text)

    kinds = {tokenize.STRING, tokenize.COMMENT}
    for name in ("FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END"):
        if hasattr(tokenize, name):
            kinds.add(getattr(tokenize, name))
    spans = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type in kinds:
                spans.append((offset(tok.start), offset(tok.end)))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass  # the parse that follows reports the error with file and line
    return spans


def _json_string_spans(text: str) -> List[Tuple[int, int]]:
    spans = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            start = i
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            spans.append((start, i + 1))
        i += 1
    return spans


def _lookup_base(base_cfg: Any, dotted: str, where: str) -> Any:
    value = base_cfg
    walked: List[str] = []
    for part in dotted.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, (list, tuple)) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            at = "_base_" + "".join("." + w for w in walked)
            if isinstance(value, dict):
                have = f"it has keys {sorted(map(str, value))}"
            else:
                have = f"it is of type {_type_name(value)}"
            raise BaseReferenceError(
                f"{where}: {{{{_base_.{dotted}}}}} refers to a key the bases do not "
                f"define: {at} has no {part!r} ({have})"
            )
        walked.append(part)
    return value


def _substitute_base_refs(cfg: dict, refs: _Refs, base_cfg: dict, filename: str) -> dict:
    pattern = refs.regex()

    def in_text(s: str) -> str:
        def repl(m: "re.Match[str]") -> str:
            dotted = refs.by_token[m.group(0)]
            value = _lookup_base(base_cfg, dotted, filename)
            if not isinstance(value, (str, int, float)):
                raise BaseReferenceError(
                    f"{filename}: {{{{_base_.{dotted}}}}} is used inside the text "
                    f"{s_orig!r}, but its value is of type {_type_name(value)} "
                    f"({_to_plain(value)!r}); "
                    "only str, int and float values can be put into a string. Use the "
                    "reference as a whole value instead"
                )
            return str(value)

        s_orig = pattern.sub(lambda m: "{{_base_." + refs.by_token[m.group(0)] + "}}", s)
        return pattern.sub(repl, s)

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            if value in refs.by_token:
                return copy.deepcopy(_lookup_base(base_cfg, refs.by_token[value], filename))
            if pattern.search(value):
                return in_text(value)
            return value
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if isinstance(k, str) and pattern.search(k):
                    k = in_text(k)
                out[k] = walk(v)
            if type(value) is not dict:
                try:
                    rebuilt = type(value)()
                    rebuilt.update(out)
                    return rebuilt
                except Exception:
                    return out
            return out
        if type(value) is list:
            return [walk(v) for v in value]
        if type(value) is tuple:
            return tuple(walk(v) for v in value)
        return value

    return walk(cfg)


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
    except ValueError as e:
        raise UnsupportedConfigError(
            f"{filename}:{node.lineno}: _base_ must be a literal path or list of paths "
            f"(strings), not an expression: {ast.unparse(node.value)}"  # type: ignore[attr-defined]
        ) from e
    return _normalise_base_files(value, filename)


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


# ----------------------------------------------------- read_base() (lazy-import style)


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


def _exec_read_base(tree: ast.Module, filename: str, chain: Tuple[str, ...]) -> dict:
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
            if not isinstance(stmt, ast.ImportFrom) or stmt.level == 0:
                raise UnsupportedConfigError(
                    f"{filename}:{stmt.lineno}: only relative imports of config files "
                    "(`from .base import *`) are supported inside `with read_base():`"
                )
            parts = (stmt.module or "").split(".") if stmt.module else []
            base_path = os.path.normpath(
                os.path.join(
                    os.path.dirname(filename), *([".."] * (stmt.level - 1)), *parts
                )
                + ".py"
            )
            if not os.path.isfile(base_path):
                raise BaseFileNotFoundError(
                    f"{filename}:{stmt.lineno}: read_base() import "
                    f"{'.' * stmt.level}{stmt.module or ''} not found (looked for {base_path})"
                )
            base_cfg = _file2dict(base_path, chain)
            for alias in stmt.names:
                if alias.name == "*":
                    for key, value in base_cfg.items():
                        namespace[key] = _AttrDict._hook(copy.deepcopy(value))
                    continue
                if alias.name not in base_cfg:
                    raise BaseReferenceError(
                        f"{filename}:{stmt.lineno}: cannot import {alias.name!r} from "
                        f"{base_path}: the config defines {sorted(base_cfg)}"
                    )
                namespace[alias.asname or alias.name] = _AttrDict._hook(
                    copy.deepcopy(base_cfg[alias.name])
                )
    module = ast.Module(body=body, type_ignores=[])
    ast.fix_missing_locations(module)
    _run(module, filename, namespace)
    return {
        k: v for k, v in namespace.items() if not (isinstance(k, str) and k.startswith("__"))
    }


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


def _type_name(value: Any) -> str:
    return "dict" if isinstance(value, dict) else type(value).__name__


def _to_plain(value: Any) -> Any:
    """Turn every dict (``_AttrDict``, ``OrderedDict``, ...) into a ``dict``, recursively.

    Mirrors mmengine's ``to_dict()``: every ``dict`` instance becomes a plain dict,
    lists stay lists and tuples stay tuples.
    """
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if type(value) is list:
        return [_to_plain(v) for v in value]
    if type(value) is tuple:
        return tuple(_to_plain(v) for v in value)
    if isinstance(value, tuple) and hasattr(value, "_make"):
        return type(value)._make(_to_plain(v) for v in value)  # namedtuple
    if isinstance(value, list):
        return [_to_plain(v) for v in value]
    return value
