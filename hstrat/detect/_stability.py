"""How stable a clustering is: refits on bootstrap resamples, compared with the original.

A cluster worth reviewing should not be an accident of one k-means start or of which
cases happened to be sampled. Following Hennig (2007, "Cluster-wise assessment of
cluster stability", *Computational Statistics & Data Analysis* 52:258-271) the
clustering is refitted, with the same method and number of clusters, on bootstrap
resamples of the cases it was fitted on, and compared with the original labels on the
cases each resample drew:

* **clustering stability** — the adjusted Rand index (Hubert & Arabie 1985) between
  the refit's labels and the original ones, averaged over refits (1 = the same
  partition every time, about 0 = no more agreement than chance);
* **cluster stability** — for each original cluster, the Jaccard similarity with the
  most similar refit cluster, averaged over refits. Hennig calls clusters with a mean
  Jaccard below 0.5 "dissolved" and above 0.75 stable.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import adjusted_rand_score

from .._parallel import parallel_map

__all__ = ["Stability", "clustering_stability", "jaccard_matches"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
#: ``refit(train, test, seed)`` fits the clustering on ``train`` and labels ``test``.
Refit = Callable[[npt.NDArray[Any], npt.NDArray[Any], int], IntArray]


@dataclass(frozen=True)
class Stability:
    """Agreement of refits with the original clustering.

    Attributes
    ----------
    ari : numpy.ndarray
        Adjusted Rand index of each refit (empty when there were none).
    jaccard : numpy.ndarray
        Mean best-match Jaccard of each original cluster over refits (NaN without refits,
        or for a cluster no resample drew).
    """

    ari: FloatArray
    jaccard: FloatArray

    @property
    def mean_ari(self) -> float:
        """Mean adjusted Rand index over refits (NaN without refits)."""
        return float(np.mean(self.ari)) if len(self.ari) else float("nan")


def jaccard_matches(original: IntArray, other: IntArray, k: int) -> FloatArray:
    """For each original cluster ``0..k-1``, its Jaccard with the best-matching other cluster.

    NaN for an original cluster absent from ``original``.

    Examples
    --------
    >>> import numpy as np
    >>> jaccard_matches(np.array([0, 0, 1, 1]), np.array([5, 5, 5, 7]), 2).tolist()
    [0.666..., 0.5]
    """
    _, other_codes = np.unique(other, return_inverse=True)
    k_other = int(other_codes.max()) + 1 if len(other_codes) else 0
    table = np.bincount(original * k_other + other_codes, minlength=k * k_other).reshape(
        k, k_other
    )
    size_a = table.sum(axis=1, keepdims=True)
    size_b = table.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        jaccard = table / (size_a + size_b - table)
    best = jaccard.max(axis=1) if k_other else np.full(k, np.nan)
    return np.where(size_a[:, 0] > 0, best, np.nan)


def clustering_stability(
    data: npt.NDArray[Any],
    labels: IntArray,
    k: int,
    refit: Refit,
    n_refits: int,
    rng: np.random.Generator,
    n_jobs: int | None = 1,
) -> Stability:
    """Refit on ``n_refits`` bootstrap resamples of ``data`` and compare with ``labels``.

    Parameters
    ----------
    data : array of shape (n, d)
        The cases the clustering was fitted on.
    labels : array of int
        Their original labels, ``0..k-1``.
    k : int
        Number of original clusters.
    refit : callable
        ``refit(train, test, seed)`` → labels of ``test`` from a clustering fitted on
        ``train`` with the same method and number of clusters.
    n_refits : int
        Number of bootstrap refits (0 gives empty / NaN results).
    rng : numpy.random.Generator
        Source of the resamples and of the refits' seeds (all drawn first, in order, so
        the result does not depend on ``n_jobs``).
    n_jobs : int or None, default 1
        Refits run at once (:func:`hstrat._parallel.parallel_map`).

    Returns
    -------
    Stability

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import KMeans
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (50, 2)), rng.normal(8, 1, (50, 2))]
    >>> labels = KMeans(2, n_init=1, random_state=0).fit_predict(X)
    >>> def refit(train, test, seed):
    ...     return KMeans(2, n_init=1, random_state=seed).fit(train).predict(test)
    >>> st = clustering_stability(X, labels, 2, refit, 5, rng)
    >>> st.mean_ari, st.jaccard.tolist()
    (1.0, [1.0, 1.0])
    """
    n = len(data)
    tasks = [(rng.integers(0, n, n), int(rng.integers(2**31 - 1))) for _ in range(n_refits)]

    def one(task: tuple[IntArray, int]) -> tuple[float, FloatArray]:
        draw, seed = task
        drawn = np.unique(draw)
        predicted = refit(data[draw], data[drawn], seed)
        return adjusted_rand_score(labels[drawn], predicted), jaccard_matches(
            labels[drawn], predicted, k
        )

    done = parallel_map(one, tasks, n_jobs=n_jobs)
    aris = np.array([a for a, _ in done], dtype=np.float64)
    jaccards = np.array([j for _, j in done]).reshape(n_refits, k)
    if n_refits == 0:
        return Stability(aris, np.full(k, np.nan))
    present = np.isfinite(jaccards)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_jaccard = np.where(present, jaccards, 0.0).sum(axis=0) / present.sum(axis=0)
    return Stability(aris, mean_jaccard)
