"""Operating points and the metrics a clinician meets at one threshold.

A case is called positive when ``score >= threshold``. The threshold is chosen once, on
all the data (Youden's J, a target sensitivity or specificity, or a given number), and
then every stratum is read at that same threshold: a subclass the model "fails" shows up
as a sensitivity far below the overall one, as for cervical and subtle hip fractures in
Oakden-Rayner et al. (2020).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._stratum import as_strata
from .._validation import (
    check_confidence_level,
    check_option,
    check_probability,
    check_real,
    describe,
)
from ._auc import _cumulative_counts, check_binary_inputs, undefined_reason
from ._normal import normal_quantile

__all__ = [
    "operating_threshold",
    "stratified_threshold_metrics",
    "threshold_metrics",
    "wilson_ci",
]

THRESHOLD_METHODS = ("youden", "sensitivity", "specificity")
FloatArray = npt.NDArray[np.float64]


def wilson_ci(
    successes: npt.ArrayLike, trials: npt.ArrayLike, *, confidence_level: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Wilson score interval for binomial proportions (vectorized).

    Parameters
    ----------
    successes, trials : array-like of int
        Counts; ``trials == 0`` gives NaN bounds.
    confidence_level : float, default 0.95
        Nominal coverage.

    Returns
    -------
    tuple of numpy.ndarray
        Lower and upper bounds, shaped like the broadcast inputs.

    Examples
    --------
    >>> from hstrat.metrics import wilson_ci
    >>> low, high = wilson_ci(81, 90)
    >>> round(float(low), 4), round(float(high), 4)
    (0.8208, 0.9465)
    """
    level = check_confidence_level(confidence_level)
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if (x < 0).any() or (x > n).any():
        raise ValueError("successes must lie between 0 and trials.")
    z = normal_quantile(0.5 + level / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        denominator = 1.0 + z**2 / n
        center = (p + z**2 / (2 * n)) / denominator
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
        low = np.where(n > 0, np.clip(center - half, 0.0, 1.0), np.nan)
        high = np.where(n > 0, np.clip(center + half, 0.0, 1.0), np.nan)
    return low, high


def operating_threshold(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    *,
    method: str = "youden",
    target: float | None = None,
) -> float:
    """Choose the threshold at which the model is read (``score >= threshold`` is positive).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels.
    y_score : array-like of shape (n_samples,)
        Finite scores.
    method : {"youden", "sensitivity", "specificity"}, default "youden"
        ``"youden"`` maximises sensitivity + specificity - 1 (the highest such threshold
        when several tie); ``"sensitivity"`` gives the highest threshold whose sensitivity
        reaches ``target``; ``"specificity"`` the lowest threshold whose specificity
        reaches ``target``.
    target : float, optional
        Required sensitivity or specificity in (0, 1]; only for those methods.

    Returns
    -------
    float
        An observed score (or, for a specificity no observed score reaches, the next
        float above the highest score, calling nothing positive).

    Examples
    --------
    >>> from hstrat.metrics import operating_threshold
    >>> y = [0, 0, 0, 1, 1, 1]
    >>> s = [0.1, 0.2, 0.6, 0.4, 0.7, 0.9]
    >>> operating_threshold(y, s)
    0.4
    >>> operating_threshold(y, s, method="specificity", target=1.0)
    0.7
    """
    method = check_option(method, "method", THRESHOLD_METHODS)
    y, s, _ = check_binary_inputs(y_true, y_score)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    reason = undefined_reason(n_pos, n_neg)
    if reason:
        raise ValueError(f"Choosing a threshold needs both classes in y_true; {reason}.")
    goal = 0.0
    if method == "youden":
        if target is not None:
            raise ValueError(
                f"target is only used with method='sensitivity' or 'specificity'; got {target!r}."
            )
    else:
        if target is None:
            raise ValueError(f"method={method!r} needs a target in (0, 1]; got None.")
        goal = check_probability(target, "target")
        if goal == 0.0:
            raise ValueError(f"target must be in (0, 1]; got {target!r}.")
    thresholds, tp, fp = _cumulative_counts(y, s)
    sensitivity = tp / n_pos
    specificity = 1.0 - fp / n_neg
    if method == "youden":
        return float(thresholds[int(np.argmax(sensitivity + specificity - 1.0))])
    if method == "sensitivity":
        return float(thresholds[int(np.argmax(sensitivity >= goal - 1e-12))])
    ok = np.flatnonzero(specificity >= goal - 1e-12)
    if len(ok) == 0:
        return float(np.nextafter(thresholds[0], np.inf))
    return float(thresholds[ok[-1]])


def check_threshold(spec: Any) -> Any:
    """Check an ``evaluate(threshold=...)`` value: 'youden', a number or one target."""
    if isinstance(spec, str):
        return check_option(spec, "threshold", ("youden",))
    if isinstance(spec, (int, float, np.integer, np.floating)) and not isinstance(spec, bool):
        return check_real(spec, "threshold")
    if isinstance(spec, Mapping) and len(spec) == 1:
        ((key, value),) = spec.items()
        check_option(key, "threshold key", ("sensitivity", "specificity"))
        return {key: check_probability(value, f"threshold[{key!r}]")}
    raise TypeError(
        "threshold must be 'youden', a number, or {'sensitivity': x} / {'specificity': x}; "
        f"got {describe(spec)}."
    )


def resolve_threshold(spec: Any, y: npt.NDArray[np.bool_], s: FloatArray) -> tuple[float, str]:
    """Turn an ``evaluate(threshold=...)`` value into a number and a description."""
    spec = check_threshold(spec)
    if spec == "youden":
        return operating_threshold(y, s), "youden"
    if isinstance(spec, float):
        return spec, "given"
    ((key, value),) = spec.items()
    return operating_threshold(y, s, method=key, target=value), f"{key}>={value}"


_METRIC_PARTS = {
    "sensitivity": ("tp", "fn"),
    "specificity": ("tn", "fp"),
    "ppv": ("tp", "fp"),
    "npv": ("tn", "fn"),
}


def _confusion(y: npt.NDArray[np.bool_], called: npt.NDArray[np.bool_]) -> dict[str, int]:
    return {
        "tp": int(np.sum(y & called)),
        "fp": int(np.sum(~y & called)),
        "tn": int(np.sum(~y & ~called)),
        "fn": int(np.sum(y & ~called)),
    }


def threshold_metrics(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    threshold: float,
    *,
    confidence_level: float = 0.95,
) -> pd.DataFrame:
    """Sensitivity, specificity, PPV and NPV at a threshold, with Wilson intervals.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels.
    y_score : array-like of shape (n_samples,)
        Finite scores; ``score >= threshold`` is called positive.
    threshold : float
        The operating point.
    confidence_level : float, default 0.95
        Coverage of the Wilson intervals.

    Returns
    -------
    pandas.DataFrame
        One row per metric: ``metric, estimate, ci_low, ci_high, numerator, denominator``.
        A metric with a zero denominator is NaN.

    Examples
    --------
    >>> from hstrat.metrics import threshold_metrics
    >>> t = threshold_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.8], 0.5)
    >>> t[["metric", "estimate", "numerator", "denominator"]]
            metric  estimate  numerator  denominator
    0  sensitivity       0.5          1            2
    1  specificity       0.5          1            2
    2          ppv       0.5          1            2
    3          npv       0.5          1            2
    """
    level = check_confidence_level(confidence_level)
    y, s, _ = check_binary_inputs(y_true, y_score)
    counts = _confusion(y, s >= check_real(threshold, "threshold"))
    rows = []
    for metric, (hit, miss) in _METRIC_PARTS.items():
        x, total = counts[hit], counts[hit] + counts[miss]
        low, high = wilson_ci(x, total, confidence_level=level)
        rows.append(
            {
                "metric": metric,
                "estimate": x / total if total else float("nan"),
                "ci_low": float(low),
                "ci_high": float(high),
                "numerator": x,
                "denominator": total,
            }
        )
    return pd.DataFrame(rows)


def fisher_exact_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided Fisher exact p of x1/n1 against x2/n2 (NaN when either is empty)."""
    if min(n1, n2) == 0:
        return float("nan")
    from scipy import stats  # imported on use: it is slow to load

    table = np.array([[x1, n1 - x1], [x2, n2 - x2]])
    return float(stats.fisher_exact(table).pvalue)


def stratified_threshold_metrics(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    strata: Any,
    threshold: float,
    *,
    confidence_level: float = 0.95,
) -> pd.DataFrame:
    """Metrics at one threshold for the whole set and for each stratum's population.

    Each stratum is read on the population its AUC uses (see :class:`hstrat.Stratum`):
    a stratum of positives gets its own sensitivity and the specificity of all
    negatives. Sensitivity (specificity) is compared with the complement's by Fisher's
    exact test, as for the hip-fracture subclasses of Oakden-Rayner et al. (2020).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels.
    y_score : array-like of shape (n_samples,)
        Finite scores.
    strata : dict, list of Stratum, pandas Series or DataFrame
        As for :func:`stratified_auc`.
    threshold : float
        The operating point, usually from :func:`operating_threshold` on all the data.
    confidence_level : float, default 0.95
        Coverage of the Wilson intervals.

    Returns
    -------
    pandas.DataFrame
        One row per stratum (``overall`` first) with ``stratum, threshold, tp, fp, tn, fn``
        and, for each of ``sensitivity, specificity, ppv, npv``, the estimate and its
        ``_low``/``_high`` bounds, plus ``sensitivity_p_value`` and
        ``specificity_p_value`` against the complement.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.metrics import stratified_threshold_metrics
    >>> y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    >>> s = np.array([0.9, 0.8, 0.3, 0.2, 0.1, 0.4, 0.35, 0.6])
    >>> subtle = np.array([False, False, True, True, False, False, False, False])
    >>> t = stratified_threshold_metrics(y, s, {"subtle": subtle}, 0.5)
    >>> t[["stratum", "sensitivity", "specificity"]]
      stratum  sensitivity  specificity
    0 overall          0.5         0.75
    1  subtle          0.0         0.75
    """
    level = check_confidence_level(confidence_level)
    y, s, cases = check_binary_inputs(y_true, y_score)
    items = as_strata(strata, cases)
    called = s >= float(threshold)
    everyone = np.ones(len(y), dtype=bool)
    rows = [_threshold_row("overall", y, called, everyone, everyone, None, level)]
    for stratum in items:
        sub = stratum.subsets(y)
        comp = (sub.complement_pos, sub.complement_neg)
        rows.append(_threshold_row(str(stratum.name), y, called, sub.pos, sub.neg, comp, level))
    out = pd.DataFrame(rows)
    out.insert(1, "threshold", float(threshold))
    return out


def _threshold_row(
    name: str,
    y: npt.NDArray[np.bool_],
    called: npt.NDArray[np.bool_],
    pos: npt.NDArray[np.bool_],
    neg: npt.NDArray[np.bool_],
    complement: Sequence[npt.NDArray[np.bool_]] | None,
    level: float,
) -> dict[str, Any]:
    members = (pos & y) | (neg & ~y)
    counts = _confusion(y[members], called[members])
    row: dict[str, Any] = {"stratum": name, **counts}
    for metric, (hit, miss) in _METRIC_PARTS.items():
        x, total = counts[hit], counts[hit] + counts[miss]
        low, high = wilson_ci(x, total, confidence_level=level)
        row[metric] = x / total if total else float("nan")
        row[f"{metric}_low"] = float(low)
        row[f"{metric}_high"] = float(high)
    if complement is None:
        row["sensitivity_p_value"] = row["specificity_p_value"] = float("nan")
        return row
    # A test only compares disjoint sets of cases; overlapping ones (a stratum of
    # positives shares every negative with its complement) get NaN.
    for metric, own, comp, correct in [
        ("sensitivity", pos & y, complement[0] & y, called),
        ("specificity", neg & ~y, complement[1] & ~y, ~called),
    ]:
        row[f"{metric}_p_value"] = (
            float("nan")
            if (own & comp).any()
            else fisher_exact_p(
                int((own & correct).sum()),
                int(own.sum()),
                int((comp & correct).sum()),
                int(comp.sum()),
            )
        )
    return row
