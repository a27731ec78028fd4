"""collect(): one streamed pass of a model over a loader → :class:`Predictions`."""

from __future__ import annotations

import contextlib
import numbers
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._predictions import Predictions
from .._validation import check_option, describe, did_you_mean
from ..adapters import (
    BatchOutput,
    CallableAdapter,
    LoaderScores,
    ModelAdapter,
    SklearnAdapter,
    TorchAdapter,
    as_array,
    is_sklearn_estimator,
    is_torch_module,
    loader_order_is_random,
)
from ._cache import CollectCache, Collected, concatenate, digest_values
from ._distributed import collect_sharded, shard_group

__all__ = ["collect"]

ACTIVATIONS = ("auto", "sigmoid", "softmax", "none")
Target = int | str | None
#: The outputs a pass audits: a list (one ``None``: the default), or every output.
Targets = list[Target] | Literal["all"]


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Logistic function, stable for large |x| (scipy.special is slow to import)."""
    return np.asarray(np.exp(-np.logaddexp(0.0, -x)), dtype=np.float64)


@dataclass(frozen=True)
class _Head:
    """How a batch's outputs become one score per sample (fixed at the first batch)."""

    n_outputs: int
    columns: tuple[int, ...]  # one per audited target
    activation: str
    automatic: bool  # the activation was chosen by activation="auto"

    def scores(
        self, outputs: npt.NDArray[np.floating[Any]], batch: int
    ) -> npt.NDArray[np.float64]:
        """Return the scores, shape ``(batch, targets)``."""
        if outputs.shape[1] != self.n_outputs:
            raise ValueError(
                f"Batch {batch} has {outputs.shape[1]} model outputs per sample; the first "
                f"batch had {self.n_outputs}."
            )
        cols = list(self.columns)
        if self.activation == "softmax":
            z = outputs.astype(np.float64)
            if self.n_outputs == 2:  # the logistic of the difference: exact in the tails
                return _sigmoid(z[:, cols] - z[:, [1 - c for c in cols]])
            z -= z.max(axis=1, keepdims=True)
            e = np.exp(z)
            return e[:, cols] / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]
        chosen = outputs[:, cols].astype(np.float64)
        return _sigmoid(chosen) if self.activation == "sigmoid" else chosen


