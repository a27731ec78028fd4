"""From model and data to an audit report (everything public is re-exported by hstrat)."""

from .._predictions import Predictions
from ._audit import audit
from ._collect import collect
from ._evaluate import TABLE_COLUMNS, evaluate
from ._report import AuditReport
from ._reports import AuditReports

__all__ = [
    "TABLE_COLUMNS",
    "AuditReport",
    "AuditReports",
    "Predictions",
    "audit",
    "collect",
    "evaluate",
]
