"""evaluate(): strata (and detectors) over labels and scores → an AuditReport."""

from __future__ import annotations

import hashlib
import inspect
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from typing import Any, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._align import Cases
from .._predictions import Predictions
from .._stratum import Stratum, as_strata
from .._stratum import intersections as crossed
from .._validation import (
    RandomState,
    check_groups,
    check_labels,
    check_scores,
    describe,
    did_you_mean,
)
from .._version import __version__
from ..metrics._stratified import STRATIFIED_COLUMNS, AUCOptions, adjust_p_values, auc_table
from ..metrics._threshold import check_threshold, resolve_threshold, stratified_threshold_metrics
from ._report import AuditReport
from ._reports import AuditReports

IntArray = npt.NDArray[np.intp]

__all__ = ["TABLE_COLUMNS", "EvaluationOptions", "evaluate"]

_ENDS = ("", "_low", "_high")

_THRESHOLD_COLUMNS = [
    "threshold",
    *(f"{m}{end}" for m in ("sensitivity", "specificity", "ppv", "npv") for end in _ENDS),
    "sensitivity_p_value",
    "specificity_p_value",
]
#: Columns of ``AuditReport.table``: the stratified AUC's, the detector family after the
#: name, and the operating-point metrics before ``defined`` and ``note``.
TABLE_COLUMNS = [
    STRATIFIED_COLUMNS[0],
    "family",
    *STRATIFIED_COLUMNS[1:-2],
    *_THRESHOLD_COLUMNS,
    *STRATIFIED_COLUMNS[-2:],
]


@dataclass(frozen=True)
class EvaluationOptions(AUCOptions):
    """Every option of :func:`evaluate`, checked once (``audit`` checks them before its pass)."""

    threshold: Any = "youden"
    intersections: bool | Sequence[Sequence[str]] = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "threshold", check_threshold(self.threshold))
        crossings = self.intersections
        if not isinstance(crossings, bool):
            if isinstance(crossings, (str, bytes)) or not all(
                isinstance(c, Sequence)
                and not isinstance(c, str)
                and all(isinstance(v, str) for v in c)
                for c in crossings
            ):
                raise TypeError(
                    "intersections must be True, False or a list of variable-name tuples "
                    f"such as [('drain', 'size')]; got {describe(crossings)}."
                )
            object.__setattr__(self, "intersections", [tuple(c) for c in crossings])

    @classmethod
    def from_keywords(cls, options: dict[str, Any]) -> EvaluationOptions:
        """Check ``evaluate``'s keyword options by name and value (defaults filled in)."""
        defaults = {
            name: p.default
            for name, p in inspect.signature(evaluate).parameters.items()
            if name in {f.name for f in fields(cls)}
        }
        for name in options:
            if name not in defaults:
                raise TypeError(
                    f"got an unexpected keyword argument {name!r}.{did_you_mean(name, defaults)}"
                )
        return cls.of({**defaults, **options})


