"""``hydra/launcher=alchemy``: every job in a fresh process with its own GPUs.

Thin glue: the Hydra side is in :mod:`._impl` (options in :mod:`._options`, each job's
composed config in :mod:`._jobconfig`, the job's process in :mod:`._worker`), the rest
in :mod:`alchemy_resolvers.dispatch` and :mod:`alchemy_resolvers.gpu`; all imported when
a sweep launches, not at Hydra start-up. An option wrong for the whole sweep stops it
with one message before any job starts.
"""
import logging
from typing import Any, Callable, List, Optional, Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class AlchemyLauncher(Launcher):
    def __init__(self, **params: Any) -> None:
        self.params = {
            k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in params.items()
        }
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None
        self.on_job_done: Optional[Callable[[int, JobReturn], None]] = None
        self.stop_check: Optional[Callable[[], bool]] = None

    def set_job_done_callback(self, fn: Optional[Callable[[int, JobReturn], None]]) -> None:
        """Have ``fn(job_idx, job_return)`` called as each job ends (the alchemy
        sweeper updates its metric frame with it while other jobs still run)."""
        self.on_job_done = fn

    def set_stop_check(self, fn: Optional[Callable[[], bool]]) -> None:
        """Have ``fn()`` asked before each job starts (the sweeper's ``max_failures``):
        once it returns True no job starts or reruns, running jobs finish, and the jobs
        never started come back from ``launch`` as ``UNKNOWN`` returns with ``skipped =
        True`` (``on_job_done`` is not called for them)."""
        self.stop_check = fn

    def setup(
        self,
        *,
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from hydra_plugins._alchemy_errors import compact_settings_errors
        from hydra_plugins.alchemy_launcher._impl import LocalLaunchOptions, launch_jobs

        assert self.config is not None
        assert self.hydra_context is not None
        assert self.task_function is not None
        with compact_settings_errors():  # a wrong option: one message, no job started
            results: List[JobReturn] = launch_jobs(
                LocalLaunchOptions(**self.params),
                hydra_context=self.hydra_context,
                config=self.config,
                task_function=self.task_function,
                job_overrides=job_overrides,
                initial_job_idx=initial_job_idx,
                on_job_done=self.on_job_done,
                stop_check=self.stop_check,
            )
        return results
