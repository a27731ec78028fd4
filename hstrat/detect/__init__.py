"""Detectors: find failing subclasses nobody labelled by clustering the model's embeddings.

The third way of measuring hidden stratification in Oakden-Rayner et al. (2020),
"algorithmic measurement": cluster each class's embeddings and look for clusters on
which the model is much worse. :class:`ClusterDetector` does it with any scikit-learn
clusterer; :class:`KMeansDetector` and :class:`GaussianMixtureDetector` are presets. A
detector is a scikit-learn estimator (``fit(embeddings, y_true=..., y_score=...)``
returns it) with

* ``labels_`` — a cluster id per case (ids are ranks: 0 is the worst cluster);
* ``clusters_`` — one row per cluster, worst first: sizes, the discovery statistics the
  ranking saw, stability;
* ``to_strata()`` — the clusters' held-out members as :class:`hstrat.Stratum`, which
  :func:`hstrat.evaluate` measures like any other stratum
  (``evaluate(..., embeddings=E, detectors=[KMeansDetector()])``);
* ``exemplars()`` — the cases to review per cluster.

Clusters are found and ranked on one half of each class and measured on the other
(``holdout=0.5``), so that a cluster's interval is not biased by its having been chosen
for looking bad.
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
