"""ROC curves per stratum, each with the shared operating point marked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .._stratum import Stratum, as_strata
from .._validation import check_int
from ..metrics._auc import check_binary_inputs, roc_curve
from ._matplotlib import figure_and_axes, literal


def plot_roc(
    y_true: npt.ArrayLike,
    y_score: npt.ArrayLike,
    strata: Any = None,
    *,
    threshold: float | None = None,
    ax: Any = None,
    max_strata: int | None = None,
    colors: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> Any:
    """Draw the overall ROC curve and one per stratum (in its population), operating point marked.

    Parameters
    ----------
    y_true, y_score : array-like of shape (n_samples,)
        Labels and scores.
    strata : dict, list of Stratum, Series or DataFrame, optional
        As for :func:`hstrat.metrics.stratified_auc`.
    threshold : float, optional
        Operating point to mark (``score >= threshold`` is positive).
    ax : matplotlib.axes.Axes, optional
        Where to draw.
    max_strata : int, optional
        Draw only the first ``max_strata`` strata; the legend names the others.
    colors : mapping of stratum name to colour, optional
        Colours of the strata's curves (default: matplotlib's colour cycle).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.plot import plot_roc
    >>> y = np.array([0, 0, 1, 1, 0, 1])
    >>> s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    >>> fig = plot_roc(y, s, {"late": np.arange(6) >= 3}, threshold=0.5)
    >>> len(fig.axes[0].lines)
    5
    """
    y, s, cases = check_binary_inputs(y_true, y_score)
    every = as_strata(strata, cases)
    if max_strata is not None:
        max_strata = check_int(max_strata, "max_strata", minimum=0)
    items = every[:max_strata]
    left_out = [str(x.name) for x in every[len(items) :]]
    colors = colors or {}
    fig, ax = figure_and_axes(ax, 5.5, 5.0)
    ax.plot([0, 1], [0, 1], color="0.8", lw=1, ls=":")
    called = None if threshold is None else s >= threshold
    undefined: list[str] = []
    for i, stratum in enumerate([Stratum(np.ones_like(y), "all", name="overall"), *items]):
        sub, name = stratum.subsets(y), str(stratum.name)
        pos, neg = sub.pos & y, sub.neg & ~y
        if not (pos.any() and neg.any()):
            undefined.append(name)
            continue
        curve = roc_curve(y[pos | neg], s[pos | neg])
        color = "black" if i == 0 else colors.get(name, f"C{(i - 1) % 10}")
        width = 2 if i == 0 else 1.4
        (line,) = ax.plot(curve.fpr, curve.tpr, color=color, lw=width, label=literal(name))
        if called is not None:
            fpr, tpr = (called & neg).sum() / neg.sum(), (called & pos).sum() / pos.sum()
            ax.plot(fpr, tpr, marker="o", color=line.get_color(), ms=6, mec="white")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    notes = [
        f"{what}: {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}"
        for what, names in [
            (f"{len(left_out)} more not drawn", left_out),
            ("one class only, not drawn", undefined),
        ]
        if names
    ]
    heading = literal("\n".join(notes)) if notes else None
    ax.legend(loc="lower right", fontsize=8, frameon=False, title=heading, title_fontsize=7)
    dots = "" if threshold is None else "; dots: operating point"
    ax.set_title(literal(title) if title else f"ROC by stratum{dots}")
    return fig
