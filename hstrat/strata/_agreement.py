"""Agreement between two annotators, their disagreements, and a rule to merge them.

Subclass labels are only as good as the annotators' agreement (the paper lists poor label
quality among the causes of hidden stratification). Labels are compared by sample id; a
case counts for a variable only when **both** annotators labelled it, so unlabelled cells
never count as disagreement.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._align import Cases
from .._validation import _as_1d, check_confidence_level, check_option
from ..exceptions import SchemaError, UndefinedMetricWarning
from ..metrics._normal import normal_quantile
from ._rules import is_missing
from ._schema import RESERVED_COLUMNS, Schema, _as_labels_frame

__all__ = ["KappaResult", "agreement", "cohen_kappa", "disagreements", "merge_labels"]

MERGE_RULES: tuple[str, ...] = ("agree", "either", "prefer_a", "prefer_b")


@dataclass(frozen=True)
class KappaResult:
    """Cohen's kappa between two annotators, with a Wald interval.

    Attributes
    ----------
    kappa : float
        ``(p_o - p_e) / (1 - p_e)``; NaN when undefined.
    ci_low, ci_high : float
        ``kappa ± z·standard_error``, clipped to [-1, 1].
    standard_error : float
        Large-sample standard error (Fleiss, Cohen & Everitt 1969), not under the null.
    confidence_level : float
        Coverage of the interval.
    n, n_agree : int
        Cases labelled by both annotators, and those given the same value.
    observed_agreement, expected_agreement : float
        ``p_o`` and the chance agreement ``p_e`` from the two annotators' marginals.

    Examples
    --------
    >>> from hstrat.strata import cohen_kappa
    >>> cohen_kappa(["a", "b", "a", "b"], ["a", "b", "b", "b"]).to_frame()[["kappa", "n"]]
       kappa  n
    0    0.5  4
    """

    kappa: float
    ci_low: float
    ci_high: float
    standard_error: float
    confidence_level: float
    n: int
    n_agree: int
    observed_agreement: float
    expected_agreement: float

    def to_frame(self) -> pd.DataFrame:
        """Return the result as a one-row DataFrame."""
        return pd.DataFrame([asdict(self)])


def _kappa(a: npt.NDArray[Any], b: npt.NDArray[Any], level: float, *, warn: bool) -> KappaResult:
    """Kappa of two label arrays without missing values; undefined is NaN (and a warning)."""
    n = len(a)
    categories, codes = np.unique(np.concatenate([a, b]).astype(str), return_inverse=True)
    table = np.zeros((len(categories), len(categories)))
    np.add.at(table, (codes[:n], codes[n:]), 1.0)
    n_agree = round(float(np.trace(table)))
    nan = float("nan")
    p_o = n_agree / n if n else nan
    p_e = float(table.sum(axis=1) @ table.sum(axis=0)) / n**2 if n else nan
    if n == 0 or p_e >= 1.0 - 1e-12:
        if warn:
            why = "no case was labelled by both annotators"
            if n:
                why = "both annotators gave one value to every case (chance agreement is 1)"
            warnings.warn(
                f"Cohen's kappa is undefined: {why}.", UndefinedMetricWarning, stacklevel=3
            )
        return KappaResult(nan, nan, nan, nan, level, n, n_agree, p_o, p_e)
    # statsmodels: Fleiss, Cohen & Everitt's (1969) variance away from kappa = 0
    from statsmodels.stats.inter_rater import cohens_kappa

    with np.errstate(invalid="ignore", divide="ignore"):  # its z under the null: unused
        result = cohens_kappa(table, return_results=True)
    kappa, se = float(result.kappa), float(result.std_kappa)
    z = normal_quantile(0.5 + level / 2.0)
    low, high = max(-1.0, kappa - z * se), min(1.0, kappa + z * se)
    return KappaResult(kappa, low, high, se, level, n, n_agree, p_o, p_e)


def _present(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    return np.fromiter((not is_missing(v) for v in values), dtype=bool, count=len(values))


def cohen_kappa(
    labels_a: npt.ArrayLike,
    labels_b: npt.ArrayLike,
    *,
    confidence_level: float = 0.95,
) -> KappaResult:
    """Cohen's kappa between two annotators' labels of the same cases.

    Parameters
    ----------
    labels_a, labels_b : array-like of shape (n_samples,)
        The two annotators' values: plain arrays in the same order, or pandas Series
        matched by id (hstrat's one alignment rule). Missing values (NaN, None, ``""``)
        mark cases one annotator did not label; only cases labelled by both count.
    confidence_level : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    KappaResult
        Undefined kappa (no common case, or one value throughout) is NaN with an
        :class:`~hstrat.exceptions.UndefinedMetricWarning`.

    Examples
    --------
    >>> from hstrat.strata import cohen_kappa
    >>> a = ["yes", "yes", "no", "no", "yes", "no", "yes", "no"]
    >>> b = ["yes", "no", "no", "no", "yes", "no", "yes", "yes"]
    >>> result = cohen_kappa(a, b)
    >>> round(result.kappa, 3), result.n, result.n_agree
    (0.5, 8, 6)
    """
    level = check_confidence_level(confidence_level)
    a = _as_1d(labels_a, "labels_a").astype(object)
    b_lined_up = Cases.of(labels_a, name="labels_a").align(labels_b, "labels_b", partial=True)
    b = _as_1d(b_lined_up, "labels_b").astype(object)
    both = _present(a) & _present(b)
    return _kappa(a[both], b[both], level, warn=True)


def _paired(
    labels_a: Any,
    labels_b: Any,
    schema: Schema | None,
    variables: Sequence[str] | None,
) -> tuple[pd.Index, Iterator[tuple[str, npt.NDArray[Any], npt.NDArray[Any]]]]:
    """Return the union of both sets' ids (a's first), and each variable's two columns on it."""
    frames = []
    for name, labels in (("labels_a", labels_a), ("labels_b", labels_b)):
        if schema is not None:
            try:
                frame = schema.validate(labels, variables=variables)
            except SchemaError as err:
                raise SchemaError([f"{name}: {p}" for p in err.problems]) from None
        else:
            frame = _as_labels_frame(labels)
            if not frame.index.is_unique:
                dup = frame.index[frame.index.duplicated()][:3].tolist()
                raise ValueError(f"{name} has duplicate ids: {dup!r}.")
        frames.append(frame)
    frame_a, frame_b = frames
    if schema is not None:
        chosen = list(frame_a.columns)  # the variables validate kept
    elif variables is not None:
        chosen = list(variables)
        for name, frame in (("labels_a", frame_a), ("labels_b", frame_b)):
            missing = [v for v in chosen if v not in frame.columns]
            if missing:
                raise ValueError(
                    f"{name} has no column(s) {missing!r}; its columns are "
                    f"{list(frame.columns)!r}."
                )
    else:
        chosen = [
            str(c) for c in frame_a.columns if c in frame_b.columns and c not in RESERVED_COLUMNS
        ]
        if not chosen:
            raise ValueError(
                "labels_a and labels_b share no variable columns; their columns are "
                f"{list(frame_a.columns)!r} and {list(frame_b.columns)!r}."
            )
    union = frame_a.index.append(frame_b.index[~frame_b.index.isin(frame_a.index)])
    a, b = (f[chosen].reindex(union).astype(object) for f in (frame_a, frame_b))
    columns = ((v, a[v].to_numpy(dtype=object), b[v].to_numpy(dtype=object)) for v in chosen)
    return union, columns


