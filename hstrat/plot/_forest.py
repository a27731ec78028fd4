"""Forest plot: each stratum's AUC with its interval beside the overall AUC."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..metrics._stratified import verdicts
from ._matplotlib import VERDICT_COLOURS, figure_and_axes, literal

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
        Significance level of the colours (red: worse, green: better; see "Reading a
        report"), which the legend states.
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
    from matplotlib.lines import Line2D

    n_rows = len(table)
    own_figure = ax is None
    fig, ax = figure_and_axes(ax, 8.0, 1.9 + 0.36 * n_rows)
    y_pos = np.arange(n_rows)[::-1]
    auc, low, high = (table[c].to_numpy(dtype=float) for c in ("auc", "auc_low", "auc_high"))
    verdict = verdicts(table, alpha)
    for i, kind in enumerate(verdict):
        if kind == "undefined":
            ax.text(0.5, y_pos[i], "undefined", va="center", ha="center", color="0.5", fontsize=8)
            continue
        if np.isfinite(low[i]) and np.isfinite(high[i]):
            ax.plot([low[i], high[i]], [y_pos[i], y_pos[i]], color=VERDICT_COLOURS[kind], lw=2)
        ax.plot(auc[i], y_pos[i], ms=7 if i == 0 else 6, **_style(kind))
    ax.set_yticks(y_pos, [literal(s) for s in table["stratum"]])
    sizes = [
        f"{int(p)} pos / {int(n)} neg" for p, n in zip(table["n_pos"], table["n_neg"], strict=True)
    ]
    right = ax.secondary_yaxis("right")
    right.set_yticks(y_pos, sizes)
    right.tick_params(length=0, labelsize=8)
    finite = np.concatenate([low[np.isfinite(low)], auc[np.isfinite(auc)]])
    ax.set_xlim(max(0.0, float(finite.min()) - 0.05) if finite.size else 0.0, 1.0)
    ax.set_ylim(-0.7, n_rows - 0.3)
    ax.set_xlabel("AUC with its confidence interval")
    ax.grid(axis="x", alpha=0.3)
    handles = [
        Line2D([], [], lw=2, label=_LEGEND[kind].format(alpha=f"{alpha:g}"), **_style(kind))
        for kind in dict.fromkeys(verdict)
        if kind != "undefined"
    ]
    if np.isfinite(auc[0]):
        overall = f"overall AUC {auc[0]:.3f}"
        handles.insert(0, ax.axvline(auc[0], color="0.3", ls="--", lw=1, label=overall))
    if own_figure:  # under the plot, outside the data
        fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    else:
        ax.legend(handles=handles, loc="lower left", fontsize=7, framealpha=0.85)
    if title:
        ax.set_title(literal(title))
    return fig


def _style(kind: str) -> dict[str, Any]:
    """Return a verdict's marker: a diamond for overall, hollow when too few cases."""
    colour = VERDICT_COLOURS[kind]
    mfc = "white" if kind == "too few cases to test" else colour
    return {"color": colour, "marker": "D" if kind == "overall" else "o", "mfc": mfc}


_LEGEND = {
    "overall": "all cases",
    "worse": "worse than its reference (adjusted p < {alpha})",
    "better": "better than its reference (adjusted p < {alpha})",
    "no significant difference": "no significant difference",
    "too few cases to test": "too few positives or negatives to test",
}
