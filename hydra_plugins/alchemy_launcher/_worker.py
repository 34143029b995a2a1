"""Entry point of one job's fresh process: ``python -m hydra_plugins.alchemy_launcher._worker CTX JOB``,
and what a job forked from the zygote (:mod:`._zygote`) runs: :func:`run_job_file`.

CTX is the sweep's shared payload (the Hydra context, the task function and Hydra's
singleton state) with ``sys_path.json`` beside it; JOB holds this job's number, its
config as the launcher composed it, the Python objects of config files it refers to,
and where to put the result. Nothing is composed again here: config files do not run.

Result: a pickle of ``("ok", JobReturn, task_location)`` or ``("error", exception,
traceback text)``, written atomically; a process that dies first leaves none, and the
launcher reports its exit code or signal instead.
"""
from __future__ import annotations

import gc
import json
import os
import pickle
import sys
import traceback
from pathlib import Path
from typing import Any


def _write_result(path: Path, payload: Any) -> None:
    from alchemy_resolvers.dispatch.payload import dumps

    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(dumps(payload))
    os.replace(tmp, path)


def prepare_process(ctx_path: Path) -> None:
    """What every job process (and the zygote) does first."""
    # Line-buffered: a job killed by a signal still leaves every printed line in its log.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
        except (AttributeError, ValueError):
            pass
    # The parent's import path, so a task function from the user's script dir (pickled
    # by value from __main__) finds the modules it imports.
    try:
        extra = json.loads((ctx_path.parent / "sys_path.json").read_text())
        sys.path[:0] = [p for p in extra if p not in sys.path]
    except OSError:
        pass


def load_context(ctx_path: Path) -> dict:
    """The sweep's shared payload; unpickling it imports the task function's module's
    dependencies (the zygote does this once for all jobs)."""
    return pickle.loads(ctx_path.read_bytes())


def main(argv: list) -> int:
    from alchemy_resolvers.dispatch.lifeline import arm_job_from_env

    arm_job_from_env()  # first: die with the sweep, whatever kills it
    ctx_path, job_path = Path(argv[1]), Path(argv[2])
    prepare_process(ctx_path)
    return run_job_file(ctx_path, job_path)


def run_job_file(ctx: Any, job_path: Path, restored: bool = False) -> int:
    """Run one job and write its result; the exit code. ``ctx``: the context's path,
    or the context itself when the zygote has loaded it already (``restored``: and
    restored Hydra's state from it)."""
    from hydra_plugins.alchemy_launcher._jobconfig import (
        portable_exception, report_failure, run_composed)

    job: dict = {}
    gc.disable()  # until the callbacks and the task run: _runjob._collector_on
    try:
        job = pickle.loads(job_path.read_bytes())
        if isinstance(ctx, Path):
            ctx = load_context(ctx)
        ret = run_composed(ctx["hydra_context"], ctx["task_function"], job["sweep_config"],
                           job["objects"], ctx["singleton_state"], restore=not restored,
                           output_dir=job.get("output_dir"),
                           saved_configs=job.get("saved_configs"),
                           hydra_config=job.get("hydra_config"))
    except (SystemExit, KeyboardInterrupt) as e:
        # The task's own sys.exit() or KeyboardInterrupt (Hydra's run_job lets both
        # through): a row, as under Hydra's basic launcher; the process exits with it.
        if "result_path" in job:
            _write_result(Path(job["result_path"]), ("exit", portable_exception(e), ""))
        raise
    except Exception as e:  # noqa: BLE001 - reported to the launcher, not lost
        tb = traceback.format_exc()
        sys.stderr.write(f"[hydra-alchemy] job #{job.get('idx')} failed outside the task:\n{tb}")
        if "result_path" in job:
            _write_result(Path(job["result_path"]), ("error", portable_exception(e), tb))
        return 1

    from hydra.core.utils import JobStatus

    result_path = Path(job["result_path"])
    location = None
    if ret.status == JobStatus.FAILED:
        location = report_failure(ret, f"job #{job['idx']}")
    try:
        _write_result(result_path, ("ok", ret, location))
    except Exception as e:  # noqa: BLE001 - e.g. an unpicklable return value
        tb = traceback.format_exc()
        msg = (f"the job's return value ({type(ret._return_value).__name__}) cannot be "
               f"sent back to the launcher: {type(e).__name__}: {e}")
        sys.stderr.write(f"[hydra-alchemy] {msg}\n{tb}")
        _write_result(result_path, ("error", RuntimeError(msg), tb))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
