"""Hydra side of ``hydra/launcher=alchemy``: turn job overrides into fresh processes and
their results back into ``JobReturn`` s, in job order.

Each job's config is composed here, once (:mod:`._jobconfig`): the log
``<job dir>/<log_name>`` must be open before the process starts, a job that dies
without a word still gets a ``JobReturn`` with its overrides, config and directory, and
the job's process (:mod:`._worker`) runs the task with that very config.

``start_method=fork_server`` (the default): a zygote (:mod:`._zygote`) imports Hydra and
the task's modules once per launch and each job is forked from it, instead of a fresh
interpreter importing them all again; see :mod:`alchemy_resolvers.dispatch.forkserver`.

Each job holds the lock of its directory while it runs and dies with the sweep
(:mod:`alchemy_resolvers.dispatch.joblock`, :mod:`~alchemy_resolvers.dispatch.lifeline`);
``retries`` runs a job that crashed again (:mod:`._retry`); a ``stop_check`` (the
sweeper's ``max_failures``) stops starting jobs, and those never started come back as
``skipped`` returns.
"""
from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from alchemy_resolvers.errors import AlchemyError

from ._options import LocalLaunchOptions, SlotPlan, check_options, n_jobs_cap, plan_slots
from ._retry import (ATTEMPT_ENV, check_retry_options, move_output_aside, retried_exception,
                     set_attempts, skipped_return)

__all__ = ["JobFailedError", "LocalLaunchOptions", "launch_jobs"]

log = logging.getLogger(__name__)

WORKER_MODULE = "hydra_plugins.alchemy_launcher._worker"
ZYGOTE_MODULE = "hydra_plugins.alchemy_launcher._zygote"


class JobFailedError(AlchemyError, RuntimeError):
    """A job failed; the message says why and where its log is.

    ``__cause__`` is the task's own exception when the task raised; ``task_location``
    (``"/abs/path/app.py:20"``) the innermost line of the user's own files it raised
    from, when known; ``log_path`` the job's log.
    """

    def __init__(self, message: str, *, job_idx: Optional[int] = None, reason: str = "",
                 log_path: Optional[str] = None, task_location: Optional[str] = None) -> None:
        super().__init__(message, file=task_location.rsplit(":", 1)[0] if task_location else None)
        self.job_idx = job_idx
        self.reason = reason
        self.log_path = log_path
        self.task_location = task_location


def launch_jobs(
    opts: LocalLaunchOptions,
    *,
    hydra_context: Any,
    config: Any,
    task_function: Any,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    on_job_done: Optional[Callable[[int, Any], None]] = None,
    stop_check: Optional[Callable[[], bool]] = None,
) -> List[Any]:
    """Run the jobs; ``on_job_done(job_idx, job_return)`` is called as each one ends,
    so a sweeper can record results while the others still run. Once ``stop_check()``
    returns True no job starts (nor reruns); those never started come back as
    ``UNKNOWN`` returns with ``skipped = True``, without ``on_job_done``.

    Options wrong for the whole sweep raise ``SettingsError`` before any job folder
    (or the sweep folder) is made.
    """
    from hydra.core.utils import configure_log, setup_globals

    setup_globals()
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    check_options(opts)
    sweep_dir = Path(str(config.hydra.sweep.dir))
    if not job_overrides:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        return []
    plan = plan_slots(opts, holder=str(sweep_dir))
    sweep: Optional[_LocalSweep] = None
    tmp = Path(tempfile.mkdtemp(prefix="hydra-alchemy-launch-"))
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        log.info(f"Alchemy launcher: {len(job_overrides)} jobs, {plan.describe(opts)}, "
                 f"start_method={opts.start_method}; sweep dir: {sweep_dir}")
        sweep = _LocalSweep(opts, hydra_context, config, job_overrides, initial_job_idx,
                            tmp, plan, on_job_done, stop_check)
        sweep.write_context(task_function)
        if opts.start_method == "fork_server":
            sweep.start_fork_server()
        return sweep.run()
    finally:
        plan.close()
        if sweep is not None and sweep.fork_server is not None:
            sweep.fork_server.close()
        shutil.rmtree(tmp, ignore_errors=True)


