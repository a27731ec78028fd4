"""Which cases a reviewer should look at, and why each was picked (:func:`review_sample`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._align import Cases
from .._predictions import Predictions
from .._validation import (
    RandomState,
    _as_1d,
    check_int,
    check_option,
    check_random_state,
    check_real,
    describe,
)
from ..metrics import operating_threshold

if TYPE_CHECKING:
    from .._audit import AuditReport

__all__ = ["REVIEW_COLUMNS", "REVIEW_STRATEGIES", "review_sample"]

REVIEW_STRATEGIES: tuple[str, ...] = ("errors", "random", "stratified", "clusters")
REVIEW_COLUMNS: tuple[str, ...] = (
    "id",
    "position",
    "y_true",
    "y_score",
    "outcome",
    "reason",
    "rank",
    "stratum",
)
IntArray = npt.NDArray[np.intp]


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


def _round_robin(
    queues: Sequence[Sequence[int]], n: int, taken: set[int]
) -> list[tuple[int, int]]:
    """Return ``(queue, position)`` pairs taken from each queue in turn, skipping ``taken``."""
    cursors = [0] * len(queues)
    out: list[tuple[int, int]] = []
    progressed = True
    while len(out) < n and progressed:
        progressed = False
        for q, queue in enumerate(queues):
            while cursors[q] < len(queue) and queue[cursors[q]] in taken:
                cursors[q] += 1
            if cursors[q] < len(queue) and len(out) < n:
                out.append((q, int(queue[cursors[q]])))
                taken.add(out[-1][1])
                cursors[q] += 1
                progressed = True
    return out


def _source(source: Any) -> tuple[Predictions, AuditReport | None]:
    if isinstance(source, Predictions):
        return source, None
    if isinstance(getattr(source, "table", None), pd.DataFrame) and hasattr(source, "threshold"):
        if source.predictions is None:
            raise ValueError(
                "This report has no predictions (it was saved without them); pass the "
                "Predictions, or a report made with include_predictions=True."
            )
        return source.predictions, source
    raise TypeError(
        f"review_sample needs an AuditReport or Predictions; got {type(source).__name__}."
    )


def _clusters_from_labels(labels: Any) -> list[tuple[str, IntArray]]:
    arr = _as_1d(labels, "clusters")
    return [  # NaN and negative labels are noise / unassigned (e.g. DBSCAN's -1)
        (f"cluster {value}", np.flatnonzero(arr == value))
        for value in pd.unique(arr)
        if not (pd.isna(value) or (isinstance(value, (int, np.integer)) and value < 0))
    ]


def _clusters_from_report(report: AuditReport) -> list[tuple[str, IntArray]]:
    """Return the report's detector clusters, worst AUC first (undefined last)."""
    if "family" not in report.table.columns:
        return []
    rows = report.table.iloc[1 : 1 + len(report.strata)]
    found = sorted(
        (auc if np.isfinite(auc) else np.inf, i)
        for i, (family, auc) in enumerate(
            zip(rows["family"], rows["auc"].astype(float), strict=True)
        )
        if family not in ("strata", "overall")
    )
    return [(str(report.strata[i].name), np.flatnonzero(report.strata[i].mask)) for _, i in found]


def _exemplar_order(members: IntArray, embeddings: Any, rng: np.random.Generator) -> IntArray:
    if embeddings is None:
        return rng.permutation(members)
    points = np.asarray(embeddings[members], dtype=np.float64)
    centre = points.mean(axis=0)
    distance = np.linalg.norm(points - centre, axis=1)
    return members[np.argsort(distance, kind="stable")]


