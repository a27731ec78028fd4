"""The adapter protocol :func:`hstrat.collect` drives, and the two simplest adapters.

An adapter turns one batch of inputs into a :class:`BatchOutput`: raw outputs, ``(batch,
n_outputs)``, and optionally ``(batch, n_features)`` float32 embeddings. The reduction to
one score per sample (the ``target`` column, a sigmoid or softmax) is done afterwards, in
numpy, by :func:`hstrat.collect`, the same way for every kind of model. Nothing here
imports torch: a tensor is converted with its own ``.numpy()``.
"""

from __future__ import annotations

import contextlib
import hashlib
import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from .._validation import describe

OutputKind = Literal["logits", "probabilities", "decision", "scores"]
OUTPUT_KINDS: tuple[str, ...] = ("logits", "probabilities", "decision", "scores")
EmbeddingLayer = str | Literal[False] | None


@dataclass(frozen=True)
class BatchOutput:
    """What a model produced for one batch.

    Attributes
    ----------
    outputs : numpy.ndarray of shape (batch, n_outputs)
        Raw outputs (logits, probabilities, decision values or scores, see
        :attr:`ModelAdapter.kind`).
    embeddings : numpy.ndarray of shape (batch, n_features) or None
        float32 features of each sample.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.adapters import BatchOutput
    >>> BatchOutput(np.array([[0.2], [1.5]])).outputs.shape
    (2, 1)
    """

    outputs: npt.NDArray[np.floating[Any]]
    embeddings: npt.NDArray[np.float32] | None = None