class _LocalSweep:
    """One ``launch`` call: prepares each job right before it starts and reads its
    result as soon as it ends."""

    def __init__(self, opts: LocalLaunchOptions, hydra_context: Any, config: Any,
                 job_overrides: Sequence[Sequence[str]], initial_job_idx: int, tmp: Path,
                 plan: SlotPlan, on_job_done: Optional[Callable[[int, Any], None]],
                 stop_check: Optional[Callable[[], bool]] = None) -> None:
        from ._jobconfig import ObjectPacker
        from ._savedconfigs import SavedConfigRenderer

        self.opts, self.hydra_context, self.config = opts, hydra_context, config
        self.overrides = [list(o) for o in job_overrides]
        self.first = initial_job_idx
        self.tmp, self.plan, self.on_job_done = tmp, plan, on_job_done
        self.ctx_path = tmp / "context.pkl"
        self.timeout_s = opts.timeout_min * 60 if opts.timeout_min else None
        self.composed: Dict[int, Any] = {}  # position -> (sweep_config, job_dir, output_dir)
        self.payloads: Dict[int, bytes] = {}  # position -> its job file, until written
        self.renderer = SavedConfigRenderer()
        self.returns: Dict[int, Any] = {}
        self.packer = ObjectPacker()
        self.fork_server: Any = None
        self.compose_context = _caching_context(hydra_context)
        self.stop_check = stop_check
        self.retry_on = check_retry_options(opts.retries, opts.retry_on)
        self.attempt: Dict[int, int] = {}  # position -> the run being prepared (1, 2, ...)

    def write_context(self, task_function: Any) -> None:
        """What every job shares: Hydra's context and singletons, the task function
        (pickled keeping its file name: tracebacks name the user's files)."""
        import json

        from hydra.core.singleton import Singleton

        from alchemy_resolvers.dispatch.payload import dumps

        (self.tmp / "sys_path.json").write_text(json.dumps([p for p in sys.path if p]))
        self.ctx_path.write_bytes(dumps({
            "hydra_context": self.hydra_context,
            "task_function": task_function,
            "singleton_state": Singleton.get_state(),
            "preload": task_module_imports(task_function),  # for the zygote
            "interpolations": interpolations(self.config),  # for the zygote
        }))

    def start_fork_server(self) -> None:
        """Start the zygote now: it imports while the first job is being composed."""
        from alchemy_resolvers.dispatch import ForkServer

        self.fork_server = ForkServer([sys.executable, "-m", ZYGOTE_MODULE, str(self.ctx_path)],
                                      log_path=self.tmp / "zygote.log")
        self.fork_server.start()

    def run(self) -> List[Any]:
        from hydra.core.utils import filter_overrides

        from alchemy_resolvers.dispatch import Dispatcher, ProcessJob, Progress

        jobs = []
        for pos, overrides in enumerate(self.overrides):
            shown = " ".join(filter_overrides(overrides))
            label = f"#{self.first + pos}" + (f" ({shown})" if shown else "")
            jobs.append(ProcessJob(index=pos, label=label,
                                   prepare=lambda gpus, pos=pos: self.prepare(pos, gpus),
                                   look_ahead=lambda pos=pos: self.compose(pos)))
        alloc = self.plan.allocator
        dispatcher = Dispatcher(
            jobs,
            allocator=alloc,
            max_parallel=self.plan.cpu_parallel if alloc is None else n_jobs_cap(self.opts.n_jobs),
            timeout_s=self.timeout_s,
            poll_interval=self.opts.poll_interval,
            progress=Progress(len(jobs), len(alloc.pool) if alloc else None, tty=self.opts.progress),
            judge=self.judge,
            fork_server=self.fork_server,
            retry=self.retry if self.opts.retries else None,
            stop_check=self.stop_check,
        )
        outcomes = dispatcher.run()
        return [skipped_return(self.overrides[o.index]) if o.skipped else self.returns[o.index]
                for o in outcomes]

    def compose(self, pos: int) -> None:
        """Compose job ``pos`` and pickle what its process reads, once (retries reuse
        both). The dispatcher calls this ahead, while the running jobs use the CPUs."""
        from alchemy_resolvers.dispatch.payload import dumps

        from ._jobconfig import compose_job
        from ._savedconfigs import pickled_hydra_config

        idx = self.first + pos
        if pos not in self.composed:
            self.composed[pos] = compose_job(self.compose_context, self.config,
                                             self.overrides[pos], idx)
        if pos not in self.payloads and not self.job_path(pos).exists():
            sweep_config, _, output_dir = self.composed[pos]
            self.payloads[pos] = dumps({
                "idx": idx,
                "sweep_config": sweep_config,
                "objects": self.packer.pack(sweep_config),  # PayloadError: this job fails
                "result_path": str(self.tmp / f"job_{idx}.result"),
                "output_dir": output_dir,
                "saved_configs": self.renderer.render(sweep_config, output_dir),
                "hydra_config": pickled_hydra_config(sweep_config, output_dir),
            })

    def job_path(self, pos: int) -> Path:
        return self.tmp / f"job_{self.first + pos}.pkl"

    def prepare(self, pos: int, gpus: List[str]) -> Any:
        """Compose job ``pos`` (unless done ahead), make its folder, write what its
        process reads."""
        import os

        from alchemy_resolvers.dispatch import Prepared

        idx = self.first + pos
        attempt = self.attempt.get(pos, 1)
        self.compose(pos)
        _, job_dir, _ = self.composed[pos]
        if attempt > 1:  # a rerun: the earlier run's output goes aside, its result away
            (self.tmp / f"job_{idx}.result").unlink(missing_ok=True)
            kept = move_output_aside(job_dir, attempt - 1)
            if kept is not None:
                log.info(f"job #{idx}: the output of attempt {attempt - 1} is in {kept}")
        job_dir.mkdir(parents=True, exist_ok=True)
        job_path = self.job_path(pos)
        if pos in self.payloads:
            job_path.write_bytes(self.payloads.pop(pos))
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
            env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # NVML's numbering
        elif self.plan.cpu_env_gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.plan.cpu_env_gpus
        env[ATTEMPT_ENV] = str(attempt)
        return Prepared(
            argv=[sys.executable, "-m", WORKER_MODULE, str(self.ctx_path), str(job_path)],
            log_path=job_dir / self.opts.log_name,
            env=env,
            fork_job=str(job_path),
            lock_dir=job_dir,
        )

    def retry(self, outcome: Any) -> str:
        """Why job ``outcome`` should run again ("" for not): a crash, a timeout or a
        ``retry_on`` exception, with retries left (see :mod:`._retry`)."""
        from hydra.core.utils import JobStatus

        if outcome.error is not None or outcome.attempt > self.opts.retries:
            return ""
        why = ""
        if outcome.timed_out:
            why = outcome.reason(self.timeout_s)
        else:
            result = _read_result(self.tmp / f"job_{self.first + outcome.index}.result")
            if result is None:
                if outcome.returncode:  # no result and not a clean exit: a crash
                    why = outcome.reason(self.timeout_s)
            else:
                e = result[1]._return_value if result[0] == "ok" else result[1]
                clean_exit = result[0] == "exit" and getattr(e, "code", 1) in (None, 0)
                failed = not clean_exit and (result[0] != "ok" or result[1].status == JobStatus.FAILED)
                if failed and retried_exception(e, self.retry_on):
                    why = f"raised {type(e).__name__}: {e} (in hydra.launcher.retry_on)"
        if why:
            self.attempt[outcome.index] = outcome.attempt + 1
        return why

    def judge(self, outcome: Any) -> str:
        """Read the result as soon as the job ends (so the progress line can say why a
        task that raised failed) and hand it to the sweeper's callback."""
        idx = self.first + outcome.index
        # The job has ended for good (retries come before this): its composed config is
        # no longer needed here, and a sweep's process should not keep one per job.
        ret = job_return(outcome, self.overrides[outcome.index], idx,
                         self.composed.pop(outcome.index, None), self.tmp, self.timeout_s)
        set_attempts(ret, outcome.attempt)
        self.returns[outcome.index] = ret
        if self.on_job_done is not None:
            try:
                self.on_job_done(idx, ret)
            except Exception as e:  # noqa: BLE001 - a recording failure must not stop the jobs
                log.error(f"Recording job #{idx} failed: {type(e).__name__}: {e}")
        err = ret._return_value
        return err.reason if isinstance(err, JobFailedError) else ""


