"""How the plugins report an error a user caused: one message, no traceback.

Hydra prints a ``CompactHydraException`` as its message alone and any other exception
as a traceback; ``HYDRA_FULL_ERROR=1`` shows the full traceback either way. The leading
underscore keeps Hydra's plugin scan from importing this module at start-up.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from hydra.errors import CompactHydraException

from alchemy_resolvers.errors import SettingsError


class AlchemySettingsError(CompactHydraException):
    """A :class:`~alchemy_resolvers.errors.SettingsError`, as Hydra shows it."""


class AlchemySweepFailed(CompactHydraException):
    """Jobs of the sweep failed: the message lists them; a traceback of the sweeper
    would say nothing more."""


@contextmanager
def compact_settings_errors() -> Iterator[None]:
    """Re-raise a ``SettingsError`` from the block as a one-message Hydra error."""
    try:
        yield
    except SettingsError as e:
        raise AlchemySettingsError(f"Error: {e}") from e
