"""Errors of the loaders: one hierarchy under :class:`~alchemy_resolvers.errors.AlchemyError`.

Each error also subclasses the builtin exception the original library raises in the
same situation (``KeyError`` for mmengine's duplicate base keys, ``ValueError`` for
yacs's type mismatch, ``FileNotFoundError`` for a missing base), so code written
against mmengine/yacs keeps catching them. ``file`` is set where the file is known.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from alchemy_resolvers.errors import AlchemyError

_LEADING_FILE = re.compile(r"^([^\s:][^:\n]*\.(?:py|ya?ml|json)):")

__all__ = [
    "ForeignConfigError",
    "ConfigExecutionError",
    "ConfigFileNotFoundError",
    "BaseFileNotFoundError",
    "CapsNotFoundError",
    "DuplicateBaseKeyError",
    "BaseMergeTypeError",
    "BaseReferenceError",
    "InheritanceCycleError",
    "UnsupportedConfigError",
    "NotAForeignFormatError",
    "YacsKeyError",
    "YacsTypeError",
]


class ForeignConfigError(AlchemyError):
    """Root of the errors raised while loading a config file (any format).

    ``str()`` is the message itself, also for the ``KeyError`` subclasses
    (:class:`AlchemyError` takes care of that); ``file``/``key``/``hint`` as there.
    When ``file`` is not given, it is taken from a message that starts with the
    file's path (``/path/cfg.py: ...`` or ``/path/cfg.py:12: ...``), as they all do.
    """

    def __init__(self, message: str = "", **fields: Any) -> None:
        if fields.get("file") is None:
            found = _LEADING_FILE.match(str(message))
            fields["file"] = found.group(1) if found else None
        super().__init__(message, **fields)


class ConfigExecutionError(ForeignConfigError):
    """A Python config file failed to parse or raised while it ran.

    The message names ``file:line``; the original exception is chained as
    ``__cause__``. ``filename`` and ``lineno`` are kept as attributes.
    """

    def __init__(
        self, message: str, filename: Optional[str] = None, lineno: Optional[int] = None, **fields: Any
    ) -> None:
        fields.setdefault("file", filename)
        super().__init__(message, **fields)
        self.filename = filename
        self.lineno = lineno


class ConfigFileNotFoundError(ForeignConfigError, FileNotFoundError):
    """A config file asked for does not exist."""


class BaseFileNotFoundError(ConfigFileNotFoundError):
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


class CapsNotFoundError(BaseFileNotFoundError):
    """A file named by ``caps=`` or ``Config('path')`` does not exist anywhere searched."""
