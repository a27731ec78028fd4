"""Two presets of :class:`ClusterDetector`: k-means and a Gaussian mixture."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from .._validation import RandomState, check_int, check_option
from ._detector import ClusterDetector

__all__ = ["GaussianMixtureDetector", "KMeansDetector"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


class KMeansDetector(ClusterDetector):
    """:class:`ClusterDetector` with k-means, the paper's clusterer.

    ``KMeansDetector(n_clusters, n_init=3, ...)`` is
    ``ClusterDetector(KMeans(n_init=n_init), n_clusters, ...)``; every other parameter
    and attribute is :class:`ClusterDetector`'s. ``criterion="paper"`` reproduces the
    procedure of Oakden-Rayner et al. (2020).

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.detect import KMeansDetector
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.ones(400, bool), np.zeros(400, bool)]
    >>> hidden = np.r_[np.arange(400) < 80, np.zeros(400, bool)]
    >>> E = rng.normal(size=(800, 8)) + 6.0 * hidden[:, None] * np.eye(8)[0]
    >>> s = rng.normal(size=800) + 2.0 * y - 2.0 * hidden
    >>> det = KMeansDetector(n_stability=2, random_state=0).fit(E, y_true=y, y_score=s)
    >>> det.clusters_.loc[0, "name"], float(np.mean(hidden[det.labels_ == 0]))
    ('pos:c0', 1.0)
    """

    def __init__(
        self,
        n_clusters: int | Sequence[int] = (2, 3, 4, 5),
        *,
        n_init: int = 3,
        criterion: str = "error_rate",
        split_leader: float | None = 0.4,
        holdout: float | None = 0.4,
        pca_components: int | None = 50,
        whiten: bool = False,
        min_cluster_size: int | float | str = "auto",
        max_fit_samples: int | None = 20_000,
        n_stability: int = 10,
        n_jobs: int | None = None,
        random_state: RandomState = None,
        name: str | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.criterion = criterion
        self.split_leader = split_leader
        self.holdout = holdout
        self.pca_components = pca_components
        self.whiten = whiten
        self.min_cluster_size = min_cluster_size
        self.max_fit_samples = max_fit_samples
        self.n_stability = n_stability
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.name = name

    def _base_clusterer(self) -> Any:
        return KMeans(n_init=check_int(self.n_init, "n_init", minimum=1))


class GaussianMixtureDetector(ClusterDetector):
    """:class:`ClusterDetector` with a Gaussian mixture on 10 principal components.

    ``GaussianMixtureDetector(n_components, covariance_type="full", n_init=1, ...)`` is
    ``ClusterDetector(GaussianMixture(covariance_type=..., n_init=...), n_components,
    pca_components=10, max_fit_samples=10_000, ...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.detect import GaussianMixtureDetector
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.ones(400, bool), np.zeros(400, bool)]
    >>> hidden = np.r_[np.arange(400) < 80, np.zeros(400, bool)]
    >>> E = rng.normal(size=(800, 4)) + 6.0 * hidden[:, None] * np.eye(4)[0]
    >>> s = rng.normal(size=800) + 2.0 * y - 2.0 * hidden
    >>> det = GaussianMixtureDetector((1, 2, 3), criterion="bic", n_stability=2, random_state=0)
    >>> det.fit(E, y_true=y, y_score=s).k_
    {'negatives': 1, 'positives': 2}
    """

    def __init__(
        self,
        n_components: int | Sequence[int] = (2, 3, 4, 5),
        *,
        covariance_type: str = "full",
        n_init: int = 1,
        criterion: str = "error_rate",
        split_leader: float | None = 0.4,
        holdout: float | None = 0.4,
        pca_components: int | None = 10,
        whiten: bool = False,
        min_cluster_size: int | float | str = "auto",
        max_fit_samples: int | None = 10_000,
        n_stability: int = 10,
        n_jobs: int | None = None,
        random_state: RandomState = None,
        name: str | None = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.n_init = n_init
        self.criterion = criterion
        self.split_leader = split_leader
        self.holdout = holdout
        self.pca_components = pca_components
        self.whiten = whiten
        self.min_cluster_size = min_cluster_size
        self.max_fit_samples = max_fit_samples
        self.n_stability = n_stability
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.name = name

    _candidates_param = "n_components"

    def _base_clusterer(self) -> Any:
        return GaussianMixture(
            covariance_type=check_option(
                self.covariance_type, "covariance_type", COVARIANCE_TYPES
            ),
            n_init=check_int(self.n_init, "n_init", minimum=1),
        )
