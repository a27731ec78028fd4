"""collect() inside a ``torch.distributed`` process group: shard, gather, restore order.

Under ``torchrun`` every rank runs :func:`hstrat.collect` on its own shard; this module
makes every rank return what one process would have. It gathers only when an initialised
group has several ranks and (``distributed=None``) the loader's sampler is a
``DistributedSampler``, so a loader each rank iterates in full waits for no one.

**Which sample is which.** A ``DistributedSampler`` is deterministic: iterating the
loader's batch sampler before the pass gives each row's data-set position. Rows are
sorted by position and the copies the sampler pads with are dropped (they must agree
on label and id); the order is the data set's, so ``shuffled`` is False. Without such a
sampler, rows are matched by id and sorted by id (``shuffled`` is True).

**Gathering.** Scores, labels, ids and metadata travel by ``all_gather_object`` on a gloo
group; embeddings are broadcast one rank's block at a time as float32 tensors, or, with
``cache=``, each rank writes its part of the directory (:mod:`hstrat._audit._cache`) and
rank 0 copies the kept rows in bounded blocks into ``merged-<key>.embeddings``, which
every rank memory-maps. An exception on one rank is raised on every rank at the next
exchange; the ranks also compare the model's fingerprint and the data set's length.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
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

__all__ = ["ShardGroup", "collect_sharded", "shard_group", "shared_entropy"]

COPY_BYTES = 64 * 2**20  # embeddings are assembled in blocks of at most this many bytes


class ShardGroup:
    """The ranks of an initialised process group; as a context manager, its gloo group."""

    def __init__(self, dist: Any) -> None:
        self.dist = dist
        self.rank: int = int(dist.get_rank())
        self.world_size: int = int(dist.get_world_size())
        self.handle: Any = None  # None: the default group

    def __enter__(self) -> ShardGroup:
        if "gloo" not in str(self.dist.get_backend()):
            self.handle = self.dist.new_group(backend="gloo")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.dist.destroy_process_group(self.handle)
            self.handle = None

    def all_gather(self, value: Any) -> list[Any]:
        """Return every rank's ``value`` (pickled), in rank order, on every rank."""
        out: list[Any] = [None] * self.world_size
        self.dist.all_gather_object(out, value, group=self.handle)
        return out

    def broadcast_array(
        self, array: npt.NDArray[np.float32] | None, shape: tuple[int, int], source: int
    ) -> npt.NDArray[np.float32]:
        """Return rank ``source``'s float32 array on every rank, as a tensor (no pickling)."""
        import torch

        if self.rank == source:
            tensor = torch.from_numpy(np.require(array, np.float32, ["C", "W"]))
        else:
            tensor = torch.empty(shape, dtype=torch.float32)
        self.dist.broadcast(tensor, src=source, group=self.handle)
        result: npt.NDArray[np.float32] = tensor.numpy()
        return result


def shard_group(distributed: bool | None, loader: Any) -> ShardGroup | None:
    """Return the process group to gather over, or None to collect as one process."""
    if distributed is not None and not isinstance(distributed, bool):
        raise TypeError(
            f"distributed must be None (automatic), True or False; got {describe(distributed)}."
        )
    # torch is not imported here: a process group exists only once torch was imported
    dist = None if distributed is False else sys.modules.get("torch.distributed")
    if dist is None or not dist.is_available() or not dist.is_initialized():
        if distributed:
            raise ValueError(
                "distributed=True needs an initialised torch.distributed process group, and "
                "there is none; call torch.distributed.init_process_group() first (torchrun "
                "sets the environment it reads), or leave distributed=None."
            )
        return None
    if dist.get_world_size() == 1 or (distributed is None and _sampler(loader) is None):
        return None
    return ShardGroup(dist)


def shared_entropy(group: ShardGroup) -> int:
    """Return entropy drawn on rank 0 and sent to every rank (a seed for ``random_state``)."""
    entropy = np.random.SeedSequence().entropy if group.rank == 0 else None
    return int(group.all_gather(entropy)[0])


