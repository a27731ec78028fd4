"""The AUC as a Mann-Whitney count, and the ROC curve.

AUC = P(score of a positive > score of a negative) + 1/2 P(tie). Computed exactly: with
the negatives' scores sorted, each positive's number of lower negatives plus half its ties
is two binary searches, so the whole count is an integer sum in O(n log n).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._align import Cases
from .._validation import check_labels, check_scores
from ..exceptions import UndefinedMetricWarning

__all__ = ["auc", "roc_curve"]

FloatArray = npt.NDArray[np.float64]


def twice_mann_whitney_u(pos_scores: FloatArray, neg_sorted: FloatArray) -> int:
    """Return 2U: for every positive, twice the lower negatives plus the tied ones."""
    lo = np.searchsorted(neg_sorted, pos_scores, side="left")
    hi = np.searchsorted(neg_sorted, pos_scores, side="right")
    return int(lo.sum(dtype=np.int64) + hi.sum(dtype=np.int64))


def check_binary_inputs(
    y_true: Any, y_score: Any, *, score_name: str = "y_score"
) -> tuple[npt.NDArray[np.bool_], FloatArray, Cases]:
    """Validate labels and scores lined up by hstrat's rule; return them and the cases.

    The cases then line up every other per-case input (``cases.align(groups, "groups")``).
    """
    cases = Cases.of(y_true)
    y = check_labels(y_true)
    if len(y) == 0:
        raise ValueError("y_true is empty: there are no cases to evaluate.")
    s = check_scores(cases.align(y_score, score_name), score_name)
    return y, s, cases


def undefined_reason(n_pos: int, n_neg: int) -> str | None:
    """Explain why an AUC is undefined, or return ``None`` when it is defined."""
    if n_pos == 0 and n_neg == 0:
        return "no cases"
    if n_pos == 0:
        return "no positive cases"
    if n_neg == 0:
        return "no negative cases"
    return None


def warn_if_undefined(n_pos: int, n_neg: int) -> bool:
    """Warn (for the caller's caller) that the AUC is NaN, and why; return whether it is."""
    reason = undefined_reason(n_pos, n_neg)
    if reason:
        warnings.warn(
            f"AUC is undefined ({reason}); returning NaN.", UndefinedMetricWarning, stacklevel=3
        )
    return reason is not None


def auc(
    y_true: npt.ArrayLike, y_score: npt.ArrayLike, *, sample_weight: npt.ArrayLike | None = None
) -> float:
    """Area under the ROC curve, ties between a positive and a negative counted one half.

    Equal to :func:`sklearn.metrics.roc_auc_score` (to rounding), but undefined input
    (one class only) gives NaN and an :class:`~hstrat.exceptions.UndefinedMetricWarning`
    instead of an exception, so a stratum without positives is a result, not a crash.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels: booleans, or 0/1 numbers (1 = positive).
    y_score : array-like of shape (n_samples,)
        Finite scores; higher means more likely positive.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative case weights: each positive-negative pair counts with the product of
        their weights.

    Returns
    -------
    float
        The AUC in [0, 1], or NaN when there are no positives or no negatives.

    Examples
    --------
    >>> from hstrat.metrics import auc
    >>> auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> auc([0, 1, 1], [0.5, 0.5, 0.9])  # a tie counts one half
    0.75
    """
    y, s, cases = check_binary_inputs(y_true, y_score)
    if sample_weight is not None:
        w = check_scores(cases.align(sample_weight, "sample_weight"), "sample_weight")
        if (w < 0).any():
            raise ValueError(f"sample_weight must be non-negative; got {w[w < 0][0]!r}.")
        return _weighted_auc(y, s, w)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if warn_if_undefined(n_pos, n_neg):
        return float("nan")
    two_u = twice_mann_whitney_u(s[y], np.sort(s[~y]))
    return two_u / (2.0 * n_pos * n_neg)


def _weighted_auc(y: npt.NDArray[np.bool_], s: FloatArray, w: FloatArray) -> float:
    w_pos_total = float(w[y].sum())
    w_neg_total = float(w[~y].sum())
    if w_pos_total == 0 or w_neg_total == 0:
        which = "positive" if w_pos_total == 0 else "negative"
        warnings.warn(
            f"AUC is undefined (total {which} weight is zero); returning NaN.",
            UndefinedMetricWarning,
            stacklevel=3,
        )
        return float("nan")
    levels, inverse = np.unique(s, return_inverse=True)
    # Each class is normalised to total weight 1 before the products: dividing by
    # w_pos_total * w_neg_total instead underflows to 0/0 (or overflows) for very small
    # (large) weights, although the AUC does not depend on their scale.
    w_pos = np.bincount(inverse, weights=np.where(y, w, 0.0), minlength=len(levels)) / w_pos_total
    w_neg = np.bincount(inverse, weights=np.where(y, 0.0, w), minlength=len(levels)) / w_neg_total
    below = np.cumsum(w_neg) - w_neg
    return float(np.sum(w_pos * (below + 0.5 * w_neg)))


def roc_curve(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> pd.DataFrame:
    """ROC curve: one row per distinct threshold, from the strictest to the most lenient.

    A case is called positive when its score is ``>= threshold``. The first row has
    ``threshold = inf`` (nothing called positive), the last calls everything positive.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels.
    y_score : array-like of shape (n_samples,)
        Finite scores.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold``, ``fpr``, ``tpr``.

    Examples
    --------
    >>> from hstrat.metrics import roc_curve
    >>> roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
       threshold  fpr  tpr
    0        inf  0.0  0.0
    1       0.80  0.0  0.5
    2       0.40  0.5  0.5
    3       0.35  0.5  1.0
    4       0.10  1.0  1.0
    """
    y, s, _ = check_binary_inputs(y_true, y_score)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    reason = undefined_reason(n_pos, n_neg)
    if reason:
        raise ValueError(f"The ROC curve needs both classes in y_true; {reason}.")
    thresholds, tp, fp = _cumulative_counts(y, s)
    return pd.DataFrame(
        {
            "threshold": np.r_[np.inf, thresholds],
            "fpr": np.r_[0.0, fp / n_neg],
            "tpr": np.r_[0.0, tp / n_pos],
        }
    )


def _cumulative_counts(
    y: npt.NDArray[np.bool_], s: FloatArray
) -> tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Distinct thresholds (descending) and the positives/negatives with score >= each."""
    levels, inverse = np.unique(-s, return_inverse=True)
    pos = np.bincount(inverse, weights=y.astype(np.float64), minlength=len(levels)).astype(
        np.int64
    )
    total = np.bincount(inverse, minlength=len(levels)).astype(np.int64)
    tp = np.cumsum(pos)
    fp = np.cumsum(total - pos)
    return -levels, tp, fp
