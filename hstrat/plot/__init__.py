"""Figures of an audit (matplotlib is imported only when a figure is drawn)."""

from ._forest import plot_forest
from ._roc import plot_roc

__all__ = ["plot_forest", "plot_roc"]
