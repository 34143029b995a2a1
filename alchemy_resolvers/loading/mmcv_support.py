"""What the MMCV loader's pieces share: the ``_base_`` dict a config sees, the text
substitutions mmengine makes before a file runs (``{{ fileDirname }}``,
``{{$ENV:default}}``, ``{{_base_.x.y}}``), and turning results into plain trees.

See :mod:`alchemy_resolvers.loading.mmcv` for the semantics.
"""
from __future__ import annotations

import copy
import io
import os
import re
import tokenize
import uuid
from typing import Any, Dict, List, Optional, Tuple

from alchemy_resolvers.loading.errors import BaseReferenceError, UnsupportedConfigError

BASE_KEY = "_base_"
_BASE_REF_RE = re.compile(r"\{\{\s*" + BASE_KEY + r"\.([\w\.]+)\s*\}\}")
REF_FUNC = "__mmcv_base_ref__"
_REF_FUNC = REF_FUNC
_ENV_RE = re.compile(r"\{\{[\'\"]?\s*\$(\w+)\s*\:\s*(\S*?)\s*[\'\"]?\}\}")


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

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """mmengine's ``ConfigDict.update``: a dict given for a key that holds a dict
        merges into it, recursively (``model.update(backbone=dict(depth=101))`` keeps
        the other backbone keys); anything else replaces the value."""
        if len(args) > 1:
            raise TypeError("update only accept one positional argument")
        other = dict(dict.items(args[0])) if args else {}
        other.update(kwargs)
        for key, value in other.items():
            if key in self and isinstance(self[key], dict) and isinstance(value, dict):
                self[key].update(value)
            else:
                self[key] = value

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

    def copy(self) -> "_AttrDict":  # type: ignore[override]
        other = _AttrDict()
        dict.update(other, self)
        return other


AttrDict = _AttrDict


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


lookup_base = _lookup_base
pre_substitute_base_refs = _pre_substitute_base_refs
substitute_base_refs = _substitute_base_refs
substitute_env_vars = _substitute_env_vars
substitute_predefined_vars = _substitute_predefined_vars
to_plain = _to_plain
type_name = _type_name
