"""Foreign config formats (MMCV/MMEngine, YACS, fvcore YAML) behind one function,
:func:`load_foreign`, which returns a plain Python tree."""
from __future__ import annotations

import os
from typing import Optional

from alchemy_resolvers.loading.detect import detect_python_format
from alchemy_resolvers.loading.errors import NotAForeignFormatError, UnsupportedConfigError
from alchemy_resolvers.loading.mmcv import load_mmcv
from alchemy_resolvers.loading.yacs import load_yacs, load_yaml_with_base
from alchemy_resolvers.loading.yaml_loader import parse_data_file

__all__ = ["load_foreign"]

_YAML_EXTS = (".yaml", ".yml")


def load_foreign(path: "str | os.PathLike[str]", fmt: Optional[str] = None) -> dict:
    """Load ``path`` with the loader its format needs and return a plain dict tree.

    - ``.yaml`` / ``.yml`` / ``.json``: safe loaders only (no python tags). A top-level
      ``_base_`` key gets MMEngine inheritance (as ``Config.fromfile`` gives it), a
      top-level ``_BASE_`` key fvcore/detectron2 inheritance; otherwise the file is
      returned as parsed.
    - ``.py``: :func:`~alchemy_resolvers.loading.detect.detect_python_format` decides
      (without running the file): ``mmcv`` and ``plain`` go to ``load_mmcv``, ``yacs``
      to ``load_yacs``; an AlchemyCat ``Config`` file raises
      :class:`NotAForeignFormatError`, because ``alchemy_resolvers.loading.alchemy`` owns it.

    ``fmt`` forces the format of a ``.py`` file (one of ``mmcv``, ``plain``, ``yacs``).
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext in _YAML_EXTS or ext == ".json":
        return _load_data_file(path, ext)
    if ext != ".py":
        raise UnsupportedConfigError(
            f"{path}: cannot load a config with extension {ext!r}; "
            "foreign loaders read .py, .yaml, .yml and .json files"
        )
    if fmt is None:
        fmt = detect_python_format(path)
    if fmt in ("mmcv", "plain"):
        return load_mmcv(path)
    if fmt == "yacs":
        return load_yacs(path)
    if fmt == "alchemy":
        raise NotAForeignFormatError(
            f"{path} is an AlchemyCat-style config (it builds a Config/Cfg2Tune from "
            "alchemy_resolvers or alchemy_cat): alchemy_resolvers.loading.alchemy.load_tree runs it "
            "to build an alchemy_resolvers.authoring.config.Config; the foreign-format loaders do not",
            file=path,
        )
    raise UnsupportedConfigError(
        f"unknown python config format {fmt!r} for {path}; "
        "expected 'mmcv', 'plain', 'yacs' or 'alchemy'"
    )


def _load_data_file(path: str, ext: str) -> dict:
    data = _safe_load_data(path, ext)
    if "_base_" in data:
        return load_mmcv(path)
    if "_BASE_" in data:
        return load_yaml_with_base(path)
    return data


def _safe_load_data(path: str, ext: Optional[str] = None) -> dict:
    """Parse a YAML/JSON file with a safe loader; the top level must be a mapping."""
    if ext is None:
        ext = os.path.splitext(path)[1].lower()
    return parse_data_file(path, ext)
