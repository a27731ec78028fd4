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

The p-value of that comparison comes from the same variance (a Wald z test), or, where
the Wald test is liberal — a stratum or its complement of a few hundred cases or fewer —
from a permutation test, exact at every size (:mod:`hstrat.metrics._permutation`;
``test``). p-values of all strata are then adjusted together (Holm or Benjamini-Hochberg).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from typing_extensions import Self

from .._parallel import check_n_jobs
from .._stratum import Stratum, as_strata
from .._validation import (
    RandomState,
    check_confidence_level,
    check_groups,
    check_int,
    check_option,
    check_random_state,
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
    delong_covariance,
    difference_test,
    normal_interval,
    placements,
    two_sided_p,
)
from ._permutation import Comparison, permutation_p_values

__all__ = ["STRATIFIED_COLUMNS", "AUCOptions", "auc_table", "stratified_auc", "verdicts"]

CI_METHODS = ("bootstrap", "delong")
REFERENCES = ("complement", "overall")
CORRECTIONS = ("holm", "fdr_bh")
TESTS = ("auto", "permutation", "wald")
#: ``test="auto"`` keeps the Wald test when the stratum and its complement have at least
#: this many cases of each class whose membership is permuted. DeLong's size at AUC 0.95
#: (4,000 null data sets each; stratum of m positives): 0.093 at alpha = 0.05 for m = 50,
#: 0.069 for 100, 0.057 for 200, 0.054 for 500 (at alpha = 0.01: 0.042, 0.024, 0.013,
#: 0.014); a stratum of both classes, 50 positives: 0.075, 200: 0.055.
PERMUTATION_BELOW = 200
#: Fewer positives or negatives than this in a stratum triggers a SmallStratumWarning.
#: In null simulations (60 positives / 140 negatives, a stratum of m positives against
#: its complement) the tests reject 10-11% of the time at alpha = 0.05 for m = 8, 6-8%
#: for m = 12, and 5-6% from m = 20 on, for DeLong and the bootstrap alike.
MIN_CASES = 20
#: Fewer clusters than this (``groups``: patients, studies) holding a row's positives or
#: its negatives get a note and a SmallStratumWarning. In simulation
#: (``benchmarks/sim_few_clusters.py``: 1 + Poisson(3) images per patient, a patient
#: effect as large as the noise; 400 data sets per size, se 0.011) grouped 95% intervals
#: (percentile bootstrap / DeLong) cover 0.75 / 0.84 of the time with 4 clusters,
#: 0.85 / 0.89 with 6, 0.89 / 0.90 with 10, and from 12 clusters on 0.91-0.93, the same
#: as with 50.
MIN_GROUPS = 12
#: A bootstrap standard error at or below this is zero width: no interval, no test.
ZERO_WIDTH = 1e-12

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
    "test",
    "p_value",
    "p_adjusted",
    "defined",
    "note",
]

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AUCOptions:
    """How the per-stratum AUCs are estimated and tested: checked here, once.

    :func:`stratified_auc` and :func:`hstrat.evaluate` declare the defaults in their
    signatures and build one of these; everything downstream reads the checked values.
    """

    ci: str
    reference: str
    correction: str | None
    n_resamples: int
    confidence_level: float
    method: str
    random_state: RandomState
    progress: bool
    n_jobs: int | None = None
    test: str = "auto"

    @classmethod
    def of(cls, arguments: dict[str, Any]) -> Self:
        """Build the options from a function's arguments (``locals()``), by field name."""
        return cls(**{f.name: arguments[f.name] for f in fields(cls)})

    def __post_init__(self) -> None:
        checked = {
            "ci": check_option(self.ci, "ci", CI_METHODS),
            "reference": check_option(self.reference, "reference", REFERENCES),
            "correction": None
            if self.correction is None
            else check_option(self.correction, "correction", CORRECTIONS),
            "n_resamples": check_int(self.n_resamples, "n_resamples", minimum=1),
            "confidence_level": check_confidence_level(self.confidence_level),
            "method": check_option(self.method, "method", BOOTSTRAP_METHODS),
            "progress": bool(self.progress),
            "n_jobs": check_n_jobs(self.n_jobs),
            "test": check_option(self.test, "test", TESTS),
        }
        check_random_state(self.random_state)  # type only: a Generator is not consumed
        for name, value in checked.items():
            object.__setattr__(self, name, value)


