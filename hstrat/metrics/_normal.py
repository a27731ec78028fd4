"""The standard normal distribution, from the standard library.

``statistics.NormalDist`` is accurate to double precision (Wichura's AS241 for the
quantile) and, unlike ``scipy.special``, costs nothing to import.
"""

from __future__ import annotations

import math
from statistics import NormalDist

_STANDARD = NormalDist()


def normal_cdf(x: float) -> float:
    """Return P(Z <= x) for a standard normal Z."""
    if math.isnan(x):
        return math.nan
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def normal_quantile(p: float) -> float:
    """Return the x with P(Z <= x) = p (-inf and inf at 0 and 1, NaN outside [0, 1])."""
    if p == 0.0:
        return -math.inf
    if p == 1.0:
        return math.inf
    if not 0.0 < p < 1.0:
        return math.nan
    return _STANDARD.inv_cdf(p)
