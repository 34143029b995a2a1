"""``.hydra/provenance.yaml`` and the tables ``alchemy explain``/``alchemy diff`` print.

The file maps each dotted leaf to ``{value: ..., source: ...}``; values are the
job's resolved values (a ``${dep}`` shows what the job saw), written as plain YAML
(objects as their ``repr``) so any tool can read them back.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Sequence, Tuple

import yaml

from alchemy_resolvers.errors import AlchemyError

__all__ = ["ENV", "enabled", "FILE_NAME", "ProvenanceError", "write", "read", "select", "table", "plain"]

FILE_NAME = "provenance.yaml"

#: ``HYDRA_ALCHEMY_PROVENANCE=0`` (or false/no/off): no callback, no file.
ENV = "HYDRA_ALCHEMY_PROVENANCE"


def enabled() -> bool:
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no", "off")

Entries = Dict[str, Dict[str, Any]]

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ProvenanceError(AlchemyError, FileNotFoundError):
    """A job dir without provenance, or a key it does not have."""


def plain(value: Any) -> Any:
    """``value`` as something YAML writes and reads back unchanged."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return repr(value)


def write(hydra_dir: str, entries: Entries) -> str:
    path = os.path.join(hydra_dir, FILE_NAME)
    os.makedirs(hydra_dir, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        # the C emitter when PyYAML has it: the pure-Python one is most of the cost
        yaml.dump(entries, f, Dumper=_DUMPER, sort_keys=False, allow_unicode=True, width=1000)
    return path


def read(job_dir: str) -> Entries:
    """The entries of a job dir (or of its ``.hydra`` dir, or of the file itself)."""
    for path in (os.path.join(job_dir, ".hydra", FILE_NAME), os.path.join(job_dir, FILE_NAME), job_dir):
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return yaml.load(f, Loader=_LOADER) or {}
    raise ProvenanceError(
        f"{job_dir}: no .hydra/{FILE_NAME}",
        file=job_dir,
        hint="run the job with hydra-alchemy installed (and HYDRA_ALCHEMY_PROVENANCE unset or 1)",
    )


def select(entries: Entries, keys: Sequence[str]) -> Entries:
    """The entries of ``keys`` and of the leaves below them (all when ``keys`` is empty)."""
    if not keys:
        return entries
    out: Entries = {}
    for key in keys:
        hits = {k: v for k, v in entries.items() if k == key or k.startswith(key + ".")}
        if not hits:
            raise ProvenanceError(f"no key {key!r} in this config", key=key)
        out.update(hits)
    return out


def show(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10 ** 6).strip().removesuffix("...").strip() \
        if not isinstance(value, str) else value


def table(header: Sequence[str], rows: List[Tuple[str, ...]]) -> str:
    """Left-aligned columns, the last one unpadded."""
    rows = [tuple(header)] + rows
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = ["  ".join([c.ljust(w) for c, w in zip(r, widths)] + [r[-1]]).rstrip() for r in rows]
    return "\n".join(lines)
