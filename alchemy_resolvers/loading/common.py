"""Loaders for config formats other projects use, each returning a plain Python tree.

Hydra only reads YAML; researchers arrive with MMCV/MMEngine ``_base_`` configs and
YACS ``CfgNode`` defaults. The loaders here turn those files into nested ``dict`` /
``list`` / ``tuple`` / primitive trees that the rest of hydra-alchemy (the Config
tree, the ConfigSource) can hand to OmegaConf, without depending on mmengine or yacs
at run time (a YACS *defaults file* imports yacs itself, so that one needs it).

Entry points:

- :func:`load_foreign` picks a loader from the file extension (and, for ``.py``,
  from :func:`~alchemy_resolvers.loading.detect.detect_python_format`).
- :func:`alchemy_resolvers.loading.mmcv.load_mmcv`
- :func:`alchemy_resolvers.loading.yacs.load_yacs` and
  :func:`~alchemy_resolvers.loading.yacs.merge_yacs_yaml`

The error classes live here (not in the loader modules) so that callers can catch
them without importing a loader, and so that every loader shares one hierarchy. Each
error subclasses the builtin exception the original library raises in the same
situation (``KeyError`` for mmengine's duplicate base keys, ``ValueError`` for yacs's
type mismatch, ...), so code written against mmengine/yacs keeps catching them.
"""
from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Dict, Iterator, Optional, Tuple, Type

__all__ = [
    "load_foreign",
    "ForeignConfigError",
    "ConfigExecutionError",
    "BaseFileNotFoundError",
    "DuplicateBaseKeyError",
    "BaseMergeTypeError",
    "BaseReferenceError",
    "InheritanceCycleError",
    "UnsupportedConfigError",
    "NotAForeignFormatError",
    "YacsKeyError",
    "YacsTypeError",
]


class ForeignConfigError(Exception):
    """Root of the errors raised while loading a foreign config file.

    ``str()`` is the message itself, also for the ``KeyError`` subclasses (whose
    builtin ``__str__`` would otherwise wrap the message in quotes).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigExecutionError(ForeignConfigError):
    """A Python config file failed to parse or raised while it ran.

    The message names ``file:line``; the original exception is chained as
    ``__cause__``. ``filename`` and ``lineno`` are kept as attributes.
    """

    def __init__(
        self, message: str, filename: Optional[str] = None, lineno: Optional[int] = None
    ) -> None:
        super().__init__(message)
        self.filename = filename
        self.lineno = lineno

    def __reduce__(self) -> Any:
        # Errors cross process boundaries (Hydra launchers pickle job results).
        return (type(self), (self.args[0] if self.args else "", self.filename, self.lineno))


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


class BaseFileNotFoundError(ForeignConfigError, FileNotFoundError):
    """A ``_base_`` / ``_BASE_`` entry points at a file that does not exist."""


class DuplicateBaseKeyError(ForeignConfigError, KeyError):
    """Two sibling bases of one config define the same top-level key (mmengine)."""


class BaseMergeTypeError(ForeignConfigError, TypeError):
    """A child dict would merge into a base value that is not a dict."""


class BaseReferenceError(ForeignConfigError, KeyError):
    """A ``{{_base_.x.y}}`` reference names nothing, or cannot be put in a string."""


class InheritanceCycleError(ForeignConfigError, ValueError):
    """A config inherits (directly or not) from itself."""


class UnsupportedConfigError(ForeignConfigError, ValueError):
    """The file uses a feature of its format that these loaders do not provide."""


class NotAForeignFormatError(ForeignConfigError, ValueError):
    """The file is an AlchemyCat/hydra-alchemy ``Config`` file, not a foreign format.

    ``alchemy_resolvers.authoring.config`` loads those; it calls the foreign loaders for the
    MMCV/YACS files in a ``caps=`` chain, never the other way round.
    """


class YacsKeyError(ForeignConfigError, KeyError):
    """A YAML override sets a key the YACS defaults do not have."""


class YacsTypeError(ForeignConfigError, ValueError):
    """A YAML override gives a key a value of another type than its default."""


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
      :class:`NotAForeignFormatError`, because ``alchemy_resolvers.authoring.config`` owns it.

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
        from alchemy_resolvers.loading.detect import detect_python_format

        fmt = detect_python_format(path)
    if fmt in ("mmcv", "plain"):
        from alchemy_resolvers.loading.mmcv import load_mmcv

        return load_mmcv(path)
    if fmt == "yacs":
        from alchemy_resolvers.loading.yacs import load_yacs

        return load_yacs(path)
    if fmt == "alchemy":
        raise NotAForeignFormatError(
            f"{path} is an AlchemyCat-style config (it builds a Config/Cfg2Tune from "
            "alchemy_resolvers or alchemy_cat); load it with alchemy_resolvers.authoring.config, "
            "not with the foreign-format loaders"
        )
    raise ValueError(
        f"unknown python config format {fmt!r} for {path}; "
        "expected 'mmcv', 'plain', 'yacs' or 'alchemy'"
    )


def _load_data_file(path: str, ext: str) -> dict:
    data = _safe_load_data(path, ext)
    if "_base_" in data:
        from alchemy_resolvers.loading.mmcv import load_mmcv

        return load_mmcv(path)
    if "_BASE_" in data:
        from alchemy_resolvers.loading.yacs import load_yaml_with_base

        return load_yaml_with_base(path)
    return data


def _safe_load_data(path: str, ext: Optional[str] = None) -> dict:
    """Parse a YAML/JSON file with a safe loader; the top level must be a mapping."""
    if ext is None:
        ext = os.path.splitext(path)[1].lower()
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_data_text(text, path, ext)


def parse_data_text(text: str, path: str, ext: str) -> dict:
    """Parse YAML/JSON ``text`` read from ``path``; an empty YAML file is ``{}``."""
    if ext == ".json":
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigExecutionError(
                f"{path}:{e.lineno}: invalid JSON: {e.msg}", path, e.lineno
            ) from e
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            lineno = mark.line + 1 if mark is not None else None
            where = f"{path}:{lineno}" if lineno else path
            raise ConfigExecutionError(f"{where}: invalid YAML: {e}", path, lineno) from e
        if data is None:
            data = {}
    if not isinstance(data, dict):
        raise UnsupportedConfigError(
            f"{path}: the top level of a config file must be a mapping, "
            f"got {type(data).__name__}"
        )
    return data