def _sampler(loader: Any) -> Any:
    """Return the loader's distributed sampler (or batch sampler), or None."""
    batch_sampler = getattr(loader, "batch_sampler", None)
    candidates = [batch_sampler, getattr(batch_sampler, "sampler", None)]
    if batch_sampler is None:
        candidates = [getattr(loader, "sampler", None)]
    for c in candidates:  # a DistributedSampler, or any sampler shaped like one
        shape = getattr(c, "num_replicas", None), getattr(c, "rank", None)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in shape):
            return c
    return None


def loader_positions(loader: Any, group: Any) -> npt.NDArray[np.int64] | None:
    """Return the data-set positions this rank's loader yields (None: no batch sampler)."""
    sampler = _sampler(loader)
    if sampler is None:
        return None
    name = type(sampler).__name__
    replicas, rank = int(sampler.num_replicas), int(sampler.rank)
    if (replicas, rank) != (group.world_size, group.rank):
        raise ValueError(
            f"The loader's {name} has num_replicas={replicas}, rank={rank}, but this process "
            f"is rank {group.rank} of {group.world_size}; build the sampler after "
            "init_process_group() without num_replicas= and rank=."
        )
    if getattr(sampler, "drop_last", False) is True:
        raise ValueError(
            f"The loader's {name} has drop_last=True, which leaves out the last samples of "
            "the data set; an audit evaluates every sample. Use drop_last=False: hstrat "
            "removes the repeated samples it pads with."
        )
    batch_sampler = getattr(loader, "batch_sampler", None)
    if batch_sampler is None:  # DataLoader(batch_size=None): its items are batches
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
        return np.fromiter((int(i) for batch in batch_sampler for i in batch), dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"The loader's sampler must yield integer indices into the data set; {err}."
        ) from err


@dataclass(frozen=True)
class MergePlan:
    """Rows of the ranks' results (concatenated in rank order) that make the result, in order."""

    take: npt.NDArray[np.intp]
    counts: tuple[int, ...]  # rows per rank
    positions: npt.NDArray[np.int64] | None  # each result row's data-set position, if known
    shuffled: bool  # the order is not the data set's (rows matched by id)


def merge_plan(
    labels: Sequence[npt.NDArray[np.bool_]],
    *,
    positions: Sequence[npt.NDArray[np.int64]] | None = None,
    ids: Sequence[npt.NDArray[Any]] | None = None,
) -> MergePlan:
    """Order the ranks' rows like the data set and keep one copy of each sample.

    With ``positions`` rows are sorted by position and of one position's rows the lowest
    (row, rank) — the first in a ``DistributedSampler``'s padded order — is kept; without,
    rows are matched by ``ids`` (the lowest rank's copy kept) and sorted by id. Copies
    must agree on their label (and id).
    """
    counts = tuple(len(v) for v in labels)
    rank = np.repeat(np.arange(len(counts)), counts)
    filled = [v for v in labels if len(v)]  # a rank without rows has no label columns
    all_labels = np.concatenate(filled) if filled else np.zeros(0, bool)
    all_ids = None
    if ids is not None:
        parts = [np.asarray(v) for v, n in zip(ids, counts, strict=True) if n]
        all_ids = concat(parts) if parts else np.zeros(0, dtype=object)
    if positions is not None:
        for r, (p, n) in enumerate(zip(positions, counts, strict=True)):
            if len(p) != n:
                raise ValueError(
                    f"On rank {r} the loader yielded {n} samples but its sampler lists "
                    f"{len(p)}: the sampler must yield the same indices every time it is "
                    "iterated (DistributedSampler does; call set_epoch before collect, not "
                    "during it)."
                )
        row = np.concatenate([np.arange(n) for n in counts]) if counts else np.zeros(0, int)
        pos = np.concatenate(positions).astype(np.int64) if counts else np.zeros(0, np.int64)
        order = np.lexsort((rank, row, pos))
        sorted_pos = pos[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = sorted_pos[1:] != sorted_pos[:-1]
        kept_of = order[np.flatnonzero(first)[np.cumsum(first) - 1]]
        _check_duplicates(order[~first], kept_of[~first], all_labels, all_ids, pos, rank)
        return MergePlan(order[first].astype(np.intp), counts, sorted_pos[first], False)
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
            raise ValueError(
                f"On rank {r} the loader yielded the sample ids "
                f"{describe(own[own.duplicated()][:3].tolist())} more than once; every "
                "sample must be evaluated once (is the sampler drawing with replacement?)."
            )
    repeated = pd.Index(all_ids).duplicated(keep="first")
    keep, dups = np.flatnonzero(~repeated), np.flatnonzero(repeated)
    kept_of = keep[pd.Index(all_ids[keep]).get_indexer(all_ids[dups])]
    _check_duplicates(dups, kept_of, all_labels, all_ids, None, rank)
    with contextlib.suppress(TypeError):  # ids of several types: keep the ranks' order
        keep = keep[np.argsort(all_ids[keep], kind="stable")]
    return MergePlan(keep.astype(np.intp), counts, None, True)


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
        same = np.asarray(ids[dups] == ids[kept], dtype=bool)
        values, bad = ids, ~(same | (pd.isna(ids[dups]) & pd.isna(ids[kept])))
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    d, k = int(dups[i]), int(kept[i])
    first, second = (v.item() if isinstance(v, np.generic) else v for v in values[[k, d]])
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
        f"{'labels' if values is labels else 'ids'} ({describe(first)} and "
        f"{describe(second)}): {why}"
    )