@overload
def evaluate(
    y_true: pd.DataFrame | Mapping[Any, Predictions], *args: Any, **kwargs: Any
) -> AuditReports: ...
@overload
def evaluate(y_true: npt.ArrayLike | Predictions, *args: Any, **kwargs: Any) -> AuditReport: ...
def evaluate(
    y_true: npt.ArrayLike | Predictions | pd.DataFrame | Mapping[Any, Predictions],
    y_score: npt.ArrayLike | None = None,
    strata: Any = None,
    *,
    embeddings: npt.ArrayLike | None = None,
    detectors: Sequence[Any] = (),
    groups: npt.ArrayLike | str | None = None,
    threshold: Any = "youden",
    intersections: bool | Sequence[Sequence[str]] = False,
    ci: str = "bootstrap",
    reference: str = "complement",
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    method: str = "percentile",
    correction: str | None = "holm",
    test: str = "auto",
    random_state: RandomState = None,
    ids: npt.ArrayLike | pd.Index | None = None,
    metadata: pd.DataFrame | None = None,
    progress: bool = True,
    n_jobs: int | None = None,
) -> AuditReport | AuditReports:
    """Audit scores for hidden stratification: per-stratum AUC, tests, operating point.

    Per-case inputs are lined up as "How hstrat lines up your data" explains.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,), Predictions, or DataFrame
        Binary labels (booleans or 0/1); a Series lends its index as the ids. Or a
        :class:`~hstrat.Predictions` (from :func:`hstrat.collect`), which brings scores,
        ids, embeddings and metadata (pass ``strata=`` by keyword). Several findings: a
        DataFrame of labels with ``y_score`` a DataFrame of the same columns, or a dict of
        finding to Predictions; an :class:`~hstrat.AuditReports` is then returned.
    y_score : array-like of shape (n_samples,)
        Finite scores; higher means more likely positive.
    strata : dict, list of Stratum, Series, DataFrame or callable, optional
        A dict of name to boolean mask or :class:`~hstrat.Stratum`; categorical labels
        as a Series or DataFrame (one stratum per level per column, NaN = unlabelled;
        keyed by id they may cover some cases only); or a callable that receives
        ``metadata`` and returns any of these. With several findings, a dict of finding
        to strata.
    embeddings : array-like of shape (n_samples, n_features), optional
        Model features for ``detectors``.
    detectors : sequence of detector estimators, optional
        E.g. ``[KMeansDetector()]``, each fitted on ``embeddings``; its clusters'
        held-out members become rows of the table, measured like every other stratum,
        and ``report.clusters`` is the detectors' ``clusters_`` joined with those rows.
    groups : array-like of shape (n_samples,) or str, optional
        Cluster ids (patient, study), or the name of a ``metadata`` column holding them:
        resampled together by the bootstrap, summed within by DeLong.
    threshold : "youden", float, or {"sensitivity": x} / {"specificity": x}
        The operating point, chosen on all cases, at which every stratum is read.
        Detectors get the rule itself and apply it to their discovery cases only (their
        ``threshold_``, at which ``discovery_error_rate`` is counted, may differ).
    intersections : bool or list of tuples of str, default False
        Also audit every combination of levels of the strata's variables (``True``) or
        of those named, e.g. ``[("chest_drain", "size")]``, as strata of their own (see
        :func:`hstrat.strata.intersections`).
    ci, reference, test, n_resamples, confidence_level, method, random_state, n_jobs
        As in :func:`hstrat.metrics.stratified_auc`.
    correction : {"holm", "fdr_bh"} or None, default "holm"
        Multiple-comparison adjustment, within the given strata and separately within
        each detector's clusters.
    ids : array-like, optional
        The cases' ids in the order of ``y_true`` (unique, not blank); default: the
        index of a pandas ``y_true``, else positions.
    metadata : pandas.DataFrame, optional
        Per-case information (for callable strata and ``groups``), lined up likewise.
    progress : bool, default True
        Show a progress bar when the bootstrap takes more than a moment.

    Returns
    -------
    AuditReport
        ``report.table`` has one row per stratum, ``overall`` first, with columns
        ``stratum, family, variable, level, population, n, n_pos, n_neg, n_unlabelled,
        auc, auc_low, auc_high, auc_se, ci_method, reference, reference_auc, auc_diff,
        diff_low, diff_high, p_value, p_adjusted, threshold, sensitivity(_low/_high),
        specificity(_low/_high), ppv(_low/_high), npv(_low/_high), sensitivity_p_value,
        specificity_p_value, defined, note``.

    Examples
    --------
    >>> import numpy as np
    >>> import hstrat
    >>> rng = np.random.default_rng(0)
    >>> y = np.r_[np.ones(120, bool), np.zeros(280, bool)]
    >>> drain = np.r_[rng.random(120) < 0.7, np.zeros(280, bool)]
    >>> s = rng.normal(size=400) + 0.6 * y + 1.5 * drain
    >>> report = hstrat.evaluate(y, s, {"drain": drain, "no drain": y & ~drain},
    ...                          random_state=0, n_resamples=500, progress=False)
    >>> report.table[["stratum", "population", "n_pos"]]
        stratum population  n_pos
    0   overall        all    120
    1     drain  positives     75
    2  no drain  positives     45
    """
    options = EvaluationOptions.of(locals())  # the options, declared once in the signature
    if isinstance(detectors, (str, bytes)) or not isinstance(detectors, Sequence):
        detectors = [detectors]
    data = (y_true, y_score, ids, embeddings, metadata)
    findings = _findings(y_true, y_score)
    if findings is None:
        return _evaluate_one(data, strata, detectors, groups, options, None)
    from sklearn.base import clone  # a fresh copy of each detector per finding

    return AuditReports(
        {
            finding: _evaluate_one(
                (y_f, s_f, *data[2:]),
                _strata_of(strata, finding, list(findings)),
                [clone(d, safe=False) for d in detectors],
                groups,
                options,
                list(findings),
                finding,
            )
            for finding, (y_f, s_f) in findings.items()
        }
    )