class ModelAdapter(Protocol):
    """The interface :func:`hstrat.collect` drives.

    Attributes
    ----------
    kind : {"logits", "probabilities", "decision", "scores"}
        What :attr:`BatchOutput.outputs` holds; decides the default activation.
    class_names : list or None
        Names of the outputs, for ``target="name"``.
    embedding_source : str or None
        Where the embeddings come from, in words (``None``: no embeddings).

    Examples
    --------
    Every adapter hstrat builds follows this protocol:

    >>> import numpy as np
    >>> from hstrat.adapters import CallableAdapter
    >>> adapter = CallableAdapter(lambda x: x.sum(axis=1))
    >>> adapter.predict(np.ones((2, 3))).outputs.ravel().tolist()
    [3.0, 3.0]
    """

    kind: OutputKind
    class_names: list[Any] | None
    embedding_source: str | None

    def session(self) -> Any:
        """Return a context manager around the pass (eval mode, hooks, device)."""
        ...

    def predict(self, inputs: Any) -> BatchOutput:
        """Return the outputs (and embeddings) for one batch of inputs."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """Return a JSON-able description that changes when the model does."""
        ...


class _NoSession:
    """Base of the adapters with nothing to set up around a pass."""

    def session(self) -> contextlib.AbstractContextManager[None]:
        """Nothing to set up: an empty context manager."""
        return contextlib.nullcontext()


def as_array(value: Any, name: str = "value") -> npt.NDArray[Any]:
    """Return ``value`` as a numpy array; tensors go through their own ``.numpy()``.

    A CPU tensor is not copied; one on an accelerator is moved with one ``.cpu()``.
    Ragged lists become object arrays.

    Examples
    --------
    >>> from hstrat.adapters import as_array
    >>> as_array([1, 0, 1]).tolist()
    [1, 0, 1]
    """
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        tensor = value.detach()
        device = getattr(tensor, "device", None)
        if device is not None and getattr(device, "type", "cpu") != "cpu":
            tensor = tensor.cpu()
        try:
            return np.asarray(tensor.numpy())
        except TypeError:  # bfloat16 and other dtypes numpy lacks
            return np.asarray(tensor.float().numpy())
    if hasattr(value, "to_numpy"):  # pandas Series / Index / DataFrame
        return np.asarray(value.to_numpy())
    try:
        return np.asarray(value)
    except ValueError:  # ragged nested lists
        out = np.empty(len(value), dtype=object)
        out[:] = list(value)
        return out


def _rows(values: Any, name: str) -> Any:
    """Return outputs (array or tensor) with one row per sample; ``(batch,)`` gains an axis."""
    if values.ndim == 1:
        return values[:, None]
    if values.ndim != 2:
        raise ValueError(
            f"{name} must have shape (batch,) or (batch, n_outputs); got "
            f"{tuple(values.shape)}. Return one row of outputs per sample."
        )
    return values


def _outputs_2d(values: Any, name: str) -> npt.NDArray[np.floating[Any]]:
    arr = as_array(values, name)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must be numbers; got dtype {arr.dtype} ({describe(arr[:3].tolist())})."
        )
    rows: npt.NDArray[Any] = _rows(arr, name)
    return rows if rows.dtype.kind == "f" else rows.astype(np.float64)


def _code_digest(func: Any) -> str:
    """Digest of a function's name, byte code, constants and names, nested code included.

    What the code reads at run time — globals, closures, the functions it calls — is not
    part of it.
    """
    h = hashlib.blake2b(digest_size=16)
    target = getattr(func, "__func__", func)
    h.update(f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}".encode())
    code = getattr(target, "__code__", None) or getattr(type(target).__call__, "__code__", None)
    stack = [] if code is None else [code]
    while stack:  # nested functions, lambdas and comprehensions are code constants
        code = stack.pop()
        h.update(code.co_code + repr(code.co_names).encode())
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                stack.append(const)
            else:  # a frozenset's order changes with the hash seed
                h.update(
                    repr(
                        sorted(map(repr, const)) if isinstance(const, frozenset) else const
                    ).encode()
                )
    return h.hexdigest()


class CallableAdapter(_NoSession):
    """Any callable ``f(x)`` that returns scores for a batch of inputs.

    ``f(x)`` returns 1-D scores, a ``(batch, n_outputs)`` array (``target=`` picks one),
    or a ``(scores, embeddings)`` tuple, as arrays, lists or tensors; scores are used as
    returned unless ``activation=`` asks for one.

    Parameters
    ----------
    func : callable
        The scoring function.
    embedding_layer : None or False, default None
        ``None`` keeps the embeddings a callable returns as the second item of a tuple;
        ``False`` ignores them. Layer names only apply to torch models.

    Notes
    -----
    A cache knows the callable by its name, byte code and (when joblib can pickle it)
    state, **not** by weights a closure or lambda captures: one cache directory per model.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat.adapters import CallableAdapter
    >>> adapter = CallableAdapter(lambda x: x.sum(axis=1))
    >>> adapter.predict(np.array([[0.1, 0.2], [0.3, 0.4]])).outputs.ravel().tolist()
    [0.3..., 0.7...]
    """

    kind: OutputKind = "scores"

    def __init__(self, func: Any, *, embedding_layer: EmbeddingLayer = None) -> None:
        if not callable(func):
            raise TypeError(f"model must be callable; got {describe(func)}.")
        if embedding_layer is not None and embedding_layer is not False:
            raise ValueError(
                f"embedding_layer={embedding_layer!r} names a layer, which only applies to "
                "a torch.nn.Module; a callable returns its embeddings as the second item of "
                "a (scores, embeddings) tuple. Use embedding_layer=None or False."
            )
        self.func = func
        self.keep_embeddings = embedding_layer is None
        self.class_names: list[Any] | None = _class_names_attribute(func)
        self.embedding_source: str | None = (
            "second item returned by the callable" if self.keep_embeddings else None
        )

    def predict(self, inputs: Any) -> BatchOutput:
        """Call the function on one batch."""
        result = self.func(inputs)
        embeddings = None
        if isinstance(result, tuple):
            if len(result) != 2:
                raise ValueError(
                    "model(x) returned a tuple of length "
                    f"{len(result)}; return scores, or a (scores, embeddings) pair."
                )
            result, embeddings = result
        outputs = _outputs_2d(result, "model(x)")
        if embeddings is None or not self.keep_embeddings:
            return BatchOutput(outputs)
        arr = as_array(embeddings, "embeddings")
        if arr.ndim == 0 or arr.shape[0] != len(outputs):
            raise ValueError(
                f"embeddings must have one row per sample of the batch ({len(outputs)}); "
                f"got shape {arr.shape}."
            )
        return BatchOutput(outputs, np.ascontiguousarray(arr.reshape(len(arr), -1), np.float32))

    def fingerprint(self) -> dict[str, Any]:
        """Name and byte code of the callable, and its pickled state when available."""
        try:
            import joblib  # type: ignore[import-untyped]

            state = joblib.hash(self.func)
        except Exception:  # lambdas and closures cannot be pickled: the code digest stands
            state = None
        return {
            "kind": "callable",
            "class": _qualname(self.func),
            "code": _code_digest(self.func),
            "state": state,
        }


class LoaderScores(_NoSession):
    """``model=None``: the loader yields the scores themselves.

    The batch's input (``x`` of a tuple, ``batch[score_key]`` of a dict) is taken as the
    scores, 1-D or one column per output.

    Examples
    --------
    >>> from hstrat.adapters import LoaderScores
    >>> LoaderScores().predict([0.2, 0.7]).outputs.shape
    (2, 1)
    """

    kind: OutputKind = "scores"

    def __init__(self, class_names: Sequence[Any] | None = None) -> None:
        self.class_names: list[Any] | None = None if class_names is None else list(class_names)
        self.embedding_source: str | None = None

    def predict(self, inputs: Any) -> BatchOutput:
        """Return the scores of the batch as outputs."""
        return BatchOutput(_outputs_2d(inputs, "the loader's scores"))

    def fingerprint(self) -> dict[str, Any]:
        """Scores come with the data; the data's fingerprint covers them."""
        return {"kind": "loader scores"}


def _qualname(obj: Any) -> str:
    target = obj if isinstance(obj, type) or hasattr(obj, "__qualname__") else type(obj)
    return f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', repr(target))}"


def _class_names_attribute(model: Any) -> list[Any] | None:
    names = getattr(model, "class_names", None)
    if names is None or isinstance(names, (str, bytes)):
        return None
    try:
        return list(names)
    except TypeError:
        return None
