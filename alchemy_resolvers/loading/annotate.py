"""Make ``${dep:EXPR}`` usable as written, and remember where each one was loaded.

Two problems are solved here, on the parsed tree of a config file, before OmegaConf
sees it:

1. OmegaConf's grammar refuses many Python characters in an unquoted resolver argument
   (``(``, ``[``, ``<``, ``=``, ...), so ``${dep:round(0.1 * c.epochs)}`` would be a
   parse error. We find each ``${dep:...}`` / ``${rel:...}`` by balanced scanning (so
   braces, brackets and quotes inside the expression are fine) and quote its argument.
   ``$<dep:EXPR>`` as a whole value is the quote-free spelling of the same thing.
2. ``c`` in an expression is the node where the file was mounted, which Hydra decides
   later (group package, ``group@pkg``, ``# @package``). We append the depth of the
   expression's parent container below the file's root as a second argument; the
   resolver climbs that many levels at resolution time (see ``resolvers.py``).

Only values are rewritten, never keys, and nothing here evaluates anything.
"""
from __future__ import annotations

import re
from typing import Any, List, Optional, Tuple

__all__ = ["annotate_tree", "annotate_value", "as_text", "is_whole_dependency"]

_RESOLVERS = ("dep", "rel")
_OPENERS = {"(": ")", "[": "]", "{": "}"}


def annotate_tree(tree: Any, depth: int = 0) -> Any:
    """Return ``tree`` with every dep/rel interpolation quoted and depth-stamped.

    ``depth`` is the depth of ``tree`` itself below the file's root: values directly
    in the root container get depth 0.
    """
    if isinstance(tree, dict):
        return {k: _annotate_child(v, depth) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_annotate_child(v, depth) for v in tree]
    return tree


def _annotate_child(value: Any, parent_depth: int) -> Any:
    if isinstance(value, str):
        return annotate_value(value, parent_depth)
    if isinstance(value, (dict, list)):
        return annotate_tree(value, parent_depth + 1)
    return value


def annotate_value(text: str, depth: int) -> str:
    """Rewrite the dep/rel interpolations in one string value (see module doc)."""
    stripped = text.strip()
    if stripped.startswith("$<dep:") and stripped.endswith(">"):
        return _interpolation("dep", stripped[len("$<dep:"):-1].strip(), depth)
    if "${" not in text:
        return text
    out: List[str] = []
    i = 0
    while i < len(text):
        found = _next_interpolation(text, i)
        if found is None:
            out.append(text[i:])
            break
        start, name, arg_start, end = found
        out.append(text[i:start])
        out.append(_rewrite(name, text[arg_start:end], depth, text[start:end + 1]))
        i = end + 1
    return "".join(out)


def _next_interpolation(text: str, pos: int) -> Optional[Tuple[int, str, int, int]]:
    """Next ``${dep:``/``${rel:`` at or after ``pos``: (start, name, arg start, index of
    the closing brace); ``None`` when there is none or it is unbalanced (left to
    OmegaConf, whose error message is then the right one)."""
    best: Optional[Tuple[int, str]] = None
    for name in _RESOLVERS:
        at = text.find("${" + name + ":", pos)
        if at >= 0 and (best is None or at < best[0]):
            best = (at, name)
    if best is None:
        return None
    start, name = best
    arg_start = start + len(name) + 3
    end = _closing_brace(text, arg_start)
    if end is None:
        return None
    return start, name, arg_start, end


def _closing_brace(text: str, pos: int) -> Optional[int]:
    stack: List[str] = []
    quote: Optional[str] = None
    i = pos
    while i < len(text):
        ch = text[i]
        if quote is not None:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in _OPENERS:
            stack.append(_OPENERS[ch])
        elif ch in ")]}":
            if not stack:
                return i if ch == "}" else None
            if stack.pop() != ch:
                return None
        i += 1
    return None


def _rewrite(name: str, arg: str, depth: int, original: str) -> str:
    arg = arg.strip()
    if "${" in arg:
        # A nested interpolation in the argument: the user is writing OmegaConf
        # grammar directly; keep it as written.
        return original
    single = _split_quoted(arg)
    if single is not None:
        expr, rest = single
        if not rest:  # the whole expression quoted, as OmegaConf needs on the command line
            return _interpolation(name, expr, depth)
        if rest.startswith(","):  # already has further arguments (e.g. an explicit depth)
            return original
        # an expression that begins with a string literal: `'run_' + str(c.seed)`
    return _interpolation(name, arg, depth)


def _split_quoted(arg: str) -> Optional[Tuple[str, str]]:
    """If ``arg`` starts with a quoted string, return (its content, what follows)."""
    if not arg or arg[0] not in "'\"":
        return None
    quote = arg[0]
    chars: List[str] = []
    i = 1
    while i < len(arg):
        ch = arg[i]
        if ch == "\\" and i + 1 < len(arg) and arg[i + 1] == quote:
            chars.append(quote)
            i += 2
            continue
        if ch == quote:
            return "".join(chars), arg[i + 1:].strip()
        chars.append(ch)
        i += 1
    return None


def _interpolation(name: str, expr: str, depth: int) -> str:
    if "'" in expr and '"' not in expr:
        quoted = '"' + expr + '"'
    else:
        quoted = "'" + expr.replace("'", "\\'") + "'"
    return "${" + name + ":" + quoted + "," + str(depth) + "}"


# ----------------------------------------------------------- foreign formats: text

_DOLLAR_BRACE = re.compile(r"(\\*)\$\{")


def is_whole_dependency(text: str) -> bool:
    """``text`` is exactly one ``${dep:...}``/``${rel:...}`` (or ``$<dep:...>``): the one
    spelling of hydra-alchemy's own that a foreign config's strings may hold."""
    stripped = text.strip()
    if stripped.startswith("$<dep:") and stripped.endswith(">"):
        return True
    found = _next_interpolation(stripped, 0)
    return found is not None and found[0] == 0 and found[3] == len(stripped) - 1


def as_text(tree: Any) -> Any:
    """``tree`` with every ``${`` in its string values escaped for OmegaConf, so a job
    sees the text that MMCV, mmengine and yacs would give (``'${HOME}/data'``, a format
    string) instead of an interpolation. A whole value that is one dependency stays
    one (see :func:`is_whole_dependency`). Keys are never interpolated: left as
    they are. Backslashes before ``${`` are doubled, as OmegaConf's escaping needs."""
    if isinstance(tree, str):
        if "${" not in tree or is_whole_dependency(tree):
            return tree
        return _DOLLAR_BRACE.sub(lambda m: "\\" * (2 * len(m.group(1))) + "\\${", tree)
    if isinstance(tree, dict):
        return {k: as_text(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(as_text(v) for v in tree)
    return tree