@dataclass
class _Row:
    name: str
    variable: Any
    level: Any
    population: str
    subset: Subset
    reference: Subset | None
    complement: Subset | None  # the rest of its population (the permutations' pool)
    n_unlabelled: int
    notes: list[str] = field(default_factory=list)
    n_groups: int | None = None  # the fewer clusters holding its positives or its negatives

    @property
    def defined(self) -> bool:
        return len(self.subset.pos) > 0 and len(self.subset.neg) > 0


def _plan(
    y: npt.NDArray[np.bool_], items: list[Stratum], reference: str, g: IntArray | None
) -> list[_Row]:
    everyone = Subset(np.flatnonzero(y), np.flatnonzero(~y))
    rows = [_Row("overall", None, None, "all", everyone, None, None, 0)]
    for stratum in items:
        sub = stratum.subsets(y)
        own = Subset(np.flatnonzero(sub.pos), np.flatnonzero(sub.neg))
        rest = Subset(np.flatnonzero(sub.complement_pos), np.flatnonzero(sub.complement_neg))
        ref = everyone if reference == "overall" else rest
        row = _Row(
            str(stratum.name),
            stratum.variable,
            stratum.level,
            sub.population,
            own,
            ref,
            rest,
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
    if g is not None:
        for row in rows:
            row.n_groups = min(
                len(np.unique(g[row.subset.pos])), len(np.unique(g[row.subset.neg]))
            )
            if row.defined and row.n_groups < MIN_GROUPS:
                row.notes.append(
                    f"its positives or negatives lie in only {row.n_groups} of the groups "
                    f"(fewer than {MIN_GROUPS}): interval unreliable"
                )
    return rows


def stratified_auc(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    strata: Any,
    *,
    ci: str = "bootstrap",
    reference: str = "complement",
    correction: str | None = "holm",
    test: str = "auto",
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
    test : {"auto", "permutation", "wald"}, default "auto"
        The test against the reference. ``"wald"``: a z test on the ``ci`` method's
        variance, which rejects a true null too often for small strata at high AUC (10%
        at alpha = 0.05 for 20 positives at AUC 0.9). ``"permutation"``: permutes
        membership of the stratum within each class it does not share with its
        complement, ``n_resamples`` times: exact at every size, and cheap (each
        permutation costs O(k log k) for the k cases of the smaller side).
        ``"auto"``: the permutation test where the stratum or its complement has fewer
        than 200 cases of a permuted class, the Wald test elsewhere (there its size is
        within 0.01 of alpha = 0.05). Only without ``groups`` (cases of one cluster are
        not exchangeable): with them every p-value is Wald's. With K strata the smallest
        adjusted permutation p-value is about K / (``n_resamples`` + 1).
    groups : array-like of shape (n_samples,), optional
        Cluster ids (patient, study): resampled as units by the bootstrap, summed
        within by DeLong.
    n_resamples : int, default 2000
        Bootstrap replicates, and permutations of the permutation test.
    confidence_level : float, default 0.95
        Coverage of every interval.
    method : {"percentile", "basic", "bca"}, default "percentile"
        Bootstrap interval method (ignored by DeLong).
    random_state : int, numpy.random.Generator or None
        Seed of the bootstrap and the permutations. The overall row's interval equals
        :func:`bootstrap_ci` with the same seed.
    progress : bool, default False
        Show a progress bar over the bootstrap replicates.
    n_jobs : int or None, default None
        Threads for the bootstrap, as in :func:`bootstrap_ci` (each adds about 40-70 MiB
        at a million cases); the table is the same for every value.

    Returns
    -------
    pandas.DataFrame
        One row per stratum, ``overall`` first, with columns ``stratum, variable, level,
        population, n, n_pos, n_neg, n_unlabelled, auc, auc_low, auc_high, auc_se,
        ci_method, reference, reference_auc, auc_diff, diff_low, diff_high, test, p_value,
        p_adjusted, defined, note``. ``auc_diff`` is the stratum's AUC minus the
        reference's, with its interval (by ``ci``) and the two-sided p-value of ``test``
        (``"wald"`` or ``"permutation"``, per row). A
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
    options = AUCOptions.of(locals())  # the options, declared once in the signature
    y, s, cases = check_binary_inputs(y_true, y_score)
    g = None if groups is None else check_groups(cases.align(groups, "groups"), len(y))
    return auc_table(y, s, as_strata(strata, cases), g, options)


def auc_table(
    y: npt.NDArray[np.bool_],
    s: FloatArray,
    items: list[Stratum],
    g: IntArray | None,
    options: AUCOptions,
) -> pd.DataFrame:
    """Return the table of :func:`stratified_auc` from checked, lined-up inputs."""
    rows = _plan(y, items, options.reference, g)
    if undefined_reason(len(rows[0].subset.pos), len(rows[0].subset.neg)):
        raise ValueError(
            "stratified_auc needs both classes in y_true; got "
            f"{undefined_reason(len(rows[0].subset.pos), len(rows[0].subset.neg))}."
        )
    if options.test == "permutation" and g is not None:
        raise ValueError(
            "test='permutation' cannot be used with groups: cases of one cluster are not "
            "exchangeable; use test='auto' or 'wald'."
        )
    rng = check_random_state(options.random_state)
    if options.ci == "delong":
        records = _delong_rows(rows, s, g, options.confidence_level)
    else:
        records = _bootstrap_rows(rows, y, s, g, options, rng)
    permuted = [_permuted(row, options.test, g) for row in rows]
    p_values = permutation_p_values(s, permuted, options.n_resamples, rng)
    for record, comparison, p in zip(records, permuted, p_values, strict=True):
        if np.isfinite(record["p_value"]) or comparison is not None:
            record["test"] = "wald" if comparison is None else "permutation"
        if comparison is not None:
            record["p_value"] = p
    table = pd.DataFrame(records, columns=STRATIFIED_COLUMNS)
    table["p_adjusted"] = adjust_p_values(
        table["p_value"].to_numpy(dtype=float), options.correction
    )
    _warn(rows, options.test == "wald" or g is not None)
    return table


def _permuted(row: _Row, test: str, g: IntArray | None) -> Comparison | None:
    """Return the permutation test of a row, or None where its p-value stays Wald's."""
    ref, rest = row.reference, row.complement
    if test == "wald" or g is not None or ref is None or rest is None or not row.defined:
        return None
    if not (len(rest.pos) and len(rest.neg) and len(ref.pos) and len(ref.neg)):
        return None
    comparison = Comparison(row.subset, rest, ref)
    sizes = comparison.permuted_sizes()
    if not sizes or (test == "auto" and min(sizes) >= PERMUTATION_BELOW):
        return None
    return comparison


def adjust_p_values(p_values: FloatArray, correction: str | None) -> FloatArray:
    """Adjust the finite p-values together; NaN stays NaN.

    With the m p-values sorted, ``p_(1) <= ... <= p_(m)``: Holm's step-down adjustment is
    ``max over j <= i of min(1, (m - j + 1) p_(j))``, Benjamini-Hochberg's step-up
    ``min over j >= i of min(1, m p_(j) / j)`` (1-based; the same numbers as statsmodels'
    ``multipletests``, which also collects garbage on every call).
    """
    out = np.full(len(p_values), np.nan)
    finite = np.isfinite(p_values)
    p = p_values[finite]
    m = len(p)
    if correction is None or m == 0:
        out[finite] = p
        return out
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if correction == "holm":
        adjusted = np.maximum.accumulate(ranked * np.arange(m, 0, -1))
    else:
        adjusted = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    sorted_back = np.empty(m)
    sorted_back[order] = np.minimum(adjusted, 1.0)
    out[finite] = sorted_back
    return out


def _warn(rows: list[_Row], wald: bool) -> None:
    defined = [r for r in rows if r.defined]
    for names, text, category in [
        (
            [r.name for r in rows if not r.defined],
            "AUC undefined (one class only) for strata {}; their rows are NaN.",
            UndefinedMetricWarning,
        ),
        (
            [r.name for r in defined if min(len(r.subset.pos), len(r.subset.neg)) < MIN_CASES],
            f"Strata {{}} have fewer than {MIN_CASES} positives or negatives; their "
            + ("intervals and tests are unreliable." if wald else "intervals are unreliable."),
            SmallStratumWarning,
        ),
        (
            [r.name for r in defined if r.n_groups is not None and r.n_groups < MIN_GROUPS],
            f"Strata {{}} have fewer than {MIN_GROUPS} clusters (groups) holding their "
            "positives or negatives; their intervals and tests are unreliable.",
            SmallStratumWarning,
        ),
    ]:
        if names:
            warnings.warn(text.format(repr(names)), category, stacklevel=4)


def _record(row: _Row, ci_method: str, reference: str | None) -> dict[str, Any]:
    record: dict[str, Any] = dict.fromkeys(STRATIFIED_COLUMNS, float("nan"))
    record.update(
        stratum=row.name,
        variable=row.variable,
        level=row.level,
        population=row.population,
        n=len(row.subset.pos) + len(row.subset.neg),
        n_pos=len(row.subset.pos),
        n_neg=len(row.subset.neg),
        n_unlabelled=row.n_unlabelled,
        ci_method=ci_method,
        reference=reference,
        defined=row.defined,
        note="; ".join(row.notes),
    )
    return record


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
                    test = difference_test(p, ref, n, g, level)
                    rec.update(
                        reference_auc=ref.theta,
                        auc_diff=test.difference,
                        diff_low=test.ci_low,
                        diff_high=test.ci_high,
                        p_value=test.p_value,
                    )
        records.append(rec)
    return records


def _reference_name(rows: list[_Row], row: _Row) -> str:
    return "overall" if row.reference is rows[0].subset else "complement"


def _bootstrap_rows(
    rows: list[_Row],
    y: npt.NDArray[np.bool_],
    s: FloatArray,
    g: IntArray | None,
    options: AUCOptions,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    n, n_resamples, method = len(y), options.n_resamples, options.method
    level = options.confidence_level
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
    bar = _progress_bar(n_resamples, options.progress)
    try:
        dist = bootstrap_aucs(
            s,
            subsets,
            resampler,
            progress=None if bar is None else bar.update,
            plan=plan,
            n_jobs=options.n_jobs,
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
                _note(rec, f"{bad} of {n_resamples} resamples lacked a class")
            low, high = interval(
                theta,
                d,
                method,
                level,
                jackknife=jackknife(k) if method == "bca" else None,
                cells=unit_cells,
            )
            rec.update(auc=theta, auc_low=low, auc_high=high, auc_se=_sd(d))
            if not rec["auc_se"] > ZERO_WIDTH:
                _note(rec, "the AUC is the same in every resample (zero-width interval)")
            if k_ref is not None and subsets[k_ref].pos.size and subsets[k_ref].neg.size:
                ref_theta = float(estimates[k_ref])
                diff = d - dist[:, k_ref]
                se = _sd(diff)
                z = (theta - ref_theta) / se if se > ZERO_WIDTH else float("nan")
                if not se > ZERO_WIDTH:
                    _note(rec, "no test: the difference does not vary between resamples")
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


def _note(rec: dict[str, Any], text: str) -> None:
    rec["note"] = "; ".join(filter(None, [rec["note"], text]))


def _sd(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    return float(np.std(finite, ddof=1)) if len(finite) > 1 else float("nan")


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="bootstrap", unit="resample", delay=1.0)


def verdicts(table: pd.DataFrame, alpha: float) -> list[str]:
    """Return each row's verdict on its test against the reference; row 0 is overall.

    A stratum is ``"worse"`` (``"better"``) when its adjusted p-value is below
    ``alpha`` and its AUC is below (above) its reference's; strata whose note says
    their interval is unreliable (too few positives or negatives) are never either,
    unless their p-value comes from the permutation test (exact at every size).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"auc": [0.8, 0.6, 0.9], "auc_diff": [None, -0.2, 0.01],
    ...                   "p_adjusted": [None, 0.001, 0.6]})
    >>> verdicts(t, 0.05)
    ['overall', 'worse', 'no significant difference']
    """
    n = len(table)
    auc = table["auc"].to_numpy(dtype=float)
    p = _column(table, "p_adjusted", n)
    diff = _column(table, "auc_diff", n)
    notes = table["note"].astype(str) if "note" in table else pd.Series([""] * n)
    exact = (table["test"] == "permutation").to_numpy() if "test" in table else np.zeros(n, bool)
    out = []
    for i in range(n):
        if i == 0:
            out.append("overall")
        elif not np.isfinite(auc[i]):
            out.append("undefined")
        elif "unreliable" in notes.iloc[i] and not exact[i]:
            out.append("too few cases to test")
        elif p[i] < alpha and diff[i] != 0:
            out.append("worse" if diff[i] < 0 else "better")
        else:
            out.append("no significant difference")
    return out


def _column(table: pd.DataFrame, name: str, n_rows: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    if name in table.columns:
        return table[name].to_numpy(dtype=float)
    return np.full(n_rows, np.nan)
