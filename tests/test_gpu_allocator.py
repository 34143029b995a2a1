"""GPU slot allocation: fake GPUs for the rules, real processes for the cross-process
lease (concurrent sweeps never share a slot; a crashed holder's slot comes back), and a
real-NVML test for machines with an NVIDIA GPU."""
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from alchemy_resolvers.gpu import (
    FakeGpu,
    FakeProbe,
    GpuPoolError,
    LeaseDir,
    NvmlProbe,
    NvmlUnavailableError,
    SlotAllocator,
    resolve_pool,
)


@pytest.fixture
def leases(tmp_path):
    return LeaseDir(tmp_path / "leases")


def fake(n=4, **kw):
    return FakeProbe([FakeGpu(**kw) for _ in range(n)])


def take_all(alloc):
    out = []
    while True:
        a = alloc.try_acquire()
        if a is None:
            return out
        out.append(a)


# ------------------------------------------------------------------ rules


def test_block_false_hands_out_in_pool_order_and_never_twice(leases):
    alloc = SlotAllocator(["3", "1", "2", "0"], 1, block=False, probe=fake(), lease_dir=leases)
    got = take_all(alloc)
    assert [a.gpus for a in got] == [["3"], ["1"], ["2"], ["0"]]
    alloc.release(got[2])
    again = alloc.try_acquire()
    assert again.gpus == ["2"]
    assert alloc.try_acquire() is None


def test_gpus_per_job_two_gives_disjoint_gpus(leases):
    alloc = SlotAllocator(["0", "1", "2", "3", "4"], 2, block=False, probe=fake(5), lease_dir=leases)
    a, b = alloc.try_acquire(), alloc.try_acquire()
    assert a.gpus == ["0", "1"] and b.gpus == ["2", "3"]
    assert a.cuda_visible_devices == "0,1"
    assert alloc.try_acquire() is None  # only GPU 4 left: a 2-GPU job does not fit
    alloc.release(a)
    assert alloc.try_acquire().gpus == ["0", "1"]
    alloc.release(b)
    # GPU 4, left over so far, serves the next job together with a freed GPU
    alloc2 = SlotAllocator(["4", "2"], 2, block=False, probe=fake(5), lease_dir=leases)
    assert alloc2.try_acquire().gpus == ["4", "2"]


def test_jobs_per_gpu_spreads_first_then_packs(leases):
    alloc = SlotAllocator(["0", "1", "2"], 1, jobs_per_gpu=2, block=False, probe=fake(3),
                          lease_dir=leases)
    got = take_all(alloc)
    assert [a.gpus[0] for a in got] == ["0", "1", "2", "0", "1", "2"]
    assert len({(lease.key, lease.slot) for a in got for lease in a.leases}) == 6


def test_block_skips_gpu_with_foreign_processes_until_it_frees(leases):
    probe = FakeProbe([FakeGpu(foreign_pids=[10**9 + 1, 10**9 + 2]), FakeGpu()])
    alloc = SlotAllocator(["0", "1"], 1, block=True, max_process=1, memory_need=100,
                          probe=probe, lease_dir=leases)
    a = alloc.try_acquire()
    assert a.gpus == ["1"]
    assert alloc.try_acquire() is None
    assert "GPU 0: 2 foreign process(es) > max_process=1" in alloc.wait_reason
    probe.gpus[0].foreign_pids = [10**9 + 1]
    alloc.refresh()
    assert alloc.try_acquire().gpus == ["0"]


def test_readings_are_per_gpu_not_gpu0_for_all(leases):
    probe = FakeProbe([FakeGpu(total_mb=16000, used_mb=15000), FakeGpu(total_mb=16000, used_mb=0)])
    alloc = SlotAllocator(["0", "1"], 1, memory_need=4000, probe=probe, lease_dir=leases)
    assert alloc.try_acquire().gpus == ["1"]
    assert alloc.try_acquire() is None
    assert "GPU 0: 1000 MB free < 4000 MB needed" in alloc.wait_reason


def test_memory_need_minus_one_means_nearly_all(leases):
    probe = FakeProbe([FakeGpu(total_mb=10000, used_mb=1000), FakeGpu(total_mb=10000, used_mb=200)])
    alloc = SlotAllocator(["0", "1"], 1, memory_need=-1, probe=probe, lease_dir=leases)
    assert alloc.try_acquire().gpus == ["1"]  # 98% free; GPU 0 only 90%
    assert alloc.try_acquire() is None


