"""Checks of a sweep's jobs before any of them runs (``hydra.sweeper.dry_run`` and
``hydra.sweeper.check``), the parts that need no Hydra:

- :mod:`.problems`: one problem (combination, key, file, message, fix), identical
  problems of many combinations folded into one line, and the error that lists them;
- :mod:`.walk`: the grid walked like :class:`~alchemy_resolvers.grid.Grid` does, but a
  ``subject_to`` that raises is recorded and the walk goes on, so every broken
  constraint is found in one pass;
- :mod:`.resolve`: every interpolation of a composed config resolved one leaf at a
  time, so every broken ``${dep:...}``/``P_DEP`` is found, not only the first;
- :mod:`.targets`: every ``_target_`` imported and its signature compared with the
  keys the config gives it.

The Hydra side (composing the jobs, naming files) is
``hydra_plugins/alchemy_sweeper/_check.py``.
"""
from alchemy_resolvers.checks.problems import Problem, SweepCheckError, render_problems
from alchemy_resolvers.checks.resolve import LeafFailure, resolve_leaves
from alchemy_resolvers.checks.targets import RESERVED_KEYS, TargetChecker, TargetIssue, locate
from alchemy_resolvers.checks.walk import ConstraintFailure, walk_reporting

__all__ = [
    "Problem",
    "SweepCheckError",
    "render_problems",
    "LeafFailure",
    "resolve_leaves",
    "RESERVED_KEYS",
    "TargetChecker",
    "TargetIssue",
    "locate",
    "ConstraintFailure",
    "walk_reporting",
]
