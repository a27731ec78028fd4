"""hstrat: audit classifiers for hidden stratification.

A model with a good overall AUC can fail on a clinically important subclass of its
label — pneumothorax without a chest drain, subtle fractures. hstrat measures
performance per subclass with honest intervals and tests, at the operating point, and
finds failing clusters nobody labelled (Oakden-Rayner et al., 2020).

The entry points are :func:`evaluate` (scores from anywhere) and :func:`audit`
(a PyTorch model and a DataLoader); statistics live in :mod:`hstrat.metrics`.
"""

from ._audit import AuditReport, AuditReports, Predictions, audit, collect, evaluate
from ._show_versions import show_versions
from ._stratum import Stratum
from ._version import __version__
from .strata import Schema

__all__ = [
    "AuditReport",
    "AuditReports",
    "Predictions",
    "Schema",
    "Stratum",
    "__version__",
    "audit",
    "collect",
    "evaluate",
    "show_versions",
]
