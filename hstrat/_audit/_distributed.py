"""collect() inside a ``torch.distributed`` process group: shard, gather, restore order.

Under ``torchrun`` every rank runs :func:`hstrat.collect` (or :func:`hstrat.audit`) on
its own shard of the data set; this module turns the shards back into the result one
process would have produced.

**When.** ``distributed=None`` (the default) gathers when a process group is initialised
(``torch.distributed.is_initialized()``), its world size is above 1 **and** the loader's
sampler is a :class:`~torch.utils.data.DistributedSampler` (or any sampler with integer
``num_replicas`` and ``rank`` attributes): a loader that each rank iterates in full — the
usual ``if rank == 0: hstrat.audit(...)`` — runs as in one process, with no collective
call that could wait for ranks that never come. ``distributed=True`` gathers whatever
the loader (it needs sample ids when there is no distributed sampler; see below) and
raises when no group is initialised; ``distributed=False`` never gathers: each rank gets
what its own loader yielded. A world size of 1 is one process.

**Which sample is which.** A ``DistributedSampler`` is deterministic: for a given
``seed`` and ``set_epoch``, iterating it again yields the same indices. hstrat iterates
the loader's batch sampler once before the pass to get, for every row of the rank's
results, its **position** in the data set; the pass checks that it yields as many
samples. Rows are then ordered by position — the order of a ``SequentialSampler`` — and
a position seen more than once (the sampler pads the last round by repeating the first
indices, so that every rank gets as many samples) is kept once: the copy that comes
first in the sampler's padded order, i.e. the original. Duplicates must agree on their
label, and on their id when the batches carry ids, else the sampler is not the one the
loader used and an error says so. The ids are the batches' ids when they carry them,
else the positions. The order being the data set's, ``Predictions.shuffled`` is False
even for ``DistributedSampler(shuffle=True)``, and strata given by position work.

Without a distributed sampler (``distributed=True`` with an iterable data set sharded by
rank, say), positions are unknown: the batches must carry ids, a sample seen on several
ranks is kept once, and rows are sorted by id (in rank order when the ids cannot be
sorted). That order is not the data set's, so ``shuffled`` is True and strata must be
keyed by id.

**Gathering.** Scores (float64), labels, ids and metadata are small; every rank sends
them to every other with ``all_gather_object``. Without a cache, embeddings are then
broadcast from one rank at a time as float32 tensors, so a rank holds the assembled
array plus one rank's block. With ``cache=``, embeddings never pass through memory as a
whole: each rank streams its shard into its own part of the directory —
``rank-<r>-of-<world>.*``, the format of a one-process cache, which is rank 0 of 1
(:mod:`hstrat._audit._cache`), with every batch's digest checked on the next pass —
then rank 0 copies the rows it keeps, in data-set order and in bounded blocks, into
``merged-<key>.embeddings`` (the key is a digest of every rank's batches and of the
merge), and every rank memory-maps that file. The cache directory must therefore be on
a file system all ranks see (any directory on one machine; a shared file system across
nodes). A later pass with the same model and data reads every part without running the
model and finds the merged file already there.

Object collectives run on a gloo group (the default group when its backend includes
gloo, else a temporary ``new_group(backend="gloo")``), so that NCCL users need neither
``torch.cuda.set_device`` for them nor GPU memory for pickles.

**Every rank returns the same result.** An exception on one rank (a bad batch) is
passed to the others at the next exchange and every rank raises — the failing rank its
own exception, the others a ``ValueError`` / ``TypeError`` (``RuntimeError`` for other
kinds) that names the rank and the message — instead of waiting for ever. Before the
pass, the ranks also compare the model's fingerprint (torch models: a digest of the
weights, so a checkpoint loaded on rank 0 only is caught) and the data set's length.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._validation import describe
from ..exceptions import CacheError
from ._cache import (
    EMBEDDINGS,
    CollectCache,
    Collected,
    concat,
    concatenate,
    create_exclusive,
    digest_values,
    open_rows,
    part_name,
)

__all__ = [
    "MergePlan",
    "ShardGroup",
    "collect_sharded",
    "copy_rows",
    "merge_plan",
    "merge_rows",
    "shard_group",
    "shared_entropy",
]

COPY_BYTES = 64 * 2**20  # embeddings are assembled in blocks of at most this many bytes


# -- the process group -------------------------------------------------------------------
class ShardGroup:
    """The ranks of an initialised process group that collect one data set together.

    Use it as a context manager: the gloo group for object collectives is created on
    entry (when the default group has no gloo backend) and destroyed on exit.

    Parameters
    ----------
    dist : module
        :mod:`torch.distributed`, initialised.
    """

    def __init__(self, dist: Any) -> None:
        self.dist = dist
        self.rank: int = int(dist.get_rank())
        self.world_size: int = int(dist.get_world_size())
        self.handle: Any = None  # None = the default group
        self._created = False

    def __enter__(self) -> ShardGroup:
        if "gloo" not in str(self.dist.get_backend()):
            self.handle = self.dist.new_group(backend="gloo")
            self._created = True
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._created:
            self.dist.destroy_process_group(self.handle)
            self.handle, self._created = None, False

    def all_gather(self, value: Any) -> list[Any]:
        """Return every rank's ``value`` (pickled), in rank order, on every rank."""
        out: list[Any] = [None] * self.world_size
        self.dist.all_gather_object(out, value, group=self.handle)
        return out

    def broadcast(self, value: Any, source: int = 0) -> Any:
        """Return rank ``source``'s ``value`` (pickled) on every rank."""
        box = [value if self.rank == source else None]
        self.dist.broadcast_object_list(box, src=source, group=self.handle)
        return box[0]

    def broadcast_array(
        self, array: npt.NDArray[np.float32] | None, shape: tuple[int, int], source: int
    ) -> npt.NDArray[np.float32]:
        """Return rank ``source``'s float32 array on every rank, as a tensor (no pickling)."""
        import torch

        if self.rank == source:
            block = np.require(array, dtype=np.float32, requirements=["C", "W"])
            tensor = torch.from_numpy(block)
        else:
            tensor = torch.empty(shape, dtype=torch.float32)
        self.dist.broadcast(tensor, src=source, group=self.handle)
        result: npt.NDArray[np.float32] = tensor.numpy()
        return result


