"""Convert a config file between formats: ``python -m alchemy_resolvers.convert SRC DST``.

SRC: any format the loaders read (AlchemyCat / MMCV / YACS ``.py``, YAML, JSON), with
its inheritance resolved. DST by extension:

- ``.yaml`` / ``.yml``: a YAML config for Hydra. ``${dep:...}`` expressions stay
  expressions (they are recomputed after overrides). A Python ``DEP`` is a function,
  not an expression, so its *value* is written; so is a ``P_DEP``. Classes and
  functions are written as their import path (``torch.optim.adamw.AdamW``), other
  Python objects as their ``str()``. The file's header comment lists every entry
  written that way, and the same note is printed on stderr.
- ``.py``: an AlchemyCat-style Python config (``from alchemy_resolvers import Config``,
  ``cfg = Config()``, one assignment per entry). ``${dep:...}`` expressions are kept as
  strings (they work the same under Hydra); Python DEPs are written as values, as for
  YAML; classes and functions are imported.

A ``Param2Tune`` cannot be converted (a tunable config is a grid, not a config).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, Iterable, List, Optional, Tuple

from alchemy_resolvers.authoring.printer import PySource, config_to_py_lines, import_path, strip_address
from alchemy_resolvers.errors import AlchemyError

__all__ = ["convert", "to_plain", "config_to_py_lines", "main", "ConvertError"]

_DEP_STR_RE = re.compile(r"\$\{(dep|rel):('(?:[^'\\]|\\.)*'|\"[^\"]*\"),(-?\d+)\}")


class ConvertError(AlchemyError, ValueError):
    """The source config holds something the target format cannot express."""


# ----------------------------------------------------------------------- plain tree


def to_plain(src: str) -> Tuple[Any, List[str]]:
    """The loaded ``Config`` tree of ``src`` with every Python DEP replaced by its value,
    and notes saying which. Structure is kept (whole subtrees, dict leaves, tuples,
    objects); ``${dep:...}`` strings stay, with their depth argument dropped where it
    equals their position (the loader adds it back on load)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    from alchemy_resolvers.authoring import DEP, Config, Param2Tune
    from alchemy_resolvers.loading.alchemy import find_config_path, load_tree
    from alchemy_resolvers.lowering.lower import lower

    real = find_config_path(src)
    tree = load_tree(real)
    composed = OmegaConf.create(lower(tree, real))
    notes: List[str] = []

    def walk(value: Any, keys: Tuple[Any, ...]) -> Any:
        dotted = ".".join(str(k) for k in keys)
        if isinstance(value, Config):
            node = type(value)()
            node.override(value.is_whole)
            for k, v in value.items():
                dict.__setitem__(node, k, walk(v, keys + (k,)))
            return node
        if isinstance(value, Param2Tune):
            raise ConvertError(
                f"{real}: `{dotted}` is a Param2Tune: a tunable config is a grid of "
                "configs and cannot be written as one config",
                file=real, key=dotted,
                hint="convert one of its bases (caps) or a job's saved .hydra/config.yaml instead",
            )
        if isinstance(value, DEP):
            computed = OmegaConf.select(composed, dotted, throw_on_missing=True)
            if isinstance(computed, (DictConfig, ListConfig)):
                computed = OmegaConf.to_container(computed, resolve=True)
            notes.append(f"{dotted}: Python {type(value).__name__} written as its computed value")
            return computed
        if isinstance(value, str):
            return _strip_depth(value, len(keys) - 1)
        if type(value) in (list, tuple):
            return type(value)(walk(v, keys + (i,)) for i, v in enumerate(value))
        if type(value) is dict:
            return {k: walk(v, keys + (k,)) for k, v in value.items()}
        return value

    return walk(tree, ()), notes


def _strip_depth(text: str, parent_depth: int) -> str:
    def repl(m: "re.Match[str]") -> str:
        if int(m.group(3)) != parent_depth:
            return m.group(0)
        return "${" + m.group(1) + ":" + m.group(2) + "}"

    return _DEP_STR_RE.sub(repl, text)


# --------------------------------------------------------------------------- YAML


def _yaml_safe(value: Any, dotted: str, notes: List[str]) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {k: _yaml_safe(v, f"{dotted}.{k}", notes) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_yaml_safe(v, f"{dotted}.{i}", notes) for i, v in enumerate(value)]
    found = import_path(value)
    if found is not None:
        notes.append(f"{dotted}: Python object written as its import path")
        return ".".join(p for p in found if p)
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str):
        # Defined in the config file itself (or locally): no import path exists.
        notes.append(f"{dotted}: Python object defined in the config written as its name (not importable)")
        return f"{module}.{qualname}"
    notes.append(f"{dotted}: Python object written as its str()")
    return strip_address(str(value))


def _write_yaml(tree: Any, notes: List[str], src: str) -> str:
    from alchemy_resolvers.loading.yaml_loader import dump_yaml

    body = dump_yaml(_yaml_safe(tree, "", notes))
    header = [f"# Converted from {os.path.basename(src)} by alchemy_resolvers.convert"]
    for note in notes:
        header.append(f"# NOTE {note.lstrip('.')}")
    return "\n".join(header) + "\n" + body


# ----------------------------------------------------------------------------- py


def _write_py(tree: Any, notes: List[str], src: str) -> str:
    source = PySource()
    body = config_to_py_lines(tree, "cfg", source)
    for key in source.failed:
        notes.append(f"{key}: NOT WRITTEN (no Python source for this object)")
    header = [f"# Converted from {os.path.basename(src)} by alchemy_resolvers.convert"]
    header += [f"# NOTE {n}" for n in notes]
    imports = sorted(source.imports) + ["", "from alchemy_resolvers import Config", ""]
    return "\n".join(header + imports + body) + "\n"


# --------------------------------------------------------------------------- main


def convert(src: str, dst: str) -> List[str]:
    """Write ``src`` as ``dst`` (format from ``dst``'s extension); returns the notes."""
    ext = os.path.splitext(dst)[1].lower()
    if ext not in (".yaml", ".yml", ".py"):
        raise ConvertError(f"{dst}: the target must end in .yaml, .yml or .py", file=dst)
    tree, notes = to_plain(src)
    text = _write_yaml(tree, notes, src) if ext in (".yaml", ".yml") else _write_py(tree, notes, src)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(text)
    return notes


def main(argv: Optional[Iterable[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m alchemy_resolvers.convert",
        description="Convert an AlchemyCat / MMCV / YACS / YAML config to YAML or to an "
        "AlchemyCat Python config (by DST's extension).",
    )
    parser.add_argument("src", help="config file to read (.py, .yaml, .yml, .json)")
    parser.add_argument("dst", help="file to write (.yaml, .yml or .py)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    import alchemy_resolvers  # noqa: F401 - registers the dep resolvers

    try:
        notes = convert(args.src, args.dst)
    except Exception as e:  # noqa: BLE001 - a CLI: one clear line, no traceback
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    for note in notes:
        print(f"note: {note.lstrip('.')}", file=sys.stderr)
    print(f"wrote {args.dst}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
