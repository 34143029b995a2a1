"""What a GPU looks like right now: the one narrow interface between allocation and NVML.

The allocator never talks to NVML directly, so it can be tested (and benchmarked) on a
machine without GPUs with :class:`FakeProbe`, and the real :class:`NvmlProbe` stays a
few lines of pynvml (the ``nvidia-ml-py`` distribution) calls.

``HYDRA_ALCHEMY_FAKE_GPUS`` (a testing aid, see :func:`make_probe`) swaps the fake in
for a whole Hydra run, so an end-to-end sweep can be exercised without hardware.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from alchemy_resolvers.errors import AlchemyError, SettingsError

#: Environment variable that replaces NVML by simulated GPUs (testing aid).
FAKE_GPUS_ENV = "HYDRA_ALCHEMY_FAKE_GPUS"


class NvmlUnavailableError(AlchemyError, RuntimeError):
    """NVML could not be loaded or initialised (no driver, no GPU, no nvidia-ml-py)."""


class GpuPoolError(SettingsError):
    """The GPUs to use cannot be determined or cannot ever fit a job: a setting wrong
    for the whole sweep (``key`` names it), found before any job starts."""


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    #: MB the process holds on this GPU; ``None`` where the driver does not say
    #: (some containers and Windows drivers report nothing).
    used_mb: Optional[float] = None


@dataclass(frozen=True)
class GpuReading:
    """One GPU's state at one moment; readings are per GPU, never one GPU's for all."""

    gpu: str
    total_mb: float
    free_mb: float
    processes: Tuple[GpuProcess, ...] = ()


class GpuProbe:
    """Reads GPU state. ``gpu`` ids are the strings a user writes in
    ``CUDA_VISIBLE_DEVICES`` (an index such as ``"0"``, or a ``GPU-<uuid>``)."""

    #: Human-readable name used in log lines and errors.
    name: str = "probe"

    def device_ids(self) -> List[str]:
        """Every GPU the probe can see, in its own (PCI bus) order."""
        raise NotImplementedError

    def key(self, gpu: str) -> str:
        """A machine-wide identity for lease files, so two sweeps that name one GPU
        differently (index vs UUID) still exclude each other."""
        return gpu

    def read(self, gpus: Sequence[str]) -> Dict[str, GpuReading]:
        raise NotImplementedError

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- NVML


class NvmlProbe(GpuProbe):
    """Probe backed by NVML through pynvml (distribution ``nvidia-ml-py``).

    NVML numbers GPUs in PCI bus order; the launcher sets ``CUDA_DEVICE_ORDER=PCI_BUS_ID``
    for jobs whose environment does not choose an order, so an index means the same GPU
    to NVML and to CUDA inside the job.
    """

    name = "nvml"

    def __init__(self) -> None:
        try:
            import pynvml  # noqa: PLC0415 - heavy and optional: load only when used
        except ImportError as e:  # pragma: no cover - nvidia-ml-py is a dependency
            raise NvmlUnavailableError(
                f"the pynvml module (pip package nvidia-ml-py) cannot be imported: {e}"
            ) from e
        try:
            pynvml.nvmlInit()
        except Exception as e:  # NVMLError_* subclasses, OSError from ctypes
            raise NvmlUnavailableError(f"NVML could not be initialised: {e}") from e
        self._nvml = pynvml
        self._handles: Dict[str, Any] = {}
        self._keys: Dict[str, str] = {}
        self._lock = threading.Lock()

    def device_ids(self) -> List[str]:
        return [str(i) for i in range(self._nvml.nvmlDeviceGetCount())]

    def _handle(self, gpu: str) -> Any:
        h = self._handles.get(gpu)
        if h is None:
            nv = self._nvml
            try:
                if gpu.strip().isdigit():
                    h = nv.nvmlDeviceGetHandleByIndex(int(gpu))
                else:
                    h = nv.nvmlDeviceGetHandleByUUID(gpu.strip())
            except nv.NVMLError as e:
                raise ValueError(
                    f"GPU {gpu!r} is not known to NVML ({e}); it sees "
                    f"{nv.nvmlDeviceGetCount()} GPU(s), indexed 0..N-1 in PCI bus order"
                ) from e
            self._handles[gpu] = h
        return h

    def key(self, gpu: str) -> str:
        k = self._keys.get(gpu)
        if k is None:
            uuid = self._nvml.nvmlDeviceGetUUID(self._handle(gpu))
            k = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
            self._keys[gpu] = k
        return k

    def read(self, gpus: Sequence[str]) -> Dict[str, GpuReading]:
        nv = self._nvml
        out: Dict[str, GpuReading] = {}
        with self._lock:
            for g in gpus:
                h = self._handle(g)
                mem = nv.nvmlDeviceGetMemoryInfo(h)
                procs: Dict[int, GpuProcess] = {}
                for getter in ("nvmlDeviceGetComputeRunningProcesses",
                               "nvmlDeviceGetGraphicsRunningProcesses"):
                    try:
                        running = getattr(nv, getter)(h)
                    except nv.NVMLError:
                        continue
                    for p in running:
                        used = getattr(p, "usedGpuMemory", None)
                        procs[int(p.pid)] = GpuProcess(
                            int(p.pid), None if used is None else used / 2**20
                        )
                out[g] = GpuReading(
                    gpu=g,
                    total_mb=mem.total / 2**20,
                    free_mb=mem.free / 2**20,
                    processes=tuple(procs.values()),
                )
        return out

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001 - shutting down a dead library is harmless
            pass


# --------------------------------------------------------------------------- fake


@dataclass
class FakeGpu:
    """A simulated GPU: memory in MB and processes of *other* users (foreign pids)."""

    total_mb: float = 16000.0
    used_mb: float = 0.0
    foreign_pids: List[int] = field(default_factory=list)
    uuid: Optional[str] = None


class FakeProbe(GpuProbe):
    """Simulated GPUs for tests and benchmarks.

    Mutate :attr:`gpus` to simulate load changing over time, or build it from a spec
    file (``@/path.json``) which is re-read on every probe, so a test in another process
    can make a busy GPU free up in the middle of a sweep.
    """

    name = "fake"

    def __init__(self, gpus: Sequence[FakeGpu] = (), spec_file: Optional[Path] = None):
        self.gpus: List[FakeGpu] = list(gpus)
        self._spec_file = spec_file
        self.reads = 0

    @classmethod
    def from_spec(cls, spec: str) -> "FakeProbe":
        """Parse ``HYDRA_ALCHEMY_FAKE_GPUS``.

        - ``"4"``: four idle 16000 MB GPUs;
        - a JSON list, one object per GPU with optional ``total_mb``, ``used_mb``,
          ``foreign_pids`` (list of ints) or ``procs`` (a count of foreign processes);
        - ``"@/path/file.json"``: the same JSON, re-read on every probe.
        """
        spec = spec.strip()
        if spec.startswith("@"):
            path = Path(spec[1:])
            probe = cls(_parse_fake_json(path.read_text(), source=str(path)), spec_file=path)
            return probe
        if spec.isdigit():
            return cls([FakeGpu() for _ in range(int(spec))])
        return cls(_parse_fake_json(spec, source=FAKE_GPUS_ENV))

    def _refresh(self) -> None:
        if self._spec_file is not None:
            try:
                self.gpus = _parse_fake_json(
                    self._spec_file.read_text(), source=str(self._spec_file)
                )
            except (OSError, ValueError):
                pass  # a half-written file: keep the last good state

    def device_ids(self) -> List[str]:
        self._refresh()
        return [str(i) for i in range(len(self.gpus))]

    def _gpu(self, gpu: str) -> FakeGpu:
        if not gpu.isdigit() or int(gpu) >= len(self.gpus):
            raise ValueError(
                f"GPU {gpu!r} is not one of the {len(self.gpus)} fake GPUs "
                f"({FAKE_GPUS_ENV}); use indices 0..{len(self.gpus) - 1}"
            )
        return self.gpus[int(gpu)]

    def key(self, gpu: str) -> str:
        g = self._gpu(gpu)
        return g.uuid or f"fake-{gpu}"

    def read(self, gpus: Sequence[str]) -> Dict[str, GpuReading]:
        self._refresh()
        self.reads += 1
        out = {}
        for gid in gpus:
            g = self._gpu(gid)
            out[gid] = GpuReading(
                gpu=gid,
                total_mb=g.total_mb,
                free_mb=max(0.0, g.total_mb - g.used_mb),
                processes=tuple(GpuProcess(p, None) for p in g.foreign_pids),
            )
        return out


def _parse_fake_json(text: str, source: str) -> List[FakeGpu]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{source}: expected a GPU count such as '4' or a JSON list of GPUs "
            f"like '[{{\"total_mb\": 16000, \"used_mb\": 0, \"procs\": 0}}]': {e}"
        ) from e
    if not isinstance(data, list):
        raise ValueError(f"{source}: expected a JSON list of GPUs, got {type(data).__name__}")
    gpus = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValueError(f"{source}: GPU #{i} must be a JSON object, got {item!r}")
        pids = [int(p) for p in item.get("foreign_pids", [])]
        # Fake pids far above any real pid_max, so they are never our own jobs.
        pids += [10**9 + 1000 * i + k for k in range(int(item.get("procs", 0)))]
        gpus.append(
            FakeGpu(
                total_mb=float(item.get("total_mb", 16000.0)),
                used_mb=float(item.get("used_mb", 0.0)),
                foreign_pids=pids,
                uuid=item.get("uuid"),
            )
        )
    return gpus


def make_probe() -> GpuProbe:
    """The probe for this process: fake GPUs when ``HYDRA_ALCHEMY_FAKE_GPUS`` is set,
    else NVML (raises :class:`NvmlUnavailableError` with the reason when it is absent)."""
    spec = os.environ.get(FAKE_GPUS_ENV)
    if spec:
        return FakeProbe.from_spec(spec)
    return NvmlProbe()
