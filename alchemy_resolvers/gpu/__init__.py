"""GPU probing (NVML behind a small interface) and cross-process slot allocation.

Importing this package loads neither pynvml nor NVML: :class:`NvmlProbe` does, when built.
"""
from .allocator import NEARLY_ALL, Allocation, SlotAllocator, resolve_pool, split_gpus
from .leases import LEASE_DIR_ENV, Lease, LeaseDir, default_lease_dir
from .probe import (
    FAKE_GPUS_ENV,
    GpuPoolError,
    FakeGpu,
    FakeProbe,
    GpuProbe,
    GpuProcess,
    GpuReading,
    NvmlProbe,
    NvmlUnavailableError,
    make_probe,
)

__all__ = [
    "LEASE_DIR_ENV", "NEARLY_ALL", "Allocation", "GpuPoolError", "Lease", "LeaseDir",
    "SlotAllocator", "default_lease_dir", "resolve_pool", "split_gpus", "FAKE_GPUS_ENV", "FakeGpu",
    "FakeProbe", "GpuProbe", "GpuProcess", "GpuReading", "NvmlProbe",
    "NvmlUnavailableError", "make_probe",
]
