"""GPU slots for jobs, exclusive across every sweep of one user on one machine.

A GPU has ``jobs_per_gpu`` slots. A job takes one slot on each of ``gpus_per_job``
distinct GPUs. Each slot is a lease file ``<lease dir>/<gpu key>.slot<k>.lease`` held
with ``fcntl.flock``; the kernel drops a flock when the last descriptor of it closes, so
a crashed holder can never leave a slot stuck, and no pid bookkeeping can go stale.

The lease descriptor is handed to the job's own process (``pass_fds``), so the slot stays
taken while the job runs even if the launcher that started it dies; it frees when both
the job and its launcher have let go of it.

Lease dir: ``$HYDRA_ALCHEMY_LEASE_DIR``, default ``/tmp/hydra-alchemy-gpu-leases-<uid>``.
Sweeps exclude each other only when they share it (same user, or the variable pointing
to one group-writable directory); another user's jobs are still seen through NVML as
foreign processes and memory when ``block=True``.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from .leases import Lease, LeaseDir
from .probe import GpuPoolError, GpuProbe, GpuReading, NvmlUnavailableError, make_probe

log = logging.getLogger(__name__)

#: ``memory_need=-1`` means "nearly all of it": this share of the GPU's total memory
#: (divided among ``jobs_per_gpu`` slots) must be free.
NEARLY_ALL = 0.95


@dataclass
class Allocation:
    """GPUs given to one job. Set :attr:`pid` once its process runs: processes in
    that session are then counted as ours, not foreign, when judging idleness."""

    gpus: List[str]
    leases: List[Lease]
    pid: Optional[int] = None

    @property
    def fds(self) -> Tuple[int, ...]:
        return tuple(lease.fd for lease in self.leases)

    @property
    def cuda_visible_devices(self) -> str:
        return ",".join(self.gpus)


@dataclass
class _GpuState:
    gpu: str
    key: str
    order: int
    ours: List[Allocation] = field(default_factory=list)


class SlotAllocator:
    """Hands out GPU slots to jobs, never blocking: a job that does not fit now gets
    ``None`` and the caller retries after a job ends or after ``poll_interval``.

    ``block=True``: a GPU qualifies only when its reading shows enough free memory (after
    reserving ``memory_need`` for each of our jobs on it that has not allocated it yet)
    and at most ``max_process`` processes that are not ours. ``block=False`` (or no
    probe): GPUs are handed out in pool order without looking at them. Either way a
    slot is leased, so no two jobs, of this sweep or another, ever share it.
    Among qualifying GPUs, those running fewer of our jobs come first, then pool order.
    """

    def __init__(
        self,
        pool: Sequence[Any],
        gpus_per_job: int,
        *,
        jobs_per_gpu: int = 1,
        block: bool = True,
        memory_need: float = -1,
        max_process: int = -1,
        probe: Optional[GpuProbe] = None,
        lease_dir: Optional[LeaseDir] = None,
        holder: str = "",
    ) -> None:
        self.pool = [str(g).strip() for g in pool]
        if len(set(self.pool)) != len(self.pool):
            raise GpuPoolError(f"the GPU pool {self.pool} names a GPU twice", key="hydra.launcher.gpus")
        if gpus_per_job < 1:
            raise GpuPoolError(f"gpus_per_job must be >= 1 for a GPU allocator, got {gpus_per_job}",
                               key="hydra.launcher.gpus_per_job")
        if gpus_per_job > len(self.pool):
            raise GpuPoolError(
                f"gpus_per_job={gpus_per_job} but the GPU pool has only {len(self.pool)} "
                f"GPU(s) {self.pool}; lower hydra.launcher.gpus_per_job or add GPUs "
                f"to hydra.launcher.gpus", key="hydra.launcher.gpus_per_job"
            )
        if jobs_per_gpu < 1:
            raise GpuPoolError(f"jobs_per_gpu must be >= 1, got {jobs_per_gpu}",
                               key="hydra.launcher.jobs_per_gpu")
        self.gpus_per_job = gpus_per_job
        self.jobs_per_gpu = jobs_per_gpu
        self.probe = probe
        self.block = block and probe is not None
        self.memory_need = float(memory_need)
        self.max_process = int(max_process)
        self.leases = lease_dir if lease_dir is not None else LeaseDir()
        self.holder = holder
        keys = {g: (probe.key(g) if probe is not None else f"gpu-{g}") for g in self.pool}
        self._gpus = [_GpuState(g, keys[g], i) for i, g in enumerate(self.pool)]
        self._readings: Dict[str, GpuReading] = {}
        self._read_at = float("-inf")
        #: Why the last failed attempt could not place a job (for progress/log lines).
        self.wait_reason = ""

    # ------------------------------------------------------------------ readings
    def refresh(self) -> None:
        """Take a fresh reading of every GPU in the pool (only needed with block)."""
        if not self.block or self.probe is None:
            return
        self._readings = self.probe.read(self.pool)
        self._read_at = time.monotonic()
        self._check_possible()

    def _check_possible(self) -> None:
        fits = [g for g in self.pool if self._need(self._readings[g]) <= self._readings[g].total_mb]
        if len(fits) < self.gpus_per_job:
            r = self._readings[self.pool[0]]
            raise GpuPoolError(
                f"memory_need={self.memory_need:g} MB can never be met: only {len(fits)} GPU(s) "
                f"of the pool {self.pool} have that much memory in total (GPU {r.gpu}: "
                f"{r.total_mb:.0f} MB), and a job needs {self.gpus_per_job}; lower "
                f"hydra.launcher.memory_need", key="hydra.launcher.memory_need"
            )

    def _need(self, r: GpuReading) -> float:
        if self.memory_need < 0:
            return NEARLY_ALL * r.total_mb / self.jobs_per_gpu
        return self.memory_need

    @property
    def in_use(self) -> int:
        """GPUs running at least one of our jobs."""
        return sum(1 for s in self._gpus if s.ours)

    def _our_sessions(self) -> Set[int]:
        return {a.pid for s in self._gpus for a in s.ours if a.pid is not None}

    @staticmethod
    def _session_of(pid: int, sessions: Set[int]) -> Optional[int]:
        if pid in sessions:
            return pid
        try:
            sid = os.getsid(pid)
        except OSError:  # not in our pid namespace, or gone
            return None
        return sid if sid in sessions else None

    def _idle_problem(self, st: _GpuState, sessions: Set[int]) -> Optional[str]:
        """None when the GPU can take one more of our jobs, else why not."""
        r = self._readings.get(st.gpu)
        if r is None:
            return f"GPU {st.gpu}: no reading"
        foreign = 0
        our_used: Dict[int, float] = {}
        for p in r.processes:
            sid = self._session_of(p.pid, sessions)
            if sid is None:
                foreign += 1
            else:
                our_used[sid] = our_used.get(sid, 0.0) + (p.used_mb or 0.0)
        if self.max_process >= 0 and foreign > self.max_process:
            return f"GPU {st.gpu}: {foreign} foreign process(es) > max_process={self.max_process}"
        need = self._need(r)
        # Our jobs that have not allocated their share yet still get it reserved.
        reserve = sum(max(0.0, need - our_used.get(a.pid or -1, 0.0)) for a in st.ours)
        avail = r.free_mb - reserve
        if avail < need:
            return f"GPU {st.gpu}: {avail:.0f} MB free < {need:.0f} MB needed"
        return None

    # ---------------------------------------------------------------- allocation
    def try_acquire(self) -> Optional[Allocation]:
        if self.block and not self._readings:
            self.refresh()
        sessions = self._our_sessions()
        candidates = []
        problems = []
        for st in self._gpus:
            if len(st.ours) >= self.jobs_per_gpu:
                continue
            if self.block:
                problem = self._idle_problem(st, sessions)
                if problem:
                    problems.append(problem)
                    continue
            candidates.append(st)
        candidates.sort(key=lambda s: (len(s.ours), s.order))
        taken: List[Tuple[_GpuState, Lease]] = []
        for st in candidates:
            lease = self._take_slot(st)
            if lease is None:
                problems.append(f"GPU {st.gpu}: all {self.jobs_per_gpu} slot(s) leased by other sweeps")
                continue
            taken.append((st, lease))
            if len(taken) == self.gpus_per_job:
                break
        if len(taken) < self.gpus_per_job:
            for _, lease in taken:
                lease.release()
            # Empty when only our own running jobs fill the pool: nothing to report.
            self.wait_reason = "; ".join(problems)
            return None
        alloc = Allocation(gpus=[st.gpu for st, _ in taken], leases=[lease for _, lease in taken])
        for st, _ in taken:
            st.ours.append(alloc)
        self.wait_reason = ""
        return alloc

    def _take_slot(self, st: _GpuState) -> Optional[Lease]:
        for slot in range(self.jobs_per_gpu):
            lease = self.leases.try_take(st.gpu, st.key, slot, self.holder)
            if lease is not None:
                return lease
        return None

    def release(self, alloc: Allocation) -> None:
        for st in self._gpus:
            if alloc in st.ours:
                st.ours.remove(alloc)
        for lease in alloc.leases:
            lease.release()

    def close(self) -> None:
        for st in self._gpus:
            for a in list(st.ours):
                self.release(a)


# ------------------------------------------------------------------------ pools


def split_gpus(value: Any) -> List[str]:
    if value is None:
        return []
    if isinstance(value, (int,)):
        return [str(value)]
    if isinstance(value, str):
        return [g.strip() for g in value.split(",") if g.strip()]
    return [str(g).strip() for g in value if str(g).strip()]


def resolve_pool(
    gpus: Any,
    gpus_per_job: int,
    probe_factory: Callable[[], GpuProbe] = make_probe,
) -> Tuple[List[str], Optional[GpuProbe], Optional[str]]:
    """Decide the GPU pool and the probe for a GPU sweep.

    Returns ``(pool, probe, note)``: ``probe`` is ``None`` when NVML is absent but the
    GPUs were named (then they are handed out in order, unchecked) and ``note`` says so.
    The pool: ``gpus`` if given, else ``CUDA_VISIBLE_DEVICES`` if set, else every GPU
    the probe sees.
    """
    if gpus is not None:
        pool, source = split_gpus(gpus), "hydra.launcher.gpus"
    elif "CUDA_VISIBLE_DEVICES" in os.environ:
        pool, source = split_gpus(os.environ["CUDA_VISIBLE_DEVICES"]), "CUDA_VISIBLE_DEVICES"
    else:
        pool, source = [], ""
    if source and not pool:
        raise GpuPoolError(
            f"gpus_per_job={gpus_per_job} but {source} names no GPU; name some "
            f"(hydra.launcher.gpus=[0,1]) or run CPU-only jobs with "
            f"hydra.launcher.gpus_per_job=0", key="hydra.launcher.gpus"
        )
    try:
        probe: Optional[GpuProbe] = probe_factory()
    except NvmlUnavailableError as e:
        if not source:
            raise GpuPoolError(
                f"hydra/launcher=alchemy: gpus_per_job={gpus_per_job} needs GPUs, but none "
                f"were named and NVML cannot list them ({e}). For CPU-only jobs set "
                f"hydra.launcher.gpus_per_job=0; to use GPUs without NVML name them with "
                f"hydra.launcher.gpus=[0,1] or CUDA_VISIBLE_DEVICES (they are then handed "
                f"out in order, without checking that they are idle).",
                key="hydra.launcher.gpus_per_job",
            ) from e
        return pool, None, (
            f"NVML is not available ({e}): GPUs {pool} from {source} are handed out in "
            f"order without checking memory or foreign processes"
        )
    if not source:
        pool = probe.device_ids()
        if not pool:
            probe.close()
            raise GpuPoolError(
                f"hydra/launcher=alchemy: gpus_per_job={gpus_per_job} but NVML sees no GPU; "
                f"set hydra.launcher.gpus_per_job=0 (or auto) for CPU-only jobs",
                key="hydra.launcher.gpus_per_job",
            )
    else:
        _check_known(pool, probe, source)
    return pool, probe, None


def _check_known(pool: List[str], probe: GpuProbe, source: str) -> None:
    """Refuse a GPU the probe does not know, before any job starts."""
    for gpu in pool:
        try:
            probe.key(gpu)
        except ValueError as e:
            known = probe.device_ids()
            probe.close()
            raise GpuPoolError(
                f"{source} names GPU {gpu!r}, which the {probe.name} probe does not know: {e}",
                key="hydra.launcher.gpus" if source == "hydra.launcher.gpus" else None,
                hint=f"name GPUs from {known}, or run CPU-only jobs with "
                     f"hydra.launcher.gpus_per_job=0",
            ) from e

