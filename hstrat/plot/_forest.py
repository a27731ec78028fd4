"""Forest plot: each stratum's AUC with its interval beside the overall AUC."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._matplotlib import pyplot

__all__ = ["plot_forest"]

_REQUIRED = ("stratum", "auc", "auc_low", "auc_high", "n_pos", "n_neg")


def plot_forest(
    table: pd.DataFrame,
    *,
    ax: Any = None,
    alpha: float = 0.05,
    title: str | None = None,
) -> Any:
    """Draw per-stratum AUCs with their intervals, the overall AUC as a line.

    Parameters
    ----------
    table : pandas.DataFrame
        An audit table (``AuditReport.table`` or :func:`hstrat.metrics.stratified_auc`),
        ``overall`` first.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure is made when omitted.
    alpha : float, default 0.05
        Strata whose adjusted p-value is below ``alpha`` are drawn in red when worse
        than their reference and in green when better.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.metrics import stratified_auc
    >>> from hstrat.plot import plot_forest
    >>> rng = np.random.default_rng(0)
    >>> y = rng.random(200) < 0.4
    >>> s = rng.normal(size=200) + y
    >>> fig = plot_forest(stratified_auc(y, s, {"half": np.arange(200) < 100}, ci="delong"))
    >>> len(fig.axes)
    1
    """
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"table is missing the columns {missing!r}; pass an audit table.")
    plt = pyplot()
    n_rows = len(table)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8.0, 1.2 + 0.38 * n_rows), layout="constrained")
    else:
        fig = ax.figure
    y_pos = np.arange(n_rows)[::-1]
    p_adj = _column(table, "p_adjusted", n_rows)
    diff = _column(table, "auc_diff", n_rows)
    auc = table["auc"].to_numpy(dtype=float)
    low = table["auc_low"].to_numpy(dtype=float)
    high = table["auc_high"].to_numpy(dtype=float)
    for i in range(n_rows):
        if not np.isfinite(auc[i]):
            ax.text(0.5, y_pos[i], "undefined", va="center", ha="center", color="0.5", fontsize=8)
            continue
        overall = i == 0
        flagged = np.isfinite(p_adj[i]) and p_adj[i] < alpha
        color = "black" if overall else "tab:blue"
        if flagged and not overall:
            color = "tab:red" if diff[i] < 0 else "tab:green"
        if np.isfinite(low[i]) and np.isfinite(high[i]):
            ax.plot([low[i], high[i]], [y_pos[i], y_pos[i]], color=color, lw=2)
        ax.plot(
            auc[i], y_pos[i], marker="D" if overall else "o", color=color, ms=7 if overall else 6
        )
    if np.isfinite(auc[0]):
        ax.axvline(auc[0], color="0.3", ls="--", lw=1, label=f"overall AUC {auc[0]:.3f}")
    labels = [str(s) for s in table["stratum"]]
    ax.set_yticks(y_pos, labels)
    sizes = [
        f"{int(p)} pos / {int(n)} neg" for p, n in zip(table["n_pos"], table["n_neg"], strict=True)
    ]
    right = ax.secondary_yaxis("right")
    right.set_yticks(y_pos, sizes)
    right.tick_params(length=0, labelsize=8)
    finite = np.concatenate([low[np.isfinite(low)], auc[np.isfinite(auc)]])
    left = max(0.0, float(finite.min()) - 0.05) if finite.size else 0.0
    ax.set_xlim(left, 1.0)
    ax.set_ylim(-0.7, n_rows - 0.3)
    ax.set_xlabel("AUC (interval at the report's confidence level)")
    ax.grid(axis="x", alpha=0.3)
    if np.isfinite(auc[0]):
        ax.legend(loc="lower left", fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    return fig


def _column(table: pd.DataFrame, name: str, n_rows: int) -> np.ndarray[Any, np.dtype[np.float64]]:
    if name in table.columns:
        return table[name].to_numpy(dtype=float)
    return np.full(n_rows, np.nan)
