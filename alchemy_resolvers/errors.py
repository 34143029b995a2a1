"""The root of every error hydra-alchemy raises on purpose.

A user who hits one of these must learn three things from it: which file, which key,
and what to do. The message says all three in words; ``file``, ``key`` and ``hint``
keep them as attributes too, so a caller (the Hydra plugins, a test, a tool) can
report them without parsing text. Each module defines its own subclasses, usually
also deriving from the builtin a caller would catch (``ValueError``, ``KeyError``,
``FileNotFoundError``), like omegaconf's errors do.

The Hydra plugins turn an ``AlchemyError`` raised before any job starts into one
message without a Python traceback (``HYDRA_FULL_ERROR=1`` still shows it).
"""
from __future__ import annotations

from typing import Any, Optional

__all__ = ["AlchemyError", "SettingsError"]


class AlchemyError(Exception):
    """An error a user can fix; ``str()`` is the full message.

    ``file``: the config or script the problem is in; ``key``: the dotted config key
    (or setting, e.g. ``hydra.launcher.gpus_per_job``); ``hint``: the fix, when the
    message does not already say it.
    """

    def __init__(self, message: str = "", *, file: Optional[str] = None,
                 key: Optional[str] = None, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.file = file
        self.key = key
        self.hint = hint

    def __str__(self) -> str:
        # The message itself, also for KeyError subclasses, whose builtin __str__
        # would show it quoted.
        message = str(self.args[0]) if self.args else ""
        if self.hint and self.hint not in message:
            message = f"{message}\n  fix: {self.hint}" if message else self.hint
        return message

    def __reduce__(self) -> Any:
        # Errors cross process boundaries (job results are pickled): keep the fields.
        return (_rebuild, (type(self), self.args, self.__dict__.copy()))


class SettingsError(AlchemyError, ValueError):
    """A setting that is wrong for the whole sweep (a launcher or sweeper option, the
    grid itself), found before any job starts.

    Raised before any job folder exists; the sweeper never turns it into FAILED rows,
    and the plugins show it as one message without a traceback.
    """


def _rebuild(cls: type, args: tuple, state: dict) -> AlchemyError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err
