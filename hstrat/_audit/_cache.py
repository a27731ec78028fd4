"""The on-disk cache of :func:`hstrat.collect`: what the model computed, checked batch by batch.

A cache holds only the model's raw outputs and embeddings; labels, ids and metadata
come from the loader on every pass. Each batch's inputs (with ``model=None``, the scores
and embeddings it carries) are digested (SHA-256): a cached batch must match its
recorded digest, else a :class:`~hstrat.exceptions.CacheError` (a cache never mixes two
versions of the data); batches beyond those cached are computed and appended, so a pass
resumes where it stopped. The manifest also records the model's fingerprint, where the
embeddings come from and ``cache_key``; a pass with other values is refused. Layout (one
process is rank 0 of 1; under ``torchrun`` each rank writes its own part)::

    rank-00000-of-00001.json         manifest: identity, and one [digest, rows] per batch
    rank-00000-of-00001.outputs      raw outputs, little-endian float64, rows x n_outputs
    rank-00000-of-00001.embeddings   embeddings, little-endian float32, rows x width
    merged-<key>.embeddings          torchrun only: every rank's rows in data-set order

Every 64 MiB or 20 seconds, at the end and on an exception, the data files are synced,
then the manifest is replaced atomically listing only rows on disk: a crash leaves a
consistent cache. Files are never opened through a symbolic link; temporary names are
unique (``O_EXCL``). One pass at a time may use a directory.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from .._io import atomic_write_text
from .._validation import describe
from .._version import __version__
from ..adapters import BatchOutput, as_array
from ..exceptions import CacheError

__all__ = ["CollectCache", "Collected", "concatenate", "digest_values", "open_rows", "part_name"]

FORMAT = "hstrat.collect-cache"
FORMAT_VERSION = 2
FLUSH_BYTES = 64 * 2**20  # the manifest is rewritten once this much was appended,
FLUSH_SECONDS = 20.0  # or this long after it was last written
OUTPUTS, EMBEDDINGS = np.dtype("<f8"), np.dtype("<f4")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # not on Windows, which has no symlinks to follow
_OWN_FILE = re.compile(r"\.?(rank-\d+-of-\d+|merged-[0-9a-f]+)\.")
REMEDY = "delete it, or pass another cache= directory or cache=None"


@dataclass
class Collected:
    """Rows of a pass, or of one batch: scores, labels, ids, metadata, embeddings."""

    scores: npt.NDArray[np.float64]
    labels: npt.NDArray[np.bool_]
    ids: npt.NDArray[Any] | None
    metadata: dict[str, npt.NDArray[Any]] = field(default_factory=dict)
    embeddings: npt.NDArray[np.float32] | None = None


def concatenate(parts: Sequence[Collected]) -> Collected:
    """Concatenate rows (in memory); ids and metadata of mixed kinds become objects."""
    first = parts[0]
    return Collected(
        scores=np.concatenate([p.scores for p in parts]),
        labels=np.concatenate([p.labels for p in parts]),
        ids=None if first.ids is None else concat([p.ids for p in parts]),  # type: ignore[misc]
        metadata={k: concat([p.metadata[k] for p in parts]) for k in first.metadata},
        embeddings=None
        if first.embeddings is None
        else np.concatenate([p.embeddings for p in parts]),
    )


def concat(parts: Sequence[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    """Concatenate columns; numbers with strings (say) become an object column."""
    kinds = {p.dtype.kind for p in parts}
    if len(kinds) > 1 and "O" not in kinds and not kinds <= set("iuf") and not kinds <= set("US"):
        parts = [p.astype(object) for p in parts]
    return np.concatenate(parts)


def digest_values(*values: Any) -> str:
    """Return a SHA-256 digest (128 bits) of arrays, tensors, data frames, strings and nests."""
    import hashlib

    h = hashlib.sha256()  # hardware-accelerated on most CPUs: twice BLAKE2b's speed
    for value in values:
        _update(h, value)
    return h.hexdigest()[:32]


def _update(h: Any, value: Any) -> None:
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

        h.update(repr(list(value.columns)).encode())
        h.update(pd.util.hash_pandas_object(value).to_numpy().tobytes())
    elif isinstance(value, (tuple, list)) and not all(np.isscalar(v) for v in value):
        h.update(b"(")
        for item in value:
            _update(h, item)
        h.update(b")")
    else:
        arr = as_array(value)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        if arr.dtype.kind != "O":
            h.update(np.ascontiguousarray(arr).data)
            return
        text = repr(arr.tolist())
        if " at 0x" in text:
            raise TypeError(
                "cache= cannot tell whether a batch is the one cached: its inputs hold "
                f"{describe(arr.ravel()[:1].tolist())}, whose only description is a memory "
                "address. Yield arrays, tensors, numbers or strings, or pass cache=None."
            )
        h.update(text.encode())


def part_name(rank: int, world_size: int) -> str:
    """Return the name shared by one rank's files, e.g. ``rank-00000-of-00001``."""
    return f"rank-{rank:05d}-of-{world_size:05d}"


