"""How well jobs of uneven length are packed onto GPUs, measured with real processes.

24 jobs sleeping 1..6 time units (fixed seed) on 4 simulated GPUs. Each strategy runs
real `sleep` processes and its makespan is divided by the lower bound
max(total work / 4, longest job):

- ours: the dispatcher of hydra/launcher=alchemy (alchemy_resolvers.dispatch.Dispatcher
  with a SlotAllocator over a fake probe and a private lease dir), the exact loop the
  launcher runs; a job starts the moment a GPU frees up;
- static slices (AlchemyCat-style): the jobs split into 4 fixed contiguous slices, each
  run one after another on its GPU;
- batch-synchronous (Hydra joblib launcher with a max batch size of 4): batches of 4 in
  order, each batch waiting for its slowest job;
Each row also shows its "ideal": the same strategy computed with zero overhead (for
ours, greedy in-order dispatch), to separate scheduling from process overhead.

`--hydra` adds ours through a whole Hydra multirun (`python app.py -m
hydra/launcher=alchemy` with HYDRA_ALCHEMY_FAKE_GPUS), where per-job Python start-up counts.

    python bench/bench_packing.py            # unit 0.2 s, ~20 s
    python bench/bench_packing.py --quick    # unit 0.05 s, a few seconds (CI)
"""
from __future__ import annotations

import argparse
import heapq
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alchemy_resolvers.gpu import FakeProbe, LeaseDir, SlotAllocator  # noqa: E402
from alchemy_resolvers.dispatch import Dispatcher, Prepared, ProcessJob, Progress  # noqa: E402

N_JOBS, N_GPUS = 24, 4
SLEEP = shutil.which("sleep") or "sleep"


def durations(unit: float, seed: int) -> List[float]:
    rng = random.Random(seed)
    return [rng.randint(1, 6) * unit for _ in range(N_JOBS)]


def run_ours(durs: List[float], tmp: Path) -> float:
    alloc = SlotAllocator([str(i) for i in range(N_GPUS)], 1, block=True, memory_need=1,
                          probe=FakeProbe.from_spec(str(N_GPUS)), lease_dir=LeaseDir(tmp / "leases"))

    def job(i: int, d: float) -> ProcessJob:
        return ProcessJob(i, f"#{i}", lambda gpus: Prepared([SLEEP, f"{d:.3f}"], tmp / f"{i}.log"))

    disp = Dispatcher([job(i, d) for i, d in enumerate(durs)], allocator=alloc,
                      poll_interval=1.0, progress=Progress(len(durs), N_GPUS, tty=False))
    t0 = time.perf_counter()
    outs = disp.run()
    span = time.perf_counter() - t0
    assert all(o.ok for o in outs)
    return span


def run_static(durs: List[float]) -> float:
    slices = static_slices(durs)

    def worker(sl: List[float]) -> None:
        for d in sl:
            subprocess.run([SLEEP, f"{d:.3f}"], check=True)

    threads = [threading.Thread(target=worker, args=(sl,)) for sl in slices]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def run_batches(durs: List[float]) -> float:
    t0 = time.perf_counter()
    for b in range(0, len(durs), N_GPUS):
        procs = [subprocess.Popen([SLEEP, f"{d:.3f}"]) for d in durs[b:b + N_GPUS]]
        for p in procs:
            p.wait()
    return time.perf_counter() - t0


def static_slices(durs: List[float]) -> List[List[float]]:
    k = len(durs)
    bounds = [round(g * k / N_GPUS) for g in range(N_GPUS + 1)]
    return [durs[bounds[g]:bounds[g + 1]] for g in range(N_GPUS)]


def static_sim(durs: List[float]) -> float:
    return max(sum(sl) for sl in static_slices(durs))


def batch_sim(durs: List[float]) -> float:
    return sum(max(durs[b:b + N_GPUS]) for b in range(0, len(durs), N_GPUS))


def greedy_sim(durs: List[float]) -> float:
    free = [0.0] * N_GPUS
    heapq.heapify(free)
    end = 0.0
    for d in durs:
        t = heapq.heappop(free)
        heapq.heappush(free, t + d)
        end = max(end, t + d)
    return end


APP = textwrap.dedent(
    """
    import time, hydra
    DURS = {durs!r}
    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        time.sleep(DURS[cfg.j])
    if __name__ == "__main__":
        main()
    """
)


def run_hydra(durs: List[float], tmp: Path) -> float:
    app = tmp / "app.py"
    app.write_text(APP.format(durs=durs))
    env = dict(os.environ, HYDRA_ALCHEMY_FAKE_GPUS=str(N_GPUS),
               HYDRA_ALCHEMY_LEASE_DIR=str(tmp / "hleases"))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    cmd = [sys.executable, str(app), "-m", "hydra/launcher=alchemy",
           "hydra.launcher.gpus_per_job=1", f"hydra.sweep.dir={tmp / 'sweep'}",
           "+j=range(0,%d)" % len(durs)]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=tmp, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="unit 0.05 s, no --hydra")
    ap.add_argument("--unit", type=float, default=None, help="seconds per time unit (0.2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hydra", action="store_true",
                    help="also time ours through a whole Hydra multirun (unit --hydra-unit)")
    ap.add_argument("--hydra-unit", type=float, default=1.0)
    args = ap.parse_args()
    unit = args.unit or (0.05 if args.quick else 0.2)
    durs = durations(unit, args.seed)
    lb = max(sum(durs) / N_GPUS, max(durs))
    print(f"{N_JOBS} jobs of 1..6 x {unit:g} s (seed {args.seed}, total {sum(durs):.2f} s) on "
          f"{N_GPUS} simulated GPUs; lower bound max(total/{N_GPUS}, longest) = {lb:.2f} s")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-packing-") as td:
        tmp = Path(td)
        rows.append(("ours (alchemy dispatcher)", run_ours(durs, tmp), greedy_sim(durs), lb))
        rows.append(("static slices (AlchemyCat-style)", run_static(durs), static_sim(durs), lb))
        rows.append(("batch-synchronous, batches of 4 (joblib-style)", run_batches(durs),
                     batch_sim(durs), lb))
        if args.hydra and not args.quick:
            hd = durations(args.hydra_unit, args.seed)
            hlb = max(sum(hd) / N_GPUS, max(hd))
            rows.append((f"ours, whole Hydra multirun (unit {args.hydra_unit:g} s)",
                         run_hydra(hd, tmp), greedy_sim(hd), hlb))
    print("makespan: measured with real processes; ideal: the same strategy with zero overhead")
    print(f"{'strategy':<50} {'makespan':>9} {'ideal':>7} {'bound':>7} {'ratio':>6} {'ideal ratio':>11}")
    for name, span, ideal, bound in rows:
        print(f"{name:<50} {span:>8.2f}s {ideal:>6.2f}s {bound:>6.2f}s {span / bound:>6.3f} "
              f"{ideal / bound:>11.3f}")
    ours = rows[0][1] / rows[0][3]
    print(f"ours within 10% of the lower bound: {'yes' if ours <= 1.10 else 'NO'} ({ours:.3f})")


if __name__ == "__main__":
    main()