def agreement(
    labels_a: pd.DataFrame,
    labels_b: pd.DataFrame,
    schema: Schema | None = None,
    *,
    variables: Sequence[str] | None = None,
    confidence_level: float = 0.95,
) -> pd.DataFrame:
    """Cohen's kappa per variable between two annotators, matched by sample id.

    Parameters
    ----------
    labels_a, labels_b : pandas.DataFrame
        Each indexed by sample id (or with an ``id`` column), one column per variable.
    schema : Schema, optional
        Check both against it first (every problem reported at once), and compare its
        variables. Without it, the variable columns the two have in common are compared.
    variables : sequence of str, optional
        Only these variables.
    confidence_level : float, default 0.95
        Coverage of the kappa intervals.

    Returns
    -------
    pandas.DataFrame
        One row per variable: ``variable, n_a, n_b, n, n_agree, n_disagree,
        observed_agreement, kappa, kappa_low, kappa_high, kappa_se, note``, where
        ``n_a``/``n_b`` count each annotator's labelled cases and ``n`` those labelled by
        both. An undefined kappa is NaN with a ``note`` saying why.

    Examples
    --------
    >>> import pandas as pd
    >>> from hstrat.strata import agreement
    >>> a = pd.DataFrame({"drain": ["yes", "yes", "no", "no"]}, index=["p1", "p2", "p3", "p4"])
    >>> b = pd.DataFrame({"drain": ["yes", "no", "no", "no"]}, index=["p1", "p2", "p3", "p4"])
    >>> agreement(a, b)[["variable", "n", "n_disagree", "kappa"]]
      variable  n  n_disagree  kappa
    0    drain  4           1    0.5
    """
    level = check_confidence_level(confidence_level)
    rows = []
    for var, a, b in _paired(labels_a, labels_b, schema, variables)[1]:
        has_a, has_b = _present(a), _present(b)
        both = has_a & has_b
        result = _kappa(a[both], b[both], level, warn=False)
        note = ""
        if result.n == 0:
            note = "no case labelled by both annotators"
        elif not np.isfinite(result.kappa):
            note = "kappa undefined: both annotators gave one value to every case"
        rows.append(
            {
                "variable": var,
                "n_a": int(has_a.sum()),
                "n_b": int(has_b.sum()),
                "n": result.n,
                "n_agree": result.n_agree,
                "n_disagree": result.n - result.n_agree,
                "observed_agreement": result.observed_agreement,
                "kappa": result.kappa,
                "kappa_low": result.ci_low,
                "kappa_high": result.ci_high,
                "kappa_se": result.standard_error,
                "note": note,
            }
        )
    return pd.DataFrame(rows)