def test_memory_is_reserved_for_our_jobs_that_have_not_allocated_yet(leases):
    probe = fake(1, total_mb=16000)
    alloc = SlotAllocator(["0"], 1, jobs_per_gpu=3, memory_need=6000, probe=probe, lease_dir=leases)
    assert len(take_all(alloc)) == 2  # 16000 - 2*6000 < 6000 for a third
    # -1 with packing: each slot needs nearly all of its share
    alloc2 = SlotAllocator(["0"], 1, jobs_per_gpu=2, memory_need=-1, probe=fake(1),
                           lease_dir=LeaseDir(leases.path / "other"))
    assert len(take_all(alloc2)) == 2


def test_our_own_processes_are_not_foreign(leases):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             start_new_session=True)
    try:
        probe = FakeProbe([FakeGpu(), FakeGpu()])
        alloc = SlotAllocator(["0", "1"], 1, jobs_per_gpu=2, max_process=0, memory_need=1,
                              probe=probe, lease_dir=leases)
        a = alloc.try_acquire()
        a.pid = child.pid
        probe.gpus[int(a.gpus[0])].foreign_pids = [child.pid]  # NVML shows our job on it
        alloc.refresh()
        b = alloc.try_acquire()
        c = alloc.try_acquire()
        assert sorted([b.gpus[0], c.gpus[0]]) == ["0", "1"]  # our job did not block its GPU
    finally:
        child.kill()
        child.wait()


def test_impossible_requests_fail_clearly(leases):
    with pytest.raises(GpuPoolError, match="gpus_per_job=3 but the GPU pool has only 2"):
        SlotAllocator(["0", "1"], 3, probe=fake(2), lease_dir=leases)
    alloc = SlotAllocator(["0"], 1, memory_need=50000, probe=fake(1), lease_dir=leases)
    with pytest.raises(GpuPoolError, match="memory_need=50000 MB can never be met"):
        alloc.try_acquire()


def test_two_allocators_sharing_a_lease_dir_exclude_each_other(leases, tmp_path):
    a = SlotAllocator(["0", "1"], 1, block=False, probe=fake(2), lease_dir=leases)
    b = SlotAllocator(["0", "1"], 1, block=False, probe=fake(2), lease_dir=LeaseDir(leases.path))
    x = a.try_acquire()
    y = b.try_acquire()
    assert x.gpus == ["0"] and y.gpus == ["1"]
    assert a.try_acquire() is None and b.try_acquire() is None
    b.release(y)
    assert a.try_acquire().gpus == ["1"]


# ------------------------------------------------------------ across processes

WORKER = textwrap.dedent(
    """
    import json, random, sys, time
    from alchemy_resolvers.gpu import FakeProbe, LeaseDir, SlotAllocator
    lease_dir, n_gpus, per_gpu, rounds, seed, out = sys.argv[1:]
    random.seed(int(seed))
    alloc = SlotAllocator([str(i) for i in range(int(n_gpus))], 1,
                          jobs_per_gpu=int(per_gpu), block=False,
                          probe=FakeProbe.from_spec(n_gpus), lease_dir=LeaseDir(lease_dir))
    records = []
    done = 0
    while done < int(rounds):
        a = alloc.try_acquire()
        if a is None:
            time.sleep(0.001)
            continue
        t0 = time.time()
        time.sleep(random.uniform(0, 0.01))
        t1 = time.time()
        records.append([a.gpus[0], t0, t1])
        alloc.release(a)
        done += 1
    json.dump(records, open(out, "w"))
    """
)


def max_concurrency(intervals):
    events = sorted([(t0, 1) for t0, _ in intervals] + [(t1, -1) for _, t1 in intervals],
                    key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


@pytest.mark.parametrize("per_gpu", [1, 2])
def test_concurrent_processes_never_oversubscribe_a_gpu(tmp_path, per_gpu):
    script = tmp_path / "w.py"
    script.write_text(WORKER)
    n_workers, n_gpus, rounds = 4, 2, 60
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / "leases"), str(n_gpus),
                          str(per_gpu), str(rounds), str(i), str(tmp_path / f"r{i}.json")])
        for i in range(n_workers)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    records = [r for i in range(n_workers) for r in json.loads((tmp_path / f"r{i}.json").read_text())]
    assert len(records) == n_workers * rounds
    by_gpu = {}
    for gpu, t0, t1 in records:
        by_gpu.setdefault(gpu, []).append((t0, t1))
    assert set(by_gpu) == {"0", "1"}
    for gpu, intervals in by_gpu.items():
        assert max_concurrency(intervals) <= per_gpu, gpu


HOLDER = textwrap.dedent(
    """
    import sys, time
    from alchemy_resolvers.gpu import FakeProbe, LeaseDir, SlotAllocator
    alloc = SlotAllocator(["0"], 1, block=False, probe=FakeProbe.from_spec("1"),
                          lease_dir=LeaseDir(sys.argv[1]))
    a = alloc.try_acquire()
    print("taken" if a else "busy", flush=True)
    time.sleep(60)
    """
)


