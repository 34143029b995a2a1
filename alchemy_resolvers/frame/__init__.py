"""The summary of a sweep: the state file (source of truth), the metric frame built
from it, its csv/xlsx writers (``writers``) and html page (``html``), directions and
best rows (``best``), the aggregate over seeds (``aggregate``), the live progress line
(``progress``) and the ``alchemy frame`` command (``command``)."""
from alchemy_resolvers.frame.state import STATE_FILE, StateFile, StateMismatchError
from alchemy_resolvers.frame.html import HTML_FILE
from alchemy_resolvers.frame.table import AGGREGATE_CSV_FILE, COMPLETED, FAILED, SKIPPED, MetricFrame, to_metrics
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
    "HTML_FILE",
    "AGGREGATE_CSV_FILE",
    "COMPLETED",
    "FAILED",
    "SKIPPED",
]
