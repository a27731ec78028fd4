"""The on-disk cache of :func:`hstrat.collect`: stream a pass to disk, resume it, reload it.

Layout of a cache directory::

    hstrat-cache.json      manifest (written atomically after every chunk)
    chunk-00000.npz        scores (float64), labels (bool), embeddings (float32) of a
    chunk-00000.json       run of completed batches; ids and metadata with their dtypes
    ...
    scores.npy labels.npy embeddings.npy index.json      once the pass is complete

While the pass runs, completed batches are kept in memory and written as one chunk when
they hold 64 MiB, when 20 seconds have passed since the last chunk, when the loader is
exhausted, and when the pass stops on an exception (``KeyboardInterrupt`` included):
the batch that was interrupted is not saved, every batch before it is. A chunk's files
are written first (to a temporary name, then renamed) and the manifest after them, so a
crash at any point leaves a consistent cache.

**Resuming.** The next pass with the same cache skips the batches the manifest lists —
the loader still yields them, but the model is not run — checking that each has the
same size and the same digest of labels and ids as when it was written, so a loader
whose order or content changed is refused instead of producing a mix of two runs.

**Fingerprints.** The manifest records, and a later pass compares:

* the model: for a torch module a BLAKE2b digest of every ``state_dict`` tensor's bytes
  (reading the whole state once costs about a second per GB; cheaper samples of the
  weights would miss a fine-tuned copy that differs in one layer); for scikit-learn a
  joblib hash of the fitted estimator; for a callable its name and byte code;
* the data: ``len(loader)``, ``len(loader.dataset)``, the batch size, and a digest of the
  first batch's inputs, labels and ids;
* the options that change the result: ``target``, ``embedding_layer`` (as resolved),
  ``activation``, ``class_names`` and the batch keys.

Any difference raises a :class:`ValueError` that says which; nothing is silently
reused. When the pass is complete, the chunks are gathered into single files (the
embeddings through :func:`numpy.lib.format.open_memmap`, one chunk at a time, so memory
stays bounded) and a later call loads them at once — embeddings memory-mapped
(``mmap_mode="r"``) — after checking the first batch.

A cache is for a loader with a fixed order: a shuffling loader is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._io import atomic_write_bytes, atomic_write_text
from .._version import __version__

__all__ = ["BatchRecord", "CollectCache", "Collected", "digest_values"]

MANIFEST = "hstrat-cache.json"
FORMAT = "hstrat.collect-cache"
FORMAT_VERSION = 1
FLUSH_BYTES = 64 * 2**20  # completed batches are written once they hold this much,
FLUSH_SECONDS = 20.0  # or this long after the last chunk


@dataclass
class BatchRecord:
    """One batch after reduction: a score and a label per sample, ids, metadata, features."""

    scores: npt.NDArray[np.float64]
    labels: npt.NDArray[np.bool_]
    ids: npt.NDArray[Any] | None
    metadata: dict[str, npt.NDArray[Any]]
    embeddings: npt.NDArray[np.float32] | None

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the record."""
        total = self.scores.nbytes + self.labels.nbytes
        if self.embeddings is not None:
            total += self.embeddings.nbytes
        return total


@dataclass
class Collected:
    """The concatenated arrays of a whole pass."""

    scores: npt.NDArray[np.float64]
    labels: npt.NDArray[np.bool_]
    ids: npt.NDArray[Any] | None
    metadata: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    embeddings: npt.NDArray[np.float32] | None = None


def concatenate(records: list[BatchRecord]) -> Collected:
    """Concatenate batch records (in memory)."""
    first = records[0]
    return Collected(
        scores=np.concatenate([r.scores for r in records]),
        labels=np.concatenate([r.labels for r in records]),
        ids=None if first.ids is None else _concat([r.ids for r in records]),  # type: ignore[misc]
        metadata={k: _concat([r.metadata[k] for r in records]) for k in first.metadata},
        embeddings=None
        if first.embeddings is None
        else np.concatenate([r.embeddings for r in records]),
    )