def _evaluate_one(
    data: tuple[Any, ...],
    strata: Any,
    detectors: Sequence[Any],
    groups: Any,
    options: EvaluationOptions,
    findings: list[Any] | None,
    finding: Any = None,
) -> AuditReport:
    """Audit one finding: the body of :func:`evaluate`."""
    predictions, cases = _predictions(*data, target=finding)
    y, s = predictions.y_true, predictions.y_score
    if y.all() or not y.any():
        raise ValueError(
            "An audit needs both positive and negative cases; y_true has only "
            f"{'positives' if y.all() else 'negatives'} ({len(y)} cases)."
        )
    group_codes = None
    if isinstance(groups, str):
        if predictions.metadata is None or groups not in predictions.metadata.columns:
            available = [] if predictions.metadata is None else list(predictions.metadata.columns)
            raise ValueError(
                f"groups={groups!r} is not a metadata column; the columns are {available!r}."
            )
        group_codes = check_groups(predictions.metadata[groups].to_numpy(), len(predictions))
    elif groups is not None:
        group_codes = check_groups(cases.align(groups, "groups"), len(predictions))
    items = _of_this_finding(
        as_strata(strata, cases, metadata=predictions.metadata), predictions.target, findings
    )
    if options.intersections:
        items += crossed(items, options.intersections)
    threshold_value, threshold_rule = resolve_threshold(options.threshold, y, s)
    families = ["strata"] * len(items)
    cluster_tables = []
    if detectors:
        if predictions.embeddings is None:
            raise ValueError(
                "detectors need embeddings; pass embeddings= (or use audit(), which "
                "collects them)."
            )
        base = [  # each family named as its strata name their method ("kmeans"), uniquely
            d._detector_name()
            if callable(getattr(d, "_detector_name", None))
            else getattr(d, "name", None) or type(d).__name__.removesuffix("Detector").lower()
            for d in detectors
        ]
        names = [b if base.count(b) == 1 else f"{b}{i + 1}" for i, b in enumerate(base)]
        for name, detector in zip(names, detectors, strict=True):
            # The rule, not its value on every case: a detector applies it to its
            # discovery cases, so that held-out outcomes choose nothing.
            found, found_clusters = _run_detector(detector, name, predictions, options.threshold)
            items.extend(found)
            families.extend([name] * len(found))
            cluster_tables.append(found_clusters)
    table = _build_table(predictions, items, families, group_codes, threshold_value, options)
    provenance = _provenance(
        predictions,
        options,
        threshold_rule=threshold_rule,
        threshold=threshold_value,
        detectors=detectors,
        groups=groups,
    )
    clusters: pd.DataFrame | None = None
    if cluster_tables:
        clusters = _join_cluster_measures(pd.concat(cluster_tables, ignore_index=True), table)
    return AuditReport(
        table,
        clusters=clusters,
        predictions=predictions,
        strata=items,
        provenance=provenance,
        threshold=threshold_value,
    )