def _initialised_dist() -> Any:
    """Return :mod:`torch.distributed` when a process group is initialised, else None.

    torch is not imported here: a process group needs torch to have been imported (and
    ``import torch`` imports :mod:`torch.distributed`).
    """
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist
    return None


def shard_group(distributed: bool | None, loader: Any) -> ShardGroup | None:
    """Return the process group to gather over, or None to collect as one process.

    Parameters
    ----------
    distributed : bool or None
        ``None``: gather when a process group with more than one rank is initialised and
        the loader has a distributed sampler; ``True``: gather whenever a group with
        more than one rank is initialised (an error when none is); ``False``: never.
    loader : iterable of batches
        The loader of this rank.

    Examples
    --------
    >>> from hstrat._audit._distributed import shard_group
    >>> shard_group(None, [(1, 0)]) is None  # no process group here
    True
    """
    if distributed is not None and not isinstance(distributed, bool):
        raise TypeError(
            f"distributed must be None (automatic), True or False; got {describe(distributed)}."
        )
    if distributed is False:
        return None
    dist = _initialised_dist()
    if dist is None:
        if distributed:
            raise ValueError(
                "distributed=True needs an initialised torch.distributed process group, and "
                "there is none; call torch.distributed.init_process_group() first (torchrun "
                "sets the environment it reads), or leave distributed=None."
            )
        return None
    if dist.get_world_size() == 1:
        return None
    if distributed is None and _distributed_sampler(loader) is None:
        return None
    return ShardGroup(dist)


def shared_entropy(group: ShardGroup) -> int:
    """Return entropy drawn on rank 0 and sent to every rank (a seed for ``random_state``)."""
    entropy = np.random.SeedSequence().entropy if group.rank == 0 else None
    return int(group.broadcast(entropy))


