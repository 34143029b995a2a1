"""The Hydra callback that writes ``.hydra/provenance.yaml`` into every job folder.

The ``alchemy://`` source adds it to the ``hydra.callbacks`` of every root-level
config it serves to a Hydra app (``config_dir.with_provenance_callback``), so users
need no flag. It runs in the job's process under any launcher that runs Hydra's
``run_job`` there (basic, ``alchemy``). ``HYDRA_ALCHEMY_PROVENANCE=0`` turns it off.
Any failure is logged: provenance must never fail a job.

What it needs is imported with it, not when a job starts: the fork server's zygote
has this module (the callback comes with the Hydra context) and every job it forks
would otherwise import the provenance modules again (~15 ms a job).
"""
from __future__ import annotations

import logging
import os
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from alchemy_resolvers.provenance import report
from hydra_plugins.alchemy_provenance import _collect


class ProvenanceCallback(Callback):
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not report.enabled():
            return
        from hydra.core.hydra_config import HydraConfig

        try:
            hydra = HydraConfig.get()
            if not hydra.output_subdir:
                return
            entries = _collect.entries(config, hydra)
            report.write(os.path.join(hydra.runtime.output_dir, hydra.output_subdir), entries)
        except Exception as e:  # noqa: BLE001 - never fail the job for its provenance
            # a log line, not a warning: apps run with -Werror must not fail for this
            logging.getLogger(__name__).warning(
                "hydra-alchemy: could not write provenance.yaml: %s: %s", type(e).__name__, e)
