"""Detectors: find failing subclasses nobody labelled by clustering the model's embeddings.

The "algorithmic measurement" of hidden stratification (Oakden-Rayner et al. 2020):
:class:`ClusterDetector` clusters each class's embeddings with any scikit-learn
clusterer and ranks the clusters worst first; :class:`KMeansDetector` and
:class:`GaussianMixtureDetector` are presets. A fitted detector has ``labels_`` (ids are
ranks: 0 is the worst cluster), ``clusters_`` (one row per cluster), ``exemplars()``
(the cases to review) and ``to_strata()``: the clusters' held-out members, which
:func:`hstrat.evaluate` measures like any other stratum
(``evaluate(..., embeddings=E, detectors=[KMeansDetector()])``).
"""

from ._detector import CLUSTER_COLUMNS, EXEMPLAR_COLUMNS, ClusterDetector
from ._presets import GaussianMixtureDetector, KMeansDetector

__all__ = [
    "CLUSTER_COLUMNS",
    "EXEMPLAR_COLUMNS",
    "ClusterDetector",
    "GaussianMixtureDetector",
    "KMeansDetector",
]
