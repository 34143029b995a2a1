"""``alchemy frame SWEEP_DIR``: the metric frame of a running or ended sweep.

Read from ``sweep_state.jsonl`` (the source of truth, appended as each job ends), so it
works while the sweep runs, after it was killed, and on a copy of the sweep dir. The
directions and aggregate axes are those the sweep was started with; ``--aggregate``
overrides them, ``--sort METRIC`` orders the rows (best first for a directed metric),
``--write`` rewrites the csv, xlsx and html from it (those of a killed sweep can lag
its last records by a few seconds).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

from alchemy_resolvers.errors import AlchemyError
from alchemy_resolvers.frame.aggregate import resolve_axes
from alchemy_resolvers.frame.state import STATE_FILE, StateFile
from alchemy_resolvers.frame.table import MetricFrame

__all__ = ["HELP", "add_arguments", "run", "load_frame", "FrameCommandError"]

HELP = "print the metric frame of a running or ended sweep"


class FrameCommandError(AlchemyError, ValueError):
    """No sweep state to read, or an option that does not fit the sweep."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sweep_dir", metavar="SWEEP_DIR", help="the sweep's hydra.sweep.dir")
    parser.add_argument("--sort", metavar="METRIC", help="order rows by METRIC (best first if it has a direction)")
    parser.add_argument("--aggregate", metavar="AXIS", action="append",
                        help="group runs that differ only in AXIS (repeatable; 'none' for no grouping)")
    parser.add_argument("--write", action="store_true",
                        help="also rewrite metric_frame.csv/.xlsx/.html in SWEEP_DIR from the state file")


def load_frame(sweep_dir: Path, aggregate: Optional[Sequence[str]] = None) -> Tuple[MetricFrame, Dict[str, Any]]:
    """The frame of ``sweep_dir`` from its state file, and the state's header."""
    state = StateFile(Path(sweep_dir) / STATE_FILE)
    header, records = state.load()
    if header is None:
        raise FrameCommandError(f"{state.path} does not exist or holds no sweep",
                                file=str(state.path), hint="give the sweep dir (hydra.sweep.dir) of an alchemy sweep")
    keys = list(header.get("keys") or [])
    over = list(header.get("aggregate") or []) if aggregate is None else [a for a in aggregate if a != "none"]
    over = resolve_axes(over, keys, header.get("params") or [], key="--aggregate")
    frame = MetricFrame(keys, header.get("optimize") or {}, over)
    for record in records:
        frame.add(record)
    return frame, header


def run(args: argparse.Namespace) -> int:
    aggregate = None
    if args.aggregate is not None:
        aggregate = [a.strip() for item in args.aggregate for a in item.split(",") if a.strip()]
    frame, header = load_frame(Path(args.sweep_dir), aggregate)
    if args.sort is not None and args.sort not in frame.metric_names():
        raise FrameCommandError(f"--sort {args.sort}: no such metric (metrics: "
                                f"{', '.join(frame.metric_names()) or 'none yet'})", key="--sort")
    records = frame.records()
    failed, skipped = len(frame.failed()), len(frame.skipped())
    total = header.get("total")
    of = f" of {total}" if isinstance(total, int) else ""
    print(f"{Path(args.sweep_dir)}: {len(records) - skipped}{of} run(s) ended, {failed} failed"
          + (f", {skipped} skipped" if skipped else ""))
    print(frame.render(sort=args.sort))
    if getattr(args, "write", False):
        frame.write(Path(args.sweep_dir))
        print(f"Wrote the metric frame of {len(records)} run(s) to {Path(args.sweep_dir)} (csv, xlsx, html)")
    return 0
