"""Which cases a reviewer should look at first, per cluster.

A cluster is only a candidate subclass until someone looks at it. The most typical
cases — nearest the cluster's centre — show what the cluster *is*; its errors nearest
the centre show what the model gets wrong *in* it. Both lists come from all members
(discovery and held-out), nearest first.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["EXEMPLAR_COLUMNS", "exemplar_table"]

EXEMPLAR_COLUMNS = [
    "cluster",
    "name",
    "class",
    "kind",
    "position",
    "distance",
    "is_error",
    "discovery",
]


def exemplar_table(
    clusters: pd.DataFrame,
    labels: npt.NDArray[np.intp],
    distances: npt.NDArray[np.float64],
    errors: npt.NDArray[np.bool_] | None,
    discovery: npt.NDArray[np.bool_],
    k: int,
) -> pd.DataFrame:
    """Return the ``k`` members nearest each cluster's centre and its ``k`` nearest errors.

    Parameters
    ----------
    clusters : pandas.DataFrame
        A detector's ``clusters_`` (``cluster``, ``name``, ``class``), in rank order.
    labels, distances : arrays of shape (n_samples,)
        Cluster id of each case and its distance to the cluster's centre.
    errors : array of bool or None
        Misclassified at the operating point (None: no ``"error"`` rows).
    discovery : array of bool
        Whether each case was a discovery case.
    k : int
        Cases of each kind per cluster.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`EXEMPLAR_COLUMNS`; ``kind`` is ``"central"`` or ``"error"``.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> table = pd.DataFrame({"cluster": [0], "name": ["pos:c0"], "class": ["positives"]})
    >>> ex = exemplar_table(table, np.zeros(4, np.intp), np.array([3.0, 1.0, 2.0, 0.5]),
    ...                     np.array([True, False, True, False]), np.ones(4, bool), 2)
    >>> ex[["kind", "position"]].values.tolist()
    [['central', 3], ['central', 1], ['error', 2], ['error', 0]]
    """
    records: list[dict[str, Any]] = []
    for cluster_id, name, cls in zip(
        clusters["cluster"].to_numpy(dtype=int), clusters["name"], clusters["class"], strict=True
    ):
        members = np.flatnonzero(labels == cluster_id)
        by_distance = members[np.argsort(distances[members], kind="stable")]
        kinds = [("central", by_distance[:k])]
        if errors is not None:
            kinds.append(("error", by_distance[errors[by_distance]][:k]))
        for kind, positions in kinds:
            for position in positions:
                records.append(
                    {
                        "cluster": int(cluster_id),
                        "name": name,
                        "class": cls,
                        "kind": kind,
                        "position": int(position),
                        "distance": float(distances[position]),
                        "is_error": bool(errors[position]) if errors is not None else False,
                        "discovery": bool(discovery[position]),
                    }
                )
    return pd.DataFrame.from_records(records, columns=EXEMPLAR_COLUMNS)
