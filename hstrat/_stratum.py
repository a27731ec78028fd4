"""What a stratum is: a named boolean mask over the samples plus a population.

It sits at the bottom of the package, beside ``_validation``: both :mod:`hstrat.metrics`
and the richer sources of strata in :mod:`hstrat.strata` need it.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._align import Cases
from ._validation import _as_1d, check_option, describe

Population = Literal["auto", "positives", "negatives", "all"]
POPULATIONS: tuple[str, ...] = ("auto", "positives", "negatives", "all")
BoolArray = npt.NDArray[np.bool_]
_FIELDS = ("population", "name", "variable", "level", "finding", "mask", "labelled")


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
        Which samples belong to the subclass. A pandas Series keeps its index, and the
        stratum is lined up with the cases by it (see "How hstrat lines up your data").
    population : {"auto", "positives", "negatives", "all"}, default "auto"
        How the subclass enters the AUC (the table in Concepts, "Strata and their
        populations"); ``"auto"``: ``"positives"`` if the mask selects only positives,
        ``"negatives"`` if only negatives, else ``"all"``.
    name : str, optional
        Label in reports; defaults to the key it was given under.
    variable, level : optional
        The labelled variable and value this stratum came from (``"chest_drain"``,
        ``"yes"``), for grouping rows in reports.
    labelled : array-like of bool, optional
        Samples for which the variable was labelled at all; the complement used as the
        reference is taken among these. Defaults to every sample.
    finding : str or int, optional
        The model output this subclass belongs to (a chest drain, of pneumothorax): used
        for that finding only, refused by an audit of another. ``None``: any finding.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat import Stratum
    >>> y = np.array([1, 1, 1, 0, 0])
    >>> drain = Stratum(np.array([True, True, False, False, False]), name="drain")
    >>> drain.resolve_population(y)
    'positives'
    """

    __slots__ = (
        "finding",
        "index",
        "labelled",
        "level",
        "mask",
        "name",
        "population",
        "variable",
    )

    def __init__(
        self,
        mask: npt.ArrayLike,
        population: Population | str = "auto",
        *,
        name: str | None = None,
        variable: str | None = None,
        level: Hashable | None = None,
        labelled: npt.ArrayLike | None = None,
        finding: Hashable | None = None,
    ) -> None:
        self.mask: BoolArray = _check_mask(mask, "mask")
        #: The pandas index the mask came with (it is lined up with the cases by it), or None.
        self.index: pd.Index | None = mask.index if isinstance(mask, pd.Series) else None
        self.population: str = check_option(population, "population", POPULATIONS)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str; got {describe(name)}.")
        self.name = name
        self.variable = variable
        self.level = level
        self.finding = finding
        if labelled is None:
            self.labelled: BoolArray = np.ones_like(self.mask)
        else:
            if isinstance(labelled, pd.Series) and not (
                self.index is not None and labelled.index.equals(self.index)
            ):
                raise ValueError(
                    "labelled is a pandas Series: it needs the same index as mask, a Series."
                )
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
        return all(getattr(self, k) == getattr(other, k) for k in _FIELDS[:5]) and all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in ("mask", "labelled")
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays: not hashable

    def with_name(self, name: str) -> Stratum:
        """Return a copy named ``name``."""
        copy = self._replace(name=name)
        copy.index = self.index
        return copy

    def _replace(self, **changes: Any) -> Stratum:
        """Return a copy, without the pandas index, with some constructor arguments changed."""
        return Stratum(**{**{k: getattr(self, k) for k in _FIELDS}, **changes})

    def __and__(self, other: Stratum) -> Stratum:
        """Return the cases in both strata, e.g. ``no_drain & small``: their intersection.

        Named ``"a & b"``, its level the pair of levels, labelled where both are; its
        population the more specific: ``positives`` (``negatives``) when either is,
        ``all`` when both are, else ``auto``.

        Examples
        --------
        >>> import numpy as np
        >>> from hstrat import Stratum
        >>> no_drain = Stratum(np.array([1, 1, 0, 0, 0], bool), "positives", name="no drain")
        >>> small = Stratum(np.array([0, 1, 1, 0, 0], bool), name="small")
        >>> both = no_drain & small
        >>> both.name, both.population, both.mask.tolist()
        ('no drain & small', 'positives', [False, True, False, False, False])
        """
        if not isinstance(other, Stratum):
            return NotImplemented
        if len(self) != len(other):
            raise ValueError(f"Cannot intersect strata of {len(self)} and {len(other)} cases.")
        if (
            self.index is not None
            and other.index is not None
            and not self.index.equals(other.index)
        ):
            raise ValueError(
                f"Strata {self.name!r} and {other.name!r} have different pandas indexes; "
                "line them up with the cases first (hstrat.strata.as_strata)."
            )
        findings = {self.finding, other.finding} - {None}
        if len(findings) > 1:
            raise ValueError(
                f"Strata {self.name!r} and {other.name!r} belong to different findings "
                f"({sorted(map(str, findings))}); they cannot be intersected."
            )
        populations = {self.population, other.population}
        population = next(
            (p for p in ("positives", "negatives") if p in populations),
            "all" if populations == {"all"} else "auto",
        )
        if populations == {"positives", "negatives"}:
            population = "all"  # positives of one and negatives of the other: no case
        both = Stratum(
            self.mask & other.mask,
            population,
            name=f"{self.name} & {other.name}",
            variable=f"{self.variable or self.name} & {other.variable or other.name}",
            level=(*_as_levels(self), *_as_levels(other)),
            labelled=self.labelled & other.labelled,
            finding=findings.pop() if findings else None,
        )
        both.index = self.index if self.index is not None else other.index
        return both

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


