"""Figures of an audit (matplotlib is imported only when a figure is drawn)."""

from ._clusters import plot_cluster_map, plot_image_grid
from ._forest import plot_forest
from ._roc import plot_roc

__all__ = ["plot_cluster_map", "plot_forest", "plot_image_grid", "plot_roc"]
