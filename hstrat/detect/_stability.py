"""How stable a clustering is: refits on bootstrap resamples, compared with the original.

A cluster worth reviewing should not be an accident of one k-means start or of which
cases happened to be sampled. Following Hennig (2007, "Cluster-wise assessment of
cluster stability", *Computational Statistics & Data Analysis* 52:258-271) the
clustering is refitted, with the same method and number of clusters, on bootstrap
resamples of its cases and compared with the original labels on the cases each resample
drew: the **clustering stability** is the mean adjusted Rand index (Hubert & Arabie
1985) over refits (1: the same partition every time, about 0: chance agreement); a
**cluster's stability** is its mean Jaccard similarity with the most similar refit
cluster (below 0.5 Hennig calls it "dissolved", above 0.75 stable).
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
    """ARI of each refit; each cluster's mean best-match Jaccard (NaN: never drawn)."""

    ari: FloatArray
    jaccard: FloatArray

    @property
    def mean_ari(self) -> float:
        """Mean adjusted Rand index over refits (NaN without refits)."""
        return float(np.mean(self.ari)) if len(self.ari) else float("nan")


def jaccard_matches(original: IntArray, other: IntArray, k: int) -> FloatArray:
    """Return each original cluster's Jaccard with its best match in ``other`` (NaN: absent)."""
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

    The resamples and the refits' seeds are all drawn from ``rng`` first, in order, so
    the result does not depend on ``n_jobs`` (:func:`hstrat._parallel.parallel_map`).
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
