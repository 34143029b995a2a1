"""``hydra/launcher=alchemy_slurm``: the sweep's jobs as one Slurm job array, through
submitit.

Built on hydra-submitit-launcher's ``BaseSubmititLauncher``: its ``__call__`` runs a job
on the node and its ``checkpoint`` lets submitit requeue a preempted or timed-out job.
What differs is ``launch``: one failed or killed job becomes a FAILED ``JobReturn``
instead of an exception that loses every other result, and job states are tracked with
squeue where sacct has no accounting database behind it
(:mod:`hydra_plugins.alchemy_launcher._slurm_impl`).
"""
import logging
import os
from pathlib import Path
from typing import Any, Callable, List, Optional, Sequence, Tuple

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, filter_overrides
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher
from omegaconf import open_dict

log = logging.getLogger(__name__)


class AlchemySlurmLauncher(BaseSubmititLauncher):
    _EXECUTOR = "slurm"

    on_job_done: Optional[Callable[[int, JobReturn], None]] = None

    def set_job_done_callback(self, fn: Optional[Callable[[int, JobReturn], None]]) -> None:
        """Have ``fn(job_idx, job_return)`` called as each job ends (the alchemy sweeper
        updates its metric frame with it while the rest of the array runs)."""
        self.on_job_done = fn

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        import submitit

        from hydra_plugins.alchemy_launcher._slurm_impl import SqueueWatcher, collect_returns, executor_parameters

        assert self.config is not None
        assert self.hydra_context is not None
        assert len(job_overrides) > 0

        parameters = executor_parameters(self.params)  # refuses contradictions first
        executor = submitit.AutoExecutor(
            folder=self.params["submitit_folder"],
            cluster="slurm",
            slurm_max_num_timeout=self.params.get("max_num_timeout", 0),
        )
        executor.update_parameters(**parameters)

        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        log.info(f"Slurm sweep output dir : {sweep_dir}")

        job_params: List[Tuple[Any, ...]] = []
        for offset, overrides in enumerate(job_overrides):
            idx = initial_job_idx + offset
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append(
                (list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}",
                 Singleton.get_state())
            )
        jobs = executor.map_array(self, *zip(*job_params))
        watcher = SqueueWatcher()
        for job in jobs:
            # Per-job instance attribute: submitit's class-wide watcher stays untouched.
            job.watcher = watcher
        log.info(f"Submitted Slurm job array {jobs[0].job_id.split('_')[0]} "
                 f"({len(jobs)} jobs); submitit logs in {jobs[0].paths.folder}")
        return collect_returns(jobs, job_overrides, initial_job_idx, self._compose, self.on_job_done)

    def _compose(self, overrides: List[str], idx: int, job_id: str) -> Tuple[Any, Path]:
        """The config and directory of a job that came back without a ``JobReturn``."""
        assert self.config is not None and self.hydra_context is not None
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(sweep_config.hydra.job) as job:
            job.num = idx
            job.id = job_id
        job_dir = Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)
        return sweep_config, job_dir
