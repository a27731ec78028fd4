"""What a detector sees on the discovery half: cluster statistics, choice of k, ranking.

A detector decides *which* clusters exist and *in which order* they are reported from
the discovery cases alone; their performance is then measured on the held-out cases by
:func:`hstrat.evaluate`, like any other stratum. The statistics here are deliberately
cheap — one sort per class, then ``bincount`` — so that every candidate k can be scored.

For a class (say the positives) each discovery case gets its **placement**: the
fraction of the other class's discovery cases it is correctly ranked against (ties
count one half). The mean placement over a cluster is the cluster's AUC against the
other class, exactly (Mann-Whitney), and the mean over the rest of the class is the
complement's AUC, so the AUC difference of a cluster is a difference of two means and
its Welch z statistic is a cheap, honest-enough yardstick of how *clearly* a cluster is
worse (the other class's share of the variance is common to both means and is left
out). Error rates at the operating point get the pooled two-proportion z.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import silhouette_score

__all__ = [
    "CRITERIA",
    "SILHOUETTE_SAMPLES",
    "ClusterStatistics",
    "cluster_statistics",
    "placements_against",
    "rank_order",
    "sampled_silhouette",
    "selection_value",
]

#: How a detector chooses the number of clusters of each class (see ClusterDetector).
CRITERIA = ("auc", "error_rate", "paper", "silhouette", "bic")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


def placements_against(
    scores: FloatArray, other_scores: FloatArray, *, positive: bool
) -> FloatArray:
    """Placement of each case of one class among the other class's cases.

    For positives: the fraction of ``other_scores`` (negatives) below the score, ties
    one half; for negatives: the fraction of positives above. NaN when the other class
    is empty.

    Examples
    --------
    >>> import numpy as np
    >>> placements_against(np.array([0.5, 0.9]), np.array([0.1, 0.5, 0.7]), positive=True).tolist()
    [0.5, 1.0]
    """
    n_other = len(other_scores)
    if n_other == 0:
        return np.full(len(scores), np.nan)
    ranked = np.sort(other_scores)
    below = np.searchsorted(ranked, scores, "left")
    upto = np.searchsorted(ranked, scores, "right")
    half_ranks = (below + upto).astype(np.float64) / (2.0 * n_other)
    return half_ranks if positive else 1.0 - half_ranks


@dataclass(frozen=True)
class ClusterStatistics:
    """Per-cluster point statistics (arrays indexed by local cluster label).

    ``auc_z`` and ``error_rate_z`` are signed so that a *worse* cluster has a *larger*
    value (a lower AUC, a higher error rate); they are NaN where undefined.
    """

    n: IntArray
    auc: FloatArray
    auc_diff: FloatArray
    auc_z: FloatArray
    error_rate: FloatArray
    error_rate_diff: FloatArray
    error_rate_z: FloatArray

    def deficit(self, metric: str) -> FloatArray:
        """Return how much worse each cluster is than the rest of its class (larger = worse)."""
        return -self.auc_diff if metric == "auc" else self.error_rate_diff

    def deficit_z(self, metric: str) -> FloatArray:
        """Return the deficit in standard errors (larger = more clearly worse)."""
        return self.auc_z if metric == "auc" else self.error_rate_z


def _group_means(values: FloatArray, labels: IntArray, k: int) -> tuple[FloatArray, FloatArray]:
    n = np.bincount(labels, minlength=k).astype(np.float64)
    total = np.bincount(labels, weights=values, minlength=k)
    squares = np.bincount(labels, weights=values * values, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        var = (squares - n * mean * mean) / (n - 1.0)
    return mean, np.maximum(var, 0.0)


def cluster_statistics(
    placements: FloatArray, errors: BoolArray, labels: IntArray, k: int
) -> ClusterStatistics:
    """AUC and error-rate of each cluster of one class, and their gap to the rest.

    Parameters
    ----------
    placements : array of float
        Placement of each case of the class (:func:`placements_against`).
    errors : array of bool
        Whether each case is misclassified at the operating point.
    labels : array of int
        Local cluster label (``0..k-1``) of each case.
    k : int
        Number of clusters.

    Returns
    -------
    ClusterStatistics
        Point estimates; the rest of the class is every case of the class outside
        the cluster.

    Examples
    --------
    >>> import numpy as np
    >>> st = cluster_statistics(np.array([1.0, 1.0, 0.2, 0.4]),
    ...                         np.array([False, False, True, False]), np.array([0, 0, 1, 1]), 2)
    >>> st.auc.tolist(), st.error_rate.tolist()
    ([1.0, 0.3...], [0.0, 0.5])
    """
    n = np.bincount(labels, minlength=k).astype(np.intp)
    total_n = float(len(labels))
    mean, var = _group_means(placements, labels, k)
    err = errors.astype(np.float64)
    n_err = np.bincount(labels, weights=err, minlength=k)
    sum_all = float(np.sum(placements))
    sq_all = float(np.sum(placements * placements))
    rest_n = total_n - n
    with np.errstate(divide="ignore", invalid="ignore"):
        rest_mean = (sum_all - mean * n) / rest_n
        rest_sq = sq_all - (var * (n - 1.0) + n * mean * mean)
        rest_var = np.maximum((rest_sq - rest_n * rest_mean**2) / (rest_n - 1.0), 0.0)
        auc_diff = mean - rest_mean
        auc_se = np.sqrt(var / n + rest_var / rest_n)
        auc_z = np.where(auc_se > 0, -auc_diff / auc_se, np.nan)
        rate = n_err / n
        rest_rate = (float(err.sum()) - n_err) / rest_n
        pooled = float(err.sum()) / total_n if total_n else np.nan
        rate_se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n + 1.0 / rest_n))
        rate_diff = rate - rest_rate
        rate_z = np.where(rate_se > 0, rate_diff / rate_se, np.nan)
    small = (n < 2) | (rest_n < 2)
    auc_z = np.where(small, np.nan, auc_z)
    rate_z = np.where((n < 1) | (rest_n < 1), np.nan, rate_z)
    return ClusterStatistics(
        n=n,
        auc=mean,
        auc_diff=np.where(rest_n > 0, auc_diff, np.nan),
        auc_z=auc_z,
        error_rate=rate,
        error_rate_diff=np.where(rest_n > 0, rate_diff, np.nan),
        error_rate_z=rate_z,
    )


def ranking_metric(criterion: str) -> str:
    """Return the metric clusters are ranked by under ``criterion``.

    The error rate for ``"error_rate"`` and ``"paper"``, the AUC for every other.
    """
    return "error_rate" if criterion in ("error_rate", "paper") else "auc"


def selection_value(
    statistics: ClusterStatistics, eligible: BoolArray, criterion: str
) -> tuple[float, str]:
    """Score of one candidate clustering of a class (larger is better) and, if NaN, why.

    ``"auc"`` / ``"error_rate"``: the largest deficit z of an eligible cluster;
    ``"paper"``: the gap between the highest and lowest error rate of eligible clusters
    (Oakden-Rayner et al. 2020). The structure-only criteria are scored by the detector.

    Examples
    --------
    >>> import numpy as np
    >>> st = cluster_statistics(np.r_[np.full(20, 0.2), np.full(20, 0.9)] + np.arange(40) / 1e3,
    ...                         np.arange(40) < 15, np.repeat([0, 1], 20), 2)
    >>> round(selection_value(st, np.array([True, True]), "auc")[0], 1)
    384.9
    """
    if criterion == "paper":
        rates = statistics.error_rate[eligible]
        if len(rates) < 2:
            return float("nan"), "fewer than two clusters of min_cluster_size"
        return float(np.max(rates) - np.min(rates)), ""
    z = statistics.deficit_z(ranking_metric(criterion))[eligible]
    z = z[np.isfinite(z)]
    if not len(z):
        return float("nan"), "no cluster of min_cluster_size with a defined deficit"
    return float(np.max(z)), ""


def rank_order(
    deficits: list[FloatArray], eligible: list[BoolArray], leaders: list[int]
) -> list[tuple[int, int]]:
    """Order of every cluster of every class, worst first: ``(class index, local label)``.

    Eligible clusters before the others; among them each class's leader (its index in
    ``leaders``, -1 for none) before the rest; then by deficit, largest first (NaN last).

    Examples
    --------
    >>> import numpy as np
    >>> rank_order([np.array([0.1, 0.3]), np.array([0.2, 0.05])],
    ...            [np.array([True, True]), np.array([True, True])], [0, 0])
    [(1, 0), (0, 0), (0, 1), (1, 1)]
    """
    keys = []
    for c, (deficit, ok, leader) in enumerate(zip(deficits, eligible, leaders, strict=True)):
        for j, value in enumerate(deficit):
            worse = -float(value) if np.isfinite(value) else np.inf
            keys.append((not bool(ok[j]), j != leader, worse, c, j))
    keys.sort()
    return [(key[3], key[4]) for key in keys]


#: The silhouette is computed on at most this many cases (it is quadratic in them).
SILHOUETTE_SAMPLES = 2_000


def sampled_silhouette(
    data: npt.NDArray[Any], labels: npt.NDArray[np.intp], seed: int
) -> tuple[float, str]:
    """Mean silhouette (Rousseeuw 1987) on a random sample; NaN and why if undefined.

    The structure-only criterion, and every detector's criterion without labels.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2)) * 10]
    >>> sampled_silhouette(X, np.r_[np.zeros(5, int), np.ones(5, int)], 0)
    (1.0, '')
    """
    n_labels = len(np.unique(labels))
    if not 2 <= n_labels <= len(data) - 1:
        return float("nan"), "silhouette needs 2 to n - 1 clusters"
    sample = min(SILHOUETTE_SAMPLES, len(data))
    return float(silhouette_score(data, labels, sample_size=sample, random_state=seed)), ""