def _findings(y_true: Any, y_score: Any) -> dict[Any, tuple[Any, Any]] | None:
    """Split several findings' labels and scores by finding (None: a single finding)."""
    if isinstance(y_true, Mapping):
        if y_score is not None or not all(isinstance(p, Predictions) for p in y_true.values()):
            raise TypeError(
                "A mapping as y_true must hold Predictions by finding (as collect(..., "
                "targets=) returns); pass strata= by keyword."
            )
        return {f: (p, None) for f, p in y_true.items()}
    if isinstance(y_true, pd.DataFrame):
        if not isinstance(y_score, pd.DataFrame):
            raise TypeError(
                "y_true is a DataFrame of findings, so y_score must be a DataFrame with the "
                f"same columns {list(y_true.columns)!r}; got {type(y_score).__name__}."
            )
        missing = [c for c in y_true.columns if c not in y_score.columns]
        extra = [c for c in y_score.columns if c not in y_true.columns]
        if missing or extra or not y_true.columns.is_unique:
            raise ValueError(
                f"y_true and y_score must have the same finding columns, each once; y_score "
                f"lacks {missing!r} and has {extra!r} besides."
            )
        return {f: (y_true[f], y_score[f]) for f in y_true.columns}
    if np.ndim(y_true) == 2 and np.shape(y_true)[1] > 1:
        raise ValueError(
            f"y_true has shape {np.shape(y_true)}: for several findings pass y_true and "
            "y_score as DataFrames whose columns name the findings."
        )
    return None


def _strata_of(strata: Any, finding: Any, findings: list[Any]) -> Any:
    """Return the strata given for one finding: its entry of a dict by finding, or all."""
    if isinstance(strata, Mapping) and strata and all(k in findings for k in strata):
        return strata.get(finding)
    return strata


def _of_this_finding(
    items: list[Stratum], target: Any, findings: list[Any] | None
) -> list[Stratum]:
    """Keep the strata of the audited finding; refuse strata of a finding not audited."""
    kept = []
    for s in items:
        if s.finding is None or target is None:
            kept.append(s)
            continue
        known = [str(f) for f in findings] if findings is not None else [str(target)]
        if str(s.finding) not in known:
            raise ValueError(
                f"Stratum {s.name!r} is a subclass of {s.finding!r} (its schema's target), "
                f"which is not audited here ({', '.join(known)})."
                f"{did_you_mean(str(s.finding), known)}"
            )
        if str(s.finding) == str(target):
            kept.append(s)
    return kept


def _predictions(
    y_true: Any, y_score: Any, ids: Any, embeddings: Any, metadata: Any, *, target: Any = None
) -> tuple[Predictions, Cases]:
    """Line up the per-case inputs of :func:`evaluate` (or take a Predictions as it is)."""
    if isinstance(y_true, Predictions):
        given = {"y_score": y_score, "ids": ids, "embeddings": embeddings, "metadata": metadata}
        extra = [name for name, value in given.items() if value is not None]
        if extra:
            raise TypeError(
                f"evaluate(predictions, ...) takes the scores, ids, embeddings and metadata "
                f"from the Predictions; got {', '.join(extra)} as well (pass strata= by "
                "keyword)."
            )
        return y_true, y_true.cases
    if y_score is None:
        raise TypeError("evaluate() needs y_score (or a Predictions as its first argument).")
    cases = Cases.of(y_true, ids=ids)
    if embeddings is not None:
        embeddings = cases.align(embeddings, "embeddings")
        if isinstance(embeddings, pd.DataFrame):
            embeddings = embeddings.to_numpy()
    if metadata is not None:
        if not isinstance(metadata, pd.DataFrame):
            raise TypeError(f"metadata must be a pandas DataFrame; got {type(metadata).__name__}.")
        metadata = cases.align(metadata, "metadata")
    predictions = Predictions(
        check_labels(y_true),
        check_scores(cases.align(y_score, "y_score")),
        ids=cases.ids,
        embeddings=embeddings,
        metadata=metadata,
        target=target,
    )
    return predictions, cases