def _as_levels(stratum: Stratum) -> tuple[Any, ...]:
    if isinstance(stratum.level, tuple) and stratum.variable and " & " in stratum.variable:
        return stratum.level
    return (stratum.level if stratum.variable else stratum.name,)


def intersections(
    items: Sequence[Stratum], variables: bool | Sequence[Sequence[str]] = True
) -> list[Stratum]:
    """Return a stratum for every combination of levels of the strata's variables.

    Parameters
    ----------
    items : sequence of Stratum
        Strata lined up with the same cases; those of one variable are its levels (a
        stratum without a variable is one of its own).
    variables : True or sequence of sequences of str, default True
        ``True``: cross every variable with every other (all of them at once); else the
        crossings to make, e.g. ``[("drain", "size")]``.

    Returns
    -------
    list of Stratum
        One per combination of levels, empty combinations included (their AUC is
        undefined, which the report says), in the order of the levels.

    Examples
    --------
    >>> import pandas as pd
    >>> from hstrat.strata import as_strata, intersections
    >>> labels = pd.DataFrame({"drain": ["yes", "no", "no", "yes"],
    ...                        "size": ["small", "small", "large", "large"]})
    >>> for s in intersections(as_strata(labels, 4)):
    ...     print(s.name, s.mask.tolist())
    drain=no & size=large [False, False, True, False]
    drain=no & size=small [False, True, False, False]
    drain=yes & size=large [False, False, False, True]
    drain=yes & size=small [True, False, False, False]
    """
    by_variable: dict[str, list[Stratum]] = {}
    for s in items:
        by_variable.setdefault(str(s.variable or s.name), []).append(s)
    if variables is True:
        crossings = [list(by_variable)] if len(by_variable) > 1 else []
    elif variables is False:
        crossings = []
    else:
        crossings = [list(c) for c in variables]
        for crossing in crossings:
            if len(crossing) < 2:
                raise ValueError(f"intersections: {crossing!r} names fewer than two variables.")
            for name in crossing:
                check_option(name, "intersections variable", list(by_variable))
    out = []
    for crossing in crossings:
        for combination in itertools.product(*(by_variable[v] for v in crossing)):
            out.append(functools.reduce(operator.and_, combination))
    return out


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


def _as_cases(cases: Any) -> Cases:
    if isinstance(cases, Cases):
        return cases
    if isinstance(cases, (int, np.integer)) and not isinstance(cases, bool):
        return Cases(pd.RangeIndex(int(cases)))
    return Cases.of(range(len(cases)), ids=cases)


def _aligned(stratum: Stratum, cases: Cases, name: str) -> Stratum:
    """Return the stratum in case order (realigned by its index if built from pandas)."""
    if stratum.index is None:
        mask, labelled = cases.align(stratum.mask, name), stratum.labelled
    else:
        frame = pd.DataFrame({"m": stratum.mask, "l": stratum.labelled}, index=stratum.index)
        aligned = cases.align(frame, name)
        mask, labelled = aligned["m"].to_numpy(bool), aligned["l"].to_numpy(bool)
    return stratum._replace(mask=mask, labelled=labelled)