def merge_rows(shards: Sequence[Collected | None], plan: MergePlan) -> Collected:
    """Apply a plan to the ranks' rows (None: a rank without rows), embeddings left out."""
    parts = [replace(s, embeddings=None) for s in shards if s is not None and len(s.scores)]
    if not parts:
        raise ValueError("The loaders of all ranks yielded no batches.")
    layouts = {(p.ids is None, tuple(p.metadata)) for p in parts}
    if len(layouts) > 1:
        raise ValueError(
            "The ranks' batches differ in layout (ids present on some ranks only, or other "
            f"metadata keys): {sorted(layouts)}."
        )
    data, take = concatenate(parts), plan.take
    ids = None if data.ids is None else data.ids[take]
    if ids is None and plan.positions is not None:
        n = len(plan.positions)
        is_range = bool(n == 0 or (plan.positions[0] == 0 and plan.positions[-1] == n - 1))
        ids = None if is_range else plan.positions  # positions are unique and sorted
    metadata = {k: v[take] for k, v in data.metadata.items()}
    return Collected(data.scores[take], data.labels[take], ids, metadata)


def copy_rows(
    out: npt.NDArray[np.float32], block: npt.NDArray[Any], plan: MergePlan, rank: int
) -> None:
    """Copy the kept rows of one rank's embeddings into ``out``, a bounded block at a time."""
    start = sum(plan.counts[:rank])  # the kept rows of this rank, and where they go
    dest = np.flatnonzero((plan.take >= start) & (plan.take < start + plan.counts[rank]))
    source = plan.take[dest] - start
    order = np.argsort(source, kind="stable")  # read each shard front to back
    source, dest = source[order], dest[order]
    step = max(1, COPY_BYTES // max(1, 4 * out.shape[1]))
    for start in range(0, len(source), step):
        out[dest[start : start + step]] = block[source[start : start + step]]


def _exchange(
    group: ShardGroup, error: BaseException | None, **values: Any
) -> list[dict[str, Any]]:
    """Gather every rank's ``values``; when a rank failed, raise on every rank."""
    failure = None
    if error is not None:
        kind = next((k for k in (TypeError, ValueError) if isinstance(error, k)), RuntimeError)
        failure = (group.rank, kind, f"{type(error).__name__}: {error}")
    gathered = group.all_gather({"failure": failure, **values})
    if error is not None:
        raise error
    for item in gathered:
        if item["failure"] is not None:
            rank, kind, message = item["failure"]
            raise kind(
                f"collect() failed on rank {rank} of {group.world_size}, so it stops on "
                f"every rank: {message}"
            )
    return gathered


def collect_sharded(
    run_pass: Callable[[CollectCache | None], Collected | None],
    loader: Any,
    group: ShardGroup,
    *,
    identity: dict[str, Any],
    cache: str | os.PathLike[str] | None,
    order_is_random: bool,
) -> tuple[Collected, bool]:
    """Run this rank's pass, gather every rank's rows; return them merged, and ``shuffled``.

    ``run_pass(store)`` returns this rank's rows (None when its loader yielded none),
    written into ``store``, its part of ``cache``, when there is one. ``identity`` is what
    cached outputs are valid for; its ``model`` fingerprint is compared across ranks.
    """
    error: BaseException | None = None
    positions: npt.NDArray[np.int64] | None = None
    dataset_len: int | None = None
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
    with contextlib.suppress(AttributeError, TypeError):  # no data set, or no length
        dataset_len = len(loader.dataset)
    before = _exchange(
        group, error, positions=positions, model=identity["model"], dataset_len=dataset_len
    )
    if before[0]["model"].get("kind") == "torch":  # other fingerprints may name devices
        for rank, b in enumerate(before):
            if b["model"] != before[0]["model"]:
                raise ValueError(
                    f"The model's weights differ between rank 0 and rank {rank} (a digest of "
                    "its parameters, buffers and configuration). Load the same checkpoint on "
                    "every rank before collect (a checkpoint loaded on rank 0 only is the "
                    "usual cause)."
                )
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
    store: CollectCache | None = None
    try:
        if cache is not None:
            store = CollectCache(cache, identity, rank=group.rank, world_size=group.world_size)
        result = run_pass(store)
    except Exception as err:
        error = err
    own = None if result is None else result.embeddings
    after = _exchange(
        group,
        error,
        shard=None if result is None else replace(result, embeddings=None),
        dim=None if own is None else int(own.shape[1]),
        key=None if store is None else store.key(),
    )
    shards: list[Collected | None] = [a["shard"] for a in after]
    counts = [0 if s is None else len(s.scores) for s in shards]
    plan = merge_plan(
        [np.zeros(0, bool) if s is None else s.labels for s in shards],
        positions=all_positions if known else None,
        ids=None
        if any(s is not None and s.ids is None for s in shards)
        else [np.zeros(0) if s is None or s.ids is None else s.ids for s in shards],
    )
    merged = merge_rows(shards, plan)
    dims = {a["dim"] for a, n in zip(after, counts, strict=True) if n}
    if len(dims) > 1:
        raise ValueError(f"The ranks' embeddings differ in width: {sorted(dims, key=str)}.")
    dim = dims.pop() if dims else None
    if dim is None:
        return merged, plan.shuffled
    shape = (len(plan.take), dim)
    if store is None:
        out = np.empty(shape, dtype=np.float32)
        for source, n in enumerate(counts):
            if n:
                mine = own if source == group.rank else None
                copy_rows(out, group.broadcast_array(mine, (n, dim), source), plan, source)
        return replace(merged, embeddings=out), plan.shuffled
    key = digest_values(plan.take, list(plan.counts), [a["key"] for a in after])
    path = store.directory / f"merged-{key}.embeddings"
    if group.rank == 0:
        try:
            _assemble_embeddings(path, plan, shape, own)
        except Exception as err:
            error = err
    _exchange(group, error)
    embeddings = None
    try:
        embeddings = open_rows(path, EMBEDDINGS, shape)
    except CacheError as err:
        error = ValueError(
            f"Rank {group.rank} cannot read the embeddings rank 0 assembled ({err}): cache= "
            "must be a directory on a file system every rank shares."
        )
    _exchange(group, error)
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
            for rank, n in enumerate(plan.counts):
                if not n:
                    continue
                block = own if rank == 0 and own is not None else None
                if block is None:
                    part = top / f"{part_name(rank, world_size)}.embeddings"
                    try:
                        block = open_rows(part, EMBEDDINGS, (n, shape[1]))
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
