"""The options of ``hydra/launcher=alchemy``, checked before any job starts, and the slots
they give: GPUs from an allocator, or CPU processes.

Every option wrong for the whole sweep raises :class:`~alchemy_resolvers.errors.SettingsError`
(key ``hydra.launcher.<option>``, a hint with the fix) before any job folder exists; the
plugin shows it as one message. Defaults and docs: ``config.py`` (the one place).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from numbers import Real
from typing import Any, Optional, Union

from alchemy_resolvers.errors import SettingsError

log = logging.getLogger(__name__)

AUTO = "auto"
START_METHODS = ("fork_server", "spawn")


@dataclass
class LocalLaunchOptions:
    """The launcher's options, as its config gives them."""

    gpus_per_job: Union[int, str]
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
    start_method: str  # "fork_server" or "spawn"
    retries: int = 0
    retry_on: Any = ()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _bad(name: str, value: Any, want: str, hint: str) -> SettingsError:
    key = f"hydra.launcher.{name}"
    return SettingsError(f"{key} must be {want}, got {value!r}", key=key, hint=hint)


def check_options(o: LocalLaunchOptions) -> None:
    """Raise a ``SettingsError`` for the first option no job could run with."""
    g = o.gpus_per_job
    if not (g == AUTO or (_is_int(g) and g >= 0)):
        raise _bad("gpus_per_job", g, "auto or a number of GPUs >= 0",
                   "hydra.launcher.gpus_per_job=auto (one GPU per job where NVML sees GPUs, "
                   "else CPU only), =1, or =0 (CPU only)")
    if not (_is_int(o.jobs_per_gpu) and o.jobs_per_gpu >= 1):
        raise _bad("jobs_per_gpu", o.jobs_per_gpu, "an integer >= 1", "hydra.launcher.jobs_per_gpu=1")
    if o.n_jobs is not None and not (_is_int(o.n_jobs) and (o.n_jobs == -1 or o.n_jobs >= 1)):
        raise _bad("n_jobs", o.n_jobs, ">= 1, -1 (all CPUs) or null",
                   "hydra.launcher.n_jobs=null (no limit besides the slots)")
    if o.timeout_min is not None and not (_is_number(o.timeout_min) and o.timeout_min > 0):
        raise _bad("timeout_min", o.timeout_min, "a number of minutes > 0, or null",
                   "hydra.launcher.timeout_min=null (no limit)")
    if not (_is_number(o.poll_interval) and o.poll_interval > 0):
        raise _bad("poll_interval", o.poll_interval, "a number of seconds > 0",
                   "hydra.launcher.poll_interval=1")
    if not (_is_number(o.memory_need) and (o.memory_need >= 0 or o.memory_need == -1)):
        raise _bad("memory_need", o.memory_need, "MB >= 0, or -1 (nearly all)",
                   "hydra.launcher.memory_need=-1")
    if not (_is_int(o.max_process) and o.max_process >= -1):
        raise _bad("max_process", o.max_process, "an integer >= 0, or -1 (any)",
                   "hydra.launcher.max_process=-1")
    if o.start_method not in START_METHODS:
        raise _bad("start_method", o.start_method, " or ".join(START_METHODS),
                   "hydra.launcher.start_method=fork_server (or spawn: a fresh interpreter per job)")
    if not (isinstance(o.log_name, str) and o.log_name.strip()):
        raise _bad("log_name", o.log_name, "a file name", "hydra.launcher.log_name=job.log")
    from ._retry import check_retry_options

    check_retry_options(o.retries, o.retry_on)


def n_jobs_cap(n_jobs: Optional[int]) -> Optional[int]:
    if n_jobs == -1:
        return os.cpu_count() or 1
    return n_jobs


@dataclass
class SlotPlan:
    """Where jobs run: ``allocator`` (GPU slots) or up to ``cpu_parallel`` CPU jobs with
    ``cpu_env_gpus`` as their CUDA_VISIBLE_DEVICES (None: left as it is)."""

    allocator: Any = None
    cpu_parallel: Optional[int] = None
    cpu_env_gpus: Optional[str] = None
    why_cpu: str = ""

    def describe(self, o: LocalLaunchOptions) -> str:
        a = self.allocator
        if a is not None:
            return (f"{a.gpus_per_job} GPU(s) per job from {a.pool}, "
                    f"{o.jobs_per_gpu} job(s) per GPU")
        why = f" ({self.why_cpu})" if self.why_cpu else ""
        return f"CPU only{why}, up to {self.cpu_parallel} at once"

    def close(self) -> None:
        if self.allocator is not None:
            self.allocator.close()
            if self.allocator.probe is not None:
                self.allocator.probe.close()


def _why_no_gpu() -> str:
    """For ``gpus_per_job=auto``: why jobs run CPU-only here ("" when GPUs are seen)."""
    from alchemy_resolvers.gpu import NvmlUnavailableError, make_probe, split_gpus

    if "CUDA_VISIBLE_DEVICES" in os.environ and not split_gpus(os.environ["CUDA_VISIBLE_DEVICES"]):
        return "gpus_per_job=auto and CUDA_VISIBLE_DEVICES names no GPU"
    try:
        probe = make_probe()
    except NvmlUnavailableError as e:
        return f"gpus_per_job=auto and NVML sees no GPU: {e}"
    try:
        if not probe.device_ids():
            return f"gpus_per_job=auto and {probe.name} sees no GPU"
    finally:
        probe.close()
    return ""


def plan_slots(o: LocalLaunchOptions, holder: str) -> SlotPlan:
    """The slots of a sweep; raises ``SettingsError`` when they cannot exist."""
    from alchemy_resolvers.gpu import LeaseDir, SlotAllocator, resolve_pool, split_gpus

    n = o.gpus_per_job
    why_cpu = ""
    if n == AUTO:
        why_cpu = "" if o.gpus is not None else _why_no_gpu()
        n = 0 if why_cpu else 1
    if n == 0:
        env_gpus = None if o.gpus is None else ",".join(split_gpus(o.gpus))
        return SlotPlan(None, n_jobs_cap(o.n_jobs) or (os.cpu_count() or 1), env_gpus, why_cpu)
    pool, probe, note = resolve_pool(o.gpus, n)
    if note:
        log.warning(note)
    try:
        allocator = SlotAllocator(
            pool, n, jobs_per_gpu=o.jobs_per_gpu, block=o.block, memory_need=o.memory_need,
            max_process=o.max_process, probe=probe, lease_dir=LeaseDir(), holder=holder,
        )
        allocator.refresh()  # memory_need that no GPU can meet fails here, not mid-sweep
    except BaseException:
        if probe is not None:
            probe.close()
        raise
    return SlotPlan(allocator)
