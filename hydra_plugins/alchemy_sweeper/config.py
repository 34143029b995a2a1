"""Config of ``hydra/sweeper=alchemy`` (registered in Hydra's ConfigStore): the one
place the sweeper's settings and their defaults are written; the plugin class builds
this dataclass from what Hydra passes it."""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore

from alchemy_resolvers.authoring import tune as _tune

# Jobs that tune Python objects read them through ${alchemy_value:TOKEN,IDX}; Hydra
# imports this module in every process, workers included.
_tune.register()


@dataclass
class AlchemySweeperConf:
    _target_: str = "hydra_plugins.alchemy_sweeper.alchemy_sweeper.AlchemySweeper"

    # Jobs per launch (None: one job at a time for the basic launcher, so the summary
    # is rewritten as every job ends; larger chunks for parallel launchers).
    max_batch_size: Optional[int] = None

    # Axes defined in YAML: `key: [v1, v2]`, `key: "v1,v2"` (basic sweeper syntax) or
    # `key: {values: [...], names: [...], priority: N, subject_to: EXPR}`.
    params: Optional[Dict[str, Any]] = None

    # Priority of any swept key, command-line sweeps included (lower = outer loop).
    priorities: Dict[str, float] = field(default_factory=dict)

    # Import path of `fn(cfg, job_dir, return_value, params) -> {metric: value}`,
    # for tasks that write their results to files instead of returning them.
    gather: Optional[str] = None

    # Directions of metrics: `{val_acc: max, val_loss: min}`. The best run of each is
    # marked in the sheet and the page, colour scales run over their columns, and the
    # printed table names the best row. Metrics not named here have no direction.
    optimize: Any = None

    # Axes to average over (`[seed]`): the `aggregate` sheet and
    # metric_frame_aggregate.csv group runs that differ only in these axes (mean, std
    # with ddof=1, count per metric; failed runs counted, not averaged).
    aggregate: List[str] = field(default_factory=list)

    # The live view on stderr: a redrawn line on a terminal, a line per ended job
    # otherwise.
    progress: bool = True

    # The csv is rewritten as jobs end (at most every second), the xlsx and html at
    # most this often (seconds), all of them with the first job and at the end.
    # 0: both after every job (slow: 10-20 ms a job even for small frames).
    xlsx_every_s: float = 5.0

    # Reuse a sweep dir (give the same hydra.sweep.dir): true skips combinations that
    # completed with the same config (fingerprint) and reruns failed, missing and
    # edited ones; strict refuses, listing changed keys, if any completed one was
    # edited; false (the default; or restart) runs everything, first moving an earlier
    # sweep's state and frame to <sweep dir>/earlier/<time>/. Off by default: Hydra's
    # default sweep dir is per second, and two sweeps started in the same second must
    # not skip each other's jobs.
    resume: Any = False

    # Name job folders by their combination (`batch_size=128,epochs=5`) while
    # hydra.sweep.subdir is Hydra's default; a subdir you set yourself always wins.
    job_folders: bool = True

    # Also link Hydra's numbered folder names (`0`, `1`, ...) to those folders.
    job_links: bool = True

    # Compose the defaults list once per distinct config-group choice and apply each
    # job's overrides to a copy (exactly Hydra's last composition step); false uses
    # Hydra's full composition for every job. Either way each job is composed once.
    compose_once: bool = True

    # Print the jobs (count, folder and overrides of each; first and last 20 beyond
    # 1,000) and run the checks below, then stop: no task runs, no job folder is made.
    # Exit code 0 when every check passes, nonzero otherwise.
    dry_run: bool = False

    # Before the first job of a real sweep: compose every distinct config-group choice,
    # resolve every ${dep} and P_DEP, evaluate every subject_to, import every _target_
    # and check its signature against the keys given, for every value of every axis.
    # All problems are listed at once and no job starts. false: start at once.
    check: bool = True

    # Axes that advance together instead of forming a product: [[lr, warmup], ...].
    # The axes of one group must have equal lengths; the group takes the priority of
    # its first member and appears in the frame index as its members.
    zip: Optional[List[List[str]]] = None

    # After this many failed jobs no new job starts; running jobs finish, and
    # combinations never started are rows with status SKIPPED (a resume runs them).
    # null: never stop early.
    max_failures: Optional[int] = None


ConfigStore.instance().store(
    group="hydra/sweeper",
    name="alchemy",
    node=AlchemySweeperConf,
    provider="hydra-alchemy",
)
