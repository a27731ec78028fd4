"""Per-stratum AUC with intervals, tests against a reference, and multiplicity control.

Every stratum's AUC is compared with a reference AUC computed on the *same* sample —
the stratum's complement (default) or the overall AUC. Those two estimates are
correlated whenever they share cases: a stratum of positives (pneumothorax with a
drain) and its complement (without a drain) are both measured against every negative;
a stratum and the overall AUC share the stratum itself. Treating them as independent
would make the test conservative or anti-conservative, so:

* ``ci="delong"`` uses the DeLong covariance over the shared structural components
  (see :func:`hstrat.metrics._delong.delong_covariance`);
* ``ci="bootstrap"`` resamples every case once per replicate (stratified by class, or by
  cluster with ``groups``) and recomputes all AUCs on that one resample, so the
  covariance is carried by the joint distribution.

p-values of all strata are then adjusted together (Holm or Benjamini-Hochberg).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._parallel import check_n_jobs
from .._stratum import Stratum, as_strata
from .._validation import (
    RandomState,
    check_confidence_level,
    check_groups,
    check_int,
    check_option,
    check_random_state,
    check_same_index,
)
from ..exceptions import SmallStratumWarning, UndefinedMetricWarning
from ._auc import check_binary_inputs, undefined_reason
from ._bootstrap import (
    BOOTSTRAP_METHODS,
    Resampler,
    Subset,
    SubsetPlan,
    bootstrap_aucs,
    interval,
    jackknife_aucs,
    resampling_cells,
)
from ._delong import (
    Placements,
    delong_covariance,
    difference_test,
    normal_interval,
    placements,
    two_sided_p,
)

__all__ = ["STRATIFIED_COLUMNS", "stratified_auc"]

CI_METHODS = ("bootstrap", "delong")
REFERENCES = ("complement", "overall")
CORRECTIONS = ("holm", "fdr_bh")
#: Fewer positives or negatives than this in a stratum triggers a SmallStratumWarning.
#: In null simulations (60 positives / 140 negatives, a stratum of m positives against
#: its complement) the tests reject 10-11% of the time at alpha = 0.05 for m = 8, 6-8%
#: for m = 12, and 5-6% from m = 20 on, for DeLong and the bootstrap alike.
MIN_CASES = 20

STRATIFIED_COLUMNS = [
    "stratum",
    "variable",
    "level",
    "population",
    "n",
    "n_pos",
    "n_neg",
    "n_unlabelled",
    "auc",
    "auc_low",
    "auc_high",
    "auc_se",
    "ci_method",
    "reference",
    "reference_auc",
    "auc_diff",
    "diff_low",
    "diff_high",
    "p_value",
    "p_adjusted",
    "defined",
    "note",
]

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]


@dataclass
class _Row:
    name: str
    variable: Any
    level: Any
    population: str
    subset: Subset
    reference: Subset | None
    n_unlabelled: int
    notes: list[str] = field(default_factory=list)

    @property
    def defined(self) -> bool:
        return len(self.subset.pos) > 0 and len(self.subset.neg) > 0


def _plan(y: npt.NDArray[np.bool_], items: list[Stratum], reference: str) -> list[_Row]:
    everyone = Subset(np.flatnonzero(y), np.flatnonzero(~y))
    rows = [_Row("overall", None, None, "all", everyone, None, 0)]
    for stratum in items:
        sub = stratum.subsets(y)
        own = Subset(np.flatnonzero(sub.pos), np.flatnonzero(sub.neg))
        if reference == "overall":
            ref = everyone
        else:
            ref = Subset(np.flatnonzero(sub.complement_pos), np.flatnonzero(sub.complement_neg))
        row = _Row(
            str(stratum.name),
            stratum.variable,
            stratum.level,
            sub.population,
            own,
            ref,
            int((~stratum.labelled).sum()),
        )
        reason = undefined_reason(len(own.pos), len(own.neg))
        if reason:
            row.notes.append(f"AUC undefined: {reason}")
        elif min(len(own.pos), len(own.neg)) < MIN_CASES:
            row.notes.append(f"fewer than {MIN_CASES} positives or negatives: interval unreliable")
        ref_reason = undefined_reason(len(ref.pos), len(ref.neg))
        if ref_reason and not reason:
            row.notes.append(f"no test: the {reference} has {ref_reason}")
        if row.n_unlabelled:
            row.notes.append(f"{row.n_unlabelled} cases unlabelled for this variable")
        rows.append(row)
    return rows


def stratified_auc(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    strata: Any,
    *,
    ci: str = "bootstrap",
    reference: str = "complement",
    correction: str | None = "holm",
    groups: npt.ArrayLike | None = None,
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    method: str = "percentile",
    random_state: RandomState = None,
    progress: bool = False,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """AUC of every stratum with its interval and a test against a reference.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels (booleans or 0/1).
    y_score : array-like of shape (n_samples,)
        Finite scores; higher means more likely positive.
    strata : dict, list of Stratum, pandas Series or DataFrame
        A dict of name to boolean mask or :class:`~hstrat.Stratum`; a list of named
        strata; or categorical labels (one stratum per level of each column, NaN =
        unlabelled). A plain mask gets population ``"auto"`` (see :class:`~hstrat.Stratum`).
    ci : {"bootstrap", "delong"}, default "bootstrap"
        How intervals, standard errors and the tests' variances are obtained.
    reference : {"complement", "overall"}, default "complement"
        What each stratum is compared with: the rest of its population among labelled
        cases (drain vs no drain) or the overall AUC.
    correction : {"holm", "fdr_bh"} or None, default "holm"
        Multiple-comparison adjustment across all strata's p-values (Holm's step-down
        family-wise control, or Benjamini-Hochberg false discovery rate).
    groups : array-like of shape (n_samples,), optional
        Cluster ids (patient, study): resampled as units by the bootstrap, summed
        within by DeLong.
    n_resamples : int, default 2000
        Bootstrap replicates (ignored by DeLong).
    confidence_level : float, default 0.95
        Coverage of every interval.
    method : {"percentile", "basic", "bca"}, default "percentile"
        Bootstrap interval method (ignored by DeLong).
    random_state : int, numpy.random.Generator or None
        Seed of the bootstrap. The overall row's interval equals
        :func:`bootstrap_ci` with the same seed.
    progress : bool, default False
        Show a progress bar over the bootstrap replicates.
    n_jobs : int or None, default None
        Threads for the bootstrap, as in :func:`bootstrap_ci` (each adds about 40 MiB
        at a million cases); the table is the same for every value.

    Returns
    -------
    pandas.DataFrame
        One row per stratum, ``overall`` first, with columns ``stratum, variable, level,
        population, n, n_pos, n_neg, n_unlabelled, auc, auc_low, auc_high, auc_se,
        ci_method, reference, reference_auc, auc_diff, diff_low, diff_high, p_value,
        p_adjusted, defined, note``. ``auc_diff`` is the stratum's AUC minus the
        reference's, with its interval and the two-sided p-value of a z test. A
        stratum whose AUC is undefined keeps its row with NaN and ``defined=False``.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.metrics import stratified_auc
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.ones(100, bool), np.zeros(200, bool)]
    >>> drain = np.r_[rng.random(100) < 0.8, np.zeros(200, bool)]
    >>> s = rng.normal(size=300) + 2.0 * drain + 0.8 * y
    >>> t = stratified_auc(y, s, {"drain": drain, "no drain": y & ~drain},
    ...                    ci="delong")
    >>> t[["stratum", "population", "n_pos", "n_neg"]]
        stratum population  n_pos  n_neg
    0   overall        all    100    200
    1     drain  positives     73    200
    2  no drain  positives     27    200
    >>> bool(t.loc[1, "auc"] > t.loc[2, "auc"])
    True
    """
    ci = check_option(ci, "ci", CI_METHODS)
    reference = check_option(reference, "reference", REFERENCES)
    if correction is not None:
        correction = check_option(correction, "correction", CORRECTIONS)
    level = check_confidence_level(confidence_level)
    n_resamples = check_int(n_resamples, "n_resamples", minimum=1)
    method = check_option(method, "method", BOOTSTRAP_METHODS)
    check_same_index(y_true=y_true, y_score=y_score, strata=strata)
    y, s = check_binary_inputs(y_true, y_score)
    g = None if groups is None else check_groups(groups, len(y))
    rng = check_random_state(random_state)
    n_jobs = check_n_jobs(n_jobs)
    rows = _plan(y, as_strata(strata, len(y)), reference)
    if undefined_reason(len(rows[0].subset.pos), len(rows[0].subset.neg)):
        raise ValueError(
            "stratified_auc needs both classes in y_true; got "
            f"{undefined_reason(len(rows[0].subset.pos), len(rows[0].subset.neg))}."
        )
    if ci == "delong":
        records = _delong_rows(rows, s, g, level)
    else:
        records = _bootstrap_rows(
            rows, y, s, g, level, method, n_resamples, rng, progress, n_jobs=n_jobs
        )
    table = pd.DataFrame(records, columns=STRATIFIED_COLUMNS)
    table["p_adjusted"] = adjust_p_values(table["p_value"].to_numpy(dtype=float), correction)
    _warn(rows)
    return table


def adjust_p_values(p_values: FloatArray, correction: str | None) -> FloatArray:
    """Adjust the finite p-values together; NaN stays NaN."""
    out = np.full(len(p_values), np.nan)
    finite = np.isfinite(p_values)
    if correction is None:
        out[finite] = p_values[finite]
    elif finite.any():
        # statsmodels is imported here: loading it costs more than all of hstrat
        from statsmodels.stats.multitest import multipletests

        out[finite] = multipletests(p_values[finite], method=correction)[1]
    return out


def _warn(rows: list[_Row]) -> None:
    undefined = [r.name for r in rows if not r.defined]
    if undefined:
        warnings.warn(
            f"AUC undefined (one class only) for strata {undefined!r}; their rows are NaN.",
            UndefinedMetricWarning,
            stacklevel=3,
        )
    small = [
        r.name for r in rows if r.defined and min(len(r.subset.pos), len(r.subset.neg)) < MIN_CASES
    ]
    if small:
        warnings.warn(
            f"Strata {small!r} have fewer than {MIN_CASES} positives or negatives; "
            "their intervals and tests are unreliable.",
            SmallStratumWarning,
            stacklevel=3,
        )


def _record(row: _Row, ci_method: str, reference: str | None) -> dict[str, Any]:
    nan = float("nan")
    return {
        "stratum": row.name,
        "variable": row.variable,
        "level": row.level,
        "population": row.population,
        "n": len(row.subset.pos) + len(row.subset.neg),
        "n_pos": len(row.subset.pos),
        "n_neg": len(row.subset.neg),
        "n_unlabelled": row.n_unlabelled,
        "auc": nan,
        "auc_low": nan,
        "auc_high": nan,
        "auc_se": nan,
        "ci_method": ci_method,
        "reference": reference,
        "reference_auc": nan,
        "auc_diff": nan,
        "diff_low": nan,
        "diff_high": nan,
        "p_value": nan,
        "p_adjusted": nan,
        "defined": row.defined,
        "note": "; ".join(row.notes),
    }


def _delong_rows(
    rows: list[_Row], s: FloatArray, g: IntArray | None, level: float
) -> list[dict[str, Any]]:
    n = len(s)
    records = []
    for i, row in enumerate(rows):
        rec = _record(row, "delong", None if i == 0 else _reference_name(rows, row))
        if row.defined:
            p = placements(s, row.subset.pos, row.subset.neg)
            var = delong_covariance(p, p, n, g)
            se = float(np.sqrt(var)) if np.isfinite(var) and var >= 0 else float("nan")
            low, high = normal_interval(p.theta, se, level, (0.0, 1.0))
            rec.update(auc=p.theta, auc_low=low, auc_high=high, auc_se=se)
            if row.reference is not None:
                ref = placements(s, row.reference.pos, row.reference.neg)
                if ref.defined:
                    _update_test_delong(rec, p, ref, n, g, level)
        records.append(rec)
    return records


def _update_test_delong(
    rec: dict[str, Any], p: Placements, ref: Placements, n: int, g: IntArray | None, level: float
) -> None:
    test = difference_test(p, ref, n, g, level)
    rec.update(
        reference_auc=ref.theta,
        auc_diff=test.difference,
        diff_low=test.ci_low,
        diff_high=test.ci_high,
        p_value=test.p_value,
    )


def _reference_name(rows: list[_Row], row: _Row) -> str:
    return "overall" if row.reference is rows[0].subset else "complement"


def _bootstrap_rows(
    rows: list[_Row],
    y: npt.NDArray[np.bool_],
    s: FloatArray,
    g: IntArray | None,
    level: float,
    method: str,
    n_resamples: int,
    rng: np.random.Generator,
    progress: bool,
    *,
    n_jobs: int | None,
) -> list[dict[str, Any]]:
    n = len(y)
    index: dict[tuple[bytes, bytes], int] = {}
    subsets: list[Subset] = []

    def column(sub: Subset) -> int:
        key = (sub.pos.tobytes(), sub.neg.tobytes())
        if key not in index:
            index[key] = len(subsets)
            subsets.append(sub)
        return index[key]

    columns = [
        (column(r.subset), None if r.reference is None else column(r.reference)) for r in rows
    ]
    cells = resampling_cells(y, g, True)
    resampler = Resampler(y, s, n_resamples, rng, cells=cells, groups=g)
    plan = SubsetPlan(s, subsets, resampler.order)
    estimates = plan.observed()
    bar = _progress_bar(n_resamples, progress)
    try:
        dist = bootstrap_aucs(
            s,
            subsets,
            resampler,
            progress=None if bar is None else bar.update,
            plan=plan,
            n_jobs=n_jobs,
        )
    finally:
        if bar is not None:
            bar.close()
    unit_cells = cells if cells is not None else np.zeros(resampler.n_units, np.intp)
    jack: dict[int, FloatArray] = {}

    def jackknife(k: int) -> FloatArray:
        if k not in jack:
            jack[k] = jackknife_aucs(s, subsets[k], n, g)
        return jack[k]

    label = f"bootstrap-{method}"
    records = []
    for i, (row, (k, k_ref)) in enumerate(zip(rows, columns, strict=True)):
        rec = _record(row, label, None if i == 0 else _reference_name(rows, row))
        if row.defined:
            theta = float(estimates[k])
            d = dist[:, k]
            bad = int(np.count_nonzero(~np.isfinite(d)))
            if bad:
                rec["note"] = "; ".join(
                    filter(None, [rec["note"], f"{bad} of {n_resamples} resamples lacked a class"])
                )
            low, high = interval(
                theta,
                d,
                method,
                level,
                jackknife=jackknife(k) if method == "bca" else None,
                cells=unit_cells,
            )
            rec.update(auc=theta, auc_low=low, auc_high=high, auc_se=_sd(d))
            if k_ref is not None and subsets[k_ref].pos.size and subsets[k_ref].neg.size:
                ref_theta = float(estimates[k_ref])
                diff = d - dist[:, k_ref]
                se = _sd(diff)
                z = (theta - ref_theta) / se if se > 0 else float("nan")
                jk = jackknife(k) - jackknife(k_ref) if method == "bca" else None
                d_low, d_high = interval(
                    theta - ref_theta, diff, method, level, jackknife=jk, cells=unit_cells
                )
                rec.update(
                    reference_auc=ref_theta,
                    auc_diff=theta - ref_theta,
                    diff_low=d_low,
                    diff_high=d_high,
                    p_value=two_sided_p(z),
                )
        records.append(rec)
    return records


def _sd(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else float("nan")


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="bootstrap", unit="resample", delay=1.0)
