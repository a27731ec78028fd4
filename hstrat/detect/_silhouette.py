"""The silhouette of a clustering, on a bounded sample (it is quadratic in the cases)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import silhouette_score

__all__ = ["SILHOUETTE_SAMPLES", "sampled_silhouette"]

#: The silhouette is computed on at most this many cases.
SILHOUETTE_SAMPLES = 2_000


def sampled_silhouette(
    data: npt.NDArray[Any], labels: npt.NDArray[np.intp], seed: int
) -> tuple[float, str]:
    """Mean silhouette (Rousseeuw 1987) on a random sample; NaN and why if undefined.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.r_[np.zeros((5, 2)), np.ones((5, 2)) * 10]
    >>> sampled_silhouette(X, np.r_[np.zeros(5, int), np.ones(5, int)], 0)
    (1.0, '')
    """
    n_labels = len(np.unique(labels))
    if not 2 <= n_labels <= len(data) - 1:
        return float("nan"), "silhouette needs 2 to n - 1 clusters"
    sample = min(SILHOUETTE_SAMPLES, len(data))
    return float(silhouette_score(data, labels, sample_size=sample, random_state=seed)), ""
