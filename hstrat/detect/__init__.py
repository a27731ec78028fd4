"""Detectors: find failing subclasses nobody labelled by clustering the model's embeddings.

The third way of measuring hidden stratification in Oakden-Rayner et al. (2020),
"algorithmic measurement": cluster each class's embeddings and look for clusters on
which the model is much worse. Detectors are scikit-learn estimators
(``fit(embeddings, y_true=..., y_score=...)`` returns the detector) with

* ``labels_`` — a cluster id per case (ids are ranks: 0 is the worst cluster);
* ``clusters_`` — one row per cluster, worst first: AUC and error rate at the
  operating point with intervals, tests against the rest of the class, Holm/BH
  adjustment, and bootstrap stability;
* ``to_strata()`` — the clusters as :class:`hstrat.Stratum` for
  :func:`hstrat.evaluate` (``evaluate(..., embeddings=E, detectors=[KMeansDetector()])``);
* ``exemplars()`` — the cases to review per cluster.

By default clusters are found and ranked on one half of each class and measured on the
other (``holdout=0.5``), so that a cluster's interval is not biased by its having been
chosen for looking bad.
"""

from ._base import CLUSTER_COLUMNS, EXEMPLAR_COLUMNS
from ._kmeans import KMeansDetector
from ._mixture import GaussianMixtureDetector

__all__ = ["CLUSTER_COLUMNS", "EXEMPLAR_COLUMNS", "GaussianMixtureDetector", "KMeansDetector"]
