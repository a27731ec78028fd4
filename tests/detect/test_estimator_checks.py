"""scikit-learn's estimator checks on the detector and its presets.

The generic checks call ``fit(X)`` / ``fit(X, y)`` without ``y_true`` and ``y_score``:
the detectors then only cluster (one class, ``"all"``; k by silhouette or BIC), which
is a documented mode, so every applicable check runs and none is expected to fail.
Small candidate ranges keep the run short.
"""

from __future__ import annotations

from sklearn.mixture import BayesianGaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

from hstrat.detect import ClusterDetector, GaussianMixtureDetector, KMeansDetector

ESTIMATORS = [
    ClusterDetector(n_clusters=(2, 3), n_stability=1, random_state=0),
    ClusterDetector(
        BayesianGaussianMixture(max_iter=50), n_clusters=3, n_stability=1, random_state=0
    ),
    KMeansDetector(n_clusters=(2, 3, 4), n_init=1, n_stability=1, random_state=0),
    GaussianMixtureDetector(
        n_components=(1, 2, 3, 4), criterion="bic", n_stability=1, random_state=0
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
