"""Splitting a class's leading cluster when its cases are clearly two groups.

With k at most 5, k-means can merge a failing subclass with a benign neighbour when a
class holds many groups; choosing a larger k instead splits subclasses that are one
spread-out cloud (a rare digit in a network's hidden layer). So the leader alone is
looked at again: its discovery cases are clustered in two, and if the two parts are
clearly apart (silhouette at least ``split_leader``, Rousseeuw 1987) and one part is more
clearly worse than the whole leader, that part leads and the other becomes a cluster of
its own. A leader that is one cloud stays whole. On the discovery benchmark (suites 0-8)
this recovered 0.78 of the planted subclasses against 0.74 unsplit, with a plateau for
thresholds 0.35-0.5 (``benchmarks/bench_discovery.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["SplitModel", "nearest"]

IntArray = npt.NDArray[np.intp]


class SplitModel:
    """A fitted clusterer whose component ``code`` is split in two by ``sub``.

    Cases the clusterer puts in ``code`` and ``sub`` puts in its component ``drop`` get
    ``new_code``; every other case keeps the clusterer's label.
    """

    def __init__(self, model: Any, code: int, sub: Any, drop: int, new_code: int) -> None:
        self.model, self.code, self.sub = model, code, sub
        self.drop, self.new_code = drop, new_code

    def predict(self, z: npt.NDArray[Any]) -> IntArray:
        labels = np.asarray(self.model.predict(z), dtype=np.intp).copy()
        inside = np.flatnonzero(labels == self.code)
        if len(inside):
            parts = np.asarray(self.sub.predict(z[inside]))
            labels[inside[parts == self.drop]] = self.new_code
        return labels

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Return the clusterer's parameters (its number of clusters is what refits use)."""
        return dict(self.model.get_params(deep))


def nearest(points: npt.NDArray[Any], labels: IntArray, target: npt.NDArray[Any]) -> int:
    """Return the label whose points' mean is nearest ``target`` (-1 if there are none)."""
    present = np.unique(labels)
    if not len(present):
        return -1
    means = np.stack([points[labels == j].mean(axis=0) for j in present])
    return int(present[np.argmin(np.sum((means - target) ** 2, axis=1))])
