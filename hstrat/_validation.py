"""Input checks shared by every module.

Each check either returns a clean, concrete array or raises a ``ValueError`` /
``TypeError`` whose message names the argument, what is allowed and what was received.
Nothing is coerced silently: a score column of strings, labels other than two classes,
NaN scores or arrays of different lengths are refused, never repaired.
"""

from __future__ import annotations

import difflib
import numbers
import reprlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

RandomState = int | np.random.Generator | np.random.SeedSequence | None


_SHORT = reprlib.Repr()  # attributes, not keywords: Python 3.10 and 3.11
_SHORT.maxstring = _SHORT.maxother = 60


def describe(value: Any, limit: int = 60) -> str:
    """Return a short ``repr`` of ``value`` for error messages (bounded work on huge values)."""
    text = _SHORT.repr(value) if isinstance(value, (dict, list, tuple, set, str)) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _preview(values: Iterable[Any], limit: int = 5) -> str:
    items = list(values)
    shown = ", ".join(describe(v, 20) for v in items[:limit])
    return f"[{shown}{', ...' if len(items) > limit else ''}]"


def check_option(value: Any, name: str, allowed: Sequence[str]) -> str:
    """Check that ``value`` is one of the strings in ``allowed``.

    Unknown strings get the closest allowed one suggested, in the manner of MONAI's
    ``look_up_option``.
    """
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be one of {', '.join(map(repr, allowed))}; "
            f"got {describe(value)} of type {type(value).__name__}."
        )
    if value not in allowed:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}."
            f"{did_you_mean(value, allowed)}"
        )
    return value


def did_you_mean(value: str, allowed: Iterable[str], cutoff: float = 0.6) -> str:
    """Return " Did you mean 'x'?" for the closest allowed string (case first), or ""."""
    choices = [str(a) for a in allowed]
    lower = {a.lower(): a for a in choices}
    close = [lower[value.lower()]] if value.lower() in lower else []
    close = close or difflib.get_close_matches(value, choices, n=1, cutoff=cutoff)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_confidence_level(value: Any, name: str = "confidence_level") -> float:
    """Check a confidence level in the open interval (0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in (0, 1); got {describe(value)}.")
    level = float(value)
    if not 0.0 < level < 1.0:
        raise ValueError(f"{name} must be in (0, 1); got {value!r}.")
    return level


def check_int(value: Any, name: str, *, minimum: int) -> int:
    """Check an integer option no smaller than ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}; got {describe(value)}.")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def check_real(value: Any, name: str) -> float:
    """Check a finite real number (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number; got {describe(value)}.")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite; got {value!r}.")
    return number


def check_probability(value: Any, name: str) -> float:
    """Check a number in the closed interval [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number in [0, 1]; got {describe(value)}.")
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1]; got {value!r}.")
    return float(value)


def check_random_state(random_state: Any, name: str = "random_state") -> np.random.Generator:
    """Normalise ``random_state`` to a :class:`numpy.random.Generator`.

    An int or ``None`` seeds a new generator; a Generator is used as is (and advanced).
    """
    if isinstance(random_state, bool) or not (
        random_state is None
        or isinstance(
            random_state, (numbers.Integral, np.random.Generator, np.random.SeedSequence)
        )
    ):
        raise TypeError(
            f"{name} must be None, an int, a numpy.random.Generator or a SeedSequence; "
            f"got {describe(random_state)} of type {type(random_state).__name__}."
        )
    if isinstance(random_state, numbers.Integral) and random_state < 0:
        raise ValueError(f"{name} must be a non-negative int; got {random_state!r}.")
    if isinstance(random_state, numbers.Integral):
        random_state = int(random_state)
    return np.random.default_rng(random_state)


