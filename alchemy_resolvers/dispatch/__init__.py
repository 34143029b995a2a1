"""Run jobs as fresh processes, as soon as GPU (or CPU) slots free up."""
from alchemy_resolvers.dispatch.forkserver import ForkServer
from alchemy_resolvers.dispatch.pool import Dispatcher, Outcome, Prepared, ProcessJob
from alchemy_resolvers.dispatch.progress import Progress

__all__ = ["Dispatcher", "ForkServer", "Outcome", "Prepared", "ProcessJob", "Progress"]