def _caching_context(hydra_context: Any) -> Any:
    """The context to compose jobs with: Hydra's loader merges every config file again
    for every job (~45 ms for a tiny app); the alchemy sweeper's loader merges once per
    set of group choices and applies each job's overrides to a copy, exactly as Hydra
    does (``tests/test_sweeper.py`` checks). Under the alchemy sweeper the context has
    it already (and ``compose_once=false`` is respected); jobs still get the original
    context."""
    from hydra.types import HydraContext

    from hydra_plugins.alchemy_sweeper._compose import GroupCachingConfigLoader

    if isinstance(hydra_context.config_loader, GroupCachingConfigLoader):
        return hydra_context
    return HydraContext(config_loader=GroupCachingConfigLoader(hydra_context.config_loader),
                        callbacks=hydra_context.callbacks)


def interpolations(config: Any) -> List[str]:
    """The sweep config's strings that hold ``${...}`` (Hydra's own among them: the
    sweep dir, the job log's file name): the zygote parses them once, so that every job
    it forks starts with OmegaConf's parser warm (a cold parse of a few interpolations
    costs a fresh process ~5 ms; see :func:`._zygote.warm_up_parser`)."""
    from omegaconf import OmegaConf

    found: List[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str) and "${" in node:
            found.append(node)

    try:
        walk(OmegaConf.to_container(config, resolve=False))
    except Exception:  # noqa: BLE001 - a warm-up only: jobs parse what they need anyway
        return []
    return list(dict.fromkeys(found))


