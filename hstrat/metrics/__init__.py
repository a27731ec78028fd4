"""Statistics of hidden stratification: pure numpy / scipy, no torch, no matplotlib.

Every function takes the data first (``y_true, y_score[, strata]``) and everything else
by keyword; intervals come as :class:`AUCResult`, tests as :class:`TestResult`, tables
as tidy :class:`pandas.DataFrame`.
"""

from ._auc import auc, roc_curve
from ._bootstrap import bootstrap_ci
from ._delong import delong_ci, delong_test
from ._power import auc_power, auc_sample_size, detectable_auc_gap, hanley_mcneil_variance
from ._results import AUCResult, TestResult
from ._stratified import stratified_auc
from ._threshold import (
    operating_threshold,
    stratified_threshold_metrics,
    threshold_metrics,
    wilson_ci,
)

__all__ = [
    "AUCResult",
    "TestResult",
    "auc",
    "auc_power",
    "auc_sample_size",
    "bootstrap_ci",
    "delong_ci",
    "delong_test",
    "detectable_auc_gap",
    "hanley_mcneil_variance",
    "operating_threshold",
    "roc_curve",
    "stratified_auc",
    "stratified_threshold_metrics",
    "threshold_metrics",
    "wilson_ci",
]
