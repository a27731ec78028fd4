"""How hstrat lines up your data: one rule for every per-case input, at every entry point.

The cases are the rows of ``y_true``; their ids are ``ids=``, else ``y_true``'s pandas
index, else positions. Plain arrays are read by position, pandas objects by id, and an
index that could mean either is refused. The rule and its examples: docs/alignment.md.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ._validation import describe


def is_default_index(index: pd.Index) -> bool:
    """Whether ``index`` is ``0..k-1`` in order: what pandas gives a table of plain arrays."""
    if isinstance(index, pd.RangeIndex):
        return index.start == 0 and index.step == 1
    return (
        not isinstance(index, pd.MultiIndex)
        and index.dtype.kind in "iu"
        and bool(np.array_equal(index.to_numpy(), np.arange(len(index))))
    )


def _one(value: Any) -> str:
    return describe(value.item() if isinstance(value, np.generic) else value)


def _span(index: pd.Index) -> str:
    if isinstance(index, pd.RangeIndex) and index.step == 1:
        return f"{index.start}..{index.stop - 1}" if len(index) else "empty"
    shown = describe(index[:3].tolist(), 50)
    return f"{shown[:-1]}, ...]" if len(index) > 3 else shown


def check_ids(index: pd.Index, name: str) -> pd.Index:
    """Refuse ids that are duplicated, missing or blank."""
    if isinstance(index, pd.MultiIndex):
        missing = np.asarray([any(pd.isna(v) for v in key) for key in index], dtype=bool)
    else:
        values = index.to_numpy()
        missing = np.asarray(pd.isna(values), dtype=bool)
        if values.dtype == object:
            missing |= np.asarray(
                [isinstance(v, str) and not v.strip() for v in values], dtype=bool
            )
    if missing.any():
        at = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"{name} has a missing or blank id at position {at} ({_one(index[at])}); "
            "every case needs an id."
        )
    if not index.is_unique:
        dup = list(dict.fromkeys(index[index.duplicated()].tolist()))
        raise ValueError(
            f"{name} has duplicate ids: {describe(dup)}. Ids must be unique; if the rows are "
            "in the same order everywhere, pass plain arrays (.to_numpy()) or reset every "
            "index with .reset_index(drop=True)."
        )
    return index


@dataclass(frozen=True)
class Cases:
    """The evaluated cases: their ids, ``y_true``'s own index, and whether order is random.

    Build one with :meth:`of`; :meth:`align` puts any per-case input in case order.

    Examples
    --------
    >>> import pandas as pd
    >>> from hstrat._align import Cases
    >>> y = pd.Series([1, 0, 1], index=["a", "b", "c"])
    >>> cases = Cases.of(y)
    >>> cases.align(pd.Series([0.2, 0.9, 0.4], index=["b", "c", "a"]), "y_score").tolist()
    [0.4, 0.2, 0.9]
    """

    ids: pd.Index
    rows: pd.Index | None = None
    shuffled: bool = False

    @classmethod
    def of(
        cls,
        y_true: Any,
        *,
        ids: Any = None,
        shuffled: bool = False,
        name: str = "y_true",
    ) -> Cases:
        """Return the cases of ``y_true`` (ids: ``ids``, else its pandas index, else positions)."""
        n = len(y_true)
        rows = y_true.index if isinstance(y_true, (pd.Series, pd.DataFrame)) else None
        if ids is None:
            index = rows if rows is not None else pd.RangeIndex(n)
            return cls(check_ids(index, f"{name}'s index"), rows, shuffled)
        if isinstance(ids, (pd.Series, pd.DataFrame)):
            if isinstance(ids, pd.DataFrame):
                raise TypeError("ids must be 1-D: a list, array, Index or Series of ids.")
            if rows is not None and not ids.index.equals(rows):
                raise ValueError(
                    f"ids is a Series whose index ({_span(ids.index)}) is not {name}'s "
                    f"({_span(rows)}); pass ids.to_numpy() if they are in {name}'s order."
                )
            ids = ids.to_numpy()
        if isinstance(ids, (str, bytes)) or np.isscalar(ids):
            raise TypeError(f"ids must be a list, array or Index of ids; got {describe(ids)}.")
        index = ids if isinstance(ids, pd.Index) else pd.Index(np.asarray(ids, dtype=object))
        if not isinstance(ids, pd.Index):
            index = pd.Index(index.tolist())  # let pandas infer int / str ids
        if len(index) != n:
            raise ValueError(f"ids must have one entry per case ({n}); got {len(index)}.")
        return cls(check_ids(index, "ids"), rows, shuffled)

    def __len__(self) -> int:
        return len(self.ids)

    def _is_same_rows(self, index: pd.Index) -> bool:
        return index.equals(self.ids) or (self.rows is not None and index.equals(self.rows))

    def locate(self, index: pd.Index, name: str, *, table: bool = False) -> np.ndarray[Any, Any]:
        """Return the case position of each entry of ``index`` (-1: not a case), or refuse.

        Refused: an index that could mean positions or ids, bad ids, no id in common.
        """
        if self._is_same_rows(index):
            if self.shuffled and is_default_index(self.ids):
                raise ValueError(_shuffled_message(name))
            return np.arange(len(self.ids))
        if not self.shuffled and (is_default_index(self.ids) or is_default_index(index)):
            raise ValueError(self._ambiguous_message(index, name, table=table))
        check_ids(index, f"{name}'s index")
        positions = self.ids.get_indexer(index)
        if len(index) and (positions < 0).all():
            raise ValueError(
                f"none of {name}'s ids ({_span(index)}) are among the cases' ids "
                f"({_span(self.ids)}){type_hint(index, self.ids)}."
            )
        return positions

    def align(self, values: Any, name: str, *, partial: bool = False) -> Any:
        """Return ``values`` in case order (pandas reindexed onto the ids), or refuse them.

        With ``partial=True`` (categorical labels) ids may be missing (NaN) or extra
        (dropped with a warning).
        """
        n = len(self.ids)
        if not isinstance(values, (pd.Series, pd.DataFrame)):
            if self.shuffled:
                raise ValueError(_shuffled_message(name))
            length = len(values) if hasattr(values, "__len__") else None
            if length is not None and length != n:
                raise ValueError(f"{name} must have one entry per case ({n}); got {length}.")
            return values
        positions = self.locate(values.index, name, table=partial)
        if len(positions) == n and (positions == np.arange(n)).all():
            return values.set_axis(self.ids, axis=0)
        known = positions >= 0
        covered = np.zeros(n, dtype=bool)
        covered[positions[known]] = True
        if not partial:
            if not known.all():
                raise ValueError(
                    f"{name} has {int((~known).sum())} ids that are not among the cases' "
                    f"(e.g. {_one(values.index[~known][0])}); it needs exactly one entry "
                    "per case."
                )
            if not covered.all():
                raise ValueError(
                    f"{name} has no entry for {int((~covered).sum())} of the {n} cases "
                    f"(e.g. id {_one(self.ids[~covered][0])}); it needs one per case."
                )
        elif not known.all():
            warnings.warn(
                f"{name} has labels for {int((~known).sum())} ids that are not among the "
                f"cases (e.g. {_one(values.index[~known][0])}); they are not used.",
                UserWarning,
                stacklevel=3,
            )
        return values.reindex(self.ids)

    def _ambiguous_message(self, index: pd.Index, name: str, *, table: bool) -> str:
        cases = _span(self.ids)
        if self.rows is None and is_default_index(self.ids):
            cases = f"only positions {cases} (y_true is not a pandas object)"
        if not table:
            by_position = f"pass {name}.to_numpy()"
        elif is_default_index(self.ids):
            by_position = (
                f"pass {name}.reset_index(drop=True) if it has a row per case, or "
                f"{name}.reindex(range({len(self.ids)})) if its index holds case positions"
            )
        else:
            where = "y_true.index" if self.rows is not None else "ids"
            by_position = f"give it the cases' index, {name}.set_axis({where})"
        return (
            f"{name} is indexed {_span(index)} but the cases are {cases}, and a default "
            f"0..k-1 index can mean positions or ids, so hstrat will not guess. To pair by "
            f"position (in the order of y_true), {by_position}; to pair by id, give y_true "
            f"the same index as {name} (or pass ids=)."
        )


def type_hint(have: pd.Index, want: pd.Index) -> str:
    """Say why no id matched when the two indexes hold different types of ids."""
    if len(have) and len(want) and have.inferred_type != want.inferred_type:
        return f" (its ids are {have.inferred_type}, the cases' are {want.inferred_type})"
    return ""


def _shuffled_message(name: str) -> str:
    return (
        f"{name} is given by position, but the loader's order is random (a shuffling "
        "sampler), so positions do not identify cases. Use a loader with shuffle=False, or "
        "key the input by sample id (a pandas object indexed by id)."
    )
