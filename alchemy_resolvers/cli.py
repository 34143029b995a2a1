"""The ``alchemy`` command: ``alchemy SUBCOMMAND ...`` (also ``python -m alchemy_resolvers.cli``).

Each subcommand lives in its own module, which defines ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``; :data:`COMMANDS` names them, so a new
subcommand (``explain``, ``diff``) is a new module and one line here. Errors a user can
fix (:class:`~alchemy_resolvers.errors.AlchemyError`) are printed as one message, exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Dict, List, Optional

from alchemy_resolvers.errors import AlchemyError

__all__ = ["main", "COMMANDS", "build_parser"]

#: Subcommand -> module implementing it.
COMMANDS: Dict[str, str] = {
    "frame": "alchemy_resolvers.frame.command",
    # explain composes configs that have not run, which needs Hydra: its module is a
    # plugin-side one (alchemy_resolvers itself never imports Hydra).
    "explain": "hydra_plugins.alchemy_provenance._explain",
    "diff": "alchemy_resolvers.provenance.diff",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alchemy", description="hydra-alchemy's command-line tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the subcommand; the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except AlchemyError as e:
        print(f"alchemy {args.command}: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `alchemy frame DIR | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