# -- which sample is which ----------------------------------------------------------------
def _is_distributed_sampler(sampler: Any) -> bool:
    data = sys.modules.get("torch.utils.data")
    if data is not None and isinstance(sampler, data.DistributedSampler):
        return True
    replicas, rank = getattr(sampler, "num_replicas", None), getattr(sampler, "rank", None)
    return all(isinstance(v, int) and not isinstance(v, bool) for v in (replicas, rank))


def _distributed_sampler(loader: Any) -> Any:
    batch_sampler = getattr(loader, "batch_sampler", None)
    candidates: tuple[Any, ...] = (
        (batch_sampler, getattr(batch_sampler, "sampler", None))
        if batch_sampler is not None
        else (getattr(loader, "sampler", None),)
    )
    for candidate in candidates:
        if candidate is not None and _is_distributed_sampler(candidate):
            return candidate
    return None


def loader_positions(loader: Any, group: ShardGroup) -> npt.NDArray[np.int64] | None:
    """Return the data-set positions of the samples this rank's loader yields, in order.

    ``None`` when the loader has no distributed sampler, or no batch sampler (a
    ``DataLoader(batch_size=None)``, whose items are batches).
    """
    sampler = _distributed_sampler(loader)
    if sampler is None:
        return None
    replicas, rank = int(sampler.num_replicas), int(sampler.rank)
    if (replicas, rank) != (group.world_size, group.rank):
        raise ValueError(
            f"The loader's {type(sampler).__name__} has num_replicas={replicas}, rank={rank}, "
            f"but this process is rank {group.rank} of {group.world_size}; build the sampler "
            "after init_process_group() without num_replicas= and rank=."
        )
    if getattr(sampler, "drop_last", False) is True:
        raise ValueError(
            f"The loader's {type(sampler).__name__} has drop_last=True, which leaves out "
            "the last samples of the data set; an audit evaluates every sample. Use "
            "drop_last=False: hstrat removes the repeated samples it pads with."
        )
    batch_sampler = getattr(loader, "batch_sampler", None)
    if batch_sampler is None:
        return None
    if getattr(batch_sampler, "drop_last", False) is True:
        raise ValueError(
            "The loader has drop_last=True: every rank would leave out its last, incomplete "
            "batch. Use drop_last=False for an audit."
        )
    if getattr(loader, "in_order", True) is False:
        raise ValueError(
            "The loader has in_order=False: its workers' batches come in any order, so "
            "hstrat cannot tell which sample each row is. Use in_order=True."
        )
    try:
        positions = np.fromiter((int(i) for batch in batch_sampler for i in batch), dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"The loader's sampler must yield integer indices into the data set; {err}."
        ) from err
    return positions