def _damaged(directory: Path, problem: str) -> CacheError:
    return CacheError(f"The cache at {str(directory)!r} is damaged ({problem}): {REMEDY}.")


def open_rows(path: Path, dtype: np.dtype[Any], shape: tuple[int, int]) -> npt.NDArray[Any]:
    """Memory-map the first ``shape[0]`` rows of a data file, read-only, after checking it."""
    needed = shape[0] * shape[1] * dtype.itemsize
    if needed == 0:
        return np.zeros(shape, dtype=dtype)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise _damaged(path.parent, f"{path.name} is missing") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise _damaged(path.parent, f"{path.name} is not a regular file")
    if info.st_size < needed:
        raise _damaged(
            path.parent, f"{path.name} holds {info.st_size} bytes, its manifest needs {needed}"
        )
    return np.memmap(path, dtype=dtype, mode="r", shape=shape)


def create_exclusive(directory: Path, prefix: str) -> tuple[int, Path]:
    """Create a new, empty file with a unique name; never through a link; umask respected."""
    for _ in range(8):
        path = directory / f".{prefix}.{secrets.token_hex(8)}.tmp"
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666), path
        except FileExistsError:
            error = FileExistsError(f"{str(path)!r} exists; hstrat will not write through it.")
    raise error


def _read_manifest(path: Path) -> dict[str, Any]:
    directory = path.parent
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _damaged(directory, f"{path.name} is not readable JSON: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _damaged(directory, f"{path.name} is not the manifest of an hstrat cache")
    if manifest.get("version") != FORMAT_VERSION:
        raise CacheError(
            f"The cache at {str(directory)!r} has format version {manifest.get('version')!r}; "
            f"this hstrat reads version {FORMAT_VERSION}: {REMEDY}."
        )
    batches, k, dim = (manifest.get(key) for key in ("batches", "n_outputs", "embedding_dim"))

    def count(value: Any) -> bool:
        return type(value) is int and value > 0

    valid = (
        isinstance(manifest.get("identity"), dict)
        and isinstance(batches, list)
        and all(
            isinstance(b, list) and len(b) == 2 and isinstance(b[0], str) and count(b[1])
            for b in batches
        )
        and (count(k) or (k is None and not batches))
        and (dim is None or count(dim))
    )
    if not valid:
        raise _damaged(directory, f"{path.name} does not have the fields of a manifest")
    return manifest


def _difference(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    model, was = now["model"], before["model"]
    if model != was:
        if model.get("class") != was.get("class"):
            return (
                f"a different kind of model ({was.get('class')} there, {model.get('class')} now)"
            )
        return "a different model: its weights, buffers or configuration differ"
    keys = [k for k in now if before.get(k) != now[k]]
    return (
        "other options ("
        + "; ".join(f"{k} was {before.get(k)!r}, now {now[k]!r}" for k in keys)
        + ")"
    )


class CollectCache:
    """One rank's part of a cache directory; a context manager that syncs it on exit.

    ``identity`` (the model's fingerprint, ``embedding`` and ``cache_key``) is what the
    cached outputs are valid for.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        identity: dict[str, Any],
        *,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"cache must be a directory path or None; got {describe(directory)}.")
        self.directory = Path(directory)
        self.name = part_name(rank, world_size)
        self.identity = json.loads(json.dumps(identity, default=str))
        self.used: list[str] = []  # the digests of this pass's batches
        self._files: dict[str, BinaryIO] = {}
        self._unsynced = 0  # bytes appended since the manifest was written
        self._last_flush = time.monotonic()
        where = str(self.directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise ValueError(f"cache={where!r} is a file; pass a directory.")
        self.directory.mkdir(parents=True, exist_ok=True)
        foreign = sorted(p.name for p in self.directory.iterdir() if not _OWN_FILE.match(p.name))
        if foreign:
            raise CacheError(
                f"cache={where!r} holds files that are not an hstrat cache's "
                f"({describe(foreign, 120)}); hstrat will not write among them. Pass a new or "
                "empty directory (a cache written by an earlier hstrat is not read: delete "
                "it)."
            )
        self.manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "hstrat": __version__,
            "identity": self.identity,
            "n_outputs": None,
            "embedding_dim": None,
            "batches": [],
        }
        if self._path("json").exists():  # written once a batch was on disk
            self.manifest = _read_manifest(self._path("json"))
            if self.manifest["identity"] != self.identity:
                raise CacheError(
                    f"The cache at {where!r} was written by "
                    f"{_difference(self.manifest['identity'], self.identity)}: {REMEDY}."
                )
        batches = self.manifest["batches"]
        self.n_cached = len(batches)
        self._starts = np.concatenate([[0], np.cumsum([rows for _, rows in batches])])
        rows, k = int(self._starts[-1]), self.manifest["n_outputs"] or 0
        self._outputs = open_rows(self._path("outputs"), OUTPUTS, (rows, k))
        self.embeddings(rows)  # checked now, before the pass

    def _path(self, kind: str) -> Path:
        return self.directory / f"{self.name}.{kind}"

    def cached(self, index: int, digest: str) -> BatchOutput | None:
        """Return the cached outputs of batch ``index`` (None when not cached), after checking."""
        self.used.append(digest)
        if index >= self.n_cached:
            return None
        if self.manifest["batches"][index][0] != digest:
            raise CacheError(
                f"The cache at {str(self.directory)!r} holds the outputs of batch {index} for "
                "other inputs: the loader's batch differs from the one cached (a changed data "
                "set, transform or order). A cache never mixes two versions of the data: "
                f"{REMEDY}."
            )
        start, stop = self._starts[index], self._starts[index + 1]
        return BatchOutput(np.array(self._outputs[start:stop]))

    def append(self, digest: str, out: BatchOutput) -> None:
        """Append the outputs of a batch computed in this pass."""
        manifest = self.manifest
        k = int(out.outputs.shape[1])
        dim = None if out.embeddings is None else int(out.embeddings.shape[1])
        if not manifest["batches"]:
            manifest["n_outputs"], manifest["embedding_dim"] = k, dim
        elif (k, dim) != (manifest["n_outputs"], manifest["embedding_dim"]):
            raise ValueError(
                f"Batch {len(manifest['batches'])} has {k} outputs and embeddings of width "
                f"{dim}; the batches before it had {manifest['n_outputs']} and "
                f"{manifest['embedding_dim']}."
            )
        self._write("outputs", out.outputs.astype(OUTPUTS, copy=False), k)
        if out.embeddings is not None:
            self._write("embeddings", out.embeddings.astype(EMBEDDINGS, copy=False), dim or 0)
        manifest["batches"].append([digest, len(out.outputs)])
        if self._unsynced >= FLUSH_BYTES or time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def _write(self, kind: str, rows: npt.NDArray[Any], width: int) -> None:
        handle = self._files.get(kind)
        if handle is None:  # cut off what an interrupted pass wrote past the manifest
            valid = int(self._starts[-1]) * width * rows.dtype.itemsize
            try:
                fd = os.open(self._path(kind), os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o666)
            except OSError as err:  # ELOOP: a symbolic link where a data file belongs
                raise _damaged(self.directory, f"{self._path(kind).name}: {err}") from err
            handle = self._files[kind] = os.fdopen(fd, "r+b")
            handle.truncate(valid)
            handle.seek(valid)
        handle.write(np.ascontiguousarray(rows).data)
        self._unsynced += rows.nbytes

    def flush(self) -> None:
        """Sync the data files, then list what they hold in the manifest (atomically)."""
        self._last_flush = time.monotonic()
        if not self._unsynced:
            return
        for handle in self._files.values():
            handle.flush()
            os.fsync(handle.fileno())
        atomic_write_text(self._path("json"), json.dumps(self.manifest, indent=1))
        self._unsynced = 0

    def __enter__(self) -> CollectCache:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.flush()
        finally:
            for handle in self._files.values():
                handle.close()
            self._files.clear()

    def embeddings(self, rows: int) -> npt.NDArray[np.float32] | None:
        """Memory-map the embeddings of this pass's ``rows`` rows (read-only)."""
        dim = self.manifest["embedding_dim"]
        if dim is None:
            return None
        return open_rows(self._path("embeddings"), EMBEDDINGS, (rows, dim))

    def key(self) -> str:
        """Return a digest of what this pass's rows are: the identity and the batch digests."""
        return digest_values(json.dumps(self.identity, sort_keys=True), self.used)
