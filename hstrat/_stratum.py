"""What a stratum is: a named boolean mask over the samples plus a population.

This module sits at the bottom of the package (beside ``_validation``) because both the
statistics in :mod:`hstrat.metrics` and the richer sources of strata in
:mod:`hstrat.strata` (schemas, callables over metadata, id joins) need it.

| population  | AUC computed on                                         |
|-------------|---------------------------------------------------------|
| `positives` | the stratum's positives against **all** negatives       |
| `negatives` | **all** positives against the stratum's negatives       |
| `all`       | the positives and negatives inside the stratum          |
| `auto`      | `positives` if the mask selects only positives,         |
|             | `negatives` if only negatives, else `all`               |
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._validation import _as_1d, check_option, describe

Population = Literal["auto", "positives", "negatives", "all"]
POPULATIONS: tuple[str, ...] = ("auto", "positives", "negatives", "all")
BoolArray = npt.NDArray[np.bool_]

__all__ = ["POPULATIONS", "Population", "Stratum", "StratumSubsets", "as_strata"]


def _check_mask(mask: Any, name: str) -> BoolArray:
    arr = _as_1d(mask, name)
    if arr.dtype == bool:
        return arr.astype(bool, copy=True)
    if arr.dtype == object and len(arr) and all(isinstance(v, (bool, np.bool_)) for v in arr):
        return arr.astype(bool)
    if arr.dtype == object and pd.isna(arr).any():
        raise ValueError(
            f"{name} contains missing values; a mask must be True/False for every sample. "
            "Pass labels as a pandas Series (NaN = unlabelled) instead, or fill them."
        )
    raise TypeError(
        f"{name} must be a boolean mask; got dtype {arr.dtype}. Convert explicitly, "
        f"e.g. mask == 1 or mask.astype(bool)."
    )


class Stratum:
    """A subclass of the evaluated samples: a boolean mask and the population it defines.

    Parameters
    ----------
    mask : array-like of bool, shape (n_samples,)
        Which samples belong to the subclass.
    population : {"auto", "positives", "negatives", "all"}, default "auto"
        How the subclass enters the AUC (see the module docstring). With ``"positives"``
        the mask's negatives are not used: the stratum's positives are compared with
        every negative, as the paper does for "pneumothorax with a chest drain".
    name : str, optional
        Label in reports; defaults to the key it was given under.
    variable, level : optional
        The labelled variable and value this stratum came from (``"chest_drain"``,
        ``"yes"``), for grouping rows in reports.
    labelled : array-like of bool, optional
        Samples for which the variable was labelled at all; the complement used as the
        reference is taken among these. Defaults to every sample.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat import Stratum
    >>> y = np.array([1, 1, 1, 0, 0])
    >>> drain = Stratum(np.array([True, True, False, False, False]), name="drain")
    >>> drain.resolve_population(y)
    'positives'
    """

    __slots__ = ("labelled", "level", "mask", "name", "population", "variable")

    def __init__(
        self,
        mask: npt.ArrayLike,
        population: Population | str = "auto",
        *,
        name: str | None = None,
        variable: str | None = None,
        level: Hashable | None = None,
        labelled: npt.ArrayLike | None = None,
    ) -> None:
        self.mask: BoolArray = _check_mask(mask, "mask")
        self.population: str = check_option(population, "population", POPULATIONS)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str; got {describe(name)}.")
        self.name = name
        self.variable = variable
        self.level = level
        if labelled is None:
            self.labelled: BoolArray = np.ones_like(self.mask)
        else:
            self.labelled = _check_mask(labelled, "labelled")
            if len(self.labelled) != len(self.mask):
                raise ValueError(
                    f"labelled has {len(self.labelled)} entries but mask has {len(self.mask)}."
                )
            if (self.mask & ~self.labelled).any():
                raise ValueError("mask selects samples that labelled marks as unlabelled.")

    def __len__(self) -> int:
        return len(self.mask)

    def __repr__(self) -> str:
        return (
            f"Stratum(name={self.name!r}, population={self.population!r}, "
            f"n={int(self.mask.sum())} of {len(self.mask)})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Stratum):
            return NotImplemented
        return (
            self.name == other.name
            and self.population == other.population
            and self.variable == other.variable
            and self.level == other.level
            and np.array_equal(self.mask, other.mask)
            and np.array_equal(self.labelled, other.labelled)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable

    def with_name(self, name: str) -> Stratum:
        """Return a copy named ``name``."""
        return Stratum(
            self.mask,
            self.population,
            name=name,
            variable=self.variable,
            level=self.level,
            labelled=self.labelled,
        )

    def resolve_population(self, y_true: npt.ArrayLike) -> str:
        """Return the concrete population (``auto`` resolved against the labels)."""
        if self.population != "auto":
            return self.population
        y = np.asarray(y_true, dtype=bool)
        selected = y[self.mask]
        if selected.size and selected.all():
            return "positives"
        if selected.size and not selected.any():
            return "negatives"
        return "all"

    def subsets(self, y_true: npt.NDArray[np.bool_]) -> StratumSubsets:
        """Return the samples entering this stratum's AUC and its complement's."""
        population = self.resolve_population(y_true)
        pos, neg = y_true, ~y_true
        rest = self.labelled & ~self.mask
        if population == "positives":
            return StratumSubsets(population, self.mask & pos, neg, rest & pos, neg)
        if population == "negatives":
            return StratumSubsets(population, pos, self.mask & neg, pos, rest & neg)
        return StratumSubsets(population, self.mask & pos, self.mask & neg, rest & pos, rest & neg)


@dataclass(frozen=True)
class StratumSubsets:
    """Positives and negatives of a stratum's AUC and of its complement's AUC."""

    population: str
    pos: BoolArray
    neg: BoolArray
    complement_pos: BoolArray
    complement_neg: BoolArray


def _levels(values: pd.Series) -> list[Any]:
    if isinstance(values.dtype, pd.CategoricalDtype):
        present = set(values.dropna().unique())
        return [c for c in values.cat.categories if c in present]
    uniques = list(values.dropna().unique())
    try:
        return sorted(uniques)
    except TypeError:
        return uniques


def _from_series(values: pd.Series, variable: str) -> list[Stratum]:
    labelled = values.notna().to_numpy()
    out = []
    for level in _levels(values):
        mask = (values == level).fillna(False).to_numpy(dtype=bool)
        out.append(
            Stratum(
                mask, name=f"{variable}={level}", variable=variable, level=level, labelled=labelled
            )
        )
    return out


def as_strata(strata: Any, n_samples: int, *, name: str = "strata") -> list[Stratum]:
    """Turn the accepted forms of strata into a list of named :class:`Stratum`.

    Accepted: ``None``; a :class:`Stratum`; a mapping of name to boolean mask or
    :class:`Stratum`; a sequence of named strata; a pandas Series or DataFrame of
    categorical labels (one stratum per level per column; NaN = not labelled).

    Examples
    --------
    >>> import pandas as pd
    >>> from hstrat.strata import as_strata
    >>> labels = pd.Series(["wrist", "hand", None, "wrist"], name="body_part")
    >>> [(s.name, int(s.mask.sum()), int(s.labelled.sum())) for s in as_strata(labels, 4)]
    [('body_part=hand', 1, 3), ('body_part=wrist', 2, 3)]
    """
    if strata is None:
        return []
    if isinstance(strata, Stratum):
        items = [strata if strata.name else strata.with_name("stratum")]
    elif isinstance(strata, pd.DataFrame):
        items = []
        for column in strata.columns:
            items.extend(_from_series(strata[column], str(column)))
    elif isinstance(strata, pd.Series):
        items = _from_series(strata, str(strata.name) if strata.name is not None else "stratum")
    elif isinstance(strata, Mapping):
        items = []
        for key, value in strata.items():
            if not isinstance(key, str):
                raise TypeError(f"{name} keys must be stratum names (str); got {describe(key)}.")
            if isinstance(value, Stratum):
                items.append(value if value.name == key else value.with_name(key))
            else:
                try:
                    items.append(Stratum(_check_mask(value, f"{name}[{key!r}]"), name=key))
                except TypeError as err:
                    raise TypeError(str(err)) from None
    elif (
        isinstance(strata, Sequence)
        and not isinstance(strata, (str, bytes))
        and all(isinstance(s, Stratum) for s in strata)
    ):
        items = list(strata)
        unnamed = [i for i, s in enumerate(items) if not s.name]
        if unnamed:
            raise ValueError(
                f"{name}[{unnamed[0]}] has no name; give each Stratum a name= or pass a dict."
            )
    else:
        raise TypeError(
            f"{name} must be a dict of name -> boolean mask or Stratum, a list of named "
            f"Stratum, or a pandas Series/DataFrame of labels; got {type(strata).__name__}."
        )
    seen: dict[str, int] = {}
    for s in items:
        if len(s) != n_samples:
            raise ValueError(
                f"{name} entry {s.name!r} has {len(s)} entries but there are {n_samples} samples."
            )
        key = str(s.name)
        seen[key] = seen.get(key, 0) + 1
    duplicated = [k for k, c in seen.items() if c > 1]
    if duplicated:
        raise ValueError(f"{name} has duplicate stratum names: {duplicated!r}.")
    if "overall" in seen:
        raise ValueError(f"{name} may not use the name 'overall': it is the report's first row.")
    return items
