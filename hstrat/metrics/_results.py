"""Result types of the metrics: frozen dataclasses with a ``to_frame()`` view."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["AUCResult", "TestResult"]


def _frame(result: Any) -> pd.DataFrame:
    row = {
        f.name: getattr(result, f.name)
        for f in dataclasses.fields(result)
        if f.name != "bootstrap_distribution"
    }
    return pd.DataFrame([row])


@dataclass(frozen=True)
class AUCResult:
    """An AUC with its confidence interval.

    Attributes
    ----------
    estimate : float
        The AUC (Mann-Whitney, ties counted one half). NaN when undefined.
    ci_low, ci_high : float
        Bounds of the two-sided interval at ``confidence_level``.
    standard_error : float
        DeLong standard error, or the standard deviation of the bootstrap distribution.
    confidence_level : float
        Nominal coverage of the interval.
    method : str
        ``"delong"``, ``"bootstrap-percentile"``, ``"bootstrap-basic"`` or ``"bootstrap-bca"``.
    n_pos, n_neg : int
        Number of positive and negative cases the AUC was computed on.
    bootstrap_distribution : numpy.ndarray or None
        The AUC of every bootstrap resample, in resample order (NaN where a resample had
        one class only); ``None`` for DeLong.

    Examples
    --------
    >>> from hstrat.metrics import delong_ci
    >>> r = delong_ci([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> r.estimate, r.method, r.n_pos
    (0.75, 'delong', 2)
    """

    estimate: float
    ci_low: float
    ci_high: float
    standard_error: float
    confidence_level: float
    method: str
    n_pos: int
    n_neg: int
    bootstrap_distribution: npt.NDArray[np.float64] | None = field(
        default=None, repr=False, compare=False
    )

    def to_frame(self) -> pd.DataFrame:
        """Return the result as a one-row DataFrame (without the bootstrap distribution).

        Examples
        --------
        >>> from hstrat.metrics import delong_ci
        >>> delong_ci([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]).to_frame().columns.tolist()[:3]
        ['estimate', 'ci_low', 'ci_high']
        """
        return _frame(self)


@dataclass(frozen=True)
class TestResult:
    """A test of the difference between two AUCs (``a - b``).

    Attributes
    ----------
    statistic : float
        The z statistic.
    p_value : float
        Two-sided p-value.
    difference : float
        AUC of ``a`` minus AUC of ``b``.
    ci_low, ci_high : float
        Interval for the difference at ``confidence_level``.
    method : str
        How the variance of the difference was obtained.
    standard_error : float
        Standard error of the difference.
    confidence_level : float
        Nominal coverage of the interval.

    Examples
    --------
    >>> from hstrat.metrics import delong_test
    >>> y = [0, 0, 0, 1, 1, 1]
    >>> r = delong_test(y, [0.1, 0.5, 0.3, 0.6, 0.4, 0.9], [0.1, 0.2, 0.3, 0.6, 0.4, 0.9])
    >>> round(r.difference, 4), r.method
    (-0.1111, 'delong')
    """

    __test__ = False  # not a pytest test class despite the name

    statistic: float
    p_value: float
    difference: float
    ci_low: float
    ci_high: float
    method: str
    standard_error: float = float("nan")
    confidence_level: float = 0.95

    def to_frame(self) -> pd.DataFrame:
        """Return the result as a one-row DataFrame.

        Examples
        --------
        >>> from hstrat.metrics import delong_test
        >>> y = [0, 0, 0, 1, 1, 1]
        >>> r = delong_test(y, [0.1, 0.5, 0.3, 0.6, 0.4, 0.9], [0.2, 0.1, 0.4, 0.3, 0.8, 0.7])
        >>> r.to_frame()[["difference", "method"]]
           difference  method
        0         0.0  delong
        """
        return _frame(self)
