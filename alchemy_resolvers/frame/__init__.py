"""The summary of a sweep: the state file (source of truth), the metric frame built
from it, and its csv/xlsx writers."""
from alchemy_resolvers.frame.state import STATE_FILE, StateFile, StateMismatchError
from alchemy_resolvers.frame.table import COMPLETED, FAILED, MetricFrame, to_metrics
from alchemy_resolvers.frame.writers import CSV_FILE, XLSX_FILE, atomic_write, write_xlsx

__all__ = [
    "MetricFrame",
    "StateFile",
    "StateMismatchError",
    "to_metrics",
    "atomic_write",
    "write_xlsx",
    "STATE_FILE",
    "CSV_FILE",
    "XLSX_FILE",
    "COMPLETED",
    "FAILED",
]
