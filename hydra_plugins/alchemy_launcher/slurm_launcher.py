"""``hydra/launcher=alchemy_slurm``: the sweep's jobs as one Slurm job array, through
submitit.

Built on hydra-submitit-launcher's ``BaseSubmititLauncher`` (its options, its
``checkpoint``, which lets submitit requeue a preempted or timed-out job). What differs:
each job's config is composed once, here, and the node runs the task with it (``__call__``);
one failed or killed job becomes a FAILED ``JobReturn`` instead of an exception that
loses every other result; job states are tracked with squeue where sacct has no
accounting database behind it; a task that raised names its file and line. The logic is
in :mod:`._slurm_impl`, imported when a sweep launches.
"""
import logging
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher

log = logging.getLogger(__name__)


class AlchemySlurmLauncher(BaseSubmititLauncher):
    _EXECUTOR = "slurm"

    on_job_done: Optional[Callable[[int, JobReturn], None]] = None
    stop_check: Optional[Callable[[], bool]] = None

    def set_job_done_callback(self, fn: Optional[Callable[[int, JobReturn], None]]) -> None:
        """Have ``fn(job_idx, job_return)`` called as each job ends (the alchemy sweeper
        updates its metric frame with it while the rest of the array runs)."""
        self.on_job_done = fn

    def set_stop_check(self, fn: Optional[Callable[[], bool]]) -> None:
        """Have ``fn()`` asked at every poll while the array runs (the sweeper's
        ``max_failures``): once it returns True, array tasks still pending are
        cancelled and come back from ``launch`` as ``UNKNOWN`` returns with ``skipped =
        True`` (``on_job_done`` is not called for them); running jobs finish; nothing
        is retried."""
        self.stop_check = fn

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from hydra_plugins._alchemy_errors import compact_settings_errors
        from hydra_plugins.alchemy_launcher._slurm_impl import launch_array

        assert self.config is not None
        assert self.hydra_context is not None
        assert len(job_overrides) > 0
        with compact_settings_errors():  # a wrong option: one message, nothing submitted
            return launch_array(self, job_overrides, initial_job_idx)

    def __call__(self, sweep_config: Any, packed: Any, singleton_state: Any,  # type: ignore[override]
                 attempt: int = 1) -> Tuple[JobReturn, Optional[str]]:
        """Runs on the node: the task with the config composed in ``launch`` (run
        ``attempt`` of it); returns ``(JobReturn, task_location)``."""
        from hydra_plugins.alchemy_launcher._slurm_impl import run_on_node

        return run_on_node(self, sweep_config, packed, singleton_state, attempt)

    def __getstate__(self) -> Dict[str, Any]:
        # What submitit pickles for each job: the task function keeps its file name (a
        # traceback on the node names the user's files); the sweeper's callback stays.
        from alchemy_resolvers.dispatch.payload import ByValue

        state = dict(self.__dict__)
        state.pop("on_job_done", None)
        state.pop("stop_check", None)
        if state.get("task_function") is not None:
            state["task_function"] = ByValue(state["task_function"])
        return state
