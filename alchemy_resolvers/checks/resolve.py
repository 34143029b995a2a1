"""Resolve every interpolation of a composed config, and say which leaves fail.

``OmegaConf.to_container(cfg, resolve=True)`` stops at the first leaf that cannot be
resolved; the checks before launch must list every broken ``${dep:...}``, ``P_DEP``
(``${alchemy_pdep:...}``) and plain interpolation at once. So each top-level entry is
resolved whole first (the fast path, taken when nothing is wrong) and only an entry
that fails is walked leaf by leaf.

A leaf that is ``???`` (or reads one) is not a failure: the task may set it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationToMissingValueError, MissingMandatoryValue

from alchemy_resolvers.errors import AlchemyError

__all__ = ["LeafFailure", "UNRESOLVED", "resolve_leaves", "describe_error"]


class _Unresolved:
    """Stands for a leaf that failed to resolve in the resolved container."""

    def __repr__(self) -> str:
        return "<unresolved>"


UNRESOLVED: Any = _Unresolved()
_MISSING_OK = (MissingMandatoryValue, InterpolationToMissingValueError)


@dataclass
class LeafFailure:
    """Resolving ``key`` (dotted) failed; ``raw`` is the value as written."""

    key: str
    raw: Any
    error: BaseException


def resolve_leaves(cfg: DictConfig, skip: Sequence[str] = ("hydra",)) -> Tuple[Dict[str, Any], List[LeafFailure]]:
    """``cfg`` without the ``skip`` keys as plain containers, resolved (failed leaves
    are :data:`UNRESOLVED`), and the leaves that failed."""
    out: Dict[str, Any] = {}
    failures: List[LeafFailure] = []
    for key in cfg.keys():
        if key in skip:
            continue
        try:
            out[str(key)] = _whole(cfg, key)
        except _MISSING_OK:
            out[str(key)] = _walk(cfg, key, str(key), failures)
        except Exception:  # noqa: BLE001 - walk the entry to find every failing leaf
            out[str(key)] = _walk(cfg, key, str(key), failures)
    return out, failures


def _whole(parent: Any, key: Any) -> Any:
    value = parent[key]
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _walk(parent: Any, key: Any, dotted: str, failures: List[LeafFailure]) -> Any:
    node = parent._get_node(key)
    if isinstance(node, (DictConfig, ListConfig)) and not node._is_interpolation():
        if node._is_none() or node._is_missing():
            return node._value()
        keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
        items = [(k, _walk(node, k, f"{dotted}.{k}", failures)) for k in keys]
        return dict(items) if isinstance(node, DictConfig) else [v for _, v in items]
    try:
        return _whole(parent, key)
    except _MISSING_OK:
        return node._value()
    except Exception as e:  # noqa: BLE001 - every failure is reported, whatever raised it
        failures.append(LeafFailure(dotted, node._value(), e))
        return UNRESOLVED


def describe_error(error: BaseException) -> Tuple[str, Optional[str]]:
    """A one-paragraph message and a fix for an error raised while resolving: the
    library's own error where there is one (it names the expression and the fix),
    OmegaConf's message without its ``full_key``/``object_type`` trailer otherwise."""
    seen = set()
    cur: Optional[BaseException] = error
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, AlchemyError):
            return _first_part(str(cur.args[0]) if cur.args else str(cur)), cur.hint
        cur = cur.__cause__ or cur.__context__
    message = _first_part(f"{type(error).__name__}: {error}" if not _is_omegaconf(error) else str(error))
    cause = error.__cause__
    if cause is not None and _first_part(str(cause)) not in message:  # "Error merging override x=abc": why
        message += f" ({type(cause).__name__}: {_first_part(str(cause))})"
    return message, None


def _is_omegaconf(error: BaseException) -> bool:
    return type(error).__module__.startswith("omegaconf")


def _first_part(text: str) -> str:
    head = text.split("\n    full_key:", 1)[0].split("\n\tfull_key:", 1)[0]
    return " ".join(line.strip() for line in head.strip().splitlines() if line.strip())
