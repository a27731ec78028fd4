"""KMeansDetector: k-means on each class's embeddings — the paper's algorithmic measurement."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.cluster import KMeans

from .._validation import RandomState, check_int, check_option, describe
from ._base import BaseDetector, BoolArray, IntArray, _ClassFit, as_labels
from ._discovery import ClusterStatistics
from ._silhouette import sampled_silhouette

__all__ = ["KMeansDetector"]

MODES = ("rank", "paper")


class KMeansDetector(BaseDetector):
    """Find subclasses on which a model fails by k-means on its embeddings, per class.

    This is the "algorithmic measurement" of Oakden-Rayner et al. (2020): cluster the
    model's features of the test cases of each class and look for clusters on which
    the model is much worse than on the rest. Each class's embeddings are projected
    on their first ``pca_components`` principal components, clustered with k-means for
    every k in ``n_clusters``, and one k is kept per class:

    * ``mode="rank"`` (default): the k at which the worst cluster (at least
      ``min_cluster_size`` discovery cases) is **most clearly** worse than the rest of
      its class — the largest deficit in standard errors, in the ``rank_by`` metric.
      Every cluster of that k is reported, ranked.
    * ``mode="paper"``: the paper's procedure. Among clusters of at least
      ``min_cluster_size`` cases, take the highest- and the lowest-error-rate cluster;
      keep the k whose pair is farthest apart. The pair is marked ``"high-error"`` /
      ``"low-error"`` in ``clusters_["role"]``; the other clusters are reported too.

    Without labels (``fit(embeddings)`` only), k is chosen by the silhouette.

    Clusters are found and ranked on the *discovery* cases and measured on the
    *held-out* ones (``holdout``), so that each cluster's interval and p-value are
    not biased by its having been selected for looking bad; see
    :mod:`hstrat.detect` and the "Algorithmic measurement" guide.

    Parameters
    ----------
    n_clusters : int or sequence of int, default (2, 3, 4, 5)
        Candidate numbers of clusters per class (the paper's 2-5).
    mode : {"rank", "paper"}, default "rank"
        How k is chosen (see above).
    rank_by : {"auc", "error_rate"}, default "auc"
        Ranking of clusters, worst first: the cluster's AUC against the other class
        minus the rest of its class's, or its error rate at the operating point minus
        the rest's (both on the discovery cases).
    holdout : float or None, default 0.5
        Fraction of each class held out to measure the clusters. ``None`` fits,
        ranks and measures on the same cases: **exploratory** only — its intervals are
        too narrow and its p-values too small for the top clusters.
    pca_components : int or None, default 50
        Principal components kept per class (``None``: cluster the raw embeddings).
    whiten : bool, default False
        Scale the components to unit variance before clustering.
    min_cluster_size : "auto", int or float, default "auto"
        Smallest cluster (discovery cases) that may be selected and tested. ``"auto"``
        is the paper's 100, scaled down for small data: ``min(100, max(10, 5% of the
        class's discovery cases))``. A float is a fraction of those cases. Smaller
        clusters are reported with ``eligible=False``, untested.
    max_fit_samples : int or None, default 20000
        k-means (and its stability refits) are fitted on at most this many discovery
        cases per class; the others are assigned to the nearest centroid.
    n_init : int, default 3
        k-means++ restarts per fit (the best inertia is kept).
    n_resamples : int, default 1000
        Bootstrap replicates for the clusters' AUC intervals and tests.
    confidence_level : float, default 0.95
        Coverage of every interval.
    correction : {"holm", "fdr_bh"} or None, default "holm"
        Adjustment of the p-values across the tested clusters.
    n_stability : int, default 10
        Bootstrap refits for the stability columns (0 disables them).
    random_state : int, numpy.random.Generator or None
        Seed of the split, the k-means starts, the bootstrap and the refits. The same
        seed gives the same clusters and table.
    name : str, optional
        Name of the detector in reports (default ``"kmeans"``).

    Attributes
    ----------
    labels_ : numpy.ndarray of int, shape (n_samples,)
        Cluster id of every case; ids are ranks (0 = worst) and unique across classes.
    clusters_ : pandas.DataFrame
        One row per cluster, worst first (columns in the guide and below).
    k_ : dict
        Chosen number of clusters per class.
    k_selection_ : pandas.DataFrame
        Every candidate k per class with its criterion (``class, k, criterion,
        n_eligible, chosen, note``).
    stability_ : float
        Mean adjusted Rand index of the bootstrap refits with the original clustering,
        over classes (NaN with ``n_stability=0``).
    class_stability_ : dict
        The same per class.
    discovery_mask_, inference_mask_ : numpy.ndarray of bool
        Cases used to find and rank the clusters, and to measure them.
    errors_ : numpy.ndarray of bool or None
        Misclassified at the operating point (None when fitted without labels).
    threshold_ : float
        The operating point (``score >= threshold_`` is called positive); NaN without
        labels.
    distances_ : numpy.ndarray of float
        Distance of each case to its cluster's centroid, in its class's PCA space.
    n_clusters_ : int
        Number of clusters over all classes.
    n_features_in_ : int
        Width of the embeddings.

    Notes
    -----
    ``clusters_`` has the columns ``cluster, name, class, role, eligible, n,
    n_discovery, n_pos, n_neg, auc, auc_low, auc_high, reference_auc, auc_diff,
    diff_low, diff_high, p_value, p_adjusted, n_errors, error_rate, error_rate_low,
    error_rate_high, reference_error_rate, error_rate_diff, error_rate_p_value,
    error_rate_p_adjusted, discovery_auc, discovery_auc_diff, discovery_error_rate,
    discovery_error_rate_diff, stability, inference, note``. ``n`` counts the
    cluster's held-out members; ``n_pos``/``n_neg`` the cases its AUC uses (a cluster of
    positives against every negative); ``p_value`` tests ``auc_diff`` (the AUC minus
    the rest of the class's) and ``error_rate_p_value`` the error-rate difference
    (Fisher); ``stability`` is the mean best-match Jaccard of the cluster over refits.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.detect import KMeansDetector
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.ones(400, bool), np.zeros(400, bool)]
    >>> hidden = np.r_[np.arange(400) < 80, np.zeros(400, bool)]  # a fifth of positives
    >>> E = rng.normal(size=(800, 8)) + 6.0 * hidden[:, None] * np.eye(8)[0]
    >>> s = rng.normal(size=800) + 2.0 * y - 2.0 * hidden
    >>> det = KMeansDetector(n_resamples=200, n_stability=2, random_state=0)
    >>> det = det.fit(E, y_true=y, y_score=s)
    >>> top = det.clusters_.iloc[0]
    >>> top["name"], bool(top["p_adjusted"] < 0.05)
    ('pos:c0', True)
    >>> float(np.mean(hidden[det.labels_ == 0]))  # precision for the hidden subclass
    1.0
    """

    def __init__(
        self,
        n_clusters: int | Sequence[int] = (2, 3, 4, 5),
        *,
        mode: str = "rank",
        rank_by: str = "auc",
        holdout: float | None = 0.5,
        pca_components: int | None = 50,
        whiten: bool = False,
        min_cluster_size: int | float | str = "auto",
        max_fit_samples: int | None = 20_000,
        n_init: int = 3,
        n_resamples: int = 1000,
        confidence_level: float = 0.95,
        correction: str | None = "holm",
        n_stability: int = 10,
        random_state: RandomState = None,
        name: str | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.mode = mode
        self.rank_by = rank_by
        self.holdout = holdout
        self.pca_components = pca_components
        self.whiten = whiten
        self.min_cluster_size = min_cluster_size
        self.max_fit_samples = max_fit_samples
        self.n_init = n_init
        self.n_resamples = n_resamples
        self.confidence_level = confidence_level
        self.correction = correction
        self.n_stability = n_stability
        self.random_state = random_state
        self.name = name

    # -- hooks ------------------------------------------------------------------------
    def _validate_specific(self) -> None:
        self._candidates()
        check_option(self.mode, "mode", MODES)
        check_int(self.n_init, "n_init", minimum=1)

    def _requires_labels(self) -> bool:
        return bool(self.mode == "paper")

    def _candidates(self) -> list[int]:
        value: Any = self.n_clusters
        if not isinstance(value, bool) and isinstance(value, numbers.Integral):
            return [check_int(value, "n_clusters", minimum=1)]
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
            raise TypeError(
                "n_clusters must be an int or a non-empty sequence of ints; "
                f"got {describe(value)}."
            )
        return sorted({check_int(v, "n_clusters", minimum=1) for v in value})

    def _new_model(self, k: int, seed: int) -> KMeans:
        return KMeans(k, n_init=self.n_init, random_state=seed)

    def _infeasible(self, messages: list[str]) -> bool:
        # k-means warns when there are fewer distinct points than clusters.
        return bool(messages)

    def _centers(self, model: Any) -> npt.NDArray[Any]:
        return model.cluster_centers_  # type: ignore[no-any-return]

    def _assign_among(self, model: Any, data: npt.NDArray[Any], keep: IntArray) -> IntArray:
        centers = model.cluster_centers_[keep]
        if len(keep) == model.n_clusters:
            return as_labels(model.predict(data))
        squared = (
            np.sum(data * data, axis=1, keepdims=True)
            - 2.0 * data @ centers.T
            + np.sum(centers * centers, axis=1)
        )
        return as_labels(np.argmin(squared, axis=1))

    def _criterion(
        self,
        model: Any,
        fit_data: npt.NDArray[Any],
        fit_labels: IntArray,
        statistics: ClusterStatistics | None,
        eligible: BoolArray,
        seed: int,
    ) -> tuple[float, str]:
        nan = float("nan")
        if statistics is None:
            return sampled_silhouette(fit_data, fit_labels, seed)
        if self.mode == "paper":
            rates = statistics.error_rate[eligible]
            if len(rates) < 2:
                return nan, "fewer than two clusters of min_cluster_size"
            return float(np.max(rates) - np.min(rates)), ""
        z = statistics.deficit_z(self.rank_by)[eligible]
        z = z[np.isfinite(z)]
        if not len(z):
            return nan, "no cluster of min_cluster_size with a defined deficit"
        return float(np.max(z)), ""

    def _roles(self, fitted: _ClassFit) -> list[str]:
        roles = [""] * fitted.k
        st = fitted.statistics
        if self.mode != "paper" or st is None or int(fitted.eligible.sum()) < 2:
            return roles
        candidates = np.flatnonzero(fitted.eligible)
        rates = st.error_rate[candidates]
        roles[int(candidates[np.argmax(rates)])] = "high-error"
        roles[int(candidates[np.argmin(rates)])] = "low-error"
        return roles
