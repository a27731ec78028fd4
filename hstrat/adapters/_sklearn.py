"""scikit-learn estimators and pipelines: ``predict_proba`` or ``decision_function``."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .._validation import describe
from ._callable import (
    BatchOutput,
    EmbeddingLayer,
    OutputKind,
    _NoSession,
    _outputs_2d,
    _qualname,
    as_array,
)


def is_sklearn_estimator(model: Any) -> bool:
    """Whether ``model`` scores through ``predict_proba`` or ``decision_function``.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from hstrat.adapters import is_sklearn_estimator
    >>> is_sklearn_estimator(LogisticRegression()), is_sklearn_estimator(len)
    (True, False)
    """
    return hasattr(model, "predict_proba") or hasattr(model, "decision_function")


class SklearnAdapter(_NoSession):
    """A fitted scikit-learn classifier (or pipeline) as a model for :func:`hstrat.collect`.

    The scores are ``predict_proba`` when the estimator has it (a binary classifier's
    column for ``classes_[1]``), else ``decision_function``; a multi-class estimator
    needs ``target=`` (a column index, or a class in ``classes_``).

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Has ``predict_proba`` or ``decision_function``.
    embedding_layer : None, False or str, default None
        ``None``: for a :class:`~sklearn.pipeline.Pipeline` with transformers, the output
        of its **last transformer** (the features its final estimator sees, computed once
        per batch), else the **input features**, flattened per sample. A step name: the
        output of that pipeline step. ``False``: no embeddings. Sparse features are made
        dense.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from hstrat.adapters import SklearnAdapter
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]])
    >>> pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, [0, 0, 1, 1])
    >>> out = SklearnAdapter(pipe).predict(X)
    >>> out.outputs.shape, out.embeddings.shape
    ((4, 2), (4, 2))
    """

    def __init__(self, estimator: Any, *, embedding_layer: EmbeddingLayer = None) -> None:
        if not is_sklearn_estimator(estimator):
            raise TypeError(
                f"model must have predict_proba or decision_function; got {describe(estimator)}."
            )
        from sklearn.pipeline import Pipeline
        from sklearn.utils.validation import check_is_fitted

        if hasattr(estimator, "fit"):
            check_is_fitted(estimator)
        self.estimator = estimator
        self.method = (
            "predict_proba" if hasattr(estimator, "predict_proba") else "decision_function"
        )
        self.kind: OutputKind = "probabilities" if self.method == "predict_proba" else "decision"
        classes = getattr(estimator, "classes_", None)
        self.class_names: list[Any] | None = None if classes is None else list(classes)
        steps = [name for name, _ in estimator.steps] if isinstance(estimator, Pipeline) else []
        # how many leading pipeline steps make the embeddings (0: the inputs; None: none)
        self._cut: int | None = None
        if embedding_layer is None:
            self._cut = max(len(steps) - 1, 0)
        elif isinstance(embedding_layer, str):
            if not steps:
                raise ValueError(
                    f"embedding_layer={embedding_layer!r} names a pipeline step, but the model "
                    f"is a {type(estimator).__name__}, not a Pipeline. Use None (the input "
                    "features) or False."
                )
            if embedding_layer not in steps[:-1]:
                raise ValueError(
                    f"embedding_layer={embedding_layer!r} is not a transformer step of the "
                    f"pipeline; its steps before the final estimator are {steps[:-1]!r}."
                )
            self._cut = steps.index(embedding_layer) + 1
        elif embedding_layer is not False:
            raise TypeError(
                "embedding_layer must be None, False or a pipeline step name; got "
                f"{describe(embedding_layer)}."
            )
        self._head = estimator[: self._cut] if self._cut else None
        self._tail = estimator[self._cut :] if self._cut else estimator
        self.embedding_source: str | None = None if self._cut is None else "input features"
        if self._cut:
            self.embedding_source = f"output of pipeline step {steps[self._cut - 1]!r}"

    def predict(self, inputs: Any) -> BatchOutput:
        """Score one batch (and take its embeddings)."""
        frame_like = hasattr(inputs, "iloc") and hasattr(inputs, "columns")
        x = inputs if frame_like else as_array(inputs, "inputs")
        features = x if self._head is None else self._head.transform(x)
        outputs = _outputs_2d(getattr(self._tail, self.method)(features), f"{self.method}(x)")
        return BatchOutput(outputs, None if self._cut is None else _dense_float32(features))

    def fingerprint(self) -> dict[str, Any]:
        """Return the estimator's class and a joblib hash of its fitted state."""
        import joblib  # type: ignore[import-untyped]

        return {
            "kind": "sklearn",
            "class": _qualname(self.estimator),
            "state": joblib.hash(self.estimator),
        }


def _dense_float32(x: Any) -> npt.NDArray[np.float32]:
    if hasattr(x, "toarray"):  # scipy sparse
        x = x.toarray()
    arr = as_array(x)
    try:
        arr = np.asarray(arr, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(
            "Cannot use the features as embeddings: they are not numeric "
            f"(dtype {arr.dtype}). Pass embedding_layer=False, or a pipeline step whose "
            "output is numeric."
        ) from err
    return np.ascontiguousarray(arr.reshape(len(arr), -1))
