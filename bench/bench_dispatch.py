"""Dispatch overhead per job for a no-op task: hydra/launcher=alchemy (fork server, spawn,
fake GPUs) vs Hydra's basic, joblib and submitit_local launchers, all through real Hydra
multiruns of a tiny app, every launcher in one run.

For each launcher: time `python app.py -m hydra/launcher=X ...` with N jobs, subtract a
1-job run of the same command (start-up), divide by N-1. Printed as a table with each
launcher's ratio to Hydra's basic launcher and to submitit_local: wall time (what a user
waits; parallel launchers use every CPU), and CPU time of the whole process tree (what
it costs; steadier than wall time on a shared machine). With ``--repeat R`` the
launchers take turns R times and each one's best run counts (less noise from load).

The sweeper is the same for every launcher, and its cost per job is in every row:

- ``--sweeper plain`` (default): a benchmark-only sweeper (written to the temp dir as a
  Hydra plugin) that hands all N jobs to the launcher in one batch and does nothing
  else: the rows are the launchers' own cost.
- ``--sweeper basic``: Hydra's BasicSweeper, which composes every job once more itself
  to validate it (~45 ms a job here): a floor no launcher can go below.
- ``--sweeper alchemy``: ours (compose once; records every job).

Keep in mind what each launcher buys: basic runs jobs one after another in the
launcher's own process; joblib reuses worker processes (a job cannot get its own
CUDA_VISIBLE_DEVICES); submitit_local and ours start a fresh process per job (ours forks
it from a zygote that imported Hydra and the task's modules once).

The heavy case: the task's module imports pandas and scikit-learn at import time, which
a fresh interpreter per job pays for every job.

    python bench/bench_dispatch.py                 # 200 jobs, every launcher, heavy case (50 jobs)
    python bench/bench_dispatch.py --quick         # 20 jobs, no submitit, no heavy case

Last, in the same run: the sweepers' own overhead per job (BasicSweeper vs ours, over a
launcher that runs nothing; see bench_sweeper.py).
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

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

HEAVY_APP = textwrap.dedent(
    """
    import hydra
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    @hydra.main(version_base=None, config_path=None)
    def main(cfg):
        return len(pd.DataFrame({"x": [cfg.x]})) + int(LogisticRegression is not None)

    if __name__ == "__main__":
        main()
    """
)

#: A Hydra sweeper plugin for the benchmark only: N jobs ``+x=i`` in one launch.
PLAIN_SWEEPER = textwrap.dedent(
    """
    from dataclasses import dataclass

    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins
    from hydra.plugins.sweeper import Sweeper


    @dataclass
    class PlainSweeperConf:
        _target_: str = "hydra_plugins.bench_plain_sweeper.PlainSweeper"
        jobs: int = 1


    class PlainSweeper(Sweeper):
        def __init__(self, jobs):
            self.jobs = jobs

        def setup(self, *, hydra_context, task_function, config):
            self.launcher = Plugins.instance().instantiate_launcher(
                hydra_context=hydra_context, task_function=task_function, config=config)

        def sweep(self, arguments):
            return self.launcher.launch([[f"+x={i}"] for i in range(self.jobs)], initial_job_idx=0)


    ConfigStore.instance().store(group="hydra/sweeper", name="bench_plain", node=PlainSweeperConf)
    """
)

ALCHEMY = ["hydra/launcher=alchemy", "hydra.launcher.gpus_per_job=0"]
LAUNCHERS: Dict[str, List[str]] = {
    "basic": ["hydra/launcher=basic"],
    "joblib (n_jobs=-1)": ["hydra/launcher=joblib"],
    "submitit_local": ["hydra/launcher=submitit_local"],
    "alchemy fork_server (CPU)": [*ALCHEMY, "hydra.launcher.start_method=fork_server"],
    "alchemy spawn (CPU)": [*ALCHEMY, "hydra.launcher.start_method=spawn"],
    "alchemy fork_server (4 fake GPUs)": ["hydra/launcher=alchemy", "hydra.launcher.gpus_per_job=1"],
}
HEAVY = ["basic", "alchemy fork_server (CPU)", "alchemy spawn (CPU)"]

Row = Tuple[str, float, float, float, float]  # name, T(1), T(N), wall per job, CPU per job


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed_run(tmp: Path, app: str, args: List[str], sweeper: str, n: int,
              tag: str) -> Tuple[float, float]:
    """(wall seconds, CPU seconds of the whole process tree) of one multirun."""
    env = dict(os.environ, HYDRA_ALCHEMY_FAKE_GPUS="4",
               HYDRA_ALCHEMY_LEASE_DIR=str(tmp / "leases"))
    env.pop("CUDA_VISIBLE_DEVICES", None)
    cmd = [sys.executable, str(tmp / app), "-m", *args, f"hydra.sweep.dir={tmp / 'sweeps' / tag}",
           "hydra/job_logging=disabled", "hydra/hydra_logging=disabled"]
    if sweeper == "plain":
        cmd += ["hydra/sweeper=bench_plain", f"hydra.sweeper.jobs={n}"]
    else:
        cmd += [f"hydra/sweeper={sweeper}", f"+x=range(0,{n})"]
    if "submitit" in " ".join(args):
        cmd.append(f"hydra.launcher.submitit_folder={tmp / 'submitit' / tag}")
    cpu0, t0 = _children_cpu(), time.perf_counter()
    p = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
    dt, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    if "Not forking jobs" in p.stdout + p.stderr:
        print(f"note: {tag}: the fork server fell back to spawn")
    return dt, cpu


def measure(tmp: Path, app: str, names: List[str], sweeper: str, n: int, repeat: int) -> List[Row]:
    best: Dict[str, Row] = {}
    for r in range(repeat):
        for i, name in enumerate(names):
            tag = f"{app}-{i}-{r}"
            one, one_cpu = timed_run(tmp, app, LAUNCHERS[name], sweeper, 1, f"{tag}-one")
            many, many_cpu = timed_run(tmp, app, LAUNCHERS[name], sweeper, n, f"{tag}-many")
            row = (name, one, many, (many - one) / (n - 1), (many_cpu - one_cpu) / (n - 1))
            if name not in best or row[3] < best[name][3]:
                best[name] = row
    return [best[name] for name in names]


def table(title: str, rows: List[Row], n: int) -> None:
    wall = {row[0]: row[3] for row in rows}
    cpu = {row[0]: row[4] for row in rows}
    print(f"\n{title}")
    print(f"{'launcher':<34} {'1 job':>7} {f'{n} jobs':>9} {'per job':>9} {'vs basic':>9} "
          f"{'vs submitit':>12} {'CPU/job':>9} {'vs basic':>9} {'vs submitit':>12}")
    for name, one, many, p, c in rows:
        print(f"{name:<34} {one:>6.2f}s {many:>8.2f}s {p * 1000:>7.1f}ms "
              f"{_ratio(p, wall.get('basic')):>9} {_ratio(p, wall.get('submitit_local')):>12} "
              f"{c * 1000:>7.1f}ms {_ratio(c, cpu.get('basic')):>9} "
              f"{_ratio(c, cpu.get('submitit_local')):>12}")


def _ratio(p: float, ref: Optional[float]) -> str:
    return f"{p / ref:.2f}x" if ref and ref > 0 else "-"


def sweeper_overhead(n: int, repeat: int) -> None:
    """The sweepers' own cost per job in this run: Hydra's BasicSweeper and ours over a
    launcher that runs nothing (bench_sweeper.py's null launcher)."""
    import bench_sweeper

    with tempfile.TemporaryDirectory(prefix="bench-sweeper-") as td:
        tmp = Path(td)
        app = tmp / "noop_app.py"
        app.write_text(bench_sweeper.APP)
        plugin = tmp / "hydra_plugins" / "bench_null_launcher"
        plugin.mkdir(parents=True)
        (plugin / "__init__.py").write_text(bench_sweeper.NULL_LAUNCHER)
        per_job = {}
        for sweeper in ("basic", "alchemy"):
            t = [min(bench_sweeper.run(app, sweeper, k, tmp / f"{sweeper}_{k}_{r}", "null") for r in range(repeat))
                 for k in (1, n)]
            per_job[sweeper] = (t[1] - t[0]) / (n - 1)
    print(f"\nsweeper's own overhead per job (null launcher), {n} jobs: BasicSweeper "
          f"{per_job['basic'] * 1000:.1f}ms, alchemy {per_job['alchemy'] * 1000:.1f}ms: "
          f"BasicSweeper / alchemy {_ratio(per_job['basic'], per_job['alchemy'])} (target >= 5x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="20 jobs, no submitit_local, no heavy case")
    ap.add_argument("--jobs", type=int, default=None, help="jobs per launcher (default 200)")
    ap.add_argument("--heavy-jobs", type=int, default=50, help="jobs in the heavy case; 0: skip it")
    ap.add_argument("--sweeper", choices=("plain", "basic", "alchemy"), default="plain")
    ap.add_argument("--repeat", type=int, default=1, help="turns per launcher; the best counts")
    args = ap.parse_args()
    n = max(2, args.jobs or (20 if args.quick else 200))
    heavy_n = 0 if args.quick else args.heavy_jobs
    names = [k for k in LAUNCHERS if not (args.quick and "submitit" in k)]
    print(f"no-op task, {n} jobs vs 1 job per launcher, sweeper {args.sweeper}; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as td:
        tmp = Path(td)
        (tmp / "app.py").write_text(APP)
        (tmp / "heavy_app.py").write_text(HEAVY_APP)
        (tmp / "hydra_plugins" / "bench_plain_sweeper").mkdir(parents=True)
        (tmp / "hydra_plugins" / "bench_plain_sweeper" / "__init__.py").write_text(PLAIN_SWEEPER)
        rows = measure(tmp, "app.py", names, args.sweeper, n, max(1, args.repeat))
        heavy = (measure(tmp, "heavy_app.py", HEAVY, args.sweeper, heavy_n, max(1, args.repeat))
                 if heavy_n > 1 else [])
    table("per-job overhead, no-op task:", rows, n)
    if heavy:
        table("heavy imports (the task's module imports pandas and scikit-learn):", heavy, heavy_n)
    sweeper_overhead(n, max(1, args.repeat))
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
