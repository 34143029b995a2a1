"""Hydra side of ``hydra/launcher=alchemy``: turn job overrides into fresh processes and
their results back into ``JobReturn`` s, in job order.

Each job's config is composed in the launcher first (``load_sweep_config``, as Hydra's
basic launcher does) to learn its directory: the log ``<job dir>/<log_name>`` (default
``job.log``) must be open before the process starts, and a job that dies without a word
still gets a ``JobReturn`` with its overrides, config and directory. The job's process
composes it again (see :mod:`.worker`).
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from alchemy_resolvers.gpu.allocator import LeaseDir, SlotAllocator, resolve_pool
from alchemy_resolvers.dispatch.pool import Dispatcher, Outcome, Prepared, ProcessJob, Progress

log = logging.getLogger(__name__)

WORKER_MODULE = "hydra_plugins.alchemy_launcher._worker"


class JobFailedError(RuntimeError):
    """A job of ``hydra/launcher=alchemy`` failed; the message says why and where its log is.

    ``__cause__`` is the task's own exception when the task raised.
    """

    def __init__(self, message: str, *, job_idx: Optional[int] = None,
                 reason: str = "", log_path: Optional[str] = None) -> None:
        super().__init__(message)
        self.job_idx = job_idx
        self.reason = reason
        self.log_path = log_path

    def __reduce__(self) -> Any:
        return (_rebuild_job_failed, (str(self), self.__dict__.copy()))


def _rebuild_job_failed(message: str, state: Dict[str, Any]) -> JobFailedError:
    e = JobFailedError(message)
    e.__dict__.update(state)
    return e


@dataclass
class LocalLaunchOptions:
    """The launcher's options, as its config gives them (defaults and docs:
    ``hydra_plugins/alchemy_launcher/config.py``, the one place they are set)."""

    gpus_per_job: int
    gpus: Any
    block: bool
    memory_need: float
    max_process: int
    jobs_per_gpu: int
    poll_interval: float
    n_jobs: Optional[int]
    timeout_min: Optional[float]
    log_name: str
    progress: Optional[bool]  # None: a bar when stderr is a terminal


def launch_jobs(
    opts: LocalLaunchOptions,
    *,
    hydra_context: Any,
    config: Any,
    task_function: Any,
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    on_job_done: Optional[Callable[[int, Any], None]] = None,
) -> List[Any]:
    """Run the jobs; ``on_job_done(job_idx, job_return)`` is called as each one ends,
    so a sweeper can record results while the others still run."""
    import cloudpickle
    from hydra.core.singleton import Singleton
    from hydra.core.utils import configure_log, filter_overrides, setup_globals

    setup_globals()
    configure_log(config.hydra.hydra_logging, config.hydra.verbose)
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if not job_overrides:
        return []

    allocator, cpu_parallel, cpu_env_gpus = _make_slots(opts, sweep_dir)
    what = (f"{opts.gpus_per_job} GPU(s) per job from {allocator.pool}, "
            f"{opts.jobs_per_gpu} job(s) per GPU" if allocator
            else f"CPU only, up to {cpu_parallel} at once")
    log.info(f"Alchemy launcher: {len(job_overrides)} jobs, {what}; sweep dir: {sweep_dir}")

    tmp = Path(tempfile.mkdtemp(prefix="hydra-alchemy-launch-"))
    try:
        ctx_path = tmp / "context.pkl"
        (tmp / "sys_path.json").write_text(json.dumps([p for p in sys.path if p]))
        with open(ctx_path, "wb") as f:
            cloudpickle.dump(
                {
                    "hydra_context": hydra_context,
                    "config": config,
                    "task_function": task_function,
                    "singleton_state": Singleton.get_state(),
                },
                f,
            )

        composed: Dict[int, Any] = {}
        jobs: List[ProcessJob] = []
        for pos, overrides in enumerate(job_overrides):
            idx = initial_job_idx + pos
            label = f"#{idx}"
            shown = " ".join(filter_overrides(overrides))
            if shown:
                label += f" ({shown})"
            jobs.append(ProcessJob(
                index=pos,
                label=label,
                prepare=_preparer(opts, hydra_context, config, list(overrides), idx, tmp,
                                  ctx_path, composed, pos, cpu_env_gpus),
            ))

        returns: Dict[int, Any] = {}
        timeout_s = opts.timeout_min * 60 if opts.timeout_min else None

        def judge(o: Outcome) -> str:
            # Read the result as soon as the job ends, so the progress line can say why
            # a task that raised failed, not only jobs that died.
            ret = _job_return(o, list(job_overrides[o.index]), initial_job_idx + o.index,
                              composed.get(o.index), tmp, timeout_s)
            returns[o.index] = ret
            if on_job_done is not None:
                try:
                    on_job_done(initial_job_idx + o.index, ret)
                except Exception as e:  # noqa: BLE001 - a recording failure must not stop the jobs
                    log.error(f"Recording job #{initial_job_idx + o.index} failed: {type(e).__name__}: {e}")
            err = ret._return_value
            return err.reason if isinstance(err, JobFailedError) else ""

        dispatcher = Dispatcher(
            jobs,
            allocator=allocator,
            max_parallel=cpu_parallel if allocator is None else _n_jobs_cap(opts.n_jobs),
            timeout_s=timeout_s,
            poll_interval=opts.poll_interval,
            progress=Progress(len(jobs), len(allocator.pool) if allocator else None,
                              tty=opts.progress),
            judge=judge,
        )
        try:
            outcomes = dispatcher.run()
        finally:
            if allocator is not None:
                allocator.close()
                if allocator.probe is not None:
                    allocator.probe.close()
        return [returns[o.index] for o in outcomes]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _n_jobs_cap(n_jobs: Optional[int]) -> Optional[int]:
    if n_jobs is None:
        return None
    if n_jobs == -1:
        return os.cpu_count() or 1
    if n_jobs < 1:
        raise ValueError(f"hydra.launcher.n_jobs must be >= 1, -1 (all CPUs) or null, got {n_jobs}")
    return n_jobs


def _make_slots(opts: LocalLaunchOptions, sweep_dir: Path):
    """(allocator or None, CPU parallelism, CUDA_VISIBLE_DEVICES for CPU jobs or None)."""
    if opts.gpus_per_job < 0:
        raise ValueError(f"hydra.launcher.gpus_per_job must be >= 0, got {opts.gpus_per_job}")
    if opts.gpus_per_job == 0:
        cap = _n_jobs_cap(opts.n_jobs) or (os.cpu_count() or 1)
        env_gpus = None
        if opts.gpus is not None:
            from alchemy_resolvers.gpu.allocator import _split_gpus

            env_gpus = ",".join(_split_gpus(opts.gpus))
        return None, cap, env_gpus
    pool, probe, note = resolve_pool(opts.gpus, opts.gpus_per_job)
    if note:
        log.warning(note)
    allocator = SlotAllocator(
        pool,
        opts.gpus_per_job,
        jobs_per_gpu=opts.jobs_per_gpu,
        block=opts.block,
        memory_need=opts.memory_need,
        max_process=opts.max_process,
        probe=probe,
        lease_dir=LeaseDir(),
        holder=str(sweep_dir),
    )
    return allocator, None, None


def _preparer(opts, hydra_context, config, overrides, idx, tmp, ctx_path, composed, pos, cpu_env_gpus):
    def prepare(gpus: List[str]) -> Prepared:
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import OmegaConf, open_dict

        sweep_config = hydra_context.config_loader.load_sweep_config(config, overrides)
        with open_dict(sweep_config):
            sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
            sweep_config.hydra.job.num = idx
        hc = HydraConfig.instance()
        saved = hc.cfg
        try:
            hc.set_config(sweep_config)  # ${hydra:...} in the dirs reads this job's values
            job_dir = Path(str(OmegaConf.select(sweep_config, "hydra.sweep.dir")))
            job_dir = job_dir / str(OmegaConf.select(sweep_config, "hydra.sweep.subdir"))
        finally:
            hc.cfg = saved
        job_dir = job_dir.absolute()
        composed[pos] = (sweep_config, job_dir)
        job_dir.mkdir(parents=True, exist_ok=True)
        job_path = tmp / f"job_{idx}.pkl"
        with open(job_path, "wb") as f:
            pickle.dump({"idx": idx, "job_id": sweep_config.hydra.job.id,
                         "overrides": overrides,
                         "result_path": str(tmp / f"job_{idx}.result")}, f)
        env = dict(os.environ)
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus)
            env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # NVML's numbering
        elif cpu_env_gpus is not None:
            env["CUDA_VISIBLE_DEVICES"] = cpu_env_gpus
        return Prepared(
            argv=[sys.executable, "-m", WORKER_MODULE, str(ctx_path), str(job_path)],
            log_path=job_dir / opts.log_name,
            env=env,
        )

    return prepare


def _job_return(outcome: Outcome, overrides: List[str], idx: int, composed: Any,
                tmp: Path, timeout_s: Optional[float]) -> Any:
    from hydra.core.utils import JobReturn, JobStatus

    result = None
    result_path = tmp / f"job_{idx}.result"
    if outcome.error is None and result_path.exists():
        try:
            with open(result_path, "rb") as f:
                result = pickle.load(f)
        except Exception as e:  # noqa: BLE001
            result = ("error", RuntimeError(f"its result file could not be read: {e}"), "")
    log_path = str(outcome.log_path) if outcome.log_path else None
    gpus = f" on GPU {','.join(outcome.gpus)}" if outcome.gpus else ""

    def failed(reason: str, cause: Optional[BaseException] = None) -> JobFailedError:
        where = f"; log: {log_path}" if log_path else ""
        err = JobFailedError(f"job #{idx}{gpus} ({' '.join(overrides) or 'no overrides'}) "
                             f"{reason}{where}", job_idx=idx, reason=reason, log_path=log_path)
        err.__cause__ = cause
        return err

    if result is not None and result[0] == "ok" and not outcome.timed_out:
        ret = result[1]
        if ret.status == JobStatus.FAILED:
            e = ret._return_value
            ret._return_value = failed(f"raised {type(e).__name__}: {e}", e)
        return ret

    if result is not None and result[0] == "error" and not outcome.timed_out:
        e = result[1]
        reason = f"failed outside the task: {type(e).__name__}: {e}"
    else:
        e = outcome.error
        reason = outcome.reason(timeout_s) or "ended without a result"
        if outcome.returncode == 0 and not outcome.timed_out:
            reason = "exited with code 0 without a result (sys.exit or os._exit in the task?)"

    ret = JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=failed(reason, e))
    if composed is not None:
        attach_job_config(ret, *composed)
    return ret


def attach_job_config(ret: Any, sweep_config: Any, job_dir: Path) -> None:
    """Give the JobReturn of a job that died before Hydra's ``run_job`` returned the
    config and directory ``run_job`` would have set, so a sweeper can still report
    which job it was and where its log is."""
    import copy

    from omegaconf import OmegaConf, open_dict, read_write

    hydra_cfg = copy.deepcopy(sweep_config)
    with read_write(hydra_cfg.hydra.runtime), open_dict(hydra_cfg.hydra.runtime):
        hydra_cfg.hydra.runtime.output_dir = str(job_dir)
    task_cfg = copy.deepcopy(sweep_config)
    with read_write(task_cfg), open_dict(task_cfg):
        del task_cfg["hydra"]
    ret.cfg = task_cfg
    ret.hydra_cfg = OmegaConf.create({"hydra": hydra_cfg.hydra})
    ret.task_name = str(sweep_config.hydra.job.name)
    ret.working_dir = str(job_dir) if sweep_config.hydra.job.chdir else os.getcwd()
