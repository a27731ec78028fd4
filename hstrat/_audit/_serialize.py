"""Lossless JSON for audit tables, predictions and strata.

A stratum's level can be any value pandas holds: an ``Interval`` from ``pd.cut``, a
date, a ``Decimal``, bytes, a ``Period``, a numpy scalar. JSON has only numbers,
strings, lists and objects, so every other value is written as a tagged object,
``{"__hstrat_type__": "interval", "left": 40, "right": 60, "closed": "right"}``, and
turned back into the same value on reading (:func:`decode`, a ``json.loads`` object
hook). NaN and infinities are tagged too, so the file is strict JSON. A value of a type
not listed here is refused with a ``TypeError`` that names it.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from .._stratum import Stratum

TAG = "__hstrat_type__"


def _tagged(kind: str, **fields: Any) -> dict[str, Any]:
    return {TAG: kind, **fields}


def encode(value: Any) -> Any:
    """Return ``value`` as plain JSON values (tagged objects for everything else)."""
    if value is pd.NA or value is pd.NaT:
        return None
    if value is None or type(value) in (bool, int, str):
        return value
    if isinstance(value, float) and type(value) is float:
        return value if math.isfinite(value) else _tagged("float", value=repr(value))
    if isinstance(value, np.generic):  # datetime64 / timedelta64 as their integer count
        plain = int(value.view(np.int64)) if value.dtype.kind in "mM" else encode(value.item())
        return _tagged("numpy", dtype=value.dtype.str, value=plain)
    if isinstance(value, str):  # a subclass (an enum, a version string): its text
        return str(value)
    if isinstance(value, (list, tuple)):
        items = [encode(v) for v in value]
        return items if type(value) is list else _tagged("tuple", items=items)
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, pd.Timestamp):
        return _tagged("timestamp", value=value.isoformat(), tz=encode(value.tz and str(value.tz)))
    for kind, cls, to_text in _BY_TEXT:
        if type(value) is cls:
            return _tagged(kind, value=to_text(value))
    if isinstance(value, pd.Interval):
        return _tagged(
            "interval", left=encode(value.left), right=encode(value.right), closed=value.closed
        )
    if isinstance(value, pd.Period):
        return _tagged("period", value=str(value), freq=value.freqstr)
    if isinstance(value, pd.Timedelta):
        return _tagged("timedelta", value=int(value.value))
    raise TypeError(
        f"cannot save a value of type {type(value).__module__}.{type(value).__qualname__} "
        f"({value!r}) in a report; levels, ids and provenance may hold strings, numbers, "
        "dates, timestamps, intervals, periods, decimals, bytes and tuples of them."
    )


_BY_TEXT: list[tuple[str, type, Any]] = [
    ("datetime", dt.datetime, lambda v: v.isoformat()),
    ("date", dt.date, lambda v: v.isoformat()),
    ("decimal", Decimal, str),
    ("bytes", bytes, lambda v: base64.b64encode(v).decode("ascii")),
]
_FROM_TEXT: dict[str, Any] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "decimal": Decimal,
    "bytes": base64.b64decode,
}


def decode(obj: dict[str, Any]) -> Any:
    """Inverse of :func:`encode` for one JSON object (use as ``json.loads`` object hook)."""
    kind = obj.get(TAG)
    if kind is None:
        return obj
    if kind == "float":
        return float(obj["value"])
    if kind == "tuple":
        return tuple(obj["items"])
    if kind == "timestamp":
        stamp = pd.Timestamp(obj["value"])
        return stamp if obj["tz"] is None else stamp.tz_convert(obj["tz"])
    if kind in _FROM_TEXT:
        return _FROM_TEXT[kind](obj["value"])
    if kind == "interval":
        return pd.Interval(obj["left"], obj["right"], closed=obj["closed"])
    if kind == "period":
        return pd.Period(obj["value"], freq=obj["freq"])
    if kind == "timedelta":
        return pd.Timedelta(obj["value"], unit="ns")
    if kind == "numpy":
        dtype = np.dtype(obj["dtype"])
        if dtype.kind in "mM":
            return np.int64(obj["value"]).view(dtype)
        return dtype.type(obj["value"])
    raise ValueError(f"unknown tagged value {kind!r} in the report JSON.")


def frame_to_json(frame: pd.DataFrame) -> dict[str, Any]:
    """Encode a DataFrame as columns, dtypes (categories included) and rows."""
    categories = {
        str(c): {"categories": encode(list(t.categories)), "ordered": bool(t.ordered)}
        for c, t in frame.dtypes.items()
        if isinstance(t, pd.CategoricalDtype)
    }
    return {
        "columns": [str(c) for c in frame.columns],
        "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
        "categories": categories,
        "data": [[encode(v) for v in row] for row in frame.itertuples(index=False, name=None)],
    }


def frame_from_json(payload: dict[str, Any]) -> pd.DataFrame:
    """Inverse of :func:`frame_to_json` (on JSON read with :func:`decode`)."""
    columns = payload["columns"]
    frame = pd.DataFrame(payload["data"], columns=columns, dtype=object)
    for column in columns:
        dtype = payload["dtypes"][column]
        values = frame[column]
        if column in payload.get("categories", {}):
            spec = payload["categories"][column]
            frame[column] = pd.Categorical(
                values, categories=spec["categories"], ordered=spec["ordered"]
            )
        elif dtype != "object":
            frame[column] = values.astype(dtype)
    return frame


def _bits(mask: np.ndarray[Any, Any]) -> str:
    """Encode a boolean mask as base64 of its packed bits."""
    return base64.b64encode(np.packbits(mask.astype(bool)).tobytes()).decode("ascii")


def _unbits(text: str, n: int) -> np.ndarray[Any, Any]:
    bits = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    return np.unpackbits(bits, count=n).astype(bool)


def stratum_to_json(stratum: Stratum) -> dict[str, Any]:
    """Encode a stratum with its masks."""
    return {
        "name": stratum.name,
        "population": stratum.population,
        "variable": encode(stratum.variable),
        "level": encode(stratum.level),
        "mask": _bits(stratum.mask),
        "labelled": _bits(stratum.labelled),
    }


def stratum_from_json(payload: dict[str, Any], n: int) -> Stratum:
    """Inverse of :func:`stratum_to_json`."""
    return Stratum(
        _unbits(payload["mask"], n),
        payload["population"],
        name=payload["name"],
        variable=payload["variable"],
        level=payload["level"],
        labelled=_unbits(payload["labelled"], n),
    )