def review_sample(
    source: AuditReport | Predictions,
    *,
    strategy: str = "errors",
    n: int = 20,
    random_state: RandomState = None,
    threshold: float | None = None,
    controls: float = 0.2,
    clusters: npt.ArrayLike | None = None,
    blind: bool = True,
    population: str = "all",
) -> pd.DataFrame:
    """Pick the cases to show a reviewer, with the reason each was picked.

    Parameters
    ----------
    source : AuditReport or Predictions
        The audited cases (a report supplies its operating point and its detectors'
        clusters).
    strategy : {"errors", "random", "stratified", "clusters"}, default "errors"
        How cases are picked (see Notes).
    n : int, default 20
        Number of cases; fewer are returned when fewer qualify.
    random_state : int, numpy.random.Generator or None
        Seed: the same seed gives the same sample.
    threshold : float, optional
        Operating point (``score >= threshold`` is called positive). Default: the
        report's, or Youden's on the predictions.
    controls : float, default 0.2
        With ``strategy="errors"``: the share of the rows that are correctly
        classified random controls, in [0, 1).
    clusters : array-like of shape (n_samples,), optional
        With ``strategy="clusters"``: a cluster label per case in the predictions' order
        (e.g. a detector's ``labels_``), or a Series indexed by id; negative labels and
        NaN mean unassigned. Default: the report's detector clusters.
    blind : bool, default True
        Return the rows in random order, so the review order does not reveal the reason.
        Otherwise rows come by reason, then stratum, then rank (in the order first picked).
    population : {"all", "positives", "negatives"}, default "all"
        Pick only among these cases, e.g. a random sample of positives to label a
        subclass of the target (with ``"errors"``: only false negatives and true-positive
        controls, or only false positives and true-negative controls).

    Returns
    -------
    pandas.DataFrame
        One row per case: ``id, position`` (in the predictions), ``y_true, y_score``,
        ``outcome`` at the operating point (``TP``, ``FN``, ``FP``, ``TN``), ``reason``,
        ``rank`` (1 = first picked within its reason and stratum: the lowest-scored
        false negative, the highest-scored false positive, the exemplar nearest the
        centre) and ``stratum`` (the cluster picked from, else None).

    Notes
    -----
    The strategies (the paper's error auditing, and review of the clusters an algorithm
    found), with each row's ``reason``:

    * ``"errors"``: false negatives at the operating point, lowest score first,
      alternating with false positives, highest score first (``"false negative"``,
      ``"confident false positive"``); plus a share of correctly classified random
      controls (``"random control"``);
    * ``"random"``: a simple random sample (``"random"``);
    * ``"stratified"``: random cases from each outcome — FN, FP, TP, TN — in turn
      (``"stratified random"``);
    * ``"clusters"``: the members nearest each cluster's centre in embedding space
      (random members without embeddings), clusters in turn, worst AUC first
      (``"cluster exemplar"``).

    Controls are the baseline: a subclass is a failure mode only if it is commoner among
    the errors than among them (the tutorial "Label subclasses and audit the errors"
    shows the comparison). Do not show the ``reason`` column to the reviewer.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat import Predictions
    >>> from hstrat.strata import review_sample
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(500) < 0.3
    >>> p = Predictions(y, rng.normal(size=500) + 1.5 * y)
    >>> sample = review_sample(p, n=10, random_state=0, blind=False)
    >>> sample["reason"].value_counts().to_dict()
    {'false negative': 4, 'confident false positive': 4, 'random control': 2}
    >>> bool((sample[sample.reason == "false negative"]["y_score"].diff().dropna() >= 0).all())
    True
    """
    strategy = check_option(strategy, "strategy", REVIEW_STRATEGIES)
    n = check_int(n, "n", minimum=1)
    if not 0.0 <= check_real(controls, "controls") < 1.0:
        raise ValueError(f"controls must be in [0, 1); got {controls!r}.")
    if clusters is not None and strategy != "clusters":
        raise ValueError(
            f"clusters is only used with strategy='clusters'; got strategy={strategy!r}."
        )
    if not isinstance(blind, (bool, np.bool_)):
        raise TypeError(f"blind must be True or False; got {describe(blind)}.")
    population = check_option(population, "population", ("all", "positives", "negatives"))
    predictions, report = _source(source)
    rng = check_random_state(random_state)
    y, s = predictions.y_true, predictions.y_score
    if threshold is not None:
        cut = check_real(threshold, "threshold")
    elif report is not None and np.isfinite(report.threshold):
        cut = report.threshold
    else:
        cut = operating_threshold(y, s)
    called = s >= cut
    outcome = np.where(y, np.where(called, "TP", "FN"), np.where(called, "FP", "TN"))
    picks: list[tuple[int, str, str | None]] = []  # (position, reason, stratum)
    # Cases outside the population count as already taken: no strategy can pick them.
    outside = {"all": np.zeros_like(y), "positives": ~y, "negatives": y}[population]
    taken: set[int] = set(np.flatnonzero(outside).tolist())
    if strategy == "errors":
        fn = np.flatnonzero(y & ~called)
        fp = np.flatnonzero(~y & called)
        fn = fn[np.argsort(s[fn], kind="stable")]
        fp = fp[np.argsort(-s[fp], kind="stable")]
        n_errors = n - _half_up(controls * n)
        chosen = _round_robin([fn.tolist(), fp.tolist()], n_errors, taken)
        reasons = ("false negative", "confident false positive")
        picks += [(pos, reasons[q], None) for q, pos in chosen]
        n_fn = sum(1 for q, _ in chosen if q == 0)
        n_controls = (
            n - len(chosen)
            if len(chosen) == n_errors
            else _half_up(len(chosen) * controls / (1.0 - controls))
        )
        if n_controls and chosen:
            tp = rng.permutation(np.flatnonzero(y & called)).tolist()
            tn = rng.permutation(np.flatnonzero(~y & ~called)).tolist()
            want_tp = _half_up(n_controls * n_fn / len(chosen))
            got = _round_robin([tp], want_tp, taken)
            got += _round_robin([tn], n_controls - len(got), taken)
            got += _round_robin([tp], n_controls - len(got), taken)
            picks += [(pos, "random control", None) for _, pos in got]
    elif strategy == "random":
        order = rng.permutation(len(y)).tolist()
        picks += [(pos, "random", None) for _, pos in _round_robin([order], n, taken)]
    elif strategy == "stratified":
        cells = [np.flatnonzero(outcome == cell) for cell in ("FN", "FP", "TP", "TN")]
        queues = [rng.permutation(cell).tolist() for cell in cells]
        picks += [(pos, "stratified random", None) for _, pos in _round_robin(queues, n, taken)]
    else:
        if clusters is not None:
            # a plain array follows the predictions' own order (a detector's labels_),
            # shuffled or not; a Series is matched by id
            by_id = Cases(predictions.ids).align(clusters, "clusters")
            groups = _clusters_from_labels(by_id)
        elif report is not None:
            groups = _clusters_from_report(report)
        else:
            groups = []
        if not groups:
            raise ValueError(
                "strategy='clusters' needs clusters: pass clusters= (e.g. a detector's "
                "labels_), or a report made with detectors=[...]."
            )
        queues = [
            _exemplar_order(members, predictions.embeddings, rng).tolist() for _, members in groups
        ]
        names = [name for name, _ in groups]
        picks += [(pos, "cluster exemplar", names[q]) for q, pos in _round_robin(queues, n, taken)]
    return _frame(picks, predictions, outcome, rng, blind=bool(blind))