def _as_1d(values: Any, name: str) -> np.ndarray[Any, Any]:
    if values is None:
        raise TypeError(f"{name} is required; got None.")
    if isinstance(values, (str, bytes)) or np.isscalar(values):
        raise TypeError(f"{name} must be a 1-D array-like; got the scalar {describe(values)}.")
    if isinstance(values, (pd.Series, pd.Index)):
        arr = values.to_numpy()
    elif isinstance(values, pd.DataFrame):
        raise ValueError(
            f"{name} must be 1-D; got a DataFrame with columns {list(values.columns)!r}. "
            "Select one column."
        )
    else:
        arr = np.asarray(values)
    if arr.ndim != 1:
        hint = ""
        if arr.ndim == 2 and arr.shape[-1] == 2:
            hint = (
                " For a two-column predict_proba output pass the positive column, y_score[:, 1]."
            )
        elif arr.ndim == 2 and arr.shape[-1] == 1:
            hint = " Flatten it with .ravel()."
        raise ValueError(f"{name} must be 1-D; got an array of shape {arr.shape}.{hint}")
    return arr


def check_labels(y_true: Any, name: str = "y_true") -> npt.NDArray[np.bool_]:
    """Return binary labels as a boolean array (``True`` = positive).

    Accepted: booleans, or numbers whose only values are 0 and 1. Anything else — strings,
    NaN, -1/1, three classes — is refused with the values found.
    """
    arr = _as_1d(y_true, name)
    if arr.dtype == bool:
        return arr.astype(bool, copy=True)
    if arr.dtype.kind in "iuf" or (arr.dtype == object and len(arr) and _all_numbers(arr)):
        num = arr.astype(float)
        if np.isnan(num).any():
            bad = int(np.flatnonzero(np.isnan(num))[0])
            raise ValueError(
                f"{name} contains NaN (first at position {bad}); labels must be 0 or 1."
            )
        values = np.unique(num)
        if not np.isin(values, (0.0, 1.0)).all():
            raise ValueError(
                f"{name} must contain only 0 and 1 (or False and True); got values "
                f"{_preview(values.tolist())}. Convert explicitly, e.g. y_true == positive_label."
            )
        return np.asarray(num == 1.0, dtype=bool)
    if arr.dtype == object and len(arr) and all(isinstance(v, (bool, np.bool_)) for v in arr):
        return arr.astype(bool)
    if len(arr) == 0 and arr.dtype.kind in "fO":
        return np.zeros(0, dtype=bool)
    raise TypeError(
        f"{name} must be boolean or 0/1 numbers; got dtype {arr.dtype} with values "
        f"{_preview(pd.unique(arr).tolist())}. Convert explicitly, e.g. y_true == 'positive'."
    )


def _all_numbers(arr: np.ndarray[Any, Any]) -> bool:
    return all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in arr)


def check_scores(y_score: Any, name: str = "y_score") -> npt.NDArray[np.float64]:
    """Return scores as a finite float64 array; NaN, inf, strings and 2-D are refused."""
    arr = _as_1d(y_score, name)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        if arr.dtype == object and len(arr) and _all_numbers(arr):
            arr = arr.astype(float)
        elif len(arr) == 0:
            return np.zeros(0, dtype=np.float64)
        else:
            raise TypeError(
                f"{name} must be real numbers; got dtype {arr.dtype} with values "
                f"{_preview(arr[:5].tolist())}."
            )
    out = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(out)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"{name} must be finite; got {float(out[bad])!r} at position {bad} "
            f"({int((~finite).sum())} non-finite values in all)."
        )
    return out


def check_same_length(**arrays: Any) -> int:
    """Check that every named array has the same length and return it."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ValueError(f"Inputs must have the same length; {detail}.")
    return next(iter(lengths.values()), 0)


def check_groups(groups: Any, n: int, name: str = "groups") -> npt.NDArray[np.intp]:
    """Return integer codes ``0..G-1`` for cluster ids (patient, study), in order of appearance."""
    arr = _as_1d(groups, name)
    if len(arr) != n:
        raise ValueError(f"{name} must have one entry per sample ({n}); got {len(arr)}.")
    missing = pd.isna(arr)
    if missing.any():
        bad = int(np.flatnonzero(missing)[0])
        raise ValueError(
            f"{name} contains a missing value at position {bad}; every sample needs a group."
        )
    codes, _ = pd.factorize(arr, sort=False)
    return codes.astype(np.intp)