def _run_detector(
    detector: Any, name: str, predictions: Predictions, threshold: Any
) -> tuple[list[Stratum], pd.DataFrame]:
    """Fit a detector; return its clusters as strata ``<name>:<cluster>`` and its table."""
    for attr in ("fit", "to_strata"):
        if not callable(getattr(detector, attr, None)):
            raise TypeError(
                "detectors must have fit() and to_strata() (e.g. "
                f"hstrat.detect.KMeansDetector()); got {describe(detector)}."
            )
    detector.fit(
        predictions.embeddings,
        y_true=predictions.y_true,
        y_score=predictions.y_score,
        threshold=threshold,
    )
    found = [s.with_name(f"{name}:{s.name}") for s in detector.to_strata()]
    clusters = detector.clusters_.copy()
    clusters.insert(0, "detector", name)
    if "name" in clusters.columns:
        clusters.insert(1, "stratum", [f"{name}:{c}" for c in clusters["name"]])
    return found, clusters


#: Columns of ``report.clusters`` taken from the report table's row of each cluster.
CLUSTER_MEASURES = [
    "auc", "auc_low", "auc_high", "reference_auc", "auc_diff", "diff_low", "diff_high",
    "p_value", "p_adjusted",
]  # fmt: skip


def _join_cluster_measures(clusters: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Add the clusters' held-out measures (error_rate: 1 - sensitivity or specificity)."""
    if "stratum" not in clusters.columns:
        return clusters
    rows = table.set_index("stratum").reindex(clusters["stratum"])
    out = clusters.copy()
    for column in CLUSTER_MEASURES:
        out[column] = rows[column].to_numpy(dtype=float)
    positives = (clusters["class"] == "positives").to_numpy()
    for own, other in (("", ""), ("_low", "_high"), ("_high", "_low"), ("_p_value", "_p_value")):
        rate = np.where(
            positives,
            rows[f"sensitivity{other}"].to_numpy(dtype=float),
            rows[f"specificity{other}"].to_numpy(dtype=float),
        )
        out[f"error_rate{own}"] = rate if own == "_p_value" else 1.0 - rate
    return out


def _build_table(
    predictions: Predictions,
    items: list[Stratum],
    families: list[str],
    groups: IntArray | None,
    threshold: float,
    options: EvaluationOptions,
) -> pd.DataFrame:
    y, s = predictions.y_true, predictions.y_score
    auc_rows = auc_table(y, s, items, groups, replace(options, correction=None))
    at_threshold = stratified_threshold_metrics(
        y, s, items, threshold, confidence_level=options.confidence_level
    )
    table = auc_rows.join(at_threshold.drop(columns=["stratum", "tp", "fp", "tn", "fn"]))
    table.insert(1, "family", ["overall", *families])
    adjusted = np.full(len(table), np.nan)
    family_col = table["family"].to_numpy()
    for family in dict.fromkeys(families):
        rows = np.flatnonzero(family_col == family)
        adjusted[rows] = adjust_p_values(
            table["p_value"].to_numpy(dtype=float)[rows], options.correction
        )
    table["p_adjusted"] = adjusted
    return table[TABLE_COLUMNS]


def _provenance(
    predictions: Predictions,
    options: EvaluationOptions,
    *,
    detectors: Any,
    groups: Any,
    **extra: Any,
) -> dict[str, Any]:
    """Versions, options, a digest of the labels and scores, and the time of an audit."""
    versions = {"python": platform.python_version()}
    for module in ("numpy", "scipy", "pandas", "sklearn", "statsmodels", "torch", "torchvision"):
        if module in sys.modules:
            versions[module] = getattr(sys.modules[module], "__version__", "unknown")
    if groups is not None and not isinstance(groups, str):
        name = getattr(groups, "name", None)
        groups = str(name) if name is not None else "array"
    data = hashlib.sha256(np.ascontiguousarray(predictions.y_true).tobytes())
    data.update(np.ascontiguousarray(predictions.y_score).tobytes())
    rs = options.random_state
    return {
        "hstrat": __version__,
        "versions": versions,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_sha256": data.hexdigest(),
        "n_samples": len(predictions),
        "target": predictions.target,
        **{
            f.name: getattr(options, f.name)
            for f in fields(options)
            if f.name not in ("random_state", "threshold", "progress")
        },
        **extra,
        "random_state": rs if rs is None or isinstance(rs, int) else type(rs).__name__,
        "groups": groups,
        "detectors": [repr(d) for d in detectors],
    }
