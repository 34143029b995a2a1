"""One source for each leaf of a composed config: the last writer wins.

Order of precedence, highest first (Hydra's own order):

1. a command-line override (``hydra.overrides.task``) of the leaf or a node above it:
   ``override model.depth=50``. A value swept from the command line looks the same to
   the job, so it reads ``override`` too; a ``Param2Tune`` axis or ``P_DEP`` that the
   alchemy sweeper passes as an override is recognised by the file's lowered value
   (``sweep axis KEY (Param2Tune at FILE:LINE)``, ``P_DEP at FILE:LINE, ...``);
2. a ``${dep:EXPR}`` value: ``dep ${dep:EXPR} from [keys it reads]``;
3. the config files it was composed from (the primary config, the chosen group
   options, structured configs): among those that define the leaf, the one whose value
   is the final value. None, or several that disagree: ``unknown`` — a wrong source is
   worse than none.
"""
from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set

from alchemy_resolvers.provenance.lines import Source

__all__ = ["Candidate", "UNKNOWN", "attribute", "render", "dep_keys", "override_keys"]

UNKNOWN = "unknown"

_TOKEN = re.compile(r"(\$\{alchemy_\w+:)[A-Za-z0-9]+")
_DEP = re.compile(r"^\$\{dep:'(.*)',(-?\d+)\}$", re.S)


@dataclass
class Candidate:
    """A config the job was composed from, mounted at ``package`` (dotted, ``""`` = root):
    its leaves' values and the source text of each leaf it sets."""

    package: str
    values: Dict[str, Any]
    sources: Dict[str, str] = field(default_factory=dict)

    def key(self, leaf: str) -> str:
        return f"{self.package}.{leaf}" if self.package else leaf


def render(source: Source, base_dir: Optional[str]) -> str:
    """``conf/a.py:12 (caps of conf/b.py)``: paths relative to ``base_dir`` when inside it."""
    path, line, via = source
    text = _rel(path, base_dir) + (f":{line}" if line else "")
    if via:
        text += " (" + ", ".join(f"caps of {_rel(v, base_dir)}" for v in via) + ")"
    return text


def _rel(path: str, base_dir: Optional[str]) -> str:
    if base_dir:
        rel = os.path.relpath(path, base_dir)
        if not rel.startswith(".."):
            return rel
    return path


def override_keys(overrides: Iterable[str], groups: Set[str]) -> Dict[str, str]:
    """Dotted key -> override text, for overrides that set a value (not a group choice,
    not a deletion); later overrides win."""
    out: Dict[str, str] = {}
    for text in overrides:
        if text.startswith("~") or "=" not in text:
            continue
        key = text.split("=", 1)[0].lstrip("+")
        if key in groups or key.split("@")[0] in groups or key.startswith("hydra.") or "/" in key:
            continue
        out[key] = text
    return out


def dep_keys(expr: str, leaf: str, depth: int) -> List[str]:
    """The keys a ``${dep:EXPR}`` at ``leaf`` reads: ``c.a.b`` chains, with ``c`` the
    node ``depth`` levels above the leaf's parent (or the root when ``depth`` < 0)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return []
    parent = leaf.split(".")[:-1]
    mount = parent[: len(parent) - depth] if 0 <= depth <= len(parent) else []
    found: List[str] = []
    for node in ast.walk(tree):
        chain = _chain(node)
        if chain and not any(k.startswith(".".join(mount + chain) + ".") for k in found):
            found.append(".".join(mount + chain))
    # keep the longest chains only (``c.a.b`` also walks ``c.a``)
    return sorted(k for k in set(found) if not any(o.startswith(k + ".") for o in found))


def _chain(node: ast.AST) -> Optional[List[str]]:
    names: List[str] = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id == "c" and names:
        return names[::-1]
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return _TOKEN.sub(r"\1", a) == _TOKEN.sub(r"\1", b)
    return type(a) is type(b) and a == b


def attribute(final: Dict[str, Any], overrides: Sequence[str], groups: Set[str],
              candidates: Sequence[Candidate]) -> Dict[str, str]:
    """Source text for every leaf of ``final`` (dotted key -> raw value)."""
    by_key = override_keys(overrides, groups)
    out: Dict[str, str] = {}
    for leaf, value in final.items():
        overridden = _override_of(leaf, by_key)
        if overridden:
            out[leaf] = _tuned_of(leaf, candidates) or overridden
        else:
            out[leaf] = _dep_of(leaf, value) or _file_of(leaf, value, candidates)
    return out


def _tuned_of(leaf: str, candidates: Sequence[Candidate]) -> Optional[str]:
    """A value the alchemy sweeper set per job: a ``Param2Tune`` axis or a ``P_DEP``
    (the sweeper passes both as overrides; the file's lowered value tells them apart)."""
    for cand in reversed(candidates):
        rel = _relative(leaf, cand.package)
        value = cand.values.get(rel) if rel is not None else None
        if not isinstance(value, str):
            continue
        where = cand.sources.get(rel, UNKNOWN)
        if value.startswith("${alchemy_param:"):
            return f"sweep axis {leaf} (Param2Tune at {where})"
        if value.startswith("${alchemy_pdep:"):
            return f"P_DEP at {where}, computed for this job"
    return None


def _override_of(leaf: str, by_key: Dict[str, str]) -> Optional[str]:
    parts = leaf.split(".")
    for n in range(len(parts), 0, -1):
        text = by_key.get(".".join(parts[:n]))
        if text is not None:
            return f"override {text}"
    return None


def _dep_of(leaf: str, value: Any) -> Optional[str]:
    match = _DEP.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    expr = match.group(1).replace("\\'", "'")
    keys = dep_keys(expr, leaf, int(match.group(2)))
    return f"dep ${{dep:{expr}}} from [{', '.join(keys)}]"


def _file_of(leaf: str, value: Any, candidates: Sequence[Candidate]) -> str:
    found: List[str] = []
    for cand in candidates:
        rel = _relative(leaf, cand.package)
        if rel is None or rel not in cand.values or not _same(cand.values[rel], value):
            continue
        found.append(cand.sources.get(rel, UNKNOWN))
    if len(set(found)) == 1:
        return found[0]
    return UNKNOWN


def _relative(leaf: str, package: str) -> Optional[str]:
    if not package:
        return leaf
    return leaf[len(package) + 1:] if leaf.startswith(package + ".") else None