def test_crashed_holder_lease_is_reclaimed(tmp_path, leases):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(leases.path)], stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "taken"
        alloc = SlotAllocator(["0"], 1, block=False, probe=fake(1), lease_dir=leases)
        assert alloc.try_acquire() is None
        assert not leases.is_free("fake-0", 0)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=10)
        assert alloc.try_acquire().gpus == ["0"]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_job_process_keeps_its_lease_when_the_launcher_lets_go(leases):
    alloc = SlotAllocator(["0"], 1, block=False, probe=fake(1), lease_dir=leases)
    a = alloc.try_acquire()
    job = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], pass_fds=a.fds)
    try:
        alloc.release(a)  # as if the launcher had died: only the job holds the slot now
        assert not leases.is_free("fake-0", 0)
        job.kill()
        job.wait()
        assert leases.is_free("fake-0", 0)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()


# ------------------------------------------------------------------ pools


def no_nvml():
    raise NvmlUnavailableError("NVML Shared Library Not Found")


def test_no_nvml_and_no_gpus_named_is_a_plain_error(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(GpuPoolError) as e:
        resolve_pool(None, 1, probe_factory=no_nvml)
    msg = str(e.value)
    assert "NVML" in msg and "NVML Shared Library Not Found" in msg
    assert "hydra.launcher.gpus_per_job=0" in msg and "hydra.launcher.gpus=" in msg


def test_pool_sources_in_order(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert resolve_pool([5, 6], 1, probe_factory=lambda: fake(8))[0] == ["5", "6"]
    assert resolve_pool(None, 1, probe_factory=lambda: fake(8))[0] == ["2", "3"]
    pool, probe, note = resolve_pool(None, 1, probe_factory=no_nvml)
    assert pool == ["2", "3"] and probe is None and "without checking" in note
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert resolve_pool(None, 1, probe_factory=lambda: fake(3))[0] == ["0", "1", "2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(GpuPoolError, match="CUDA_VISIBLE_DEVICES names no GPU"):
        resolve_pool(None, 1, probe_factory=lambda: fake(3))


def test_unknown_gpu_id_is_a_settings_error_before_any_job(monkeypatch):
    from alchemy_resolvers.errors import AlchemyError, SettingsError

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with pytest.raises(GpuPoolError) as e:
        resolve_pool([0, 7], 1, probe_factory=lambda: fake(2))
    assert isinstance(e.value, SettingsError) and isinstance(e.value, ValueError)
    assert e.value.key == "hydra.launcher.gpus" and "'7'" in str(e.value)
    assert "['0', '1']" in e.value.hint
    assert issubclass(NvmlUnavailableError, AlchemyError) and issubclass(NvmlUnavailableError, RuntimeError)


def test_fake_spec_formats_and_live_file(tmp_path):
    assert len(FakeProbe.from_spec("3").device_ids()) == 3
    p = FakeProbe.from_spec('[{"total_mb": 8000, "used_mb": 2000, "procs": 2}]')
    r = p.read(["0"])["0"]
    assert (r.total_mb, r.free_mb, len(r.processes)) == (8000, 6000, 2)
    spec = tmp_path / "gpus.json"
    spec.write_text('[{"procs": 1}, {}]')
    live = FakeProbe.from_spec(f"@{spec}")
    assert len(live.read(["0"])["0"].processes) == 1
    spec.write_text("[{}, {}]")
    assert len(live.read(["0"])["0"].processes) == 0
    with pytest.raises(ValueError, match="HYDRA_ALCHEMY_FAKE_GPUS"):
        FakeProbe.from_spec("four")


# ------------------------------------------------------------------ real NVML


def _nvml_skip_reason():
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as e:  # noqa: BLE001
        return f"NVML unavailable on this machine: {e}"
    try:
        if pynvml.nvmlDeviceGetCount() == 0:
            return "NVML finds no GPU on this machine"
    finally:
        pynvml.nvmlShutdown()
    return None


NVML_SKIP = _nvml_skip_reason()


@pytest.mark.gpu
@pytest.mark.skipif(NVML_SKIP is not None, reason=str(NVML_SKIP))
def test_nvml_probe_reads_every_gpu_and_allocates(leases):
    probe = NvmlProbe()
    ids = probe.device_ids()
    readings = probe.read(ids)
    assert list(readings) == ids
    for gpu, r in readings.items():
        assert r.total_mb > 0 and 0 <= r.free_mb <= r.total_mb
        assert probe.key(gpu).startswith(("GPU-", "MIG-"))
    alloc = SlotAllocator(ids, 1, memory_need=1, probe=probe, lease_dir=leases)
    a = alloc.try_acquire()
    assert a is not None and a.gpus[0] in ids
    alloc.close()
    probe.close()
