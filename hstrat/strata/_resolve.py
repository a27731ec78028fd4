"""Turn every accepted form of strata into a list of :class:`~hstrat.Stratum`.

Strata may be given by **position** (arrays, lists, a dict of masks: one entry per
evaluated case in evaluation order) or keyed by **sample id** (a pandas Series or
DataFrame whose index holds the ids: joined to the predictions by id, whatever the
order). A callable receives the predictions' metadata and returns either form.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .._stratum import Stratum, as_strata
from .._validation import describe

__all__ = ["resolve_strata"]


def _is_positional_index(index: pd.Index, n: int) -> bool:
    return (
        isinstance(index, pd.RangeIndex)
        and index.start == 0
        and index.step == 1
        and len(index) == n
    )


def _join_by_id(
    labels: pd.Series | pd.DataFrame, ids: pd.Index, name: str
) -> pd.Series | pd.DataFrame:
    """Reindex labels keyed by sample id onto the evaluated ids (missing → NaN)."""
    if not labels.index.is_unique:
        dup = labels.index[labels.index.duplicated()][:3].tolist()
        raise ValueError(f"{name} has duplicate ids in its index: {describe(dup)}.")
    matched = labels.index.isin(ids)
    if not matched.any():
        raise ValueError(
            f"{name} is indexed by ids none of which are among the evaluated samples "
            f"(e.g. {describe(labels.index[:3].tolist())} vs {describe(ids[:3].tolist())}). "
            "Index the labels by sample id, or pass plain arrays in evaluation order."
        )
    extra = int((~matched).sum())
    if extra:
        warnings.warn(
            f"{name} has labels for {extra} ids that are not among the evaluated samples "
            f"(e.g. {describe(labels.index[~matched][:3].tolist())}); they are not used.",
            UserWarning,
            stacklevel=4,
        )
    return labels.reindex(ids)


def resolve_strata(
    strata: Any,
    *,
    ids: pd.Index,
    metadata: pd.DataFrame | None = None,
    shuffled: bool = False,
    name: str = "strata",
) -> list[Stratum]:
    """Resolve ``strata`` against the evaluated samples.

    Parameters
    ----------
    strata : None, dict, list of Stratum, Series, DataFrame or callable
        See :func:`hstrat.evaluate`.
    ids : pandas.Index
        The evaluated samples' ids, in evaluation order.
    metadata : pandas.DataFrame, optional
        Indexed by ``ids``; passed to a callable.
    shuffled : bool, default False
        Whether the evaluation order is random; positional strata are then refused.
    name : str, default "strata"
        Argument name used in error messages.

    Returns
    -------
    list of Stratum
        Masks aligned with ``ids``.

    Examples
    --------
    >>> import pandas as pd
    >>> from hstrat.strata import resolve_strata
    >>> ids = pd.Index(["b", "a", "c"])
    >>> labels = pd.Series({"a": "yes", "b": "no", "c": "yes"}, name="drain")
    >>> [s.name for s in resolve_strata(labels, ids=ids)]
    ['drain=no', 'drain=yes']
    >>> resolve_strata(labels, ids=ids)[1].mask.tolist()
    [False, True, True]
    """
    n = len(ids)
    if strata is None:
        return []
    if callable(strata) and not isinstance(strata, (pd.Series, pd.DataFrame, Stratum)):
        if metadata is None:
            raise ValueError(
                f"{name} is a callable, which needs metadata to be called with; these "
                "predictions have none."
            )
        result = strata(metadata)
        if callable(result) and not isinstance(result, (pd.Series, pd.DataFrame)):
            raise TypeError(f"{name}(metadata) returned another callable; return masks or labels.")
        return resolve_strata(
            result, ids=ids, metadata=metadata, shuffled=shuffled, name=f"{name}(metadata)"
        )
    if isinstance(strata, (pd.Series, pd.DataFrame)):
        return as_strata(_align(strata, ids, shuffled, name), n, name=name)
    if isinstance(strata, Mapping):
        resolved: dict[str, Any] = {}
        for key, value in strata.items():
            if isinstance(value, pd.Series):
                joined = _align(value, ids, shuffled, f"{name}[{key!r}]")
                missing = int(np.count_nonzero(joined.isna().to_numpy()))
                if missing:
                    raise ValueError(
                        f"{name}[{key!r}] has no value for {missing} "
                        "evaluated samples; a mask needs one for each. Pass categorical "
                        "labels as a Series (NaN = unlabelled) instead."
                    )
                resolved[key] = joined.to_numpy()
            else:
                _refuse_if_shuffled(shuffled, name)
                resolved[key] = value
        return as_strata(resolved, n, name=name)
    _refuse_if_shuffled(shuffled, name)
    return as_strata(strata, n, name=name)


def _align(
    labels: pd.Series | pd.DataFrame, ids: pd.Index, shuffled: bool, name: str
) -> pd.Series | pd.DataFrame:
    """Put labels in evaluation order: by id when their index holds ids, else by position.

    A default ``0..n-1`` index whose values are not all among the ids is read as
    positions; when the evaluation order is random, positions mean nothing and are
    refused (and so is everything when the predictions have no ids of their own).
    """
    n = len(ids)
    if shuffled and _is_positional_index(ids, n):
        _refuse_if_shuffled(shuffled, name)
    if labels.index.equals(ids):
        return labels
    if _is_positional_index(labels.index, n) and not labels.index.isin(ids).all():
        _refuse_if_shuffled(shuffled, name)
        return labels.set_axis(ids, axis=0)
    return _join_by_id(labels, ids, name)


def _refuse_if_shuffled(shuffled: bool, name: str) -> None:
    if shuffled:
        raise ValueError(
            f"{name} is given by position, but the loader's order is random (a shuffling "
            "sampler), so positions do not identify cases. Use a loader with shuffle=False, "
            "or key the strata by sample id (a pandas Series/DataFrame indexed by id)."
        )