@overload
def collect(
    model: Any, loader: Iterable[Any], *, targets: None = None, **kwargs: Any
) -> Predictions: ...
@overload
def collect(
    model: Any, loader: Iterable[Any], *, targets: Sequence[int | str] | str, **kwargs: Any
) -> dict[Any, Predictions]: ...
def collect(  # type: ignore[misc]  # the overloads only tell the return type apart
    model: Any,
    loader: Iterable[Any],
    *,
    target: Target = None,
    targets: Sequence[int | str] | Literal["all"] | None = None,
    embedding_layer: str | Literal[False] | None = None,
    device: Any = None,
    progress: bool = True,
    cache: str | os.PathLike[str] | None = None,
    cache_key: str | None = None,
    label_key: str = "label",
    input_key: str = "image",
    id_key: str = "id",
    score_key: str = "score",
    metadata_keys: Sequence[str] | None = None,
    class_names: Sequence[Any] | None = None,
    activation: str = "auto",
    distributed: bool | None = None,
) -> Predictions | dict[Any, Predictions]:
    """Run a model over a loader once and keep labels, scores, ids, metadata and embeddings.

    The "Audit a PyTorch model" tutorial says what the pass does with each kind of model,
    batch and option, and how the cache and its model fingerprint work.

    Parameters
    ----------
    model : torch.nn.Module, scikit-learn estimator, callable or None
        A torch module returning logits; a fitted scikit-learn classifier or pipeline;
        any ``f(x)`` returning scores, or ``(scores, embeddings)``; or ``None`` when the
        batches carry the scores (``x`` of a tuple, or ``batch[score_key]``).
    loader : iterable of batches
        E.g. a :class:`torch.utils.data.DataLoader`, yielding ``(x, y)``, ``(x, y,
        ids)``, ``(x, y, {id_key: ids, **metadata})`` or dicts with ``input_key``,
        ``label_key``, optionally ``id_key`` and metadata (one scalar per sample). Labels
        are 0/1, or multi-hot ``(batch, n_classes)`` reduced by ``target``.
    target : int or str, optional
        The output (and column of multi-hot labels) to audit: an index, or a name from
        ``class_names`` (or the model's ``class_names``, or an estimator's ``classes_``).
        Needed when the model has several outputs, except a two-logit torch model.
    targets : list of int or str, or "all", optional
        Several outputs in the same pass, instead of ``target``: a dict of finding to
        Predictions is returned, each equal to what ``target=finding`` gives.
    embedding_layer : None, False or str, default None
        ``None``: the penultimate features (torch: the input of the final ``Linear``; a
        pipeline: its last transformer's output; a callable: the second item it returns).
        A string: a torch module's output (a name from ``model.named_modules()``), a
        pipeline's step, or with ``model=None`` the batch key of embeddings. ``False``:
        none. Embeddings are float32.
    device : str or torch.device, optional
        Torch models only: ``None`` runs where the parameters are; a device moves the
        model there for the pass and back after.
    progress : bool, default True
        Show a progress bar (tqdm).
    cache : str or path-like, optional
        A directory for the model's outputs and embeddings, checked against a digest of
        each batch's inputs: a later pass resumes; other inputs or another model raise
        :class:`~hstrat.exceptions.CacheError`.
    cache_key : str, optional
        Compared like the model's fingerprint: change it when something the fingerprint
        cannot see (code ``forward`` calls, global state) changes the outputs.
    label_key, input_key, id_key, score_key : str
        Keys of dict batches (defaults ``"label"``, ``"image"``, ``"id"``, ``"score"``).
    metadata_keys : sequence of str, optional
        Which other keys of dict batches to keep as metadata; default: all.
    class_names : sequence, optional
        Names of the model's outputs, for ``target="name"``.
    activation : {"auto", "sigmoid", "softmax", "none"}, default "auto"
        How outputs become scores. ``"auto"``: for torch models one output → sigmoid, two
        → softmax of class 1, more → sigmoid of ``target``; for other models none.
    distributed : bool or None, default None
        Under ``torchrun``, whether the ranks' shards are gathered: ``None`` when the
        loader's sampler is a :class:`~torch.utils.data.DistributedSampler`, ``True``
        always (batches then need ids), ``False`` never (see "Several GPUs and machines").

    Returns
    -------
    Predictions, or dict of finding to Predictions with ``targets=``
        ``ids`` from the batches (else positions ``0..n-1``), ``metadata`` indexed by
        them, ``embeddings`` (memory-mapped, read-only, with ``cache=``), ``target`` and
        ``shuffled`` (the loader's order is random: strata must then be keyed by id).

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import DataLoader, TensorDataset
    >>> import hstrat
    >>> g = torch.Generator().manual_seed(0)
    >>> x, y = torch.randn(40, 5, generator=g), (torch.arange(40) % 2).float()
    >>> model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    >>> loader = DataLoader(TensorDataset(x, y), batch_size=16)
    >>> p = hstrat.collect(model, loader, activation="sigmoid", progress=False)  # logits
    >>> p
    Predictions(n=40, positives=20, embeddings=40x8, target=None)
    """
    check_option(activation, "activation", ACTIVATIONS)
    for name, key in (
        ("input_key", input_key),
        ("label_key", label_key),
        ("id_key", id_key),
        ("score_key", score_key),
    ):
        if not isinstance(key, str):
            raise TypeError(f"{name} must be a string; got {describe(key)}.")
    if metadata_keys is not None and (
        isinstance(metadata_keys, str) or not all(isinstance(k, str) for k in metadata_keys)
    ):
        raise TypeError(
            f"metadata_keys must be a sequence of strings; got {describe(metadata_keys)}."
        )
    wanted = _check_targets(target, targets)
    if isinstance(loader, (str, bytes, Mapping)) or not isinstance(loader, Iterable):
        raise TypeError(
            "loader must be an iterable of batches (e.g. a torch DataLoader); got "
            f"{describe(loader)}."
        )
    if cache_key is not None and not isinstance(cache_key, str):
        raise TypeError(f"cache_key must be a string or None; got {describe(cache_key)}.")
    if cache_key is not None and cache is None:
        raise ValueError(
            f"cache_key={cache_key!r} applies to a cache, and cache=None; pass cache= too, "
            "or leave cache_key=None."
        )
    group = shard_group(distributed, loader)
    adapter = _as_adapter(model, embedding_layer=embedding_layer, device=device)
    run = _Pass(
        adapter,
        wanted,
        list(class_names) if class_names is not None else adapter.class_names,
        activation,
        keys=(input_key, label_key, id_key, score_key),
        metadata_keys=None if metadata_keys is None else tuple(metadata_keys),
        # model=None: the batch key holding embeddings
        embedding_key=embedding_layer
        if model is None and isinstance(embedding_layer, str)
        else None,
    )
    shuffled = loader_order_is_random(loader)
    identity: dict[str, Any] = {}  # what cached outputs are valid for
    if group is not None or cache is not None:
        embedding = adapter.embedding_source if model is not None else run.embedding_key
        identity = {"model": adapter.fingerprint(), "embedding": embedding, "cache_key": cache_key}
    if group is not None:
        with group:
            collected, shuffled = collect_sharded(
                lambda store: run.run(loader, progress and group.rank == 0, store),
                loader,
                group,
                identity=identity,
                cache=cache,
                order_is_random=shuffled,
            )
    else:
        if cache is not None and shuffled:
            raise ValueError(
                "cache= needs a loader with a fixed order, and this loader shuffles (a random "
                "sampler); resuming would mix two orders. Use shuffle=False."
            )
        store = None if cache is None else CollectCache(cache, identity)
        found = run.run(loader, progress, store)
        if found is None:
            raise ValueError("The loader yielded no batches.")
        collected = found
    if wanted != "all" and targets is None:
        return _predictions(collected, 0, target=wanted[0], shuffled=shuffled)
    return {
        finding: _predictions(collected, j, target=finding, shuffled=shuffled)
        for j, finding in enumerate(run.findings())
    }


