"""ROC curves per stratum, each with the shared operating point marked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .._stratum import Stratum, as_strata
from .._validation import check_int
from ..metrics._auc import _cumulative_counts, check_binary_inputs
from ._matplotlib import literal, pyplot

__all__ = ["plot_roc"]


def _curve(y: npt.NDArray[np.bool_], s: npt.NDArray[np.float64]) -> tuple[Any, Any]:
    _, tp, fp = _cumulative_counts(y, s)
    return np.r_[0.0, fp / max(int((~y).sum()), 1)], np.r_[0.0, tp / max(int(y.sum()), 1)]


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
    """Draw the overall ROC curve and one curve per stratum.

    Each stratum's curve uses its population (see :class:`hstrat.Stratum`): a stratum
    of positives is drawn against every negative. The point each curve reaches at
    ``threshold`` is marked, so a subclass the model misses at the operating point
    stands out.

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
        Draw at most this many strata (the first ones given); the legend names the
        ones left out. Default: all.
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
    every: list[Stratum] = as_strata(strata, cases)
    if max_strata is not None:
        max_strata = check_int(max_strata, "max_strata", minimum=0)
    items = every[:max_strata]
    left_out = [str(x.name) for x in every[len(items) :]]
    colors = colors or {}
    plt = pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 5.0), layout="constrained")
    else:
        fig = ax.figure
    ax.plot([0, 1], [0, 1], color="0.8", lw=1, ls=":")
    curves: list[tuple[str, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]] = [("overall", y, ~y)]
    for stratum in items:
        sub = stratum.subsets(y)
        curves.append((str(stratum.name), sub.pos & y, sub.neg & ~y))
    undefined: list[str] = []
    for i, (name, pos, neg) in enumerate(curves):
        members = pos | neg
        if not (pos.any() and neg.any()):
            undefined.append(name)
            continue
        fpr, tpr = _curve(y[members], s[members])
        color = "black" if i == 0 else colors.get(name, f"C{(i - 1) % 10}")
        (line,) = ax.plot(fpr, tpr, color=color, lw=2 if i == 0 else 1.4, label=literal(name))
        if threshold is not None:
            called = s >= threshold
            ax.plot(
                (called & neg).sum() / neg.sum(),
                (called & pos).sum() / pos.sum(),
                marker="o",
                color=line.get_color(),
                ms=6,
                mec="white",
            )
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
    ax.legend(
        loc="lower right",
        fontsize=8,
        frameon=False,
        title=literal("\n".join(notes)) if notes else None,
        title_fontsize=7,
    )
    ax.set_title(
        literal(title)
        if title
        else (
            "ROC by stratum; dots: operating point" if threshold is not None else "ROC by stratum"
        )
    )
    return fig
