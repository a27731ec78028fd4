"""PyTorch models: scores and embeddings from one forward pass, leaving no trace.

The only module of hstrat that imports torch, and only inside functions: a missing torch
raises an :class:`ImportError` naming the ``hstrat-audit[torch]`` extra when a torch
feature is used, never on ``import hstrat``. :class:`TorchAdapter` says how outputs,
embeddings and devices are handled.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import sys
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from .._validation import describe, did_you_mean
from ._callable import (
    BatchOutput,
    EmbeddingLayer,
    OutputKind,
    _class_names_attribute,
    _code_digest,
    _qualname,
    _rows,
)

_HEAD_ATTRIBUTES = ("classifier", "fc", "head", "heads", "last_linear")
_WRAPPERS = ("DataParallel", "DistributedDataParallel")


def require_torch(feature: str = "This feature") -> Any:
    """Import and return :mod:`torch`, or raise an ImportError naming the extra.

    Examples
    --------
    >>> from hstrat.adapters import require_torch
    >>> require_torch().__name__
    'torch'
    """
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            f"{feature} needs PyTorch, which is not installed; install it with "
            "pip install 'hstrat-audit[torch]'."
        ) from err
    return torch


def is_torch_module(model: Any) -> bool:
    """Whether ``model`` is a :class:`torch.nn.Module` (without importing torch).

    Examples
    --------
    >>> from hstrat.adapters import is_torch_module
    >>> is_torch_module(print)
    False
    """
    torch = sys.modules.get("torch")
    nn = getattr(torch, "nn", None)
    return nn is not None and isinstance(model, nn.Module)


def _unwrap(model: Any) -> tuple[Any, str]:
    prefix = ""
    while type(model).__name__ in _WRAPPERS and hasattr(model, "module"):
        model, prefix = model.module, prefix + "module."
    return model, prefix


def _last_linear(module: Any, nn: Any) -> str | None:
    names = [name for name, sub in module.named_modules() if isinstance(sub, nn.Linear)]
    return names[-1] if names else None


def penultimate_layer(model: Any) -> str:
    """Name of the module whose **input** is the penultimate representation.

    The last :class:`torch.nn.Linear` inside the first of the attributes ``classifier``,
    ``fc``, ``head``, ``heads``, ``last_linear`` that exists (DenseNet ``classifier``,
    ResNet ``fc``, EfficientNet / MobileNet / ConvNeXt / VGG ``classifier[-1]``, ViT
    ``heads.head``), else the last ``Linear`` of the model (a plain ``nn.Sequential``).

    Returns
    -------
    str
        A dotted name for ``model.get_submodule``; ``""`` when the model itself is the
        final ``Linear`` (its input features are then the embeddings).

    Raises
    ------
    ValueError
        When the model has no ``Linear`` layer; pass ``embedding_layer=`` then.

    Examples
    --------
    >>> import torch
    >>> from hstrat.adapters import penultimate_layer
    >>> penultimate_layer(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(),
    ...                                       torch.nn.Linear(3, 1)))
    '2'
    """
    torch = require_torch("Finding the penultimate layer")
    nn = torch.nn
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {describe(model)}.")
    root, prefix = _unwrap(model)
    for attribute in _HEAD_ATTRIBUTES:
        head = getattr(root, attribute, None)
        if isinstance(head, nn.Module):
            name = _last_linear(head, nn)
            if name is not None:
                return prefix + attribute + (f".{name}" if name else "")
    name = _last_linear(root, nn)
    if name is not None:
        return (prefix + name).rstrip(".")
    raise ValueError(
        f"Cannot find the penultimate layer of {type(model).__name__}: it has no "
        "torch.nn.Linear layer. Pass embedding_layer='name' (a module from "
        "model.named_modules(), whose output is taken) or embedding_layer=False."
    )


def _resolve_layer(model: Any, embedding_layer: EmbeddingLayer) -> tuple[str | None, str | None]:
    """Return (module name, "input" | "output") or (None, None)."""
    if embedding_layer is False:
        return None, None
    if embedding_layer is None:
        return penultimate_layer(model), "input"
    if not isinstance(embedding_layer, str):
        raise TypeError(
            "embedding_layer must be None (automatic), False (none) or a module name; got "
            f"{describe(embedding_layer)}."
        )
    names = [name for name, _ in model.named_modules() if name]
    if embedding_layer not in names:
        raise ValueError(
            f"embedding_layer={embedding_layer!r} is not a module of {type(model).__name__} "
            f"(see model.named_modules()).{did_you_mean(embedding_layer, names)}"
        )
    return embedding_layer, "output"


def _check_device(device: Any) -> Any:
    torch = require_torch("device=")
    if device is None:
        return None
    if not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a string such as 'cpu' or 'cuda:0', or a torch.device; got "
            f"{describe(device)}."
        )
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(
            f"device must be a string such as 'cpu' or 'cuda:0'; got {device!r}."
        ) from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available on this machine.")
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    return dev


def _to_device(value: Any, device: Any, torch: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True) if value.device != device else value
    if isinstance(value, Mapping):
        moved = {k: _to_device(v, device, torch) for k, v in value.items()}
        try:
            return type(value)(moved)  # type: ignore[call-arg]
        except TypeError:  # a mapping type that cannot be built from a dict
            return moved
    if isinstance(value, (list, tuple)) and not hasattr(value, "_fields"):
        return type(value)(_to_device(v, device, torch) for v in value)
    return value


def _logits_2d(output: Any, torch: Any) -> Any:
    tensor = output
    if not isinstance(tensor, torch.Tensor):
        if isinstance(output, Mapping) and "logits" in output:
            tensor = output["logits"]
        elif isinstance(getattr(output, "logits", None), torch.Tensor):
            tensor = output.logits
        elif isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
            tensor = output[0]
        else:
            raise TypeError(
                "The model's output must be a tensor (or a tuple whose first item is one, or "
                f"have 'logits'); got {type(output).__name__}."
            )
    return _rows(tensor, "The model's output")


class TorchAdapter:
    """A :class:`torch.nn.Module` as a model for :func:`hstrat.collect`.

    The model's output (a tensor, a tuple whose first item is one, or a mapping or object
    with ``logits``) is taken as logits. The pass leaves no trace (eval mode and
    :func:`torch.inference_mode` inside, training flags, hooks and device restored
    after, also after an exception; nothing seeded; one ``.cpu()`` per batch): see
    "What audit does with your model" in the PyTorch tutorial.

    Parameters
    ----------
    model : torch.nn.Module
        Outputs logits of shape ``(batch,)`` or ``(batch, n_outputs)``.
    embedding_layer : None, False or str, default None
        ``None``: the **input** of the final linear layer (:func:`penultimate_layer`), so
        what ``forward`` does before it (pooling, ``flatten``) is included. A dotted name
        from ``model.named_modules()``: that module's **output** (a tuple's first item),
        flattened per sample and copied before in-place operations can change it.
        ``False``: no embeddings.
    device : str or torch.device, optional
        ``None``: where the parameters are (each batch is moved there). A device: the
        model is moved there for the pass and back after; refused for a model spread
        over several devices.

    Attributes
    ----------
    embedding_source : str or None
        E.g. ``"input of classifier"`` or ``"output of features.norm5"``.

    Examples
    --------
    >>> import torch
    >>> from hstrat.adapters import TorchAdapter
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> adapter = TorchAdapter(model)
    >>> adapter.embedding_source
    'input of 2'
    >>> with adapter.session():
    ...     out = adapter.predict(torch.ones(5, 4))
    >>> out.outputs.shape, out.embeddings.shape, model.training
    ((5, 1), (5, 3), True)
    """

    kind: OutputKind = "logits"

    def __init__(
        self, model: Any, *, embedding_layer: EmbeddingLayer = None, device: Any = None
    ) -> None:
        torch = require_torch("Auditing a torch model")
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {describe(model)}.")
        self.model = model
        self.device = _check_device(device)
        self.class_names: list[Any] | None = _class_names_attribute(model)
        self._layer, self._mode = _resolve_layer(model, embedding_layer)
        self.embedding_source: str | None = (
            None if self._layer is None else f"{self._mode} of {self._layer or 'the model'}"
        )
        self._captured: Any = None
        self._input_device: Any = None

    def _pre_hook(self, module: Any, args: tuple[Any, ...]) -> None:
        self._captured = args[0] if args else None

    def _hook(self, module: Any, args: tuple[Any, ...], output: Any) -> None:
        value = output[0] if isinstance(output, (tuple, list)) and output else output
        # a copy: the model may modify the output in place later (DenseNet's relu(inplace))
        self._captured = value.clone() if hasattr(value, "clone") else value

    @contextmanager
    def session(self) -> Iterator[None]:
        """Eval mode, the embedding hook and the device for one pass, all undone on exit."""
        model = self.model
        flags = [(module, module.training) for module in model.modules()]
        handle = None
        original = None
        try:
            tensors = (*model.parameters(), *model.buffers())
            devices = list(dict.fromkeys(t.device for t in tensors))
            if self.device is not None:
                if len(devices) > 1:
                    raise ValueError(
                        f"The model's tensors are on several devices ({devices}); device= "
                        "would move them all to one. Leave device=None to run it as it is."
                    )
                if devices and devices[0] != self.device:
                    original = devices[0]
                    model.to(self.device)
                self._input_device = self.device
            else:
                self._input_device = devices[0] if devices else None
            model.eval()
            if self._layer is not None:
                module = model.get_submodule(self._layer)
                if self._mode == "input":
                    handle = module.register_forward_pre_hook(self._pre_hook)
                else:
                    handle = module.register_forward_hook(self._hook)
            yield
        finally:
            if handle is not None:
                handle.remove()
            self._captured = None
            try:
                if original is not None:
                    model.to(original)
            finally:
                for module, flag in flags:
                    module.training = flag

    def predict(self, inputs: Any) -> BatchOutput:
        """One forward pass under :func:`torch.inference_mode`; one ``.cpu()``."""
        torch = require_torch()
        if self._input_device is not None:
            inputs = _to_device(inputs, self._input_device, torch)
        self._captured = None
        with torch.inference_mode():
            logits = _logits_2d(self.model(inputs), torch)
            n, k = logits.shape
            dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
            if self._layer is None:
                packed = logits.to(dtype)
            else:
                packed = torch.cat([logits.to(dtype), self._embedding(n).to(dtype)], dim=1)
            host = packed.cpu()  # the batch's one device-to-CPU transfer
        array = host.numpy()
        if self._layer is None:
            return BatchOutput(array)
        return BatchOutput(array[:, :k], array[:, k:].astype(np.float32, copy=False))

    def _embedding(self, n: int) -> Any:
        torch = require_torch()
        captured = self._captured
        self._captured = None
        if captured is None:
            raise ValueError(
                f"The embedding layer {self._layer!r} did not run during the forward pass; "
                "pass embedding_layer= naming a module the model calls, or False."
            )
        if not isinstance(captured, torch.Tensor):
            raise TypeError(
                f"The {self._mode} of the embedding layer {self._layer!r} is a "
                f"{type(captured).__name__}, not a tensor; pass another embedding_layer=."
            )
        if captured.ndim == 0 or captured.shape[0] != n:
            raise ValueError(
                f"The {self._mode} of the embedding layer {self._layer!r} has shape "
                f"{tuple(captured.shape)}, whose first dimension is not the batch size {n}; "
                "pass another embedding_layer=."
            )
        return captured.reshape(n, -1)

    def fingerprint(self) -> dict[str, Any]:
        """Return a digest of what decides the model's outputs, as far as hstrat can see.

        Every module's class, ``forward`` byte code, parameters, buffers and other
        attributes are read in full; what it covers and cannot see ("What the model's
        fingerprint covers" in the PyTorch tutorial) decides when to pass ``cache_key=``.
        """
        torch = require_torch()
        digest = hashlib.blake2b(digest_size=20)
        internals = set(vars(torch.nn.Module())) - {"_forward_hooks", "_forward_pre_hooks"}
        n_bytes = 0
        for name, module in _unwrap(self.model)[0].named_modules():
            forward = _code_digest(type(module).forward)
            digest.update(f"<{name}|{_qualname(module)}|{forward}>".encode())
            for key, value in sorted(vars(module).items()):
                if key in ("_forward_hooks", "_forward_pre_hooks"):
                    value = list(value.values())  # keyed by handle ids, which vary
                if key not in internals or key in ("_parameters", "_buffers"):
                    digest.update(key.encode())
                    n_bytes += _feed(digest, value, torch)
        return {
            "kind": "torch",
            "class": _qualname(self.model),
            "digest": digest.hexdigest(),
            "n_bytes": n_bytes,
        }


_PLAIN = (bool, int, float, complex, str, bytes, np.generic, enum.Enum)


def _feed(h: Any, value: Any, torch: Any, depth: int = 0) -> int:
    """Add ``value`` to the digest ``h`` (see ``fingerprint``); return the tensor bytes read."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        h.update(repr(value.tolist()).encode())
        return 0
    if isinstance(value, (torch.Tensor, np.ndarray)):
        data = torch.as_tensor(value).detach()
        data = data.to_dense() if data.is_sparse else data
        data = data.int_repr() if data.is_quantized else data
        h.update(f"{data.dtype}{tuple(data.shape)}".encode())
        raw = data.cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
        h.update(raw.data)
        return int(raw.nbytes)
    if value is None or isinstance(value, (*_PLAIN, torch.dtype)):
        h.update(f"{type(value).__name__}:{value!r};".encode())
        return 0
    if isinstance(value, torch.device):
        h.update(value.type.encode())
        return 0
    if depth > 6:
        h.update(_qualname(value).encode())
        return 0
    if isinstance(value, functools.partial):
        value = (value.func, value.args, value.keywords)
    if isinstance(value, (set, frozenset)):
        value = sorted(value, key=repr)
    if isinstance(value, Mapping):
        value = [item for pair in value.items() for item in pair]
    if isinstance(value, (list, tuple)):
        h.update(f"[{len(value)}".encode())
        return sum(_feed(h, item, torch, depth + 1) for item in value)
    if callable(value):
        h.update(_code_digest(value).encode())
        if isinstance(
            value, (type, types.FunctionType, types.MethodType, types.BuiltinFunctionType)
        ):
            return 0
    h.update(_qualname(value).encode())
    return _feed(h, vars(value), torch, depth + 1) if hasattr(value, "__dict__") else 0


def loader_order_is_random(loader: Any) -> bool:
    """Whether the order of the samples a loader yields is random (or not known to be fixed).

    Random: ``shuffle=True``, a random, subset-random or weighted sampler, a shuffling
    ``DistributedSampler`` (also inside a batch sampler), and any sampler hstrat does
    not recognise (its order is not the data set's). Fixed: a ``SequentialSampler``, an
    iterable data set, a plain iterable of batches. Torch is not imported.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> from hstrat.adapters import loader_order_is_random
    >>> data = TensorDataset(torch.zeros(4, 2), torch.zeros(4))
    >>> loader_order_is_random(DataLoader(data, shuffle=True))
    True
    >>> loader_order_is_random(DataLoader(data)), loader_order_is_random([(1, 0)])
    (False, False)
    """
    if getattr(loader, "shuffle", None) is True:
        return True
    data = sys.modules.get("torch.utils.data")
    batch_sampler = getattr(loader, "batch_sampler", None)
    sampler = batch_sampler if batch_sampler is not None else getattr(loader, "sampler", None)
    if sampler is None:
        return False
    return _sampler_is_random(sampler, data)


def _sampler_is_random(sampler: Any, data: Any, depth: int = 0) -> bool:
    if data is not None:
        if isinstance(
            sampler, (data.RandomSampler, data.SubsetRandomSampler, data.WeightedRandomSampler)
        ):
            return True
        if isinstance(sampler, data.SequentialSampler):
            return False
        if isinstance(sampler, data.DistributedSampler):
            return bool(sampler.shuffle)
    if type(sampler).__name__ == "_InfiniteConstantSampler":  # an IterableDataset's loader
        return False
    inner = getattr(sampler, "sampler", None)
    if inner is not None and inner is not sampler and depth < 8:
        return _sampler_is_random(inner, data, depth + 1)
    shuffle = getattr(sampler, "shuffle", None)
    if isinstance(shuffle, bool):
        return shuffle
    return True
