"""Retries, shared by ``hydra/launcher=alchemy`` and ``alchemy_slurm``.

``hydra.launcher.retries: K`` runs a job that failed *by accident* again, up to K more
times: its process was killed by a signal or crashed (a nonzero exit without a Python
exception from the task), it timed out, or the task raised an exception listed in
``hydra.launcher.retry_on``. A task that raised anything else has a bug that another
run would only repeat, so it is not retried unless the user says so.

A rerun happens in the same job directory, after the earlier run's output is moved to
``<job dir>/.attempts/<n>/`` (``.hydra/`` is copied there and kept in place: the rerun
runs with the same config). The task can tell it is a rerun from the environment
variable ``HYDRA_ALCHEMY_ATTEMPT`` (2 on the first retry). Every ``JobReturn`` gets an
``attempts`` attribute: how many times the job ran.
"""
from __future__ import annotations

import importlib
import logging
import shutil
from pathlib import Path
from typing import Any, Optional, Sequence, Tuple, Type

from alchemy_resolvers.dispatch.joblock import LOCK_NAME
from alchemy_resolvers.errors import SettingsError

log = logging.getLogger(__name__)

#: The folder in a job's directory that keeps the output of earlier attempts.
ATTEMPTS_DIR = ".attempts"
#: Environment variable telling the task which run of its job this is.
ATTEMPT_ENV = "HYDRA_ALCHEMY_ATTEMPT"
#: What stays in the job directory when a rerun moves the output aside.
_KEPT = (".hydra", ATTEMPTS_DIR, LOCK_NAME)

ExcTypes = Tuple[Type[BaseException], ...]


def check_retry_options(retries: Any, retry_on: Any) -> ExcTypes:
    """The exception classes of ``retry_on``; a ``SettingsError`` for a setting no
    sweep can run with (before any job starts)."""
    if not (isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0):
        raise SettingsError(f"hydra.launcher.retries must be an integer >= 0, got {retries!r}",
                            key="hydra.launcher.retries",
                            hint="hydra.launcher.retries=0 (never run a failed job again)")
    if retry_on is None:
        return ()
    if isinstance(retry_on, str) or not isinstance(retry_on, (list, tuple)):
        raise SettingsError(
            f"hydra.launcher.retry_on must be a list of exception classes, got {retry_on!r}",
            key="hydra.launcher.retry_on",
            hint="hydra.launcher.retry_on=[torch.cuda.OutOfMemoryError,ConnectionError]")
    return tuple(_exception_class(name) for name in retry_on)


def _exception_class(name: Any) -> Type[BaseException]:
    key = "hydra.launcher.retry_on"
    if not isinstance(name, str) or not name.strip():
        raise SettingsError(f"{key} entries must be import paths of exception classes, "
                            f"got {name!r}", key=key, hint=f"{key}=[builtins.TimeoutError]")
    module, _, attr = name.strip().rpartition(".")
    try:
        obj: Any = importlib.import_module(module or "builtins")
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise SettingsError(f"{key}: {name!r} cannot be imported ({type(e).__name__}: {e})",
                            key=key, hint="give the full import path, e.g. "
                                          "torch.cuda.OutOfMemoryError or builtins.OSError") from e
    if not (isinstance(obj, type) and issubclass(obj, BaseException)):
        raise SettingsError(f"{key}: {name!r} is not an exception class ({obj!r})", key=key,
                            hint="list exception classes only")
    return obj


def retried_exception(e: Any, retry_on: ExcTypes) -> bool:
    """Whether the task's exception ``e`` is one to retry (a subclass of a listed one)."""
    return bool(retry_on) and isinstance(e, retry_on)


def move_output_aside(job_dir: Path, attempt: int) -> Optional[Path]:
    """Before run ``attempt + 1``: move what run ``attempt`` left in ``job_dir`` to
    ``.attempts/<attempt>/``, keeping ``.hydra/`` (copied there too) and the job's
    lock. Returns that folder (None when there was nothing to move)."""
    if not job_dir.is_dir():
        return None
    dest = job_dir / ATTEMPTS_DIR / str(attempt)
    dest.mkdir(parents=True, exist_ok=True)
    moved = False
    for entry in sorted(job_dir.iterdir()):
        if entry.name in _KEPT:
            continue
        shutil.move(str(entry), str(dest / entry.name))
        moved = True
    hydra_dir = job_dir / ".hydra"
    if hydra_dir.is_dir():
        shutil.copytree(hydra_dir, dest / ".hydra", dirs_exist_ok=True)
        moved = True
    return dest if moved else None


def set_attempts(ret: Any, attempts: int) -> Any:
    """``ret.attempts``: how many times the job ran (the sweeper's ``attempts`` column)."""
    setattr(ret, "attempts", attempts)
    return ret


def skipped_return(overrides: Sequence[str]) -> Any:
    """The ``JobReturn`` of a job never started because a stop was requested."""
    from hydra.core.utils import JobReturn, JobStatus

    ret = JobReturn(overrides=list(overrides), status=JobStatus.UNKNOWN, _return_value=None)
    setattr(ret, "skipped", True)
    return set_attempts(ret, 0)
