"""Per-job overhead of the alchemy sweeper vs Hydra's BasicSweeper (same launcher).

A no-op task is swept over N values (``x=range(0,N)``) with each sweeper and Hydra's
basic launcher, each in a fresh process; the per-job overhead is
``(T(N) - T(1)) / (N - 1)``, which removes start-up and one-off costs. The alchemy
sweeper's number includes everything it adds: its own state file (fsynced) and the
metric frame (csv + xlsx) rewritten after every job.

    python bench/bench_sweeper.py [--jobs 200] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

APP = '''
import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg: DictConfig) -> float:
    return 1.0


if __name__ == "__main__":
    main()
'''


def run(app: Path, sweeper: str, n: int, out: Path) -> float:
    values = f"range(0,{n})" if n > 1 else "0"
    args = [
        sys.executable, str(app), "-m", f"hydra/sweeper={sweeper}", "hydra/launcher=basic",
        f"+x={values}", f"hydra.sweep.dir={out}", "hydra/job_logging=disabled", "hydra/hydra_logging=disabled",
    ]
    t = time.perf_counter()
    proc = subprocess.run(args, cwd=app.parent, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{sweeper} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "noop_app.py"
        app.write_text(APP, encoding="utf-8")
        per_job = {}
        for sweeper in ("basic", "alchemy"):
            runs = []
            for n in (1, args.jobs):
                best = min(run(app, sweeper, n, Path(tmp) / f"{sweeper}_{n}_{r}") for r in range(args.repeat))
                runs.append(best)
            per_job[sweeper] = (runs[1] - runs[0]) / (args.jobs - 1)
            print(
                f"{sweeper:8s} sweeper: 1 job {runs[0]:6.2f} s, {args.jobs} jobs {runs[1]:6.2f} s, "
                f"overhead {per_job[sweeper] * 1000:7.1f} ms/job"
            )
        ratio = per_job["basic"] / per_job["alchemy"]
        print(f"BasicSweeper / alchemy overhead per job: {ratio:.2f}x (target >= 2x)")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