def disagreements(
    labels_a: pd.DataFrame,
    labels_b: pd.DataFrame,
    schema: Schema | None = None,
    *,
    variables: Sequence[str] | None = None,
) -> pd.DataFrame:
    """List the cases on which two annotators gave different values, for adjudication.

    Parameters
    ----------
    labels_a, labels_b, schema, variables
        As for :func:`agreement`.

    Returns
    -------
    pandas.DataFrame
        One row per (case, variable) in conflict: ``id, variable, value_a, value_b``,
        by variable (schema order) then id. Cases only one annotator labelled are not
        conflicts and are not listed.

    Examples
    --------
    >>> import pandas as pd
    >>> from hstrat.strata import disagreements
    >>> a = pd.DataFrame({"drain": ["yes", "yes", "no"]}, index=["p1", "p2", "p3"])
    >>> b = pd.DataFrame({"drain": ["yes", "no", None]}, index=["p1", "p2", "p3"])
    >>> disagreements(a, b)
       id variable value_a value_b
    0  p2    drain     yes      no
    """
    ids, columns = _paired(labels_a, labels_b, schema, variables)
    rows = [
        (ids[int(i)], var, a[i], b[i])
        for var, a, b in columns
        for i in np.flatnonzero(_present(a) & _present(b) & (a != b))
    ]
    return pd.DataFrame(rows, columns=["id", "variable", "value_a", "value_b"])


def merge_labels(
    labels_a: pd.DataFrame,
    labels_b: pd.DataFrame,
    schema: Schema | None = None,
    *,
    rule: str = "agree",
    variables: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Combine two annotators' labels into one set by a stated rule.

    | rule | both agree | they disagree | only one labelled |
    |---|---|---|---|
    | ``"agree"`` (default) | the value | missing | missing |
    | ``"either"`` | the value | missing | that value |
    | ``"prefer_a"`` | the value | ``labels_a``'s | that value |
    | ``"prefer_b"`` | the value | ``labels_b``'s | that value |

    Missing cells go to adjudication (:func:`disagreements`); fill them afterwards with
    e.g. ``merged.combine_first(adjudicated)``.

    Parameters
    ----------
    labels_a, labels_b, schema, variables
        As for :func:`agreement`.
    rule : {"agree", "either", "prefer_a", "prefer_b"}, default "agree"
        How cells are combined (table above).

    Returns
    -------
    pandas.DataFrame
        Indexed by id (``labels_a``'s ids first, then ``labels_b``'s others), one object
        column per variable; ``annotator`` and ``labelled_at`` are not carried over.

    Examples
    --------
    >>> import pandas as pd
    >>> from hstrat.strata import merge_labels
    >>> a = pd.DataFrame({"drain": ["yes", "yes", "no"]}, index=["p1", "p2", "p3"])
    >>> b = pd.DataFrame({"drain": ["yes", "no", None]}, index=["p1", "p2", "p3"])
    >>> merge_labels(a, b)["drain"].tolist()
    ['yes', nan, nan]
    >>> merge_labels(a, b, rule="either")["drain"].tolist()
    ['yes', nan, 'no']
    """
    check_option(rule, "rule", MERGE_RULES)
    ids, columns = _paired(labels_a, labels_b, schema, variables)
    out = pd.DataFrame(index=ids.copy())
    for var, a, b in columns:
        has_a, has_b = _present(a), _present(b)
        merged = np.where(has_a & has_b & (a == b), a, np.nan)
        if rule != "agree":
            merged = np.where(has_a & ~has_b, a, np.where(has_b & ~has_a, b, merged))
        if rule in ("prefer_a", "prefer_b"):
            merged = np.where(has_a & has_b & (a != b), a if rule == "prefer_a" else b, merged)
        out[var] = pd.Series(merged, index=out.index, dtype=object)
    out.index.name = "id"
    return out