def task_module_imports(task_function: Any) -> List[str]:
    """The modules the task function's module imported (``import pandas as pd``,
    ``from sklearn.svm import SVC``), and that module itself unless it is the script:
    what the zygote imports once so that no job has to. The script (``__main__``) is
    never run there."""
    import types

    name = getattr(task_function, "__module__", None) or "__main__"
    module = sys.modules.get(name)
    found = set() if name == "__main__" else {name}
    for value in vars(module).values() if module is not None else ():
        if isinstance(value, types.ModuleType):
            found.add(value.__name__)
        elif isinstance(value, type) or callable(value):
            owner = getattr(value, "__module__", None)
            if isinstance(owner, str):
                found.add(owner)
    return sorted(n for n in found if n not in ("__main__", "builtins") and n in sys.modules)


def _read_result(path: Path) -> Any:
    """``("ok", JobReturn, task_location)`` or ``("error", exception, traceback text)``
    as the worker wrote it, or None."""
    import pickle

    if not path.exists():
        return None
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception as e:  # noqa: BLE001
        return ("error", RuntimeError(f"its result file could not be read: {e}"), "")


def job_return(outcome: Any, overrides: List[str], idx: int, composed: Any,
               tmp: Path, timeout_s: Optional[float]) -> Any:
    """The ``JobReturn`` of an ended job; a failure of any kind is a FAILED return
    whose ``_return_value`` is a :class:`JobFailedError`."""
    from hydra.core.utils import JobReturn, JobStatus

    from ._jobconfig import attach_job_config

    result = _read_result(tmp / f"job_{idx}.result") if outcome.error is None else None
    log_path = str(outcome.log_path) if outcome.log_path else None
    gpus = f" on GPU {','.join(outcome.gpus)}" if outcome.gpus else ""

    def failed(reason: str, cause: Optional[BaseException] = None,
               location: Optional[str] = None) -> JobFailedError:
        where = f"; log: {log_path}" if log_path else ""
        at = f" at {location}" if location else ""
        err = JobFailedError(f"job #{idx}{gpus} ({' '.join(overrides) or 'no overrides'}) "
                             f"{reason}{at}{where}", job_idx=idx, reason=reason,
                             log_path=log_path, task_location=location)
        err.__cause__ = cause
        return err

    if result is not None and not outcome.timed_out and result[0] == "ok":
        ret = result[1]
        if ret.status == JobStatus.FAILED:
            e = ret._return_value
            ret.return_value = failed(f"raised {type(e).__name__}: {e}", e, result[2])
        return ret
    if result is not None and not outcome.timed_out and result[0] == "exit":
        # sys.exit() / sys.exit(0) is a completed run without a return value, as under
        # Hydra's basic launcher (and the alchemy sweeper there); any other exit failed.
        e = result[1]
        code = getattr(e, "code", 1)
        if isinstance(e, SystemExit) and code in (None, 0):
            ret = JobReturn(overrides=overrides, status=JobStatus.COMPLETED, _return_value=None)
        else:
            reason = (f"exited with code {code} (sys.exit in the task)" if isinstance(e, SystemExit)
                      else f"raised {type(e).__name__} in the task")
            ret = JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=failed(reason, e))
        if composed is not None:
            attach_job_config(ret, *composed[:2])
        return ret
    if result is not None and not outcome.timed_out:
        e = result[1]
        reason = f"failed outside the task: {type(e).__name__}: {e}"
    else:
        e = outcome.error
        reason = outcome.reason(timeout_s) or "ended without a result"
        if outcome.returncode == 0 and not outcome.timed_out:
            reason = "exited with code 0 without a result (sys.exit or os._exit in the task?)"
    ret = JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=failed(reason, e))
    if composed is not None:
        attach_job_config(ret, *composed[:2])
    return ret
