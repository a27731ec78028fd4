"""Model adapters: how :func:`hstrat.collect` runs a model over one batch.

* :class:`TorchAdapter` — a :class:`torch.nn.Module`: logits and penultimate embeddings
  from one forward pass (the only place hstrat imports torch, lazily);
* :class:`SklearnAdapter` — a scikit-learn estimator or pipeline (``predict_proba`` /
  ``decision_function``);
* :class:`CallableAdapter` — any ``f(x)`` returning scores;
* :class:`LoaderScores` — no model: the loader yields the scores.
"""

from ._callable import (
    OUTPUT_KINDS,
    BatchOutput,
    CallableAdapter,
    LoaderScores,
    ModelAdapter,
    as_array,
)
from ._sklearn import SklearnAdapter, is_sklearn_estimator
from ._torch import (
    TorchAdapter,
    is_torch_module,
    loader_order_is_random,
    penultimate_layer,
    require_torch,
)

__all__ = [
    "OUTPUT_KINDS",
    "BatchOutput",
    "CallableAdapter",
    "LoaderScores",
    "ModelAdapter",
    "SklearnAdapter",
    "TorchAdapter",
    "as_array",
    "is_sklearn_estimator",
    "is_torch_module",
    "loader_order_is_random",
    "penultimate_layer",
    "require_torch",
]
