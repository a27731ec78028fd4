"""evaluate(): strata (and detectors) over labels and scores → an AuditReport."""

from __future__ import annotations

import hashlib
import platform
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._stratum import Stratum
from .._validation import (
    RandomState,
    check_confidence_level,
    check_int,
    check_option,
    check_same_index,
    describe,
)
from .._version import __version__
from ..metrics._bootstrap import BOOTSTRAP_METHODS
from ..metrics._stratified import (
    CI_METHODS,
    CORRECTIONS,
    REFERENCES,
    STRATIFIED_COLUMNS,
    adjust_p_values,
    stratified_auc,
)
from ..metrics._threshold import resolve_threshold, stratified_threshold_metrics
from ..strata._resolve import resolve_strata
from ._predictions import Predictions
from ._report import AuditReport

__all__ = ["TABLE_COLUMNS", "evaluate"]

_THRESHOLD_COLUMNS = [
    "threshold",
    "sensitivity",
    "sensitivity_low",
    "sensitivity_high",
    "specificity",
    "specificity_low",
    "specificity_high",
    "ppv",
    "ppv_low",
    "ppv_high",
    "npv",
    "npv_low",
    "npv_high",
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


def evaluate(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    strata: Any = None,
    *,
    embeddings: npt.ArrayLike | None = None,
    detectors: Sequence[Any] = (),
    groups: npt.ArrayLike | str | None = None,
    threshold: Any = "youden",
    ci: str = "bootstrap",
    reference: str = "complement",
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    method: str = "percentile",
    correction: str | None = "holm",
    random_state: RandomState = None,
    ids: npt.ArrayLike | pd.Index | None = None,
    metadata: pd.DataFrame | None = None,
    progress: bool = True,
) -> AuditReport:
    """Audit scores for hidden stratification: per-stratum AUC, tests, operating point.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Binary labels (booleans or 0/1). A pandas Series lends its index as sample ids.
    y_score : array-like of shape (n_samples,)
        Finite scores; higher means more likely positive.
    strata : dict, list of Stratum, Series, DataFrame or callable, optional
        The subclasses to audit: a dict of name to boolean mask or
        :class:`~hstrat.Stratum`; categorical labels as a Series or DataFrame (one
        stratum per level per column, NaN = unlabelled), **joined by sample id** when
        their index holds ids and by position when it is ``0..n-1``; or a callable
        that receives ``metadata`` and returns any of these.
    embeddings : array-like of shape (n_samples, n_features), optional
        Model features for ``detectors``.
    detectors : sequence of detector estimators, optional
        E.g. ``[KMeansDetector()]``; each is fitted on ``embeddings`` and its clusters'
        held-out members become rows of the table, measured like every other stratum.
        ``report.clusters`` is the detectors' ``clusters_`` joined with those rows.
    groups : array-like of shape (n_samples,) or str, optional
        Cluster ids (patient, study), or the name of a ``metadata`` column holding them.
        Resampled together by the bootstrap; summed within by DeLong.
    threshold : "youden", float, or {"sensitivity": x} / {"specificity": x}
        The operating point, chosen on all cases, at which every stratum is read.
    ci : {"bootstrap", "delong"}, default "bootstrap"
        Interval and test method (see :func:`hstrat.metrics.stratified_auc`).
    reference : {"complement", "overall"}, default "complement"
        What each stratum is compared with.
    n_resamples : int, default 2000
        Bootstrap replicates.
    confidence_level : float, default 0.95
        Coverage of every interval.
    method : {"percentile", "basic", "bca"}, default "percentile"
        Bootstrap interval method.
    correction : {"holm", "fdr_bh"} or None, default "holm"
        Multiple-comparison adjustment, applied within the given strata and separately
        within each detector's clusters.
    random_state : int, numpy.random.Generator or None
        Seed of the bootstrap: the same seed gives the same table.
    ids : array-like, optional
        Sample ids (unique); default: the index of ``y_true`` if it is a Series, else
        positions.
    metadata : pandas.DataFrame, optional
        Per-sample information indexed like the ids (for callable strata and ``groups``).
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
    check_same_index(y_true=y_true, y_score=y_score)
    if (
        ids is None
        and isinstance(y_true, pd.Series)
        and not isinstance(y_true.index, pd.RangeIndex)
    ):
        ids = y_true.index
    predictions = Predictions(y_true, y_score, ids=ids, embeddings=embeddings, metadata=metadata)
    return evaluate_predictions(
        predictions,
        strata,
        detectors=detectors,
        groups=groups,
        threshold=threshold,
        ci=ci,
        reference=reference,
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        method=method,
        correction=correction,
        random_state=random_state,
        progress=progress,
    )


def evaluate_predictions(
    predictions: Predictions,
    strata: Any = None,
    *,
    detectors: Sequence[Any] = (),
    groups: npt.ArrayLike | str | None = None,
    threshold: Any = "youden",
    ci: str = "bootstrap",
    reference: str = "complement",
    n_resamples: int = 2000,
    confidence_level: float = 0.95,
    method: str = "percentile",
    correction: str | None = "holm",
    random_state: RandomState = None,
    progress: bool = True,
) -> AuditReport:
    """:func:`evaluate` on a :class:`Predictions` (what :func:`hstrat.audit` calls)."""
    check_option(ci, "ci", CI_METHODS)
    check_option(reference, "reference", REFERENCES)
    check_option(method, "method", BOOTSTRAP_METHODS)
    if correction is not None:
        check_option(correction, "correction", CORRECTIONS)
    check_int(n_resamples, "n_resamples", minimum=1)
    level = check_confidence_level(confidence_level)
    if isinstance(detectors, (str, bytes)) or not isinstance(detectors, Sequence):
        detectors = [detectors]
    y, s = predictions.y_true, predictions.y_score
    if y.all() or not y.any():
        raise ValueError(
            "An audit needs both positive and negative cases; y_true has only "
            f"{'positives' if y.all() else 'negatives'} ({len(y)} cases)."
        )
    group_codes = _resolve_groups(groups, predictions)
    items = resolve_strata(
        strata, ids=predictions.ids, metadata=predictions.metadata, shuffled=predictions.shuffled
    )
    threshold_value, threshold_rule = resolve_threshold(threshold, y, s)
    families = ["strata"] * len(items)
    cluster_tables = []
    if detectors:
        if predictions.embeddings is None:
            raise ValueError(
                "detectors need embeddings; pass embeddings= (or use audit(), which "
                "collects them)."
            )
        names = _detector_names(detectors)
        for name, detector in zip(names, detectors, strict=True):
            found, found_clusters = _run_detector(detector, name, predictions, threshold_value)
            items.extend(found)
            families.extend([name] * len(found))
            cluster_tables.append(found_clusters)
    table = _build_table(
        predictions,
        items,
        families,
        group_codes,
        threshold_value,
        level,
        ci=ci,
        reference=reference,
        n_resamples=n_resamples,
        method=method,
        correction=correction,
        random_state=random_state,
        progress=progress,
    )
    provenance = _provenance(
        predictions,
        random_state=random_state,
        ci=ci,
        method=method,
        n_resamples=n_resamples,
        confidence_level=level,
        correction=correction,
        reference=reference,
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


def _resolve_groups(groups: Any, predictions: Predictions) -> npt.NDArray[Any] | None:
    if groups is None:
        return None
    if isinstance(groups, str):
        if predictions.metadata is None or groups not in predictions.metadata.columns:
            available = [] if predictions.metadata is None else list(predictions.metadata.columns)
            raise ValueError(
                f"groups={groups!r} is not a metadata column; the columns are {available!r}."
            )
        return predictions.metadata[groups].to_numpy()
    positional = isinstance(groups, pd.Series) and isinstance(groups.index, pd.RangeIndex)
    if isinstance(groups, pd.Series) and not (positional or groups.index.equals(predictions.ids)):
        joined = groups.reindex(predictions.ids)  # keyed by sample id
        if joined.isna().any():
            raise ValueError(
                f"groups has no value for {int(joined.isna().sum())} of the evaluated samples "
                f"(e.g. id {describe(predictions.ids[joined.isna().to_numpy()][0])})."
            )
        return joined.to_numpy()
    return np.asarray(groups)


def _detector_names(detectors: Sequence[Any]) -> list[str]:
    base = [
        getattr(d, "name", None) or type(d).__name__.removesuffix("Detector").lower()
        for d in detectors
    ]
    return [b if base.count(b) == 1 else f"{b}{i + 1}" for i, b in enumerate(base)]


def _run_detector(
    detector: Any, name: str, predictions: Predictions, threshold: float
) -> tuple[list[Stratum], pd.DataFrame]:
    """Fit a detector; return its clusters as strata and its ``clusters_`` table.

    The strata are named ``<name>:<cluster>``; the table gets ``detector`` and ``stratum``
    columns first. The detector finds and splits; the measurements of these strata are the
    report table's rows, joined back by :func:`_join_cluster_measures`.
    """
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
    """Add each cluster's held-out measurements from its row of the report table.

    ``error_rate`` (and its interval and Fisher p-value) is one minus the row's
    sensitivity for a cluster of positives and one minus its specificity for a cluster of
    negatives. A cluster without a row (not eligible) gets NaN.
    """
    if "stratum" not in clusters.columns:
        return clusters
    rows = table.set_index("stratum").reindex(clusters["stratum"])
    out = clusters.copy()
    for column in CLUSTER_MEASURES:
        out[column] = rows[column].to_numpy(dtype=float)
    positives = (clusters["class"] == "positives").to_numpy()
    for own, other in (("", ""), ("_low", "_high"), ("_high", "_low")):
        out[f"error_rate{own}"] = 1.0 - np.where(
            positives,
            rows[f"sensitivity{other}"].to_numpy(dtype=float),
            rows[f"specificity{other}"].to_numpy(dtype=float),
        )
    out["error_rate_p_value"] = np.where(
        positives,
        rows["sensitivity_p_value"].to_numpy(dtype=float),
        rows["specificity_p_value"].to_numpy(dtype=float),
    )
    return out


def _build_table(
    predictions: Predictions,
    items: list[Stratum],
    families: list[str],
    groups: npt.NDArray[Any] | None,
    threshold: float,
    level: float,
    **options: Any,
) -> pd.DataFrame:
    y, s = predictions.y_true, predictions.y_score
    correction = options.pop("correction")
    auc_table = stratified_auc(
        y, s, items, groups=groups, confidence_level=level, correction=None, **options
    )
    at_threshold = stratified_threshold_metrics(y, s, items, threshold, confidence_level=level)
    table = auc_table.join(at_threshold.drop(columns=["stratum", "tp", "fp", "tn", "fn"]))
    table.insert(1, "family", ["overall", *families])
    adjusted = np.full(len(table), np.nan)
    family_col = table["family"].to_numpy()
    for family in dict.fromkeys(families):
        rows = np.flatnonzero(family_col == family)
        adjusted[rows] = adjust_p_values(table["p_value"].to_numpy(dtype=float)[rows], correction)
    table["p_adjusted"] = adjusted
    return table[TABLE_COLUMNS]


def _digest(predictions: Predictions) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(predictions.y_true).tobytes())
    h.update(np.ascontiguousarray(predictions.y_score).tobytes())
    return h.hexdigest()


def _provenance(predictions: Predictions, **options: Any) -> dict[str, Any]:
    versions = {"python": platform.python_version()}
    for module in ("numpy", "scipy", "pandas", "sklearn", "statsmodels", "torch", "torchvision"):
        mod = sys.modules.get(module)
        if mod is not None:
            versions[module] = getattr(mod, "__version__", "unknown")
    rs = options["random_state"]
    detectors = options.pop("detectors")
    groups = options.pop("groups")
    return {
        "hstrat": __version__,
        "versions": versions,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_sha256": _digest(predictions),
        "n_samples": len(predictions),
        "target": predictions.target,
        **{k: v for k, v in options.items() if k != "random_state"},
        "random_state": rs if rs is None or isinstance(rs, int) else type(rs).__name__,
        "groups": None if groups is None else (groups if isinstance(groups, str) else "array"),
        "detectors": [repr(d) for d in detectors],
    }