def _concat(parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    kinds = {p.dtype.kind for p in parts}
    if len(kinds) > 1 and "O" not in kinds and not kinds <= set("iuf") and not kinds <= set("US"):
        parts = [p.astype(object) for p in parts]
    return np.concatenate(parts)


def digest_values(*values: Any) -> str:
    """Return a short BLAKE2b digest of arrays, tensors, strings and nested containers.

    Examples
    --------
    >>> from hstrat._audit._cache import digest_values
    >>> digest_values([1, 2]) == digest_values([1, 2])
    True
    >>> digest_values([1, 2]) == digest_values([2, 1])
    False
    """
    h = hashlib.blake2b(digest_size=16)
    for value in values:
        _update(h, value)
    return h.hexdigest()


def _update(h: Any, value: Any) -> None:
    from ..adapters import as_array

    if value is None:
        h.update(b"None;")
    elif isinstance(value, Mapping):
        h.update(b"{")
        for key in value:
            h.update(repr(key).encode())
            _update(h, value[key])
        h.update(b"}")
    elif isinstance(value, (str, bytes, int, float, bool)):
        h.update(repr(value).encode())
    elif hasattr(value, "iloc") and hasattr(value, "columns"):  # a DataFrame
        import pandas as pd

        h.update(pd.util.hash_pandas_object(value).to_numpy().tobytes())
    elif isinstance(value, (tuple, list)) and not all(np.isscalar(v) for v in value):
        h.update(b"(")
        for item in value:
            _update(h, item)
        h.update(b")")
    else:
        arr = as_array(value)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        if arr.dtype.kind == "O":
            h.update(repr(arr.tolist()).encode())
        else:
            h.update(np.ascontiguousarray(arr).data)


def _column_json(values: npt.NDArray[Any]) -> dict[str, Any]:
    dtype = values.dtype.str if values.dtype.kind != "O" else "object"
    return {"dtype": dtype, "values": values.tolist()}


def _column_from_json(payload: dict[str, Any]) -> npt.NDArray[Any]:
    if payload["dtype"] == "object":
        out = np.empty(len(payload["values"]), dtype=object)
        out[:] = payload["values"]
        return out
    return np.asarray(payload["values"], dtype=np.dtype(payload["dtype"]))


def _index_json(ids: npt.NDArray[Any] | None, metadata: Mapping[str, npt.NDArray[Any]]) -> str:
    payload = {
        "ids": None if ids is None else _column_json(ids),
        "metadata": {k: _column_json(v) for k, v in metadata.items()},
    }
    return json.dumps(payload, default=str)


def _index_from_json(text: str) -> tuple[npt.NDArray[Any] | None, dict[str, npt.NDArray[Any]]]:
    payload = json.loads(text)
    ids = None if payload["ids"] is None else _column_from_json(payload["ids"])
    return ids, {k: _column_from_json(v) for k, v in payload["metadata"].items()}


def _write_npz(path: Path, arrays: dict[str, npt.NDArray[Any]]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(path, buffer.getvalue())


def _describe_difference(kind: str, before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    keys = [k for k in dict.fromkeys([*before, *now]) if before.get(k) != now.get(k)]
    parts = [f"{k} was {before.get(k)!r}, now {now.get(k)!r}" for k in keys]
    return f"{kind} differ{'s' if kind != 'options' else ''} ({'; '.join(parts)})"


class CollectCache:
    """A cache directory for one pass (see the module documentation).

    Parameters
    ----------
    directory : str or path-like
        Created if missing. An existing directory must be empty or an hstrat cache.
    model : dict
        The model's fingerprint.
    options : dict
        The options that change the result.
    loader : dict
        ``len(loader)``, ``len(loader.dataset)``, batch size (``None`` when unknown).
    flush_bytes, flush_seconds : int, float, optional
        When completed batches are written as a chunk (default :data:`FLUSH_BYTES`,
        :data:`FLUSH_SECONDS`).
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        model: dict[str, Any],
        options: dict[str, Any],
        loader: dict[str, Any],
        flush_bytes: int | None = None,
        flush_seconds: float | None = None,
    ) -> None:
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"cache must be a directory path or None; got {directory!r}.")
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"cache={str(directory)!r} is a file; pass a directory.")
        self.flush_bytes = FLUSH_BYTES if flush_bytes is None else flush_bytes
        self.flush_seconds = FLUSH_SECONDS if flush_seconds is None else flush_seconds
        self._pending: list[BatchRecord] = []
        self._pending_digests: list[str] = []
        self._last_flush = time.monotonic()
        self.manifest = self._open(model, options, loader)

    # -- opening ---------------------------------------------------------------------
    def _open(
        self, model: dict[str, Any], options: dict[str, Any], loader: dict[str, Any]
    ) -> dict[str, Any]:
        path = self.directory / MANIFEST
        where = f"The cache in {str(self.directory)!r}"
        start_over = "Delete that directory, or pass another cache=, to start over."
        if not path.exists():
            if self.directory.exists() and any(self.directory.iterdir()):
                raise ValueError(
                    f"cache={str(self.directory)!r} is a directory that is not empty and "
                    f"has no {MANIFEST}; hstrat will not write its files among others. Pass "
                    "a new or empty directory."
                )
            self.directory.mkdir(parents=True, exist_ok=True)
            return self._new_manifest(model, options, loader)
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{where} has an unreadable {MANIFEST}: {err}. {start_over}") from err
        if manifest.get("format") != FORMAT or manifest.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{where} has format {manifest.get('format')!r} version "
                f"{manifest.get('version')!r}; this hstrat reads {FORMAT!r} version "
                f"{FORMAT_VERSION}. {start_over}"
            )
        if not manifest.get("chunks") and not manifest.get("complete"):
            # nothing was saved (the pass stopped in its first chunk): nothing to lose
            return self._new_manifest(model, options, loader)
        if manifest["model"] != model:
            before, now = manifest["model"].get("class"), model.get("class")
            what = (
                f"a different kind of model ({before} there, {now} now)"
                if before != now
                else "a different model: its weights or state differ"
            )
            raise ValueError(f"{where} was written by {what}. {start_over}")
        if manifest["options"] != options:
            raise ValueError(
                f"{where} was written with other options: "
                f"{_describe_difference('options', manifest['options'], options)}. {start_over}"
            )
        if manifest["loader"] != loader:
            raise ValueError(
                f"{where} was written for a different data set or loader: "
                f"{_describe_difference('the loader', manifest['loader'], loader)}. {start_over}"
            )
        return dict(manifest)

    def _new_manifest(
        self, model: dict[str, Any], options: dict[str, Any], loader: dict[str, Any]
    ) -> dict[str, Any]:
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "hstrat": __version__,
            "model": model,
            "options": options,
            "loader": loader,
            "first_batch": None,
            "head": None,
            "layout": None,
            "batch_sizes": [],
            "batch_digests": [],
            "chunks": [],
            "complete": False,
        }
        self._write_manifest(manifest)
        return manifest

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write_text(self.directory / MANIFEST, json.dumps(manifest, indent=1, default=str))

    # -- state -----------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        """Whether the pass finished and the arrays are gathered."""
        return bool(self.manifest["complete"])

    @property
    def batches_done(self) -> int:
        """Number of batches on disk."""
        return len(self.manifest["batch_sizes"])

    @property
    def head(self) -> dict[str, Any] | None:
        """How the outputs were reduced (``n_outputs``, ``column``, ``activation``)."""
        return self.manifest["head"]  # type: ignore[no-any-return]

    def check_first_batch(self, digest: str) -> None:
        """Record the first batch's digest, or compare it with the recorded one."""
        recorded = self.manifest["first_batch"]
        if recorded is None:
            self.manifest["first_batch"] = digest
        elif recorded != digest:
            raise ValueError(
                f"The cache in {str(self.directory)!r} was written for a different data set: "
                "the loader's first batch (inputs, labels or ids) differs. Delete that "
                "directory, or pass another cache=, to start over."
            )

    def check_head(self, head: dict[str, Any]) -> None:
        """Record, or compare, how outputs are reduced to scores."""
        if self.manifest["head"] is None:
            self.manifest["head"] = head
        elif self.manifest["head"] != head:
            raise ValueError(
                f"The cache in {str(self.directory)!r} reduced the model's outputs as "
                f"{self.manifest['head']}, this pass as {head}. Delete that directory, or "
                "pass another cache=, to start over."
            )

    def verify_batch(self, index: int, size: int, digest: str) -> None:
        """Check that a skipped batch is the one that was cached."""
        sizes, digests = self.manifest["batch_sizes"], self.manifest["batch_digests"]
        if sizes[index] != size or digests[index] != digest:
            raise ValueError(
                f"The loader does not yield the batches it yielded when the cache in "
                f"{str(self.directory)!r} was written: batch {index} differs ("
                + (
                    f"{size} samples instead of {sizes[index]}"
                    if sizes[index] != size
                    else "labels or ids"
                )
                + "). A cache needs a loader with a fixed order and deterministic data; "
                "delete the directory to start over."
            )

    # -- writing ---------------------------------------------------------------------
    def append(self, record: BatchRecord, digest: str) -> None:
        """Add a completed batch; write a chunk when enough has accumulated."""
        layout = {
            "has_ids": record.ids is not None,
            "metadata": list(record.metadata),
            "embedding_dim": None
            if record.embeddings is None
            else int(record.embeddings.shape[1]),
        }
        if self.manifest["layout"] is None:
            self.manifest["layout"] = layout
        elif self.manifest["layout"] != layout:
            raise ValueError(
                f"Batch {self.batches_done + len(self._pending)} does not have the layout of "
                f"the cached batches ({self.manifest['layout']} vs {layout})."
            )
        self._pending.append(record)
        self._pending_digests.append(digest)
        held = sum(r.nbytes for r in self._pending)
        if held >= self.flush_bytes or time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write the completed batches held in memory as one chunk, then the manifest."""
        self._last_flush = time.monotonic()
        if not self._pending:
            return
        data = concatenate(self._pending)
        name = f"chunk-{len(self.manifest['chunks']):05d}"
        arrays: dict[str, npt.NDArray[Any]] = {"scores": data.scores, "labels": data.labels}
        if data.embeddings is not None:
            arrays["embeddings"] = data.embeddings
        _write_npz(self.directory / f"{name}.npz", arrays)
        atomic_write_text(self.directory / f"{name}.json", _index_json(data.ids, data.metadata))
        self.manifest["chunks"].append(
            {"name": name, "first_batch": self.batches_done, "n_batches": len(self._pending)}
        )
        self.manifest["batch_sizes"].extend(len(r.scores) for r in self._pending)
        self.manifest["batch_digests"].extend(self._pending_digests)
        self._write_manifest(self.manifest)
        self._pending, self._pending_digests = [], []

    def finish(self) -> Collected:
        """Write what is pending, gather the chunks into single files, and load them."""
        self.flush()
        chunks = self.manifest["chunks"]
        if not chunks:
            raise ValueError("The loader yielded no batches.")
        scores, labels, ids, metadata = [], [], [], []
        for chunk in chunks:
            with np.load(self.directory / f"{chunk['name']}.npz") as npz:
                scores.append(npz["scores"])
                labels.append(npz["labels"])
            chunk_ids, chunk_meta = _index_from_json(
                (self.directory / f"{chunk['name']}.json").read_text(encoding="utf-8")
            )
            ids.append(chunk_ids)
            metadata.append(chunk_meta)
        n = sum(len(s) for s in scores)
        dim = self.manifest["layout"]["embedding_dim"]
        if dim is not None:
            self._gather_embeddings(chunks, n, dim)
        all_ids = None if ids[0] is None else _concat(ids)  # type: ignore[arg-type]
        all_meta = {k: _concat([m[k] for m in metadata]) for k in metadata[0]}
        _write_npy(self.directory / "scores.npy", np.concatenate(scores))
        _write_npy(self.directory / "labels.npy", np.concatenate(labels))
        atomic_write_text(self.directory / "index.json", _index_json(all_ids, all_meta))
        self.manifest["complete"] = True
        self.manifest["n_samples"] = n
        self._write_manifest(self.manifest)
        for chunk in chunks:
            for suffix in (".npz", ".json"):
                (self.directory / f"{chunk['name']}{suffix}").unlink(missing_ok=True)
        return self.load()

    def _gather_embeddings(self, chunks: Iterable[dict[str, Any]], n: int, dim: int) -> None:
        final = self.directory / "embeddings.npy"
        tmp = self.directory / ".embeddings.npy.tmp"
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, dim))
        start = 0
        for chunk in chunks:
            with np.load(self.directory / f"{chunk['name']}.npz") as npz:
                block = npz["embeddings"]
                out[start : start + len(block)] = block
                start += len(block)
        out.flush()
        del out
        os.replace(tmp, final)

    def load(self) -> Collected:
        """Return the arrays of a complete cache; embeddings memory-mapped, read-only."""
        ids, metadata = _index_from_json(
            (self.directory / "index.json").read_text(encoding="utf-8")
        )
        emb_path = self.directory / "embeddings.npy"
        layout = self.manifest["layout"] or {}
        embeddings = (
            np.load(emb_path, mmap_mode="r") if layout.get("embedding_dim") is not None else None
        )
        return Collected(
            scores=np.load(self.directory / "scores.npy"),
            labels=np.load(self.directory / "labels.npy"),
            ids=ids,
            metadata=metadata,
            embeddings=embeddings,
        )


def _write_npy(path: Path, array: npt.NDArray[Any]) -> None:
    buffer = io.BytesIO()
    np.save(buffer, array)
    atomic_write_bytes(path, buffer.getvalue())
