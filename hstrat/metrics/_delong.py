"""DeLong's variance of the AUC, computed fast, and tests built on it.

DeLong, DeLong & Clarke-Pearson (1988) write the AUC as a two-sample U-statistic whose
*structural components* (placements) are, for each positive, the fraction of negatives
it outranks (``V10``) and, for each negative, the fraction of positives that outrank it
(``V01``); ties count one half. Sun & Xu (2014) observed that the placements come from
mid-ranks, so the variance costs O(n log n) instead of O(n²). Here the mid-ranks are
taken as two binary searches into the sorted scores of the other class, which gives the
same numbers exactly.

Covariances between AUCs computed on *overlapping* sets of cases — a stratum and the
overall AUC, or two strata of positives that share every negative — follow from the same
components: only cases used by both AUCs contribute. With ``groups`` (patients,
studies) the components are summed within each group first, giving the cluster-robust
variance of Obuchowski (1997).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .._validation import check_confidence_level, check_groups, check_scores
from ..exceptions import UndefinedMetricWarning
from ._auc import check_binary_inputs, undefined_reason, warn_if_undefined
from ._normal import normal_cdf, normal_quantile
from ._results import AUCResult, TestResult

__all__ = ["delong_ci", "delong_test"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Placements:
    """An AUC over the cases ``pos`` and ``neg`` with its structural components."""

    theta: float
    pos: IntArray
    neg: IntArray
    v_pos: FloatArray
    v_neg: FloatArray

    @property
    def defined(self) -> bool:
        """Whether the AUC exists (at least one positive and one negative)."""
        return len(self.pos) > 0 and len(self.neg) > 0


def placements(scores: FloatArray, pos: IntArray, neg: IntArray) -> Placements:
    """Return the AUC of ``scores[pos]`` against ``scores[neg]`` and its placements."""
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        return Placements(float("nan"), pos, neg, np.full(m, np.nan), np.full(n, np.nan))
    # Binary searches of *sorted* queries are several times faster (cache-friendly), so
    # both classes are sorted once and the results put back in the callers' order.
    sp, sn = scores[pos], scores[neg]
    order_p, order_n = np.argsort(sp, kind="stable"), np.argsort(sn, kind="stable")
    pos_sorted, neg_sorted = sp[order_p], sn[order_n]
    below = np.empty(m, dtype=np.int64)
    below[order_p] = np.searchsorted(neg_sorted, pos_sorted, "left") + np.searchsorted(
        neg_sorted, pos_sorted, "right"
    )
    above = np.empty(n, dtype=np.int64)
    above[order_n] = (
        2 * m
        - np.searchsorted(pos_sorted, neg_sorted, "left")
        - np.searchsorted(pos_sorted, neg_sorted, "right")
    )
    theta = int(below.sum(dtype=np.int64)) / (2.0 * m * n)
    return Placements(theta, pos, neg, below / (2.0 * n), above / (2.0 * m))


def _deviations(p: Placements, n_samples: int) -> FloatArray:
    """Each case's contribution to the AUC's deviation from its mean (0 outside)."""
    dev = np.zeros(n_samples)
    dev[p.pos] = (p.v_pos - p.theta) / len(p.pos)
    dev[p.neg] = (p.v_neg - p.theta) / len(p.neg)
    return dev


def _overlap_term(idx_a: IntArray, dev_a: FloatArray, idx_b: IntArray, dev_b: FloatArray) -> float:
    common = np.intersect1d(idx_a, idx_b, assume_unique=True)
    k = len(common)
    if k == 0:
        return 0.0
    if k == 1:
        return float("nan")
    return k / (k - 1) * float(np.dot(dev_a[common], dev_b[common]))


def delong_covariance(
    a: Placements, b: Placements, n_samples: int, groups: IntArray | None = None
) -> float:
    """Covariance of two AUCs estimated on (possibly overlapping) cases of one sample.

    Without groups: DeLong's estimator, summing over cases used by both AUCs, positives
    and negatives separately, with the usual ``k / (k - 1)`` small-sample factor (this is
    exactly DeLong's variance and paired covariance when the cases coincide).

    With groups: Obuchowski's (1997) clustered estimator. The components are summed
    within each cluster, separately for positives and negatives, and

        var = I₁₀/(I₁₀-1) Σ p_g² + I₀₁/(I₀₁-1) Σ q_g² + 2 I/(I-1) Σ p_g q_g

    where ``p_g`` (``q_g``) is the cluster's summed positive (negative) deviation and
    I₁₀, I₀₁, I count clusters with a positive, with a negative, and in all. With one
    case per cluster this is DeLong's variance exactly; with fewer than two clusters
    holding positives (or negatives) it is undefined (NaN).
    """
    if not (a.defined and b.defined):
        return float("nan")
    dev_a = _deviations(a, n_samples)
    dev_b = dev_a if b is a else _deviations(b, n_samples)
    if groups is None:
        return _overlap_term(a.pos, dev_a, b.pos, dev_b) + _overlap_term(
            a.neg, dev_a, b.neg, dev_b
        )
    n_groups = int(groups.max()) + 1 if len(groups) else 0

    def cluster_sums(idx: IntArray, dev: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(groups[idx], weights=dev[idx], minlength=n_groups))

    pos_a, pos_b = cluster_sums(a.pos, dev_a), cluster_sums(b.pos, dev_b)
    neg_a, neg_b = cluster_sums(a.neg, dev_a), cluster_sums(b.neg, dev_b)
    i_pos = len(np.unique(groups[np.union1d(a.pos, b.pos)]))
    i_neg = len(np.unique(groups[np.union1d(a.neg, b.neg)]))
    used = np.union1d(np.union1d(a.pos, b.pos), np.union1d(a.neg, b.neg))
    i_all = len(np.unique(groups[used]))
    if i_pos < 2 or i_neg < 2:
        return float("nan")
    return (
        i_pos / (i_pos - 1) * float(np.dot(pos_a, pos_b))
        + i_neg / (i_neg - 1) * float(np.dot(neg_a, neg_b))
        + i_all / (i_all - 1) * float(np.dot(pos_a, neg_b) + np.dot(neg_a, pos_b))
    )


def normal_interval(
    estimate: float, se: float, confidence_level: float, bounds: tuple[float, float]
) -> tuple[float, float]:
    """Wald interval ``estimate ± z·se`` clipped to ``bounds`` (as pROC does)."""
    if not np.isfinite(se):
        return float("nan"), float("nan")
    z = normal_quantile(0.5 + confidence_level / 2)
    return max(bounds[0], estimate - z * se), min(bounds[1], estimate + z * se)


def two_sided_p(z: float) -> float:
    """Two-sided normal p-value of a z statistic."""
    return 2.0 * normal_cdf(-abs(z)) if np.isfinite(z) else float("nan")


def _split(y: npt.NDArray[np.bool_]) -> tuple[IntArray, IntArray]:
    return np.flatnonzero(y), np.flatnonzero(~y)


def delong_ci(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    confidence_level: float = 0.95,
    groups: npt.ArrayLike | None = None,
) -> AUCResult:
    """AUC with DeLong's standard error and Wald confidence interval.

    Matches R's pROC (``var(roc)``, ``ci.auc(roc, method = "delong")``): the interval is
    ``AUC ± z·SE`` clipped to [0, 1].

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels (booleans or 0/1).
    y_score : array-like of shape (n_samples,)
        Finite scores; higher means more likely positive.
    confidence_level : float, default 0.95
        Nominal coverage of the interval.
    groups : array-like of shape (n_samples,), optional
        Cluster ids (e.g. patient). When given, the variance is cluster-robust: the
        structural components are summed within each cluster (Obuchowski 1997), so
        several images of one patient are not treated as independent evidence.

    Returns
    -------
    AUCResult
        With ``method="delong"``. When the AUC is undefined, or when there are fewer
        than two positives or negatives for the variance, the missing parts are NaN and
        an :class:`~hstrat.exceptions.UndefinedMetricWarning` says why.

    Examples
    --------
    >>> from hstrat.metrics import delong_ci
    >>> r = delong_ci([0, 0, 0, 1, 1, 1], [0.1, 0.4, 0.35, 0.8, 0.3, 0.9])
    >>> round(r.estimate, 4), round(r.standard_error, 4)
    (0.7778, 0.2485)
    """
    level = check_confidence_level(confidence_level)
    y, s, cases = check_binary_inputs(y_true, y_score)
    g = None if groups is None else check_groups(cases.align(groups, "groups"), len(y))
    pos, neg = _split(y)
    p = placements(s, pos, neg)
    if warn_if_undefined(len(pos), len(neg)):
        nan = float("nan")
        return AUCResult(nan, nan, nan, nan, level, "delong", len(pos), len(neg))
    variance = delong_covariance(p, p, len(y), g)
    if not np.isfinite(variance):
        need = (
            "two positives and two negatives"
            if g is None
            else "two clusters holding positives and two holding negatives"
        )
        warnings.warn(
            f"DeLong variance needs at least {need}; the interval is NaN.",
            UndefinedMetricWarning,
            stacklevel=2,
        )
    se = float(np.sqrt(variance)) if variance >= 0 else float("nan")
    low, high = normal_interval(p.theta, se, level, (0.0, 1.0))
    return AUCResult(p.theta, low, high, se, level, "delong", len(pos), len(neg))


def delong_test(
    y_true: npt.ArrayLike,
    score_a: npt.ArrayLike,
    score_b: npt.ArrayLike,
    *,
    confidence_level: float = 0.95,
    groups: npt.ArrayLike | None = None,
) -> TestResult:
    """DeLong's test for two correlated AUCs: two models scored on the same cases.

    Matches R's pROC ``roc.test(roc_a, roc_b, method = "delong", paired = TRUE)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels (booleans or 0/1).
    score_a, score_b : array-like of shape (n_samples,)
        The two models' scores for the same cases, in the same order.
    confidence_level : float, default 0.95
        Coverage of the interval for the difference ``AUC(a) - AUC(b)``.
    groups : array-like of shape (n_samples,), optional
        Cluster ids for a cluster-robust variance (see :func:`delong_ci`).

    Returns
    -------
    TestResult
        ``statistic`` is the z value, ``difference`` is ``AUC(a) - AUC(b)``.

    Examples
    --------
    >>> from hstrat.metrics import delong_test
    >>> y = [0, 0, 0, 0, 1, 1, 1, 1]
    >>> a = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    >>> b = [0.1, 0.6, 0.3, 0.4, 0.5, 0.2, 0.7, 0.8]
    >>> r = delong_test(y, a, b)
    >>> round(r.difference, 4), round(r.p_value, 4)
    (0.25, 0.2207)
    """
    level = check_confidence_level(confidence_level)
    y, sa, cases = check_binary_inputs(y_true, score_a, score_name="score_a")
    sb = check_scores(cases.align(score_b, "score_b"), "score_b")
    g = None if groups is None else check_groups(cases.align(groups, "groups"), len(y))
    pos, neg = _split(y)
    reason = undefined_reason(len(pos), len(neg))
    if reason:
        raise ValueError(f"delong_test needs both classes in y_true; {reason}.")
    pa, pb = placements(sa, pos, neg), placements(sb, pos, neg)
    return difference_test(pa, pb, len(y), g, level)


def difference_test(
    a: Placements, b: Placements, n_samples: int, groups: IntArray | None, confidence_level: float
) -> TestResult:
    """Z test of ``AUC(a) - AUC(b)`` using the DeLong covariance of the two estimates."""
    diff = a.theta - b.theta
    var = (
        delong_covariance(a, a, n_samples, groups)
        + delong_covariance(b, b, n_samples, groups)
        - 2.0 * delong_covariance(a, b, n_samples, groups)
    )
    se = float(np.sqrt(var)) if var > 0 else float("nan")
    z = diff / se if np.isfinite(se) else float("nan")
    low, high = normal_interval(diff, se, confidence_level, (-1.0, 1.0))
    return TestResult(z, two_sided_p(z), diff, low, high, "delong", se, confidence_level)