def _check_target(target: Any, name: str = "target") -> Target:
    if target is None or isinstance(target, str):
        return target
    if isinstance(target, bool) or not isinstance(target, numbers.Integral):
        raise TypeError(
            f"{name} must be an output index, a class name or None; got {describe(target)}."
        )
    return int(target)  # a numpy integer is stored as a plain int


def _check_targets(target: Any, targets: Any) -> Targets:
    if targets is None:
        return [_check_target(target)]
    if target is not None:
        raise TypeError("Pass target= (one output) or targets= (several), not both.")
    if isinstance(targets, str):
        return cast(Targets, check_option(targets, "targets", ("all",)))
    if not isinstance(targets, Sequence) or not targets:
        raise TypeError(
            f"targets must be 'all' or a non-empty list of output indices or class names; "
            f"got {describe(targets)}."
        )
    checked = [_check_target(t, "targets[...]") for t in targets]
    if None in checked or len(set(checked)) < len(checked):
        raise ValueError(f"targets must name distinct outputs; got {describe(targets)}.")
    return checked


def _as_adapter(model: Any, *, embedding_layer: Any, device: Any) -> ModelAdapter:
    if (
        embedding_layer is not None
        and embedding_layer is not False
        and not isinstance(embedding_layer, str)
    ):
        raise TypeError(
            "embedding_layer must be None (automatic), False (none) or a name; got "
            f"{describe(embedding_layer)}."
        )
    if is_torch_module(model):
        return TorchAdapter(model, embedding_layer=embedding_layer, device=device)
    if device is not None:
        raise ValueError(
            f"device={device!r} applies to a torch.nn.Module model; got {describe(model)}. "
            "Move the data yourself, or leave device=None."
        )
    if model is None:
        return LoaderScores()
    if isinstance(model, (str, bytes, os.PathLike)):
        raise TypeError(
            "model must be a torch.nn.Module, a scikit-learn estimator, a callable or None; got "
            f"the path {describe(model)}. Load the model first (torch.load, joblib.load)."
        )
    if is_sklearn_estimator(model):
        return SklearnAdapter(model, embedding_layer=embedding_layer)
    if callable(model):
        return CallableAdapter(model, embedding_layer=embedding_layer)
    raise TypeError(
        "model must be a torch.nn.Module, a scikit-learn estimator (predict_proba / "
        f"decision_function), a callable returning scores, or None; got {describe(model)}."
    )


