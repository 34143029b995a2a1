"""The benchmarks still run and print their comparison with the anchors.

Smoke runs at tiny sizes: they check that each benchmark works end to end and prints
its ratio table, never how fast anything is (timings belong to ``bench/``, run alone).
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO_ROOT

BENCH = REPO_ROOT / "bench"


@pytest.mark.slow
@pytest.mark.parametrize(
    "script, args, expected",
    [
        ("bench_loaders.py", ["--repeat", "2"], ["mmengine Config.fromfile", "vs mmengine"]),
        ("bench_packing.py", ["--quick"], ["static", "ours within 10% of the lower bound"]),
        ("bench_sweeper.py", ["--jobs", "4", "--repeat", "1"], ["BasicSweeper / alchemy overhead per job, the sweeper's own"]),
        ("bench_dispatch.py", ["--quick", "--jobs", "3"], ["launcher", "per job", "vs basic", "alchemy fork_server",
                                                             "BasicSweeper / alchemy"]),
        ("bench_frame.py", ["--quick"], ["metric frame rewrite time", "csv", "xlsx"]),
        ("bench_state.py", ["--rows", "2000", "--jobs", "60", "--every", "20"], ["state file", "load s", "RSS MB"]),
        ("bench_deps.py", ["--sizes", "16"], ["chain", "diamond", "evaluations"]),
        ("bench_provenance.py", ["--jobs", "3", "--repeat", "1"], ["provenance off", "provenance on", "ratio on/off"]),
        ("bench_dry_run.py", ["--axes", "2", "--values", "5", "--jobs", "10", "--repeat", "1"],
         ["dry run, 25 jobs", "checks before launch add"]),
    ],
)
def test_benchmark_runs_and_prints_its_comparison(script: str, args: list, expected: list) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in expected:
        assert text in proc.stdout, (text, proc.stdout)
