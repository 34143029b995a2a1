"""Per-job overhead of the alchemy sweeper vs Hydra's BasicSweeper (same launcher).

A no-op task is swept over N values (``x=range(0,N)``) with each sweeper, each in a
fresh process; the per-job overhead is ``(T(N) - T(1)) / (N - 1)``, which removes
start-up and one-off costs. Two launchers:

- ``null`` (a benchmark-only Hydra plugin written to the temp dir): returns a completed
  result for every job without composing or running anything, so the number is the
  sweeper's own cost: the BasicSweeper composes every job to validate it; ours builds
  its grid, makes each job (folder, link) and records it (its state file, fsynced every second; the
  metric frame: csv after every job, xlsx every few seconds).
- ``basic``: Hydra's, running each job in process: the sweeper's cost plus the
  launcher's (composing, Hydra's ``run_job``), which ours makes cheaper by handing each
  job its config composed once.

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


NULL_LAUNCHER = '''
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher


@dataclass
class NullLauncherConf:
    _target_: str = "hydra_plugins.bench_null_launcher.NullLauncher"


class NullLauncher(Launcher):
    def setup(self, *, hydra_context, task_function, config):
        self.config = config

    def launch(self, job_overrides, initial_job_idx):
        return [JobReturn(overrides=list(o), status=JobStatus.COMPLETED, _return_value=1.0)
                for o in job_overrides]


ConfigStore.instance().store(group="hydra/launcher", name="bench_null", node=NullLauncherConf)
'''

LAUNCHERS = {"null": "bench_null", "basic": "basic"}


def run(app: Path, sweeper: str, n: int, out: Path, launcher: str = "basic") -> float:
    values = f"range(0,{n})" if n > 1 else "0"
    args = [
        sys.executable, str(app), "-m", f"hydra/sweeper={sweeper}", f"hydra/launcher={LAUNCHERS[launcher]}",
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
        plugin = Path(tmp) / "hydra_plugins" / "bench_null_launcher"
        plugin.mkdir(parents=True)
        (plugin / "__init__.py").write_text(NULL_LAUNCHER, encoding="utf-8")
        for launcher in ("null", "basic"):
            per_job = {}
            for sweeper in ("basic", "alchemy"):
                runs = []
                for n in (1, args.jobs):
                    best = min(run(app, sweeper, n, Path(tmp) / f"{launcher}_{sweeper}_{n}_{r}", launcher)
                               for r in range(args.repeat))
                    runs.append(best)
                per_job[sweeper] = (runs[1] - runs[0]) / (args.jobs - 1)
                print(
                    f"{launcher:5s} launcher, {sweeper:8s} sweeper: 1 job {runs[0]:6.2f} s, "
                    f"{args.jobs} jobs {runs[1]:6.2f} s, overhead {per_job[sweeper] * 1000:7.1f} ms/job"
                )
            ratio = per_job["basic"] / per_job["alchemy"]
            what = "the sweeper's own" if launcher == "null" else "sweeper + basic launcher"
            target = " (target >= 5x)" if launcher == "null" else ""
            print(f"BasicSweeper / alchemy overhead per job, {what}: {ratio:.2f}x{target}")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