# -- merging (pure) -----------------------------------------------------------------------
@dataclass(frozen=True)
class MergePlan:
    """How the ranks' rows become one result.

    Attributes
    ----------
    take : numpy.ndarray of intp
        For each row of the result, its row in the ranks' results concatenated in rank
        order.
    counts : tuple of int
        Number of rows each rank contributed.
    positions : numpy.ndarray of int64 or None
        The data-set position of each row of the result (``None`` when rows are
        matched by id).
    shuffled : bool
        Whether the result's order is not the data set's (rows matched by id).
    """

    take: npt.NDArray[np.intp]
    counts: tuple[int, ...]
    positions: npt.NDArray[np.int64] | None
    shuffled: bool

    def destinations(self, rank: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Return the rows of rank ``rank`` that are kept, and the result rows they go to."""
        start = sum(self.counts[:rank])
        inside = (self.take >= start) & (self.take < start + self.counts[rank])
        dest = np.flatnonzero(inside)
        return self.take[dest] - start, dest


def _equal(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    same = np.asarray(a == b, dtype=bool)
    return same | (pd.isna(a) & pd.isna(b))


def merge_plan(
    labels: Sequence[npt.NDArray[np.bool_]],
    *,
    positions: Sequence[npt.NDArray[np.int64]] | None = None,
    ids: Sequence[npt.NDArray[Any]] | None = None,
) -> MergePlan:
    """Order the ranks' rows like the data set and drop the samples seen twice.

    Parameters
    ----------
    labels : sequence of arrays, one per rank
        Each rank's labels in the order it yielded them (their lengths are the ranks'
        row counts; duplicates must agree).
    positions : sequence of int arrays, optional
        Each rank's data-set positions, from its sampler. Rows are ordered by position;
        of the rows at one position the one with the lowest (row, rank) — the first in
        a ``DistributedSampler``'s padded order — is kept.
    ids : sequence of arrays, optional
        Each rank's sample ids. With positions, duplicates must agree on them; without,
        rows are matched by id (a sample that several ranks saw is kept once, from the
        lowest rank) and sorted by id.

    Returns
    -------
    MergePlan

    Examples
    --------
    Three samples on two ranks; the sampler padded rank 1 with sample 0:

    >>> import numpy as np
    >>> from hstrat._audit._distributed import merge_plan
    >>> y = [np.array([True, False]), np.array([True, True])]
    >>> plan = merge_plan(y, positions=[np.array([0, 2]), np.array([1, 0])])
    >>> plan.take.tolist(), plan.positions.tolist()
    ([0, 2, 1], [0, 1, 2])
    """
    counts = tuple(len(v) for v in labels)
    rank = np.repeat(np.arange(len(counts)), counts)
    row = np.concatenate([np.arange(n) for n in counts]) if counts else np.zeros(0, int)
    filled = [v for v in labels if len(v)]  # a rank without rows has no label columns
    all_labels = np.concatenate(filled) if filled else np.zeros(0, bool)
    all_ids = None if ids is None else _concat_ids(ids, counts)
    if positions is not None:
        for r, (p, n) in enumerate(zip(positions, counts, strict=True)):
            if len(p) != n:
                raise ValueError(
                    f"On rank {r} the loader yielded {n} samples but its sampler lists "
                    f"{len(p)}: the sampler must yield the same indices every time it is "
                    "iterated (DistributedSampler does; call set_epoch before collect, not "
                    "during it)."
                )
        pos = np.concatenate(positions).astype(np.int64) if counts else np.zeros(0, np.int64)
        order = np.lexsort((rank, row, pos))
        sorted_pos = pos[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_pos[1:] != sorted_pos[:-1]
        kept_of = order[np.flatnonzero(first)[np.cumsum(first) - 1]]
        _check_duplicates(order[~first], kept_of[~first], all_labels, all_ids, pos, rank)
        take = order[first].astype(np.intp)
        return MergePlan(take, counts, sorted_pos[first], shuffled=False)
    if all_ids is None:
        raise ValueError(
            "hstrat cannot tell which sample each rank's rows are: the loader has no "
            "DistributedSampler (whose indices give the data-set positions) and the batches "
            "carry no ids. Use a DataLoader with sampler=DistributedSampler(dataset), or "
            "yield ids (a dict batch with 'id', or (x, y, ids))."
        )
    for r in range(len(counts)):
        own = pd.Index(all_ids[rank == r])
        if not own.is_unique:
            dup = own[own.duplicated()][:3].tolist()
            raise ValueError(
                f"On rank {r} the loader yielded the sample ids {describe(dup)} more than "
                "once; every sample must be evaluated once (is the sampler drawing with "
                "replacement?)."
            )
    index = pd.Index(all_ids)
    repeated = index.duplicated(keep="first")
    keep = np.flatnonzero(~repeated)
    dups = np.flatnonzero(repeated)
    kept_of = keep[pd.Index(all_ids[keep]).get_indexer(all_ids[dups])]
    _check_duplicates(dups, kept_of, all_labels, all_ids, None, rank)
    with contextlib.suppress(TypeError):  # ids of several types: keep the ranks' order
        keep = keep[np.argsort(all_ids[keep], kind="stable")]
    return MergePlan(keep.astype(np.intp), counts, None, shuffled=True)


def _concat_ids(ids: Sequence[npt.NDArray[Any]], counts: tuple[int, ...]) -> npt.NDArray[Any]:
    parts = [np.asarray(v) for v, n in zip(ids, counts, strict=True) if n]
    return concat(parts) if parts else np.zeros(0, dtype=object)


def _check_duplicates(
    dups: npt.NDArray[Any],
    kept: npt.NDArray[Any],
    labels: npt.NDArray[np.bool_],
    ids: npt.NDArray[Any] | None,
    positions: npt.NDArray[np.int64] | None,
    rank: npt.NDArray[Any],
) -> None:
    """Refuse copies of one sample (same position, or same id) that differ."""
    if not len(dups):
        return
    values: npt.NDArray[Any] = labels
    bad = (labels[dups] != labels[kept]).reshape(len(dups), -1).any(axis=1)  # (n, targets)
    if not bad.any() and ids is not None:
        values, bad = ids, ~_equal(ids[dups], ids[kept])
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    d, k = int(dups[i]), int(kept[i])
    first, second = (v.item() if isinstance(v, np.generic) else v for v in values[[k, d]])
    what = "labels" if values is labels else "ids"
    if positions is not None:
        where = f"data-set position {int(positions[d])}"
        why = (
            "the indices hstrat read from the sampler are not the samples the loader "
            "yielded. The sampler must yield the same indices every time it is iterated, "
            "and every rank must load the same data set."
        )
    else:
        where = f"the id {describe(ids[d] if ids is not None else None)}"
        why = "an id must name one sample on every rank."
    raise ValueError(
        f"Ranks {int(rank[k])} and {int(rank[d])} both yielded {where}, with different "
        f"{what} ({describe(first)} and {describe(second)}): {why}"
    )


def merge_rows(shards: Sequence[Collected | None], plan: MergePlan) -> Collected:
    """Apply a :class:`MergePlan` to the ranks' rows (``None`` = a rank without rows).

    Scores, labels, ids and metadata only; embeddings go through :func:`copy_rows`.

    Examples
    --------
    >>> import numpy as np
    >>> from hstrat._audit._cache import Collected
    >>> from hstrat._audit._distributed import merge_plan, merge_rows
    >>> a = Collected(np.array([0.1, 0.3]), np.array([True, False]), None)
    >>> b = Collected(np.array([0.2, 0.1]), np.array([True, True]), None)
    >>> plan = merge_plan([a.labels, b.labels], positions=[np.array([0, 2]), np.array([1, 0])])
    >>> merge_rows([a, b], plan).scores.tolist()
    [0.1, 0.2, 0.3]
    """
    parts = [replace(s, embeddings=None) for s in shards if s is not None and len(s.scores)]
    if not parts:
        raise ValueError("The loaders of all ranks yielded no batches.")
    layouts = {(p.ids is None, tuple(p.metadata)) for p in parts}
    if len(layouts) > 1:
        raise ValueError(
            "The ranks' batches differ in layout (ids present on some ranks only, or other "
            f"metadata keys): {sorted(layouts)}."
        )
    data = concatenate(parts)
    take = plan.take
    ids = None if data.ids is None else data.ids[take]
    if ids is None and plan.positions is not None:
        n = len(plan.positions)
        is_range = bool(n == 0 or (plan.positions[0] == 0 and plan.positions[-1] == n - 1))
        ids = None if is_range else plan.positions  # positions are unique and sorted
    return Collected(
        scores=data.scores[take],
        labels=data.labels[take],
        ids=ids,
        metadata={k: v[take] for k, v in data.metadata.items()},
    )


def copy_rows(
    out: npt.NDArray[np.float32],
    block: npt.NDArray[Any],
    plan: MergePlan,
    rank: int,
) -> None:
    """Copy the kept rows of one rank's embeddings into ``out``, a bounded block at a time."""
    source, dest = plan.destinations(rank)
    if block.ndim != 2 or block.shape[0] != plan.counts[rank] or block.shape[1] != out.shape[1]:
        raise ValueError(
            f"Rank {rank}'s embeddings have shape {block.shape}; expected "
            f"({plan.counts[rank]}, {out.shape[1]})."
        )
    order = np.argsort(source, kind="stable")  # read each shard front to back
    source, dest = source[order], dest[order]
    step = max(1, COPY_BYTES // max(1, 4 * out.shape[1]))
    for start in range(0, len(source), step):
        out[dest[start : start + step]] = block[source[start : start + step]]


# -- the distributed pass -----------------------------------------------------------------
@dataclass(frozen=True)
class _Failure:
    rank: int
    kind: str
    message: str


def _failure(rank: int, error: BaseException | None) -> _Failure | None:
    if error is None:
        return None
    kind = next(
        (k.__name__ for k in (TypeError, ValueError) if isinstance(error, k)), "RuntimeError"
    )
    return _Failure(rank, kind, f"{type(error).__name__}: {error}")


def _raise_if_failed(
    failures: Sequence[_Failure | None], own: BaseException | None, group: ShardGroup
) -> None:
    if own is not None:
        raise own
    failed = [f for f in failures if f is not None]
    if failed:
        first = failed[0]
        kinds: dict[str, type[Exception]] = {"TypeError": TypeError, "ValueError": ValueError}
        raise kinds.get(first.kind, RuntimeError)(
            f"collect() failed on rank {first.rank} of {group.world_size}, so it stops on "
            f"every rank: {first.message}"
        )


def _shard_ids(shards: Sequence[Collected | None]) -> list[npt.NDArray[Any]] | None:
    ids: list[npt.NDArray[Any]] = []
    for shard in shards:
        if shard is None:
            ids.append(np.zeros(0))
        elif shard.ids is None:
            return None
        else:
            ids.append(shard.ids)
    return ids


def _model_check(fingerprints: Sequence[dict[str, Any]]) -> None:
    if fingerprints[0].get("kind") != "torch":  # other fingerprints may name devices
        return
    for rank, fp in enumerate(fingerprints):
        if fp != fingerprints[0]:
            raise ValueError(
                f"The model's weights differ between rank 0 and rank {rank} (a digest of its "
                "parameters, buffers and configuration). Load the same checkpoint on every "
                "rank before collect (a checkpoint loaded on rank 0 only is the usual cause)."
            )


def collect_sharded(
    run_pass: Callable[[CollectCache | None], Collected | None],
    loader: Any,
    group: ShardGroup,
    *,
    identity: dict[str, Any],
    cache: str | os.PathLike[str] | None,
    order_is_random: bool,
) -> tuple[Collected, bool]:
    """Run this rank's pass, gather every rank's rows, and return the merged result.

    ``run_pass(store)`` runs the pass over ``loader`` (into ``store``, this rank's part of
    the ``cache`` directory, when there is one) and returns this rank's rows, or None
    when the loader yielded none. ``identity`` is what cached outputs are valid for
    (:class:`CollectCache`); its ``model`` fingerprint is compared across ranks.
    Returns the merged rows (the same on every rank) and whether their order is not
    the data set's.
    """
    error: BaseException | None = None
    positions = None
    try:
        positions = loader_positions(loader, group)
        if cache is not None and order_is_random and positions is None:
            raise ValueError(
                "cache= needs a loader with a fixed order, and this loader shuffles (a "
                "random sampler); resuming would mix two orders. Use shuffle=False, or a "
                "DistributedSampler."
            )
    except Exception as err:
        error = err
    dataset = getattr(loader, "dataset", None)
    try:
        dataset_len: int | None = None if dataset is None else len(dataset)
    except TypeError:
        dataset_len = None
    before = group.all_gather(
        {
            "failure": _failure(group.rank, error),
            "positions": positions,
            "fingerprint": identity["model"],
            "dataset_len": dataset_len,
        }
    )
    _raise_if_failed([b["failure"] for b in before], error, group)
    _model_check([b["fingerprint"] for b in before])
    all_positions = [b["positions"] for b in before]
    known = all_positions[0] is not None
    if any((p is not None) != known for p in all_positions):
        raise ValueError("Some ranks' loaders have a DistributedSampler and others not.")
    if known and len({b["dataset_len"] for b in before}) > 1:
        raise ValueError(
            "The ranks' data sets differ in length "
            f"({', '.join(str(b['dataset_len']) for b in before)}): every rank must load the "
            "whole data set and let its DistributedSampler choose the shard."
        )

    result: Collected | None = None
    store = None
    try:
        if cache is not None:
            store = CollectCache(cache, identity, rank=group.rank, world_size=group.world_size)
        result = run_pass(store)
    except Exception as err:
        error = err
    shard = None if result is None else replace(result, embeddings=None)
    dim = None if result is None or result.embeddings is None else result.embeddings.shape[1]
    after = group.all_gather(
        {
            "failure": _failure(group.rank, error),
            "shard": shard,
            "n": 0 if result is None else len(result.scores),
            "dim": None if dim is None else int(dim),
            "key": None if store is None else store.key(),
        }
    )
    _raise_if_failed([a["failure"] for a in after], error, group)
    shards: list[Collected | None] = [a["shard"] for a in after]
    counts = [a["n"] for a in after]
    plan = merge_plan(
        [np.zeros(0, bool) if s is None else s.labels for s in shards],
        positions=all_positions if known else None,
        ids=_shard_ids(shards),
    )
    merged = merge_rows(shards, plan)
    dims = {a["dim"] for a, n in zip(after, counts, strict=True) if n}
    if len(dims) > 1:
        raise ValueError(f"The ranks' embeddings differ in width: {sorted(dims, key=str)}.")
    dim = dims.pop() if dims else None
    own = None if result is None else result.embeddings
    if dim is None:
        return merged, plan.shuffled
    if store is None:
        out = np.empty((len(plan.take), dim), dtype=np.float32)
        for source, n in enumerate(counts):
            if n:
                block = group.broadcast_array(
                    own if source == group.rank else None, (n, dim), source
                )
                copy_rows(out, block, plan, source)
                del block
        return replace(merged, embeddings=out), plan.shuffled
    key = digest_values(plan.take, list(plan.counts), [a["key"] for a in after])
    path = store.directory / f"merged-{key}.embeddings"
    shape = (len(plan.take), dim)
    if group.rank == 0:
        try:
            _assemble_embeddings(path, plan, shape, own)
        except Exception as err:
            error = err
    _raise_if_failed([group.broadcast(_failure(0, error))], error, group)
    embeddings = None
    try:
        embeddings = open_rows(path, EMBEDDINGS, shape)
    except CacheError as err:
        error = ValueError(
            f"Rank {group.rank} cannot read the embeddings rank 0 assembled ({err}): cache= "
            "must be a directory on a file system every rank shares."
        )
    _raise_if_failed(group.all_gather(_failure(group.rank, error)), error, group)
    return replace(merged, embeddings=embeddings), plan.shuffled


def _assemble_embeddings(
    path: Path, plan: MergePlan, shape: tuple[int, int], own: npt.NDArray[np.float32] | None
) -> None:
    """Write the kept rows of every rank's part into ``path``, in data-set order (rank 0)."""
    top, world_size = path.parent, len(plan.counts)
    if path.exists():
        open_rows(path, EMBEDDINGS, shape)  # assembled by an earlier pass: check it
        return
    fd, tmp = create_exclusive(top, path.stem)
    try:
        with os.fdopen(fd, "r+b") as handle:
            handle.truncate(shape[0] * shape[1] * EMBEDDINGS.itemsize)
            out = np.memmap(handle, dtype=EMBEDDINGS, mode="r+", shape=shape)
            for rank in range(world_size):
                if not plan.counts[rank]:
                    continue
                if rank == 0 and own is not None:
                    block = own
                else:
                    part = top / f"{part_name(rank, world_size)}.embeddings"
                    try:
                        block = open_rows(part, EMBEDDINGS, (plan.counts[rank], shape[1]))
                    except CacheError as err:
                        raise ValueError(
                            f"Rank 0 cannot read rank {rank}'s part of the cache ({err}); "
                            "cache= must be a directory on a file system every rank shares."
                        ) from err
                copy_rows(out, block, plan, rank)
                del block
            out.flush()
            del out
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    for old in top.glob("merged-*.embeddings"):  # the merges of earlier passes
        if old != path:
            old.unlink(missing_ok=True)
