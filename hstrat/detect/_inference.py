"""Each cluster's performance on its held-out cases: AUC and error rate, intervals, tests.

The clusters and their order are fixed before this runs (on the discovery cases), so
the estimates here are those of pre-specified subclasses, and the usual intervals and
tests apply. Everything goes through the same engine as :func:`hstrat.evaluate`:

* **AUC** — :func:`hstrat.metrics.stratified_auc`, with every cluster's AUC and its
  complement's recomputed on one shared class-stratified bootstrap (so the correlation
  between a cluster of positives and its complement, which share every negative, is
  carried by the resamples). A cluster of positives is measured against **all**
  negatives and a cluster of negatives against all positives, as the paper measures a
  subclass; the complement is the rest of the class among the held-out cases.
* **Error rate at the operating point** — false negatives among a cluster of
  positives, false positives among a cluster of negatives — with a Wilson interval
  and Fisher's exact test against the rest of the class (held-out cases).
* p-values of all tested clusters are adjusted together (Holm or Benjamini-Hochberg).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._stratum import Stratum
from ..exceptions import SmallStratumWarning, UndefinedMetricWarning
from ..metrics._stratified import adjust_p_values, stratified_auc
from ..metrics._threshold import fisher_exact_p, wilson_ci

__all__ = ["INFERENCE_COLUMNS", "cluster_inference"]

INFERENCE_COLUMNS = [
    "n_pos",
    "n_neg",
    "auc",
    "auc_low",
    "auc_high",
    "reference_auc",
    "auc_diff",
    "diff_low",
    "diff_high",
    "p_value",
    "p_adjusted",
    "n_errors",
    "error_rate",
    "error_rate_low",
    "error_rate_high",
    "reference_error_rate",
    "error_rate_diff",
    "error_rate_p_value",
    "error_rate_p_adjusted",
    "note",
]

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def _error_rows(
    strata: Sequence[Stratum], y: BoolArray, errors: BoolArray, level: float
) -> list[dict[str, Any]]:
    rows = []
    for stratum in strata:
        in_class = y if stratum.population == "positives" else ~y
        if stratum.population == "all":
            in_class = np.ones_like(y)
        own = stratum.mask & in_class
        rest = stratum.labelled & ~stratum.mask & in_class
        x, n = int(errors[own].sum()), int(own.sum())
        x_rest, n_rest = int(errors[rest].sum()), int(rest.sum())
        low, high = wilson_ci(x, n, confidence_level=level)
        rate = x / n if n else float("nan")
        rest_rate = x_rest / n_rest if n_rest else float("nan")
        rows.append(
            {
                "n_errors": x,
                "error_rate": rate,
                "error_rate_low": float(low),
                "error_rate_high": float(high),
                "reference_error_rate": rest_rate,
                "error_rate_diff": rate - rest_rate,
                "error_rate_p_value": fisher_exact_p(x, n, x_rest, n_rest),
            }
        )
    return rows


def cluster_inference(
    y: BoolArray,
    scores: FloatArray,
    errors: BoolArray,
    strata: Sequence[Stratum],
    tested: BoolArray,
    *,
    n_resamples: int,
    confidence_level: float,
    correction: str | None,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Held-out performance of every cluster, in the order given.

    Parameters
    ----------
    y, scores : arrays of shape (n_samples,)
        Labels and scores of all cases.
    errors : array of bool
        Misclassified at the operating point.
    strata : sequence of Stratum
        One per cluster: ``mask`` = its held-out members, ``labelled`` = the held-out
        cases, population ``"positives"`` or ``"negatives"``.
    tested : array of bool
        Which clusters enter the tests and their multiplicity adjustment (the others
        keep NaN p-values).
    n_resamples, confidence_level, correction, rng
        As for :func:`hstrat.metrics.stratified_auc`.

    Returns
    -------
    pandas.DataFrame
        One row per cluster with :data:`INFERENCE_COLUMNS`.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat import Stratum
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.ones(60, bool), np.zeros(60, bool)]
    >>> s = rng.normal(size=120) + 2 * y
    >>> low = np.r_[np.ones(20, bool), np.zeros(100, bool)]
    >>> s[low] -= 2
    >>> t = cluster_inference(y, s, y & (s < 1), [Stratum(low, "positives", name="c0")],
    ...                       np.array([True]), n_resamples=200, confidence_level=0.95,
    ...                       correction="holm", rng=rng)
    >>> bool(t.loc[0, "auc_diff"] < 0), bool(t.loc[0, "p_adjusted"] < 0.05)
    (True, True)
    """
    nan = float("nan")
    if not strata:
        return pd.DataFrame(columns=INFERENCE_COLUMNS)
    # Small or one-class clusters are expected here; what the warnings would say is
    # kept in each row's note, so they are silenced for this internal call only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallStratumWarning)
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        table = stratified_auc(
            y,
            scores,
            list(strata),
            ci="bootstrap",
            correction=None,
            n_resamples=n_resamples,
            confidence_level=confidence_level,
            random_state=rng,
        )
    auc = table.iloc[1:].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "n_pos": auc["n_pos"].to_numpy(),
            "n_neg": auc["n_neg"].to_numpy(),
            "auc": auc["auc"].to_numpy(dtype=float),
            "auc_low": auc["auc_low"].to_numpy(dtype=float),
            "auc_high": auc["auc_high"].to_numpy(dtype=float),
            "reference_auc": auc["reference_auc"].to_numpy(dtype=float),
            "auc_diff": auc["auc_diff"].to_numpy(dtype=float),
            "diff_low": auc["diff_low"].to_numpy(dtype=float),
            "diff_high": auc["diff_high"].to_numpy(dtype=float),
            "p_value": np.where(tested, auc["p_value"].to_numpy(dtype=float), nan),
        }
    )
    out["p_adjusted"] = adjust_p_values(out["p_value"].to_numpy(dtype=float), correction)
    errors_table = pd.DataFrame(_error_rows(strata, y, errors, confidence_level))
    for column in errors_table.columns:
        out[column] = errors_table[column].to_numpy()
    out["error_rate_p_value"] = np.where(tested, out["error_rate_p_value"], nan)
    out["error_rate_p_adjusted"] = adjust_p_values(
        out["error_rate_p_value"].to_numpy(dtype=float), correction
    )
    # The discovery cases are "unlabelled" for a cluster's stratum by construction;
    # saying so on every row would be noise.
    out["note"] = [
        "; ".join(part for part in str(note).split("; ") if not part.endswith("this variable"))
        for note in auc["note"].fillna("")
    ]
    return out[INFERENCE_COLUMNS]
