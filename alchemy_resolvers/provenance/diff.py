"""Show the keys whose values differ between two jobs, with both sources.

  alchemy diff JOB_DIR_A JOB_DIR_B
  alchemy diff SWEEP_DIR batch_size=32,epochs=5 batch_size=128,epochs=5

With a sweep dir, each combination is found as the folder of that name (the alchemy
sweeper's layout) or the job folder whose ``.hydra/overrides.yaml`` holds exactly
those overrides (Hydra's basic sweeper numbers its folders).
"""
from __future__ import annotations

import argparse
import os
from typing import List, Optional

import yaml

from alchemy_resolvers.provenance import report

HELP = "keys whose values differ between two jobs, with where each came from"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dirs", nargs="+", metavar="DIR",
                        help="two job dirs, or a sweep dir and two combination names")


def run(args: argparse.Namespace) -> int:
    if len(args.dirs) == 2:
        a, b = args.dirs
    elif len(args.dirs) == 3:
        a, b = (find_job(args.dirs[0], name) for name in args.dirs[1:])
    else:
        raise report.ProvenanceError("give two job dirs, or a sweep dir and two combination names")
    left, right = report.read(a), report.read(b)
    rows = []
    for key in list(left) + [k for k in right if k not in left]:
        va, vb = left.get(key, {}), right.get(key, {})
        if va.get("value") != vb.get("value") or (key in left) != (key in right):
            rows.append((key, _val(va), va.get("source", "-"), _val(vb), vb.get("source", "-")))
    if not rows:
        print("no differences")
        return 0
    print(report.table(("KEY", "A", "A SOURCE", "B", "B SOURCE"), rows))
    return 0


def _val(entry: dict) -> str:
    return report.show(entry["value"]) if "value" in entry else "(absent)"


def find_job(sweep_dir: str, name: str) -> str:
    """The job folder of combination ``name`` in ``sweep_dir``."""
    direct = os.path.join(sweep_dir, name)
    if os.path.isdir(direct):
        return direct
    wanted = sorted(name.split(","))
    for entry in sorted(os.listdir(sweep_dir)) if os.path.isdir(sweep_dir) else []:
        overrides = _overrides(os.path.join(sweep_dir, entry))
        if overrides is not None and sorted(o.lstrip("+") for o in overrides) == wanted:
            return os.path.join(sweep_dir, entry)
    raise report.ProvenanceError(f"{sweep_dir}: no job for the combination {name!r}", file=sweep_dir)


def _overrides(job_dir: str) -> Optional[List[str]]:
    path = os.path.join(job_dir, ".hydra", "overrides.yaml")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return [str(o) for o in yaml.safe_load(f) or []]
