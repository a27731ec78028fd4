"""What a detector sees on the discovery half: cluster statistics, choice of k, ranking.

A detector decides *which* clusters exist and *in which order* they are reported from
the discovery cases alone; :func:`hstrat.evaluate` measures them on the held-out cases.
The statistics are cheap — one sort per class, then ``bincount`` — so that every
candidate k can be scored.

Each discovery case of a class gets its **placement**: the fraction of the other class's
discovery cases it is correctly ranked against (ties one half). The mean placement over
a cluster is the cluster's AUC against the other class, exactly (Mann-Whitney), and the
mean over the rest of the class is the complement's AUC, so a cluster's AUC difference
is a difference of two means and its Welch z statistic a cheap, honest-enough yardstick
of how *clearly* the cluster is worse (the other class's share of the variance is common
to both means and left out). Error rates at the operating point get the pooled
two-proportion z.
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
    "criterion_metric",
    "leader",
    "placements_against",
    "rank_order",
    "ranking_metric",
    "sampled_silhouette",
    "selection_value",
]

#: How a detector chooses the number of clusters of each class (see ClusterDetector).
CRITERIA = ("auc", "error_rate", "paper", "silhouette", "bic")
#: The silhouette is computed on at most this many cases (it is quadratic in them).
SILHOUETTE_SAMPLES = 2_000

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


def placements_against(
    scores: FloatArray, other_scores: FloatArray, *, positive: bool
) -> FloatArray:
    """Share of the other class each case is ranked correctly against (ties ½; NaN: none)."""
    if len(other_scores) == 0:
        return np.full(len(scores), np.nan)
    ranked = np.sort(other_scores)
    below = np.searchsorted(ranked, scores, "left")
    upto = np.searchsorted(ranked, scores, "right")
    half_ranks = (below + upto).astype(np.float64) / (2.0 * len(ranked))
    return half_ranks if positive else 1.0 - half_ranks


@dataclass(frozen=True)
class ClusterStatistics:
    """Per-cluster statistics; ``_diff``: cluster minus rest of class; ``_z``: worse is larger."""

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
    """AUC and error rate of each of the ``k`` clusters of a class, and their gap to the rest."""
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
    return ClusterStatistics(
        n=n,
        auc=mean,
        auc_diff=np.where(rest_n > 0, auc_diff, np.nan),
        auc_z=np.where((n < 2) | (rest_n < 2), np.nan, auc_z),
        error_rate=rate,
        error_rate_diff=np.where(rest_n > 0, rate_diff, np.nan),
        error_rate_z=np.where((n < 1) | (rest_n < 1), np.nan, rate_z),
    )


def criterion_metric(criterion: str) -> str:
    """Return the metric whose deficit chooses k and each class's leader under ``criterion``."""
    return "error_rate" if criterion in ("error_rate", "paper") else "auc"


def ranking_metric(criterion: str) -> str:
    """Return the metric clusters are ranked by (the AUC deficit, but for the paper's)."""
    return "error_rate" if criterion == "paper" else "auc"


def selection_value(
    statistics: ClusterStatistics, eligible: BoolArray, criterion: str
) -> tuple[float, str]:
    """Score of one candidate clustering of a class (larger is better) and, if NaN, why.

    ``"auc"`` / ``"error_rate"``: the largest deficit z of an eligible cluster;
    ``"paper"``: the gap between the highest and lowest error rate of eligible clusters
    (Oakden-Rayner et al. 2020). The structure-only criteria are scored by the detector.
    """
    if criterion == "paper":
        rates = statistics.error_rate[eligible]
        if len(rates) < 2:
            return float("nan"), "fewer than two clusters of min_cluster_size"
        return float(np.max(rates) - np.min(rates)), ""
    z = statistics.deficit_z(criterion_metric(criterion))[eligible]
    z = z[np.isfinite(z)]
    if not len(z):
        return float("nan"), "no cluster of min_cluster_size with a defined deficit"
    return float(np.max(z)), ""


def leader(statistics: ClusterStatistics | None, eligible: BoolArray, criterion: str) -> int:
    """Return the cluster that chose its class's k, the most clearly worse (-1: none)."""
    if statistics is None or not eligible.any():
        return -1
    value = (
        statistics.error_rate
        if criterion == "paper"
        else statistics.deficit_z(criterion_metric(criterion))
    )
    value = np.where(eligible & np.isfinite(value), value, -np.inf)
    return int(np.argmax(value)) if np.isfinite(value.max()) else -1


def rank_order(
    deficits: list[FloatArray], eligible: list[BoolArray], leaders: list[int]
) -> list[tuple[int, int]]:
    """Order of every cluster, worst first, as ``(class index, label)``.

    Eligible clusters first; among them each class's leader (-1: none) before the rest;
    then by deficit, largest first (NaN last).
    """
    keys = []
    for c, (deficit, ok, lead) in enumerate(zip(deficits, eligible, leaders, strict=True)):
        for j, value in enumerate(deficit):
            worse = -float(value) if np.isfinite(value) else np.inf
            keys.append((not bool(ok[j]), j != lead, worse, c, j))
    keys.sort()
    return [(key[3], key[4]) for key in keys]


def sampled_silhouette(
    data: npt.NDArray[Any], labels: npt.NDArray[np.intp], seed: int
) -> tuple[float, str]:
    """Mean silhouette (Rousseeuw 1987) on a random sample; NaN and why if undefined."""
    if not 2 <= len(np.unique(labels)) <= len(data) - 1:
        return float("nan"), "silhouette needs 2 to n - 1 clusters"
    sample = min(SILHOUETTE_SAMPLES, len(data))
    return float(silhouette_score(data, labels, sample_size=sample, random_state=seed)), ""
