"""Cost of rewriting the metric frame's files, by number of rows.

The sweeper rewrites ``metric_frame.csv`` after every ended job and the xlsx and html
at most every few seconds (``hydra.sweeper.xlsx_every_s``) and at the end; this
measures one rewrite of each for frames of 100, 1,000 and 10,000 rows (four axes, the
last one a seed aggregated over, three metrics with directions: the work a real sweep
with ``optimize`` and ``aggregate`` does), best of ``--repeat`` runs.

    python bench/bench_frame.py [--rows 100 1000 10000] [--repeat 3] [--quick]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alchemy_resolvers.frame.table import MetricFrame  # noqa: E402


def make_frame(n: int) -> MetricFrame:
    """``n`` rows over lr x batch_size x depth x seed (4 seeds), 1 in 50 failed."""
    frame = MetricFrame(["lr", "batch_size", "depth", "seed"], {"val_acc": "max", "val_loss": "min"}, ["seed"])
    for i in range(n):
        seed, rest = i % 4, i // 4
        names = [f"0·{rest // 100 + 1}", 2 ** (5 + rest // 10 % 10), rest % 10, seed]
        failed = i % 50 == 49
        metrics = {} if failed else {"val_acc": 0.5 + (i * 7919 % 1000) / 2000, "val_loss": 1.0 / (i + 1),
                                     "train_loss": (i % 97) / 97}
        frame.add({"key": f"k{i}", "index": i, "names": names, "folder": f"f{i}",
                   "status": "FAILED" if failed else "COMPLETED", "metrics": metrics,
                   "error": "RuntimeError: boom (train.py:20)" if failed else None, "job_dir": f"f{i}"})
    return frame


def best_of(repeat: int, fn: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: List[str] = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[100, 1_000, 10_000])
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one run (a smoke test)")
    args = ap.parse_args(argv)
    sizes, repeat = ([10, 100], 1) if args.quick else (args.rows, args.repeat)
    print("metric frame rewrite time (ms), best of", repeat)
    print(f"{'rows':>8} | {'csv':>9} | {'xlsx':>9} | {'html':>9} | {'xlsx per row':>12}")
    print("-" * 60)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for n in sizes:
            frame = make_frame(n)
            csv = best_of(repeat, lambda: frame.write_csv(out))
            xlsx = best_of(repeat, lambda: frame.write_xlsx(out))
            html = best_of(repeat, lambda: frame.write_html(out))
            print(f"{n:>8} | {csv * 1e3:>9.1f} | {xlsx * 1e3:>9.1f} | {html * 1e3:>9.1f} | "
                  f"{xlsx / n * 1e6:>9.0f} us")
    print("csv: after every job; xlsx and html: at most every xlsx_every_s (5 s) and at the end")


if __name__ == "__main__":
    main()
