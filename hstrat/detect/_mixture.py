"""GaussianMixtureDetector: a Gaussian mixture per class, its size chosen by BIC (GEORGE)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.mixture import GaussianMixture

from .._validation import RandomState, check_int, check_option, describe
from ._base import BaseDetector, BoolArray, IntArray, as_labels
from ._discovery import ClusterStatistics
from ._silhouette import sampled_silhouette

__all__ = ["GaussianMixtureDetector"]

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
CRITERIA = ("bic", "silhouette")


class GaussianMixtureDetector(BaseDetector):
    """Find failing subclasses with a Gaussian mixture per class, sized by BIC.

    Each class's embeddings are projected on their first ``pca_components`` principal
    components and modelled by a Gaussian mixture for every number of components in
    ``n_components``; the number kept is the one with the lowest Bayesian information
    criterion (``criterion="bic"``), or the highest silhouette (``"silhouette"``, the
    choice GEORGE makes: Sohoni et al., "No subclass left behind", NeurIPS 2020, which
    clusters each superclass's features with a Gaussian mixture). Either way the choice
    looks at the embeddings only, never at the model's errors — unlike
    :class:`KMeansDetector`, whose k is the one that isolates the worst cluster best. A
    structure-only choice can merge a failing subclass with a neighbour when the data are
    few: the component is still found, but diluted (see the guide's recovery table).

    The components are then ranked and measured exactly as for
    :class:`KMeansDetector`: found and ranked on the discovery cases, measured on the
    held-out ones. A class whose criterion prefers a single component has no candidate
    subclass (its one row is marked ineligible). Candidates with a component fitted on
    fewer cases than its covariance has dimensions (+1) are not scored: their likelihood
    is unbounded, and BIC would reward them.

    Parameters
    ----------
    n_components : int or sequence of int, default (1, 2, ..., 8)
        Candidate numbers of mixture components per class.
    criterion : {"bic", "silhouette"}, default "bic"
        How the number of components is chosen.
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
        Covariance of each component (:class:`sklearn.mixture.GaussianMixture`).
    rank_by : {"auc", "error_rate"}, default "auc"
        Ranking of components, worst first (see :class:`KMeansDetector`).
    holdout : float or None, default 0.5
        Fraction of each class held out to measure the components; ``None`` is
        exploratory (biased intervals for the top components).
    pca_components : int or None, default 10
        Principal components per class before the mixture (full covariances grow with
        the square of the dimension).
    whiten : bool, default False
        Scale the components to unit variance.
    min_cluster_size : "auto", int or float, default "auto"
        Smallest component (discovery cases) that is tested (see
        :class:`KMeansDetector`).
    max_fit_samples : int or None, default 10000
        Mixtures (and stability refits) are fitted on at most this many discovery cases
        per class; the others are assigned to their most probable component.
    n_init : int, default 1
        EM restarts per candidate.
    n_resamples : int, default 1000
        Bootstrap replicates for the AUC intervals and tests.
    confidence_level : float, default 0.95
        Coverage of every interval.
    correction : {"holm", "fdr_bh"} or None, default "holm"
        Adjustment of the p-values across the tested components.
    n_stability : int, default 10
        Bootstrap refits for the stability columns (0 disables them).
    random_state : int, numpy.random.Generator or None
        Seed of everything random; the same seed gives the same table.
    name : str, optional
        Name of the detector in reports (default ``"gaussianmixture"``).

    Attributes
    ----------
    labels_, clusters_, k_, k_selection_ : see KMeansDetector
        As for :class:`KMeansDetector`; ``k_selection_["criterion"]`` is minus the BIC
        (or the silhouette).
    stability_, class_stability_ : see KMeansDetector
        Agreement of bootstrap refits with the original mixture.
    discovery_mask_, inference_mask_, errors_, threshold_ : see KMeansDetector
        The split and the errors at the operating point.
    distances_ : numpy.ndarray of float
        Distance of each case to its component's mean, in its class's PCA space.
    n_clusters_, n_features_in_ : int
        Number of components over all classes; width of the embeddings.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.detect import GaussianMixtureDetector
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.ones(400, bool), np.zeros(400, bool)]
    >>> hidden = np.r_[np.arange(400) < 80, np.zeros(400, bool)]
    >>> E = rng.normal(size=(800, 4)) + 6.0 * hidden[:, None] * np.eye(4)[0]
    >>> s = rng.normal(size=800) + 2.0 * y - 2.0 * hidden
    >>> det = GaussianMixtureDetector(n_resamples=200, n_stability=2, random_state=0)
    >>> det = det.fit(E, y_true=y, y_score=s)
    >>> det.k_
    {'negatives': 1, 'positives': 2}
    >>> det.clusters_.loc[0, "name"], float(np.mean(hidden[det.labels_ == 0]))
    ('pos:c0', 1.0)
    """

    def __init__(
        self,
        n_components: int | Sequence[int] = (1, 2, 3, 4, 5, 6, 7, 8),
        *,
        criterion: str = "bic",
        covariance_type: str = "full",
        rank_by: str = "auc",
        holdout: float | None = 0.5,
        pca_components: int | None = 10,
        whiten: bool = False,
        min_cluster_size: int | float | str = "auto",
        max_fit_samples: int | None = 10_000,
        n_init: int = 1,
        n_resamples: int = 1000,
        confidence_level: float = 0.95,
        correction: str | None = "holm",
        n_stability: int = 10,
        random_state: RandomState = None,
        name: str | None = None,
    ) -> None:
        self.n_components = n_components
        self.criterion = criterion
        self.covariance_type = covariance_type
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
        check_option(self.criterion, "criterion", CRITERIA)
        check_option(self.covariance_type, "covariance_type", COVARIANCE_TYPES)
        check_int(self.n_init, "n_init", minimum=1)

    def _candidates(self) -> list[int]:
        value: Any = self.n_components
        if not isinstance(value, bool) and isinstance(value, numbers.Integral):
            return [check_int(value, "n_components", minimum=1)]
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
            raise TypeError(
                "n_components must be an int or a non-empty sequence of ints; "
                f"got {describe(value)}."
            )
        return sorted({check_int(v, "n_components", minimum=1) for v in value})

    def _new_model(self, k: int, seed: int) -> GaussianMixture:
        return GaussianMixture(
            k, covariance_type=self.covariance_type, n_init=self.n_init, random_state=seed
        )

    def _centers(self, model: Any) -> npt.NDArray[Any]:
        return model.means_  # type: ignore[no-any-return]

    def _assign_among(self, model: Any, data: npt.NDArray[Any], keep: IntArray) -> IntArray:
        # Components that won no fitted case are dropped; a case goes to its most
        # probable remaining component, or — when those probabilities all underflow
        # to zero, far from every kept component — to the nearest kept mean.
        data = np.asarray(data, dtype=np.float64)
        if len(keep) == model.n_components:
            return as_labels(model.predict(data))
        resp = model.predict_proba(data)[:, keep]
        labels = as_labels(np.argmax(resp, axis=1))
        lost = resp.max(axis=1) <= 0.0
        if lost.any():
            means = model.means_[keep]
            gap = ((data[lost, None, :] - means[None, :, :]) ** 2).sum(axis=2)
            labels[lost] = np.argmin(gap, axis=1)
        return labels

    def _criterion(
        self,
        model: Any,
        fit_data: npt.NDArray[Any],
        fit_labels: IntArray,
        statistics: ClusterStatistics | None,
        eligible: BoolArray,
        seed: int,
    ) -> tuple[float, str]:
        # A component fitted on fewer cases than its covariance has free dimensions is
        # singular (held up only by reg_covar) and its likelihood unbounded: BIC would
        # reward it, so such candidates are not scored.
        dims = fit_data.shape[1]
        needed = dims + 1 if self.covariance_type == "full" else 2
        if np.bincount(fit_labels).min(initial=needed) < needed:
            return float("nan"), f"a component has fewer than {needed} cases: not scored"
        if self.criterion == "silhouette":
            return sampled_silhouette(fit_data, fit_labels, seed)
        return -float(model.bic(np.asarray(fit_data, dtype=np.float64))), ""
