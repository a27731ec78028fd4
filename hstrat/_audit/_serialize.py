"""Lossless JSON for audit tables, predictions and strata."""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import pandas as pd

from .._stratum import Stratum


def to_python(value: Any) -> Any:
    """Convert numpy / pandas scalars to plain JSON values (NaN → None)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    return value


def frame_to_json(frame: pd.DataFrame) -> dict[str, Any]:
    """Encode a DataFrame as columns, dtypes and rows of plain values."""
    return {
        "columns": [str(c) for c in frame.columns],
        "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
        "data": [[to_python(v) for v in row] for row in frame.itertuples(index=False, name=None)],
    }


def frame_from_json(payload: dict[str, Any]) -> pd.DataFrame:
    """Inverse of :func:`frame_to_json`."""
    columns = payload["columns"]
    frame = pd.DataFrame(payload["data"], columns=columns, dtype=object)
    for column in columns:
        dtype = payload["dtypes"][column]
        values = frame[column]
        if dtype.startswith("float"):
            frame[column] = pd.to_numeric(values.map(_float), errors="raise").astype(dtype)
        elif dtype.startswith(("int", "uint", "bool")) or dtype != "object":
            frame[column] = values.astype(dtype)
    return frame


def _float(value: Any) -> float:
    if value is None:
        return float("nan")
    if value == "inf":
        return float("inf")
    if value == "-inf":
        return float("-inf")
    return float(value)


def mask_to_json(mask: np.ndarray[Any, Any]) -> str:
    """Encode a boolean mask as base64 of its packed bits."""
    return base64.b64encode(np.packbits(mask.astype(bool)).tobytes()).decode("ascii")


def mask_from_json(text: str, n: int) -> np.ndarray[Any, Any]:
    """Inverse of :func:`mask_to_json`."""
    bits = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    return np.unpackbits(bits, count=n).astype(bool)


def stratum_to_json(stratum: Stratum) -> dict[str, Any]:
    """Encode a stratum with its masks."""
    return {
        "name": stratum.name,
        "population": stratum.population,
        "variable": to_python(stratum.variable),
        "level": to_python(stratum.level),
        "mask": mask_to_json(stratum.mask),
        "labelled": mask_to_json(stratum.labelled),
    }


def stratum_from_json(payload: dict[str, Any], n: int) -> Stratum:
    """Inverse of :func:`stratum_to_json`."""
    return Stratum(
        mask_from_json(payload["mask"], n),
        payload["population"],
        name=payload["name"],
        variable=payload["variable"],
        level=payload["level"],
        labelled=mask_from_json(payload["labelled"], n),
    )
