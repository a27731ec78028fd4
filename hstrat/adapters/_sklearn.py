"""scikit-learn estimators and pipelines: ``predict_proba`` or ``decision_function``.

**Scores.** ``predict_proba`` when the estimator has it (a binary classifier's column
for ``classes_[1]``), else ``decision_function``. A multi-class estimator needs
``target=``: a column index, or a class in ``classes_``.

**Embeddings** (``embedding_layer=None``):

* a :class:`~sklearn.pipeline.Pipeline` with transformers: the output of its **last
  transformer**, i.e. the features its final estimator sees (computed once per batch
  and then passed to the final estimator, so nothing is transformed twice);
* a bare estimator, or a pipeline with a single step: the **input features**,
  flattened per sample.

``embedding_layer="step"`` takes the output of the named pipeline step instead, and
``embedding_layer=False`` collects none. Sparse features are made dense.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from .._validation import describe
from ._callable import BatchOutput, EmbeddingLayer, OutputKind, _outputs_2d, _qualname, as_array

__all__ = ["SklearnAdapter", "is_sklearn_estimator"]


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


class SklearnAdapter:
    """A fitted scikit-learn classifier (or pipeline) as a model for :func:`hstrat.collect`.

    Parameters
    ----------
    estimator : fitted estimator or Pipeline
        Has ``predict_proba`` or ``decision_function``.
    embedding_layer : None, False or str, default None
        See the module documentation: ``None`` = the last transformer's output of a
        pipeline, else the input features; a step name = that step's output;
        ``False`` = no embeddings.

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
        self._head: Any = None  # transforms whose output are the embeddings
        self._tail: Any = estimator  # what scores those embeddings
        self._inputs_are_embeddings = False
        is_pipeline = isinstance(estimator, Pipeline)
        if embedding_layer is False:
            self.embedding_source: str | None = None
        elif embedding_layer is None:
            if is_pipeline and len(estimator.steps) > 1:
                self._head, self._tail = estimator[:-1], estimator[-1]
                self.embedding_source = f"output of pipeline step {estimator.steps[-2][0]!r}"
            else:
                self._inputs_are_embeddings = True
                self.embedding_source = "input features"
        elif isinstance(embedding_layer, str):
            if not is_pipeline:
                raise ValueError(
                    f"embedding_layer={embedding_layer!r} names a pipeline step, but the model "
                    f"is a {type(estimator).__name__}, not a Pipeline. Use None (the input "
                    "features) or False."
                )
            names = [name for name, _ in estimator.steps]
            if embedding_layer not in names[:-1]:
                raise ValueError(
                    f"embedding_layer={embedding_layer!r} is not a transformer step of the "
                    f"pipeline; its steps before the final estimator are {names[:-1]!r}."
                )
            cut = names.index(embedding_layer) + 1
            self._head, self._tail = estimator[:cut], estimator[cut:]
            self.embedding_source = f"output of pipeline step {embedding_layer!r}"
        else:
            raise TypeError(
                "embedding_layer must be None, False or a pipeline step name; got "
                f"{describe(embedding_layer)}."
            )

    @contextmanager
    def session(self) -> Iterator[None]:
        """Nothing to set up for an estimator."""
        yield

    def predict(self, inputs: Any) -> BatchOutput:
        """Score one batch (and take its embeddings)."""
        x = inputs if _is_frame_like(inputs) else as_array(inputs, "inputs")
        embeddings: npt.NDArray[np.float32] | None = None
        if self._head is not None:
            features = self._head.transform(x)
            outputs = getattr(self._tail, self.method)(features)
            embeddings = _dense_float32(features)
        else:
            outputs = getattr(self.estimator, self.method)(x)
            if self._inputs_are_embeddings:
                embeddings = _dense_float32(x)
        out = _outputs_2d(outputs, f"{self.method}(x)")
        return BatchOutput(out, embeddings)

    def fingerprint(self) -> dict[str, Any]:
        """Return the estimator's class and a joblib hash of its fitted state."""
        import joblib  # type: ignore[import-untyped]

        return {
            "kind": "sklearn",
            "class": _qualname(self.estimator),
            "state": joblib.hash(self.estimator),
        }


def _is_frame_like(x: Any) -> bool:
    return hasattr(x, "iloc") and hasattr(x, "columns")


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
