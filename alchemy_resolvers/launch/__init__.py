"""Local launch loop of ``hydra/launcher=alchemy``: one fresh process per job, dispatched
as soon as GPU slots (or CPU slots) free up. Hydra is imported lazily, inside functions."""
from .dispatch import Dispatcher, Outcome, Prepared, ProcessJob, Progress
from .hydra_jobs import JobFailedError, LocalLaunchOptions, launch_jobs

__all__ = [
    "Dispatcher", "Outcome", "Prepared", "ProcessJob", "Progress",
    "JobFailedError", "LocalLaunchOptions", "launch_jobs",
]
