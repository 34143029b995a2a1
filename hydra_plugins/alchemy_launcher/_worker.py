"""Entry point of one job's fresh process: ``python -m hydra_plugins.alchemy_launcher._worker CTX JOB``.

CTX is the sweep's shared payload (cloudpickle of the Hydra context, the multirun
config, the task function and Hydra's singleton state) with ``sys_path.json`` beside it;
JOB holds this job's overrides, number and where to put the result. The job's config
is composed again here, as Hydra's joblib and submitit launchers do: Python config files
register entries in a process-local registry when a ConfigSource loads them, so an
unpickled config alone would miss them.

Result: a pickle of ``("ok", JobReturn)`` or ``("error", exception, traceback text)``,
written atomically; a process that dies first leaves none, and the launcher reports its
exit code or signal instead.
"""
from __future__ import annotations

import json
import os
import pickle
import sys
import traceback
from pathlib import Path
from typing import Any


def _write_result(path: Path, payload: Any) -> None:
    import cloudpickle

    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        cloudpickle.dump(payload, f)
    os.replace(tmp, path)


def _portable_exception(e: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a RuntimeError naming it."""
    import cloudpickle

    try:
        pickle.loads(cloudpickle.dumps(e))
        return e
    except Exception:  # noqa: BLE001 - any pickling failure
        return RuntimeError(f"{type(e).__module__}.{type(e).__qualname__}: {e}")


def main(argv: list) -> int:
    ctx_path, job_path = Path(argv[1]), Path(argv[2])
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

    with open(job_path, "rb") as f:
        job = pickle.load(f)
    result_path = Path(job["result_path"])
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.core.singleton import Singleton
        from hydra.core.utils import JobStatus, run_job, setup_globals
        from omegaconf import open_dict

        with open(ctx_path, "rb") as f:
            ctx = pickle.load(f)
        setup_globals()
        Singleton.set_state(ctx["singleton_state"])
        hydra_context = ctx["hydra_context"]
        sweep_config = hydra_context.config_loader.load_sweep_config(
            ctx["config"], list(job["overrides"])
        )
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = job["job_id"]
            sweep_config.hydra.job.num = job["idx"]
        HydraConfig.instance().set_config(sweep_config)
        ret = run_job(
            hydra_context=hydra_context,
            task_function=ctx["task_function"],
            config=sweep_config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
    except Exception as e:  # noqa: BLE001 - reported to the launcher, not lost
        tb = traceback.format_exc()
        sys.stderr.write(f"[hydra-alchemy] job #{job.get('idx')} failed outside the task:\n{tb}")
        _write_result(result_path, ("error", _portable_exception(e), tb))
        return 1

    if ret.status == JobStatus.FAILED:
        e = ret._return_value
        sys.stderr.write(f"[hydra-alchemy] job #{job['idx']} raised:\n")
        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
        ret._return_value = _portable_exception(e)
    try:
        _write_result(result_path, ("ok", ret))
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