@dataclass
class _Batch:
    inputs: Any
    labels: npt.NDArray[Any]
    ids: npt.NDArray[Any] | None
    metadata: dict[str, npt.NDArray[Any]]
    embeddings: Any  # model=None only


@dataclass
class _Pass:
    """The loop over the loader, shared by the in-memory, cached and distributed paths."""

    adapter: ModelAdapter
    targets: Targets
    class_names: list[Any] | None
    activation: str
    keys: tuple[str, str, str, str]  # input, label, id and score keys of dict batches
    metadata_keys: tuple[str, ...] | None
    embedding_key: str | None
    head: _Head | None = None
    in_unit_interval: bool = True  # every output an automatic activation squashed

    def run(
        self, loader: Iterable[Any], progress: bool, store: CollectCache | None
    ) -> Collected | None:
        """Return the rows of every batch (None: the loader yielded none)."""
        from tqdm.auto import tqdm

        try:
            total: int | None = len(loader)  # type: ignore[arg-type]
        except TypeError:
            total = None
        records: list[Collected] = []
        with (
            tqdm(total=total, disable=not progress, desc="collect", unit="batch") as bar,
            self.adapter.session(),
            store if store is not None else contextlib.nullcontext(),
        ):
            for index, raw in enumerate(loader):
                batch = self._unpack(raw, index)
                out = None
                if store is not None:
                    digest = digest_values(batch.inputs, batch.embeddings)
                    out = store.cached(index, digest)
                if out is None:
                    out = self.adapter.predict(batch.inputs)
                    if batch.embeddings is not None:  # model=None: they come with the batch
                        e = as_array(batch.embeddings).reshape(len(out.outputs), -1)
                        out = BatchOutput(out.outputs, np.ascontiguousarray(e, dtype=np.float32))
                    if store is not None:
                        store.append(digest, out)
                        out = BatchOutput(out.outputs)  # the embeddings stay on disk
                records.append(self._record(batch, out, index))
                bar.update()
        if not records:  # a rank of a process group may have none
            return None
        collected = concatenate(records)
        if store is not None:
            collected.embeddings = store.embeddings(len(collected.scores))
        if self.in_unit_interval and self.head is not None and self.head.automatic:
            warnings.warn(
                f"activation='auto' applied a {self.head.activation} to the model's outputs, "
                "and every one of them lies in [0, 1]: if the model returns probabilities "
                "already (it ends with a sigmoid or softmax), the scores are squashed twice "
                "and every threshold moves. Pass activation='none' if they are "
                f"probabilities, or activation='{self.head.activation}' if they are logits.",
                UserWarning,
                stacklevel=3,
            )
        return collected

    def _record(self, batch: _Batch, out: BatchOutput, index: int) -> Collected:
        n = len(out.outputs)
        if self.head is None:
            self.head = self._resolve_head(out.outputs.shape[1])
        scores = self.head.scores(out.outputs, index)
        columns = list(self.head.columns)
        if self.head.automatic and self.in_unit_interval:  # the outputs the activation squashes
            x = out.outputs if self.head.activation == "softmax" else out.outputs[:, columns]
            self.in_unit_interval = bool(((x >= 0) & (x <= 1)).all())
        labels = self._labels(batch.labels, index, columns)
        if len(labels) != n:
            raise ValueError(
                f"Batch {index} has {len(labels)} labels but the model returned {n} outputs."
            )
        for name, values in (("ids", batch.ids), *batch.metadata.items()):
            if values is not None and len(values) != n:
                raise ValueError(
                    f"Batch {index}: {name} has {len(values)} entries for {n} samples."
                )
        return Collected(scores, labels, batch.ids, batch.metadata, out.embeddings)

    def _resolve_head(self, k: int) -> _Head:
        given: list[int | None] = (
            list(range(k))
            if self.targets == "all"
            else [None if t is None else self._target_index(t, k) for t in self.targets]
        )
        kind = self.adapter.kind
        act = self.activation
        automatic = act == "auto" and kind == "logits"
        if act == "auto":
            if kind != "logits":
                act = "none"
            elif k == 1:
                act = "sigmoid"
            elif k == 2 and given == [None]:
                act = "softmax"
            elif k == 2:
                raise ValueError(
                    f"The model has two outputs and {self._asked()}: are they the two "
                    "classes of one softmax, or two independent (multi-label) outputs? Pass "
                    "activation='softmax' or activation='sigmoid'."
                )
            else:
                act = "sigmoid"
        if given == [None]:
            if k == 1:
                given = [0]
            elif k == 2 and (act == "softmax" or kind == "probabilities"):
                given = [1]
            else:
                hint = f" or one of {describe(self.class_names, 80)}" if self.class_names else ""
                raise ValueError(
                    f"The model has {k} outputs per sample; pass target= (an index 0..{k - 1}"
                    f"{hint}) to choose the one to audit, or targets= for several."
                )
        columns = tuple(int(c) for c in given if c is not None)
        if len(set(columns)) < len(columns):
            raise ValueError(f"{self._asked()} names one output twice.")
        return _Head(k, columns, act, automatic)

    def _asked(self) -> str:
        if self.targets == "all":
            return "targets='all'"
        if len(self.targets) == 1:
            return f"target={self.targets[0]!r}"
        return f"targets={list(self.targets)!r}"

    def findings(self) -> list[Any]:
        """Names of the audited outputs, in order: class names when known, else indices."""
        head = self.head
        if head is None:
            raise RuntimeError("the pass has not seen a batch yet")
        names = self.class_names
        if names is not None and len(names) == head.n_outputs:
            return [names[c] for c in head.columns]
        if self.targets == "all":
            return list(head.columns)
        return list(self.targets)

    def _target_index(self, target: Target, k: int) -> int:
        if isinstance(target, str):
            names = self.class_names
            if names is None:
                raise ValueError(
                    f"target={target!r} is a name, but the names of the model's outputs are "
                    "unknown; pass class_names=[...] (or give the model a class_names "
                    "attribute), or an index."
                )
            if len(names) != k:
                raise ValueError(
                    f"class_names has {len(names)} names but the model has {k} outputs."
                )
            matches = [i for i, name in enumerate(names) if name == target or str(name) == target]
            if not matches:
                raise ValueError(
                    f"target={target!r} is not one of the class names "
                    f"{describe(names, 200)}.{did_you_mean(target, map(str, names))}"
                )
            return matches[0]
        index = int(target)  # type: ignore[arg-type]
        if not 0 <= index < k:
            raise ValueError(f"target must be an output index in 0..{k - 1}; got {target!r}.")
        return index

    def _labels(
        self, values: npt.NDArray[Any], index: int, columns: list[int]
    ) -> npt.NDArray[np.bool_]:
        """Return the labels of the audited targets, shape ``(batch, targets)``."""
        y = values
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim == 2:
            if self.targets == [None]:
                raise ValueError(
                    f"The labels of batch {index} are multi-hot, shape {y.shape}; pass target= "
                    "to choose the column to audit (or targets= for several)."
                )
            if max(columns) >= y.shape[1]:
                raise ValueError(
                    f"{self._asked()} needs label column {max(columns)}, but the labels of "
                    f"batch {index} have {y.shape[1]} columns."
                )
            y = y[:, columns]
        elif len(columns) > 1:
            raise ValueError(
                f"{self._asked()} audits {len(columns)} outputs, but the labels of batch "
                f"{index} have one column; give one label column per output (multi-hot)."
            )
        else:
            y = y[:, None]
        if y.ndim != 2:
            raise ValueError(
                f"The labels of batch {index} must have shape (batch,) or (batch, n_classes); "
                f"got {values.shape}."
            )
        if y.dtype == bool:
            return y
        if y.dtype.kind not in "iuf":
            raise TypeError(
                f"The labels of batch {index} must be 0/1 numbers or booleans; got dtype "
                f"{y.dtype} ({describe(y[:5].tolist())})."
            )
        ones: npt.NDArray[np.bool_] = np.asarray(y == 1)
        if not (ones | (y == 0)).all():
            bad = np.unique(y[~(ones | (y == 0))])[:5].tolist()
            raise ValueError(
                f"The labels of batch {index} must be 0 or 1; got {describe(bad)}. Map "
                "uncertain or missing labels (e.g. -1, NaN) to 0/1, or drop those samples, "
                "before the audit."
            )
        return ones

    def _unpack(self, raw: Any, index: int) -> _Batch:
        """Split a batch into inputs, labels, ids, metadata and (model=None) embeddings."""
        input_key, label_key, id_key, score_key = self.keys
        extra: Any = None
        embeddings = None
        if isinstance(raw, Mapping):
            x_key, x_arg = input_key, "input_key"
            if isinstance(self.adapter, LoaderScores):
                x_key, x_arg = score_key, "score_key"
            needed = {x_key: x_arg, label_key: "label_key"}
            if self.embedding_key is not None:
                needed[self.embedding_key] = "embedding_layer"
            for key, arg in needed.items():
                if key not in raw:
                    raise ValueError(
                        f"Batch {index} is a dict without the key {key!r} ({arg}); its keys "
                        f"are {list(raw)!r}. Pass {arg}=."
                    )
            inputs, labels = raw[x_key], raw[label_key]
            embeddings = None if self.embedding_key is None else raw[self.embedding_key]
            extra = {k: v for k, v in raw.items() if k not in needed}
        elif isinstance(raw, (tuple, list)) and len(raw) in (2, 3):
            inputs, labels = raw[0], raw[1]
            extra = raw[2] if len(raw) == 3 else None
            if self.embedding_key is not None:
                raise ValueError(
                    f"embedding_layer={self.embedding_key!r} names a key of dict batches, but "
                    f"batch {index} is a {type(raw).__name__}."
                )
        else:
            what = (
                f"a {type(raw).__name__} of length {len(raw)}"
                if isinstance(raw, (tuple, list))
                else describe(raw)
            )
            raise TypeError(
                f"Batch {index} must be (x, y), (x, y, ids_or_metadata) or a dict; got {what}."
            )
        y = as_array(labels, "labels")
        if y.ndim == 0:
            raise ValueError(
                f"The labels of batch {index} are a scalar; a batch needs one label per sample."
            )
        ids: npt.NDArray[Any] | None = None
        metadata: dict[str, npt.NDArray[Any]] = {}
        if isinstance(extra, Mapping):
            if id_key in extra:
                ids = _column(extra[id_key], id_key, index)
            wanted = self.metadata_keys
            for key in [k for k in extra if k != id_key] if wanted is None else wanted:
                if key not in extra:
                    raise ValueError(
                        f"metadata_keys names {key!r}, which batch {index} does not have; its "
                        f"keys are {list(extra)!r}."
                    )
                metadata[str(key)] = _column(extra[key], key, index)
        elif extra is not None:
            ids = _column(extra, "ids", index)
        return _Batch(inputs, y, ids, metadata, embeddings)


