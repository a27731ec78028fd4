"""What every figure shares: lazy matplotlib, new axes, literal text, verdict colours."""

from __future__ import annotations

from typing import Any

#: The colour of each verdict on a stratum (:func:`hstrat.metrics._stratified.verdicts`),
#: shared by the forest plot and the report's ROC panels.
VERDICT_COLOURS = {
    "overall": "black",
    "worse": "tab:red",
    "better": "tab:green",
    "no significant difference": "tab:blue",
    "too few cases to test": "0.55",
    "undefined": "0.75",
}


def pyplot() -> Any:
    """Return ``matplotlib.pyplot`` (imported on first use, so ``import hstrat`` stays light)."""
    import matplotlib.pyplot as plt

    return plt


def figure_and_axes(ax: Any, width: float, height: float) -> tuple[Any, Any]:
    """Return ``ax``'s figure and ``ax``, or a new figure of that size and its one Axes."""
    if ax is None:
        ax = pyplot().figure(figsize=(width, height), layout="constrained").add_subplot()
    return ax.figure, ax


def literal(text: object) -> str:
    r"""Return ``text`` as matplotlib will draw it literally (never as ``$math$``).

    Examples
    --------
    >>> literal("cost $5 to $10")
    'cost \\$5 to \\$10'
    """
    return str(text).replace("$", r"\$")
