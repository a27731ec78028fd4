"""Model adapters: how :func:`hstrat.collect` runs a model over one batch."""

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
