"""Fitting scikit-learn models whose convergence warnings are results, not noise.

k-means warns when it finds fewer distinct clusters than asked for, a Gaussian mixture
when EM stops before converging. A detector treats the first as "this k is not
feasible" and records the second in its tables, so these warnings are captured here;
every other warning is passed on unchanged.
"""

from __future__ import annotations

import warnings
from typing import Any

from sklearn.exceptions import ConvergenceWarning

__all__ = ["fit_capturing_convergence"]


def fit_capturing_convergence(model: Any, data: Any) -> list[str]:
    """Fit ``model`` on ``data``; return the messages of its ``ConvergenceWarning``s.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.cluster import KMeans
    >>> fit_capturing_convergence(KMeans(3, n_init=1, random_state=0), np.zeros((5, 2)))
    ['Number of distinct clusters (1) found smaller than n_clusters (3). ...']
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(data)
    messages = []
    for record in caught:
        if issubclass(record.category, ConvergenceWarning):
            messages.append(str(record.message))
        else:
            warnings.warn_explicit(record.message, record.category, record.filename, record.lineno)
    return messages