def _frame(
    picks: list[tuple[int, str, str | None]],
    predictions: Predictions,
    outcome: npt.NDArray[Any],
    rng: np.random.Generator,
    *,
    blind: bool,
) -> pd.DataFrame:
    """Return the picks as rows, ranked within (reason, stratum), blinded or by reason."""
    positions = np.array([p for p, _, _ in picks], dtype=np.intp)
    frame = pd.DataFrame(
        {
            "id": predictions.ids[positions].to_numpy() if len(positions) else [],
            "position": positions,
            "y_true": predictions.y_true[positions],
            "y_score": predictions.y_score[positions],
            "outcome": outcome[positions].astype(object),
            "reason": pd.Series([r for _, r, _ in picks], dtype=object),
            "stratum": pd.Series([st for _, _, st in picks], dtype=object),
        }
    )
    groups = frame.groupby(["reason", "stratum"], sort=False, dropna=False)
    frame["rank"] = groups.cumcount().to_numpy(dtype=np.int64) + 1
    if blind:
        order = rng.permutation(len(frame))
    else:  # groups in the order first picked, each by rank
        order = np.lexsort((frame["rank"].to_numpy(), groups.ngroup().to_numpy()))
    return frame.iloc[order].reset_index(drop=True)[list(REVIEW_COLUMNS)]