def as_strata(
    strata: Any,
    cases: int | Cases | Any,
    *,
    metadata: pd.DataFrame | None = None,
    name: str = "strata",
) -> list[Stratum]:
    """Turn every accepted form of strata into a list of named :class:`Stratum`.

    Accepted: ``None``; a :class:`Stratum`; a mapping of name to boolean mask or
    :class:`Stratum`; a sequence of named strata; a pandas Series or DataFrame of
    categorical labels (one stratum per level per column; NaN = not labelled); or a
    callable that receives ``metadata`` and returns any of these. Each is lined up with
    the cases by hstrat's one rule ("How hstrat lines up your data" in the docs).

    Parameters
    ----------
    strata : see above
    cases : int, sequence of ids or Cases
        The number of cases (strata by position), or their ids in evaluation order.
    metadata : pandas.DataFrame, optional
        Passed to a callable ``strata``.
    name : str, default "strata"
        Argument name used in error messages.

    Examples
    --------
    >>> import pandas as pd
    >>> from hstrat.strata import as_strata
    >>> labels = pd.Series(["wrist", "hand", None, "wrist"], name="body_part")
    >>> [(s.name, int(s.mask.sum()), int(s.labelled.sum())) for s in as_strata(labels, 4)]
    [('body_part=hand', 1, 3), ('body_part=wrist', 2, 3)]

    Labels keyed by id are joined on the cases' ids, whatever their order:

    >>> drain = pd.Series({"c": "yes", "a": "no"}, name="drain")
    >>> [s.mask.tolist() for s in as_strata(drain, ["a", "b", "c"])]
    [[True, False, False], [False, False, True]]
    """
    cases = _as_cases(cases)
    if strata is None:
        return []
    if callable(strata) and not isinstance(strata, (pd.Series, pd.DataFrame, Stratum)):
        if metadata is None:
            raise ValueError(
                f"{name} is a callable, which needs metadata to be called with; these "
                "cases have none."
            )
        result = strata(metadata)
        if callable(result) and not isinstance(result, (pd.Series, pd.DataFrame, Stratum)):
            raise TypeError(f"{name}(metadata) returned another callable; return masks or labels.")
        return as_strata(result, cases, metadata=metadata, name=f"{name}(metadata)")
    if isinstance(strata, Stratum):
        items = [_aligned(strata if strata.name else strata.with_name("stratum"), cases, name)]
    elif isinstance(strata, pd.DataFrame):
        labels = cases.align(strata, name, partial=True)
        items = [s for column in labels.columns for s in _from_series(labels[column], str(column))]
    elif isinstance(strata, pd.Series):
        labels = cases.align(strata, name, partial=True)
        items = _from_series(labels, str(strata.name) if strata.name is not None else "stratum")
    elif isinstance(strata, Mapping):
        items = []
        for key, value in strata.items():
            if not isinstance(key, str):
                raise TypeError(f"{name} keys must be stratum names (str); got {describe(key)}.")
            entry = f"{name}[{key!r}]"
            if isinstance(value, Stratum):
                items.append(_aligned(value.with_name(key), cases, entry))
            elif callable(value) and not isinstance(value, (pd.Series, pd.DataFrame)):
                raise TypeError(
                    f"{entry} is a callable; pass one callable as {name} instead: it gets "
                    "metadata and returns the dict, e.g. lambda m: {'drain': m['drain'] == 1}."
                )
            else:
                items.append(Stratum(_check_mask(cases.align(value, entry), entry), name=key))
    elif (
        isinstance(strata, Sequence)
        and not isinstance(strata, (str, bytes))
        and all(isinstance(s, Stratum) for s in strata)
    ):
        unnamed = [i for i, s in enumerate(strata) if not s.name]
        if unnamed:
            raise ValueError(
                f"{name}[{unnamed[0]}] has no name; give each Stratum a name= or pass a dict."
            )
        items = [_aligned(s, cases, f"{name}[{i}]") for i, s in enumerate(strata)]
    else:
        raise TypeError(
            f"{name} must be a dict of name -> boolean mask or Stratum, a list of named "
            f"Stratum, a pandas Series/DataFrame of labels, or a callable over metadata; got "
            f"{type(strata).__name__}."
        )
    names = Counter(str(s.name) for s in items)
    duplicated = sorted(k for k, count in names.items() if count > 1)
    if duplicated:
        raise ValueError(f"{name} has duplicate stratum names: {duplicated!r}.")
    if "overall" in names:
        raise ValueError(f"{name} may not use the name 'overall': it is the report's first row.")
    return items
