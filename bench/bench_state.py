"""The sweeper's state at scale (#13): state-file load time, and memory over many jobs.

1. ``sweep_state.jsonl`` with N rows (100,000 by default; records like a real sweep's:
   names, overrides, three metrics, fingerprint, code version): the time to load it
   (``StateFile.load``) and to build the metric frame from it (what a resume does).
2. The sweep process's RSS over N no-op jobs: a real Hydra app swept by the alchemy
   sweeper in one process, with a stub launcher (a benchmark-only plugin written to the
   temp dir) that composes each job's config through the sweeper's loader and returns a
   JobReturn holding it, as Hydra's basic launcher does, but runs nothing. RSS is read
   from /proc every ``--every`` jobs; ``--keep-all`` restores the old behaviour (every
   kept JobReturn holds its configs) for comparison. ``--trace`` prints tracemalloc's
   top allocations at the end (what holds memory per job).

    python bench/bench_state.py [--rows 100000] [--jobs 2000,5000,20000] [--every 1000]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alchemy_resolvers.frame import MetricFrame, StateFile  # noqa: E402

from bench_sweeper import APP  # noqa: E402  - the same no-op Hydra app

STUB_LAUNCHER = '''
import os
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.launcher import Launcher
from omegaconf import OmegaConf, open_dict

if os.environ.get("BENCH_KEEP_ALL"):
    import hydra_plugins.alchemy_sweeper._impl as _impl
    _impl.KEEP_WHOLE = 10 ** 9

TRACE = bool(os.environ.get("BENCH_TRACE"))
if TRACE:
    import tracemalloc
    tracemalloc.start(8)


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


@dataclass
class StubLauncherConf:
    _target_: str = "hydra_plugins.bench_stub_launcher.StubLauncher"


class StubLauncher(Launcher):
    def setup(self, *, hydra_context, task_function, config):
        self.ctx, self.config, self.n = hydra_context, config, 0
        self.every = int(os.environ.get("BENCH_EVERY", "1000"))
        self.log = open(os.environ["BENCH_RSS_LOG"], "a")

    def launch(self, job_overrides, initial_job_idx):
        out = []
        for o in job_overrides:
            cfg = self.ctx.config_loader.load_sweep_config(self.config, list(o))
            task_cfg = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
            with open_dict(task_cfg):
                del task_cfg["hydra"]
            out.append(JobReturn(overrides=list(o), cfg=task_cfg, hydra_cfg=cfg, status=JobStatus.COMPLETED,
                                 _return_value={"loss": 0.5, "acc": 0.9}, working_dir="."))
            self.n += 1
            if self.n % self.every == 0:
                self.log.write(f"{self.n} {rss_mb():.1f}\\n")
                self.log.flush()
        if TRACE and self.n % (self.every * 5) == 0:
            snap = tracemalloc.take_snapshot().statistics("traceback")[:6]
            with open(os.environ["BENCH_RSS_LOG"] + ".trace", "w") as f:
                for stat in snap:
                    f.write(f"{stat.size / 2 ** 20:8.1f} MB {stat.count:8d} blocks\\n")
                    f.write("".join("    " + line + "\\n" for line in stat.traceback.format()[-6:]))
        return out


ConfigStore.instance().store(group="hydra/launcher", name="bench_stub", node=StubLauncherConf)
'''


def record(i: int) -> dict:
    a, b = divmod(i, 1000)
    return {"kind": "job", "key": f"lr={a}|seed={b}", "index": i, "names": [str(a), str(b)],
            "folder": f"lr={a},seed={b}", "overrides": [f"opt.lr={a}", f"seed={b}"], "status": "COMPLETED",
            "metrics": {"acc": 0.9 + i * 1e-7, "loss": 0.1, "epoch_time": 12.5}, "error": None,
            "job_dir": f"lr={a},seed={b}", "time": 1.7e9 + i, "fingerprint": "%012x" % i,
            "code": "0123456789ab+dirty", "note": None}


def bench_load(rows: int, tmp: Path) -> None:
    path = tmp / "sweep_state.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps({"kind": "header", "version": 1, "params": ["opt.lr", "seed"],
                            "keys": ["lr", "seed"]}) + "\n")
        for i in range(rows):
            f.write(json.dumps(record(i)) + "\n")
    t0 = time.perf_counter()
    _, records = StateFile(path).load()
    t1 = time.perf_counter()
    frame = MetricFrame(["lr", "seed"])
    for r in records:
        frame.add(r)
    t2 = time.perf_counter()
    print(f"state file: {rows:,} rows, {path.stat().st_size / 2 ** 20:.1f} MB")
    print(f"{'rows':>10} {'load s':>8} {'+frame s':>9} {'total s':>8} (target < 1 s)")
    print(f"{rows:>10,} {t1 - t0:8.3f} {t2 - t1:9.3f} {t2 - t0:8.3f}")


def bench_rss(jobs: int, tmp: Path, every: int, keep_all: bool, trace: bool) -> list:
    app = tmp / "noop_app.py"
    app.write_text(APP, encoding="utf-8")
    plugin = tmp / "hydra_plugins" / "bench_stub_launcher"
    plugin.mkdir(parents=True, exist_ok=True)
    (plugin / "__init__.py").write_text(STUB_LAUNCHER, encoding="utf-8")
    log = tmp / f"rss_{jobs}_{int(keep_all)}.log"
    env = dict(os.environ, BENCH_RSS_LOG=str(log), BENCH_EVERY=str(every), PYTHONPATH=str(tmp))
    if keep_all:
        env["BENCH_KEEP_ALL"] = "1"
    if trace:
        env["BENCH_TRACE"] = "1"
    args = [sys.executable, str(app), "-m", "hydra/sweeper=alchemy", "hydra/launcher=bench_stub",
            f"+x=range(0,{jobs})", f"hydra.sweep.dir={tmp / f'out_{jobs}_{int(keep_all)}'}",
            "hydra/job_logging=disabled", "hydra/hydra_logging=disabled", "hydra.sweeper.progress=false"]
    t = time.perf_counter()
    proc = subprocess.run(args, cwd=tmp, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    points = [tuple(float(v) for v in line.split()) for line in log.read_text().split("\n") if line]
    if trace and Path(str(log) + ".trace").exists():
        print(Path(str(log) + ".trace").read_text())
    return [(jobs, elapsed, points)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--jobs", default="2000,5000,20000", help="comma-separated sweep sizes")
    ap.add_argument("--every", type=int, default=1000)
    ap.add_argument("--keep-all", action="store_true", help="also run the old behaviour (JobReturns keep configs)")
    ap.add_argument("--trace", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        bench_load(args.rows, tmp)
        print()
        print(f"{'variant':>10} {'jobs':>7} {'wall s':>8} {'ms/job':>7} {'RSS MB at jobs done':>40}")
        for keep_all in ([False, True] if args.keep_all else [False]):
            for n in (int(v) for v in args.jobs.split(",")):
                for jobs, elapsed, points in bench_rss(n, tmp, args.every, keep_all, args.trace):
                    shown = ", ".join(f"{int(k)}:{v:.0f}" for k, v in points[-4:])
                    growth = (points[-1][1] - points[0][1]) / (points[-1][0] - points[0][0]) * 1024 if len(points) > 1 else 0.0
                    name = "keep-all" if keep_all else "now"
                    print(f"{name:>10} {jobs:>7} {elapsed:8.1f} {elapsed / jobs * 1000:7.2f} {shown:>40}"
                          f"  growth {growth:.1f} kB/job")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs (target: < 250 MB RSS after 20,000 jobs)")


if __name__ == "__main__":
    main()
