"""Show the value of each key and where it came from.

  alchemy explain JOB_DIR [KEY ...]
  alchemy explain --config-dir DIR --config-name NAME [OVERRIDE ...] [--key KEY]

A job dir is read from its ``.hydra/provenance.yaml``. A config that has not run is
composed here with Hydra's compose API (the alchemy:// source serves the dir), so the
answer is what a run with those overrides would record. This module lives with the
plugins because composing needs Hydra; it imports Hydra only when it composes.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List

from alchemy_resolvers.provenance import report

HELP = "the value of each config key and where it came from"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("args", nargs="*", metavar="JOB_DIR_OR_ARG",
                        help="a job dir and keys; or, with --config-dir, overrides")
    parser.add_argument("--config-dir", help="compose this config dir instead of reading a job dir")
    parser.add_argument("--config-name", help="the primary config (with --config-dir)")
    parser.add_argument("--key", action="append", default=[], help="show only this key (repeatable)")


def run(args: argparse.Namespace) -> int:
    if args.config_dir:
        if not args.config_name:
            raise report.ProvenanceError("--config-dir needs --config-name")
        entries = compose_entries(args.config_dir, args.config_name, args.args)
        keys = args.key
    else:
        if not args.args:
            raise report.ProvenanceError("give a job dir, or --config-dir and --config-name")
        entries = report.read(args.args[0])
        keys = args.args[1:] + args.key
    rows = [(k, report.show(e.get("value")), str(e.get("source"))) for k, e in report.select(entries, keys).items()]
    print(report.table(("KEY", "VALUE", "SOURCE"), rows))
    return 0


def compose_entries(config_dir: str, config_name: str, overrides: List[str]) -> Dict[str, Any]:
    """Provenance of ``config_name`` in ``config_dir`` composed with ``overrides``."""
    from hydra import compose, initialize_config_dir
    from omegaconf import open_dict

    from hydra_plugins.alchemy_provenance import _collect

    try:
        with initialize_config_dir(config_dir=os.path.abspath(config_dir), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    except Exception as e:  # noqa: BLE001 - Hydra's errors, shown as one message
        raise report.ProvenanceError(
            f"could not compose {config_name!r} from {config_dir}: {e}", file=config_dir,
            hint="structured configs an app registers in ConfigStore when it starts are not "
            "known here; explain a job dir of that app instead",
        ) from e
    hydra = cfg.hydra
    with open_dict(cfg):
        del cfg["hydra"]
    return _collect.entries(cfg, hydra)
