"""Time of ``hydra.sweeper.dry_run=true`` on a large value grid, and of the checks a
real sweep runs before its first job (``hydra.sweeper.check``).

1. Dry run: a real Hydra app (a fresh process, as a user runs it) sweeps AXES value
   axes of VALUES values each (5 x 10 = 100,000 jobs by default) over a config with a
   ``${dep:...}`` and a ``_target_``; the whole command is timed (start-up included).
   Target: under 30 s.
2. Checks before launch: the same app swept over ``x=range(0,N)`` (200 jobs) with the
   benchmark's null launcher (``bench_sweeper.py``: it runs nothing), with
   ``hydra.sweeper.check=true`` and ``false``; the difference is what the checks add
   to a sweep. Target: under 0.3 s.

    python bench/bench_dry_run.py [--axes 5] [--values 10] [--jobs 200] [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sweeper import NULL_LAUNCHER  # noqa: E402 - the benchmark's launcher that runs nothing

APP = '''
import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    return 1.0


if __name__ == "__main__":
    main()
'''


def config(axes: int) -> str:
    keys = [f"a{i}" for i in range(axes)]
    return "\n".join([
        "defaults:",
        "  - override hydra/sweeper: alchemy",
        "  - _self_",
        "x: 0",
        *(f"{k}: 0" for k in keys),
        "total: ${dep:'" + " + ".join(f"c.{k}" for k in keys) + "'}",
        "model:",
        "  _target_: fractions.Fraction",
        "  numerator: ${a0}",
        "  denominator: 1",
        "",
    ])


def timed(app: Path, args: List[str]) -> float:
    cmd = [sys.executable, str(app), "-m", "hydra/job_logging=disabled", "hydra/hydra_logging=disabled", *args]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=app.parent, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--axes", type=int, default=5)
    ap.add_argument("--values", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = Path(tmp) / "app.py"
        app.write_text(APP, encoding="utf-8")
        (Path(tmp) / "conf").mkdir()
        (Path(tmp) / "conf" / "config.yaml").write_text(config(args.axes), encoding="utf-8")
        plugin = Path(tmp) / "hydra_plugins" / "bench_null_launcher"
        plugin.mkdir(parents=True)
        (plugin / "__init__.py").write_text(NULL_LAUNCHER, encoding="utf-8")

        sweeps = [f"a{i}=range(0,{args.values})" for i in range(args.axes)]
        out = Path(tmp) / "dry"
        best = min(timed(app, [*sweeps, "hydra.sweeper.dry_run=true", f"hydra.sweep.dir={out}"])
                   for _ in range(args.repeat))
        assert not out.exists(), "a dry run must not create the sweep dir"
        print(f"dry run, {args.values ** args.axes:,} jobs ({args.axes} axes x {args.values} values): "
              f"{best:.2f} s (target < 30 s)")

        times = {}
        for check in ("false", "true"):
            times[check] = min(
                timed(app, [f"x=range(0,{args.jobs})", "hydra/launcher=bench_null", f"hydra.sweeper.check={check}",
                            f"hydra.sweep.dir={Path(tmp) / f'run_{check}_{r}'}"])
                for r in range(args.repeat))
            print(f"sweep of {args.jobs} jobs (null launcher), check={check}: {times[check]:.2f} s")
        print(f"checks before launch add {times['true'] - times['false']:+.3f} s to a {args.jobs}-job "
              f"value sweep (target < 0.3 s)")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