def _column(value: Any, key: Any, index: int) -> npt.NDArray[Any]:
    """Return one per-sample column of a batch's ids or metadata."""
    arr = as_array(value, str(key))
    if arr.ndim != 1:
        raise ValueError(
            f"Batch {index}: {key!r} must hold one scalar per sample (shape (batch,)); got "
            f"shape {arr.shape}. Keep only per-sample keys with metadata_keys=[...]."
        )
    return arr


def _predictions(collected: Collected, column: int, *, target: Any, shuffled: bool) -> Predictions:
    """Return the Predictions of one audited output (``column`` of scores and labels)."""
    n = len(collected.scores)
    if collected.ids is None:
        ids: pd.Index = pd.RangeIndex(n, name="id")
    else:
        ids = pd.Index(collected.ids, name="id")
        if not ids.is_unique:
            dup = ids[ids.duplicated()][:3].tolist()
            raise ValueError(
                f"The loader yielded the sample ids {describe(dup)} more than once; every "
                "sample must be evaluated once (is the sampler drawing with replacement?)."
            )
    metadata = pd.DataFrame(collected.metadata, index=ids) if collected.metadata else None
    return Predictions(
        collected.labels[:, column],
        collected.scores[:, column],
        ids=ids,
        embeddings=collected.embeddings,
        metadata=metadata,
        target=target,
        shuffled=shuffled,
    )
