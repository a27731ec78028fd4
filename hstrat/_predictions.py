"""Predictions: what one pass of a model over a data set produced.

It sits at the bottom of the package, beside the alignment rule: everything that reads
per-case data (metrics aside) can take one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ._align import Cases, check_ids
from ._validation import check_labels, check_same_length, check_scores


class Predictions:
    """Labels, scores, sample ids, embeddings and metadata of the evaluated cases.

    What :func:`hstrat.collect` returns; :meth:`from_frame` builds one from a table.

    Parameters
    ----------
    y_true : array-like of bool, shape (n_samples,)
        Binary labels.
    y_score : array-like of float, shape (n_samples,)
        Scores; higher means more likely positive.
    ids : pandas.Index, optional
        Sample ids, unique; defaults to ``0..n-1`` (positions).
    embeddings : numpy.ndarray of shape (n_samples, n_features), optional
        Penultimate-layer features (may be a memory-mapped array).
    metadata : pandas.DataFrame, optional
        One row per sample, indexed by ``ids``.
    target : str or int, optional
        Which model output the scores are (e.g. ``"Pneumothorax"``).
    shuffled : bool, default False
        Whether the order of the cases came from a random sampler; strata given by
        position are then refused.

    Examples
    --------
    >>> from hstrat import Predictions
    >>> p = Predictions([0, 1, 1], [0.2, 0.9, 0.4], ids=["a", "b", "c"])
    >>> len(p), p.ids.tolist()
    (3, ['a', 'b', 'c'])
    """

    __slots__ = ("embeddings", "ids", "metadata", "shuffled", "target", "y_score", "y_true")

    def __init__(
        self,
        y_true: npt.ArrayLike,
        y_score: npt.ArrayLike,
        *,
        ids: Any = None,
        embeddings: npt.ArrayLike | None = None,
        metadata: pd.DataFrame | None = None,
        target: str | int | None = None,
        shuffled: bool = False,
    ) -> None:
        y = check_labels(y_true)
        s = check_scores(y_score)
        n = check_same_length(y_true=y, y_score=s)
        index = pd.RangeIndex(n, name="id") if ids is None else pd.Index(ids)
        if len(index) != n:
            raise ValueError(f"ids must have one entry per sample ({n}); got {len(index)}.")
        check_ids(index, "ids")
        emb = None
        if embeddings is not None:
            emb = embeddings if isinstance(embeddings, np.ndarray) else np.asarray(embeddings)
            if emb.ndim != 2 or emb.shape[0] != n:
                raise ValueError(
                    f"embeddings must have shape (n_samples={n}, n_features); got {emb.shape}."
                )
        if metadata is not None:
            if not isinstance(metadata, pd.DataFrame):
                raise TypeError(
                    f"metadata must be a pandas DataFrame; got {type(metadata).__name__}."
                )
            if len(metadata) != n:
                raise ValueError(
                    f"metadata must have one row per sample ({n}); got {len(metadata)}."
                )
            if not metadata.index.equals(index):
                raise ValueError(
                    "metadata must be indexed by the sample ids, in the same order "
                    "(metadata.index == ids); align it with metadata.loc[ids]."
                )
        self.y_true: npt.NDArray[np.bool_] = y
        self.y_score: npt.NDArray[np.float64] = s
        self.ids: pd.Index = index
        self.embeddings: npt.NDArray[np.floating[Any]] | None = emb
        self.metadata: pd.DataFrame | None = metadata
        self.target: str | int | None = target
        self.shuffled: bool = bool(shuffled)

    def __len__(self) -> int:
        return len(self.y_true)

    @property
    def cases(self) -> Cases:
        """The cases, for lining up other inputs with them (hstrat's one rule)."""
        return Cases(self.ids, None, self.shuffled)

    def __repr__(self) -> str:
        emb = "none" if self.embeddings is None else "x".join(map(str, self.embeddings.shape))
        return (
            f"Predictions(n={len(self)}, positives={int(self.y_true.sum())}, "
            f"embeddings={emb}, target={self.target!r})"
        )

    def to_frame(self) -> pd.DataFrame:
        """Return ids, labels, scores and metadata as one DataFrame indexed by id.

        Examples
        --------
        >>> from hstrat import Predictions
        >>> Predictions([0, 1], [0.2, 0.9]).to_frame()
            y_true  y_score
        id
        0    False      0.2
        1     True      0.9
        """
        frame = pd.DataFrame({"y_true": self.y_true, "y_score": self.y_score}, index=self.ids)
        if self.metadata is not None:
            extra = self.metadata.drop(columns=[c for c in frame.columns if c in self.metadata])
            frame = frame.join(extra)
        return frame

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        label_col: str,
        score_col: str,
        id_col: str | None = None,
    ) -> Predictions:
        """Build predictions from a table with one row per case; other columns are metadata.

        Examples
        --------
        >>> import pandas as pd
        >>> from hstrat import Predictions
        >>> df = pd.DataFrame({"id": ["a", "b"], "y": [0, 1], "p": [0.1, 0.8], "site": ["x", "y"]})
        >>> Predictions.from_frame(df, label_col="y", score_col="p", id_col="id").metadata
           site
        id
        a     x
        b     y
        """
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame; got {type(frame).__name__}.")
        for arg, col in (("label_col", label_col), ("score_col", score_col), ("id_col", id_col)):
            if col is not None and col not in frame.columns:
                raise ValueError(
                    f"{arg}={col!r} is not a column; the columns are {list(frame.columns)!r}."
                )
        ids = frame[id_col] if id_col is not None else pd.RangeIndex(len(frame), name="id")
        index = pd.Index(ids, name=id_col or "id")
        rest = frame.drop(columns=[c for c in (label_col, score_col, id_col) if c is not None])
        rest = rest.set_axis(index, axis=0)
        return cls(
            frame[label_col].to_numpy(),
            frame[score_col].to_numpy(),
            ids=index,
            metadata=rest,
        )
