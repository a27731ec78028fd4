"""The discovery / held-out split that keeps a detector's intervals honest.

A cluster reported *because* it looked bad on some cases will look bad on those same
cases partly by chance (selection bias, the "winner's curse"): its interval, computed
on the data that selected it, is too low and its p-value too small. Splitting the
cases first — clusters are found and ranked on the **discovery** part, their
performance is estimated on the **held-out** part — removes the bias, as in
sample splitting for post-selection inference (Cox 1975; Wasserman & Roeder 2009).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["holdout_split"]

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


def holdout_split(classes: IntArray, fraction: float, rng: np.random.Generator) -> BoolArray:
    """Choose the held-out cases: ``fraction`` of each class, at random.

    Parameters
    ----------
    classes : array of int
        Class code of each case; the split is stratified by it.
    fraction : float
        Share of each class held out, in (0, 1). It is rounded to whole cases and kept
        between 1 and ``n - 1`` for a class of ``n >= 2`` cases, so that both parts
        have a case; a class of one case is kept for discovery.
    rng : numpy.random.Generator
        Source of the permutation.

    Returns
    -------
    numpy.ndarray of bool
        ``True`` for held-out cases.

    Examples
    --------
    >>> import numpy as np
    >>> held = holdout_split(np.array([0, 0, 0, 0, 1, 1]), 0.5, np.random.default_rng(0))
    >>> int(held[:4].sum()), int(held[4:].sum())
    (2, 1)
    """
    held = np.zeros(len(classes), dtype=bool)
    for code in np.unique(classes):
        members = np.flatnonzero(classes == code)
        n = len(members)
        n_held = 0 if n < 2 else min(max(round(fraction * n), 1), n - 1)
        held[rng.permutation(members)[:n_held]] = True
    return held
