"""What travels to a job's process: pickles that keep source file names, and where in
the user's own files a job failed.

cloudpickle pickles functions it cannot import by name (a Hydra app's task function,
defined in ``__main__``; lambdas of a Python config file) by value, code object and all.
Since cloudpickle 3.0 it rebuilds those code objects with the file name
``<dynamic-code>`` (for deterministic payloads), so a job's traceback says
``File "<dynamic-code>", line 20, in main`` and shows no source line. :func:`dumps`
keeps every code object's real file name, through pickle's public extension points
(``reducer_override`` and the pickler's ``dispatch_table``); with cloudpickle 2, which
keeps the name itself, it changes nothing. The worker then finds the source lines as
for any imported module (``linecache`` reads the file).

cloudpickle is imported when first needed: nothing here runs at Hydra start-up.
"""
from __future__ import annotations

import io
import os
import pickle
import sys
import sysconfig
import types
from typing import Any, Iterable, Optional, Tuple

__all__ = ["dumps", "loads", "ByValue", "task_location", "PayloadError"]

from alchemy_resolvers.errors import AlchemyError

_PICKLER: Optional[type] = None

#: Packages whose frames are never "the task's own file" (besides the standard
#: library and installed packages): the machinery between a launcher and a task.
MACHINERY = ("hydra", "omegaconf", "alchemy_resolvers", "hydra_plugins", "submitit",
             "cloudpickle")


class PayloadError(AlchemyError, TypeError):
    """An object a job needs (an entry of a Python config file) cannot be sent to the
    job's process; ``file`` and ``key`` name the entry."""


def _rebuild_code(args: Tuple[Any, ...], filename: str) -> types.CodeType:
    return types.CodeType(*args).replace(co_filename=filename)


def _pickler_class() -> type:
    global _PICKLER
    if _PICKLER is None:
        import cloudpickle

        class Pickler(cloudpickle.Pickler):
            def reducer_override(self, obj: Any) -> Any:
                if isinstance(obj, types.CodeType):
                    reduce = self.dispatch_table.get(types.CodeType)
                    if reduce is not None:
                        rv = reduce(obj)
                        if isinstance(rv, tuple) and len(rv) == 2 and rv[0] is types.CodeType:
                            return _rebuild_code, (rv[1], obj.co_filename)
                return super().reducer_override(obj)

        _PICKLER = Pickler
    return _PICKLER


def dumps(obj: Any) -> bytes:
    """Pickle ``obj`` for another process: with the C pickler when it can and the
    result names nothing in ``__main__`` (which is another module there), at a third
    of cloudpickle's cost; else with cloudpickle, keeping the file names of code it
    pickles by value. Both pickle everything else by reference alike."""
    try:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - a lambda, a local class, ...: cloudpickle's work
        data = b""
    if data and b"__main__" not in data:
        return data
    buf = io.BytesIO()
    _pickler_class()(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buf.getvalue()


def loads(data: bytes) -> Any:
    return pickle.loads(data)


class ByValue:
    """Wraps an object so that whichever pickler sends it (submitit's cloudpickle, for
    one) sends it as :func:`dumps` would; it unpickles as the object itself."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __reduce__(self) -> Any:
        return (loads, (dumps(self.obj),))


# ----------------------------------------------------------------- task location


def _machinery_dirs(extra: Iterable[str]) -> Tuple[str, ...]:
    dirs = set()
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(name)
        if path:
            dirs.add(os.path.realpath(path))
    for name in (*MACHINERY, *extra):
        module = sys.modules.get(name)
        for path in getattr(module, "__path__", None) or ():
            dirs.add(os.path.realpath(path))
    return tuple(d.rstrip(os.sep) + os.sep for d in dirs)


def task_location(exc: BaseException, extra_machinery: Iterable[str] = ()) -> Optional[str]:
    """``"/abs/path/app.py:20"``: the innermost frame of ``exc`` 's traceback in the
    user's own files (not the standard library, installed packages, Hydra, OmegaConf
    or ours); its cause's when its own traceback has none. ``None`` if none is."""
    skip = _machinery_dirs(extra_machinery)
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        found = None
        tb = exc.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if not filename.startswith("<"):
                real = os.path.realpath(filename)
                if not real.startswith(skip):
                    found = f"{os.path.abspath(filename)}:{tb.tb_lineno}"
            tb = tb.tb_next
        if found:
            return found
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None
