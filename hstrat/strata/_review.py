"""Which cases a reviewer should look at, and why each was picked.

The paper's second method, *error auditing*, has people look through a model's errors
for a recognisable subclass it consistently fails; its third reviews the clusters an
algorithm found. :func:`review_sample` picks those cases reproducibly and records the
reason for each:

* ``"errors"``: false negatives at the operating point, lowest score first, alternating
  with false positives, highest score first (``reason`` ``"false negative"``,
  ``"confident false positive"``); plus a share of correctly classified random controls
  (``"random control"``);
* ``"random"``: a simple random sample (``"random"``);
* ``"stratified"``: random cases from each outcome at the operating point — false
  negative, false positive, true positive, true negative — in turn
  (``"stratified random"``);
* ``"clusters"``: the members nearest each cluster's centre in embedding space (random
  members without embeddings), clusters in turn, worst AUC first (``"cluster exemplar"``).

**Why controls.** A reviewer shown only errors finds patterns in them whether or not
they set the errors apart. Controls — true positives for the false negatives, true
negatives for the false positives, drawn at random — give a baseline: a subclass is a
failure mode only if it is commoner among the errors than among the controls (the
comparison the paper makes between high- and low-error clusters). With ``blind=True``
(the default) rows come in random order, so the order of review does not reveal which
cases are errors; the ``reason`` column is for the analysis afterwards and should not be
shown to the reviewer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._align import Cases
from .._predictions import Predictions
from .._stratum import Stratum
from .._validation import (
    RandomState,
    _as_1d,
    check_int,
    check_option,
    check_random_state,
    describe,
)

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
    """Take from each queue in turn (skipping cases already taken) until ``n`` are taken.

    Returns ``(queue, position)`` pairs in the order taken.
    """
    cursors = [0] * len(queues)
    out: list[tuple[int, int]] = []
    while len(out) < n:
        progressed = False
        for q, queue in enumerate(queues):
            if len(out) >= n:
                break
            while cursors[q] < len(queue) and queue[cursors[q]] in taken:
                cursors[q] += 1
            if cursors[q] < len(queue):
                position = int(queue[cursors[q]])
                cursors[q] += 1
                taken.add(position)
                out.append((q, position))
                progressed = True
        if not progressed:
            break
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


def _threshold(
    threshold: float | None, predictions: Predictions, report: AuditReport | None
) -> float:
    from ..metrics import operating_threshold

    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating)):
            raise TypeError(f"threshold must be a number; got {describe(threshold)}.")
        if not np.isfinite(threshold):
            raise ValueError(f"threshold must be finite; got {threshold!r}.")
        return float(threshold)
    if report is not None and np.isfinite(report.threshold):
        return report.threshold
    return operating_threshold(predictions.y_true, predictions.y_score)


def _clusters_from_labels(labels: Any) -> list[tuple[str, IntArray]]:
    arr = _as_1d(labels, "clusters")
    groups = []
    for value in pd.unique(arr):
        if pd.isna(value) or (isinstance(value, (int, np.integer)) and value < 0):
            continue  # noise / unassigned (e.g. DBSCAN's -1)
        groups.append((f"cluster {value}", np.flatnonzero(arr == value)))
    return groups


def _clusters_from_report(report: AuditReport) -> list[tuple[str, IntArray]]:
    table = report.table
    if "family" not in table.columns or len(report.strata) == 0:
        return []
    families = table["family"].iloc[1 : 1 + len(report.strata)].tolist()
    aucs = table["auc"].iloc[1 : 1 + len(report.strata)].to_numpy(dtype=float)
    found: list[tuple[float, int, Stratum]] = []
    for i, (stratum, family) in enumerate(zip(report.strata, families, strict=False)):
        if family not in ("strata", "overall"):
            found.append((aucs[i] if np.isfinite(aucs[i]) else np.inf, i, stratum))
    found.sort(key=lambda item: (item[0], item[1]))
    return [(str(s.name), np.flatnonzero(s.mask)) for _, _, s in found]


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
        How cases are picked (see the module docstring).
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
    if isinstance(controls, bool) or not isinstance(controls, (int, float, np.floating)):
        raise TypeError(f"controls must be a number in [0, 1); got {describe(controls)}.")
    if not 0.0 <= float(controls) < 1.0:
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
    cut = _threshold(threshold, predictions, report)
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
        n_fp = len(chosen) - n_fn
        n_controls = (
            n - len(chosen)
            if len(chosen) == n_errors
            else _half_up(len(chosen) * controls / (1.0 - controls))
        )
        if n_controls and chosen:
            tp = rng.permutation(np.flatnonzero(y & called)).tolist()
            tn = rng.permutation(np.flatnonzero(~y & ~called)).tolist()
            want_tp = _half_up(n_controls * n_fn / (n_fn + n_fp))
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
    counters: dict[tuple[str, str | None], int] = {}
    ranks = []
    for _, reason, stratum in picks:
        key = (reason, stratum)
        counters[key] = counters.get(key, 0) + 1
        ranks.append(counters[key])
    positions = np.array([p for p, _, _ in picks], dtype=np.intp)
    frame = pd.DataFrame(
        {
            "id": predictions.ids[positions].to_numpy() if len(positions) else [],
            "position": positions,
            "y_true": predictions.y_true[positions],
            "y_score": predictions.y_score[positions],
            "outcome": outcome[positions].astype(object),
            "reason": pd.Series([r for _, r, _ in picks], dtype=object),
            "rank": np.asarray(ranks, dtype=np.int64),
            "stratum": pd.Series([st for _, _, st in picks], dtype=object),
        }
    )
    if blind and len(frame):
        frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    elif len(frame):
        first: dict[tuple[str, str | None], int] = {}
        for i, (_, reason, stratum) in enumerate(picks):
            first.setdefault((reason, stratum), i)
        order = sorted(range(len(picks)), key=lambda i: (first[picks[i][1:]], ranks[i]))
        frame = frame.iloc[order].reset_index(drop=True)
    return frame[list(REVIEW_COLUMNS)]
