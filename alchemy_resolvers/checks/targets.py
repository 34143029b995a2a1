"""``_target_`` entries: does the target import, and does it accept the keys given?

A typo in a ``_target_`` or one of its keys fails every job of a sweep, each after its
start-up cost; found here it fails none. The rules are those of Hydra's
``instantiate``: the target is a dotted import path (``pkg.module.Name``, attributes
after the module allowed), every key but Hydra's reserved ones is passed by keyword
(also with ``_partial_: true``), nested ``_target_`` nodes are instantiated too.

A target whose signature cannot be read (``inspect.signature`` raises, e.g. some
builtins) or that takes ``**kwargs`` accepts any key. Missing required arguments are
not reported: the task may pass them (``instantiate(cfg.model, n_classes=10)``).
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Dict, List, Optional, Tuple, Union

__all__ = ["RESERVED_KEYS", "TargetIssue", "TargetImportError", "TargetChecker", "locate"]

#: Keys of a ``_target_`` node that Hydra's ``instantiate`` reads itself.
RESERVED_KEYS = frozenset({"_target_", "_recursive_", "_convert_", "_partial_", "_args_"})


class TargetImportError(ImportError):
    """A ``_target_`` path that does not import; ``hint`` is the fix, when one is known."""

    def __init__(self, message: str, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class TargetIssue:
    """``key`` (dotted) of a ``_target_`` node is wrong: ``message``, fix ``hint``."""

    key: str
    message: str
    hint: Optional[str] = None


def _closest(word: str, options: List[str]) -> Optional[str]:
    found = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return found[0] if found else None


def locate(path: str) -> Any:
    """The object at dotted ``path``, imported as Hydra's ``_locate`` does: the first
    part is a module, each later part an attribute or, failing that, a submodule."""
    parts = path.split(".")
    if not path or not all(parts):
        raise TargetImportError(f"`{path}` is not a dotted import path",
                                hint="write the full path, e.g. `my_package.models.Net`")
    try:
        obj: Any = importlib.import_module(parts[0])
    except Exception as e:  # noqa: BLE001 - an import can raise anything
        raise TargetImportError(f"`{path}` does not import: {type(e).__name__}: {e}",
                                hint=f"is `{parts[0]}` installed, or on sys.path where the app runs?") from e
    for m in range(1, len(parts)):
        try:
            obj = getattr(obj, parts[m])
            continue
        except AttributeError:
            pass
        if not isinstance(obj, ModuleType):
            raise TargetImportError(f"`{path}` does not import: `{'.'.join(parts[:m])}` has no attribute "
                                    f"`{parts[m]}`", hint=_did_you_mean(parts[m], obj))
        module = ".".join(parts[: m + 1])
        try:
            obj = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise TargetImportError(f"`{path}` does not import: {type(e).__name__}: {e}") from e
            raise TargetImportError(f"`{path}` does not import: module `{'.'.join(parts[:m])}` has no "
                                    f"attribute or submodule `{parts[m]}`", hint=_did_you_mean(parts[m], obj)) from e
        except Exception as e:  # noqa: BLE001 - the user's module failed while importing
            raise TargetImportError(f"`{path}` does not import: importing `{module}` raised "
                                    f"{type(e).__name__}: {e}") from e
    return obj


def _did_you_mean(name: str, obj: Any) -> Optional[str]:
    close = _closest(name, [n for n in dir(obj) if not n.startswith("_")])
    return f"did you mean `{close}`?" if close else None


_Accepts = Union[None, Tuple[str, ...]]  # None: any key


class TargetChecker:
    """Checks ``_target_`` nodes of plain (resolved) config trees. Each target is
    imported and introspected once per checker, however many jobs use it."""

    def __init__(self) -> None:
        self._cache: Dict[str, Union[_Accepts, TargetImportError]] = {}

    def issues(self, tree: Any, prefix: str = "") -> List[TargetIssue]:
        """Every problem of every ``_target_`` node in ``tree``, nested ones included."""
        out: List[TargetIssue] = []
        self._walk(tree, prefix, out)
        return out

    def _walk(self, node: Any, prefix: str, out: List[TargetIssue]) -> None:
        if isinstance(node, dict):
            if "_target_" in node:
                self._check_node(node, prefix, out)
            for k, v in node.items():
                self._walk(v, f"{prefix}.{k}" if prefix else str(k), out)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                self._walk(v, f"{prefix}.{i}" if prefix else str(i), out)

    def _check_node(self, node: Dict[str, Any], prefix: str, out: List[TargetIssue]) -> None:
        target = node["_target_"]
        where = f"{prefix}._target_" if prefix else "_target_"
        if not isinstance(target, str):
            return  # unresolved (reported as such) or an object: nothing to import
        accepts = self._accepts(target)
        if isinstance(accepts, TargetImportError):
            out.append(TargetIssue(where, str(accepts), accepts.hint))
            return
        if accepts is None:
            return
        for key in node:
            if key in RESERVED_KEYS or key in accepts:
                continue
            close = _closest(str(key), list(accepts))
            out.append(TargetIssue(
                f"{prefix}.{key}" if prefix else str(key),
                f"`{key}` is not a parameter of {target} (its parameters: {', '.join(accepts) or 'none'})",
                f"did you mean `{close}`?" if close else f"remove `{key}` or add it to {target}'s signature",
            ))

    def _accepts(self, target: str) -> Union[_Accepts, TargetImportError]:
        if target not in self._cache:
            try:
                self._cache[target] = _keyword_names(locate(target))
            except TargetImportError as e:
                self._cache[target] = e
        return self._cache[target]


def _keyword_names(obj: Any) -> _Accepts:
    """Names ``obj`` accepts by keyword; None when it takes any (``**kwargs``) or its
    signature cannot be read."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    names = []
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            names.append(p.name)
    return tuple(names)
