"""Loaders for config formats other projects use, each returning a plain Python tree.

Hydra only reads YAML; researchers arrive with MMCV/MMEngine ``_base_`` configs and
YACS ``CfgNode`` defaults. The loaders here turn those files into nested ``dict`` /
``list`` / ``tuple`` / primitive trees that the rest of hydra-alchemy (the Config
tree, the ConfigSource) can hand to OmegaConf, without depending on mmengine or yacs
at run time (a YACS *defaults file* imports yacs itself, so that one needs it).

This module holds what every loader shares: running a Python config file (the one
place that executes one) and naming ``file:line`` when it fails. Entry points of the
loaders:

- :func:`alchemy_resolvers.loading.alchemy.load_tree` (``load``): any config file.
- :func:`alchemy_resolvers.loading.foreign.load_foreign` picks a foreign loader from
  the file extension (and, for ``.py``, from
  :func:`~alchemy_resolvers.loading.detect.detect_python_format`).
- :func:`alchemy_resolvers.loading.mmcv.load_mmcv`
- :func:`alchemy_resolvers.loading.yacs.load_yacs` and
  :func:`~alchemy_resolvers.loading.yacs.merge_yacs_yaml`

The error classes live in :mod:`~alchemy_resolvers.loading.errors`; YAML is read by :mod:`~alchemy_resolvers.loading.yaml_loader` (OmegaConf's rules).
"""
from __future__ import annotations

import ast
import contextlib
import os
from typing import Any, Callable, Dict, Iterator, Optional, Tuple, Type

from alchemy_resolvers.loading.errors import ConfigExecutionError


def error_line(exc: BaseException, filename: str) -> Optional[int]:
    """Line of ``filename`` where ``exc`` arose: the innermost traceback frame running
    that file, or a syntax error's own line."""
    lineno = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    if lineno is None and isinstance(exc, SyntaxError) and exc.filename == filename:
        lineno = exc.lineno
    return lineno


def compile_config(source: Any, filename: str) -> Any:
    """Compile a Python config file (its text or parsed module); a syntax error names
    ``file:line``."""
    try:
        return compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as e:
        raise ConfigExecutionError(
            f"{e.filename or filename}:{e.lineno}: syntax error in config file: {e.msg}", filename, e.lineno
        ) from e


@contextlib.contextmanager
def config_errors(filename: str, passthrough: Tuple[Type[BaseException], ...] = ()) -> Iterator[None]:
    """Turn an exception raised by a config file's code into a ConfigExecutionError
    that names ``file:line`` (chained); errors in ``passthrough`` already name the
    file they are about and pass unchanged."""
    try:
        yield
    except passthrough:
        raise
    except Exception as e:  # noqa: BLE001 - every failure must name the file
        line = error_line(e, filename)
        where = f"{filename}:{line}" if line is not None else filename
        raise ConfigExecutionError(
            f"{where}: error while running config file: {type(e).__name__}: {e}", filename, line
        ) from e


def run_config(code: Any, filename: str, namespace: Dict[str, Any],
               passthrough: Tuple[Type[BaseException], ...] = ()) -> None:
    """Run a compiled Python config file in ``namespace`` (a fresh dict per load, so no
    load sees another's objects).

    Python config files are code by nature: this is the one place where they run.
    """
    with config_errors(filename, passthrough):
        exec(code, namespace)  # noqa: S102 - a .py config is code, run as its author wrote it


_stamped: Dict[Tuple[str, str], Tuple[Tuple[int, int], Any]] = {}


def by_stamp(kind: str, path: str, build: Callable[[], Any]) -> Any:
    """``build()`` for file ``path``, computed again only when the file changes (its
    mtime or size): Hydra composes the same files for every job, and a sweep would
    otherwise parse, compile and classify each of them hundreds of times. ``kind``
    keeps different products of one file apart. Callers that hand out a mutable value
    copy it."""
    try:
        st = os.stat(path)
    except OSError:
        return build()
    stamp = (st.st_mtime_ns, st.st_size)
    key = (kind, path)
    hit = _stamped.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = build()
    _stamped[key] = (stamp, value)
    return value


def parsed_python(path: str) -> Any:
    """The syntax tree of Python config file ``path``, parsed once while the file does
    not change: format detection reads it, and compiling it skips a second parse. A
    syntax error names ``file:line``."""

    def parse() -> Any:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        try:
            return ast.parse(source, filename=path)
        except SyntaxError as e:
            raise ConfigExecutionError(
                f"{path}:{e.lineno}: syntax error in config: {e.msg}", path, e.lineno
            ) from e

    return by_stamp("python-ast", path, parse)


def compiled_python(path: str) -> Any:
    """The code object of Python config file ``path``, compiled once while it does not
    change."""
    return by_stamp("python-code", path, lambda: compile_config(parsed_python(path), path))
