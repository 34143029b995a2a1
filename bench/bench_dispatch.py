"""Dispatch overhead per job for a no-op task: hydra/launcher=alchemy vs Hydra's basic,
joblib and submitit_local launchers, all through real Hydra multiruns of a tiny app.

For each launcher: time `python app.py -m hydra/launcher=X +x=range(0,N)`, subtract a
1-job run of the same command (start-up), divide by N-1. Printed as a table with each
launcher's ratio to ours. Keep in mind what each buys: basic runs jobs one after another
in the launcher's own process; joblib reuses worker processes (so a job cannot get its own
CUDA_VISIBLE_DEVICES); ours starts a fresh process per job, which is the price of per-job
GPUs (and of surviving a job that crashes its interpreter).

    python bench/bench_dispatch.py            # 100 jobs, every launcher
    python bench/bench_dispatch.py --quick    # 20 jobs, no submitit (CI)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict, List

APP = textwrap.dedent(
    """
    import hydra

    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        return None

    if __name__ == "__main__":
        main()
    """
)

LAUNCHERS: Dict[str, List[str]] = {
    "alchemy (CPU, n_jobs=#cpus)": ["hydra/launcher=alchemy", "hydra.launcher.gpus_per_job=0"],
    "alchemy (4 fake GPUs)": ["hydra/launcher=alchemy", "hydra.launcher.gpus_per_job=1"],
    "basic": ["hydra/launcher=basic"],
    "joblib (n_jobs=-1)": ["hydra/launcher=joblib"],
    "submitit_local": ["hydra/launcher=submitit_local"],
}


def timed_run(tmp: Path, args: List[str], n: int, tag: str) -> float:
    env = dict(os.environ, HYDRA_ALCHEMY_FAKE_GPUS="4",
               HYDRA_ALCHEMY_LEASE_DIR=str(tmp / "leases"))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    cmd = [sys.executable, str(tmp / "app.py"), "-m", *args,
           f"hydra.sweep.dir={tmp / 'sweeps' / tag}", f"+x=range(0,{n})"]
    if "submitit" in " ".join(args):
        cmd.append(f"hydra.launcher.submitit_folder={tmp / 'submitit' / tag}")
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 jobs, skip submitit_local")
    ap.add_argument("--jobs", type=int, default=None)
    args = ap.parse_args()
    n = args.jobs or (20 if args.quick else 100)
    print(f"no-op task, {n} jobs vs 1 job per launcher; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as td:
        tmp = Path(td)
        (tmp / "app.py").write_text(APP)
        for name, largs in LAUNCHERS.items():
            if args.quick and "submitit" in name:
                continue
            one = timed_run(tmp, largs, 1, f"{len(rows)}-one")
            many = timed_run(tmp, largs, n, f"{len(rows)}-many")
            rows.append((name, one, many, (many - one) / (n - 1)))
    ours = rows[0][3]
    print(f"{'launcher':<30} {'1 job':>8} {f'{n} jobs':>9} {'per job':>9} {'vs ours':>8}")
    for name, one, many, per in rows:
        print(f"{name:<30} {one:>7.2f}s {many:>8.2f}s {per * 1000:>7.0f}ms {per / ours:>8.2f}")


if __name__ == "__main__":
    main()
