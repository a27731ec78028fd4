"""Lazy access to matplotlib, so that ``import hstrat`` does not load it."""

from __future__ import annotations

from typing import Any


def pyplot() -> Any:
    """Return ``matplotlib.pyplot`` (headless machines fall back to the Agg backend)."""
    import matplotlib.pyplot as plt

    return plt
