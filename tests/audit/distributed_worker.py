"""Run by tests/audit/test_distributed.py under ``torchrun --nproc_per_node=2`` (gloo, CPU).

Every rank runs the same scenarios and pickles what it got to ``<out>/rank<r>.pkl``; the
test compares them with a run in one process. The builders are shared with the test.

The model computes in exact arithmetic (small integer inputs, weights in sixteenths):
a sample's score does not depend on which other samples share its batch, so the
results of two and of one process can be compared for equality.
"""

from __future__ import annotations

import pickle
import sys
import traceback
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

N, D, HIDDEN = 201, 5, 6  # an odd number: the sampler pads rank 1 with sample 0
AUDIT = {"ci": "bootstrap", "n_resamples": 200, "correction": "holm"}


class Exact(nn.Module):
    def __init__(self, shift=0.0):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.body = nn.Sequential(nn.Linear(D, HIDDEN), nn.ReLU())
        self.classifier = nn.Linear(HIDDEN, 1)
        with torch.no_grad():
            for layer in (self.body[0], self.classifier):
                layer.weight.copy_(torch.randint(-16, 17, layer.weight.shape, generator=g) / 16)
                layer.bias.copy_(
                    torch.randint(-16, 17, layer.bias.shape, generator=g) / 16 + shift
                )

    def forward(self, x):
        return self.classifier(self.body(x))


def count_calls(model):
    """Count forward calls in a closure: module attributes are part of the fingerprint."""
    calls = []
    handle = model.register_forward_pre_hook(lambda module, args: calls.append(1))
    return calls, handle


def features():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-8, 9, (N, D), generator=g).float()
    y = (x[:, 0] + torch.randint(-6, 7, (N,), generator=g) > 0).float()
    return x, y


class Cases(Dataset):
    """Dict samples with an id and metadata, or plain ``(x, y)`` tuples."""

    def __init__(self, ids=True, bad_label_at=None):
        self.x, self.y = features()
        if bad_label_at is not None:
            self.y[bad_label_at] = 2.0
        self.ids = ids

    def __len__(self):
        return N

    def __getitem__(self, i):
        if not self.ids:
            return self.x[i], self.y[i]
        return {
            "image": self.x[i],
            "label": self.y[i],
            "id": f"case{i:03d}",
            "site": "north" if i % 3 else "south",
            "weight": torch.tensor(0.5 * i),
        }


def detector():
    from hstrat.detect import KMeansDetector

    return KMeansDetector(n_stability=0, random_state=0)


def site_mask():
    return np.arange(N) % 3 == 0  # by position


def snapshot(p):
    return {
        "y_true": np.asarray(p.y_true),
        "y_score": np.asarray(p.y_score),
        "ids": p.ids,
        "embeddings": None if p.embeddings is None else np.array(p.embeddings),
        "metadata": p.metadata,
        "shuffled": p.shuffled,
        "mmap": isinstance(p.embeddings, np.memmap),
    }


def error_of(call):
    try:
        call()
    except Exception as err:
        return {"type": type(err).__name__, "message": str(err)}
    return None


def main(out: Path) -> None:
    import warnings

    import torch.distributed as dist

    import hstrat
    from hstrat.detect import KMeansDetector
    from hstrat.exceptions import SmallStratumWarning

    # Warnings are errors (PYTHONWARNINGS=error), except that 201 cases make clusters
    # below the size at which hstrat calls an interval reliable: expected here.
    warnings.filterwarnings("ignore", category=SmallStratumWarning)

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    results = {}

    def loader(ids=True, shuffle=False, bad_label_at=None, **kwargs):
        data = Cases(ids, bad_label_at)
        sampler = DistributedSampler(data, shuffle=shuffle, seed=3)
        return DataLoader(data, batch_size=4, sampler=sampler, **kwargs)

    model = Exact()
    run = {"model": model, "progress": False}
    results["ids"] = snapshot(hstrat.collect(loader=loader(), **run))
    results["positions"] = snapshot(hstrat.collect(loader=loader(ids=False), **run))
    results["ids shuffled"] = snapshot(hstrat.collect(loader=loader(shuffle=True), **run))
    results["positions shuffled"] = snapshot(
        hstrat.collect(loader=loader(ids=False, shuffle=True), **run)
    )
    results["workers"] = snapshot(hstrat.collect(loader=loader(num_workers=2), **run))

    # with a cache: every rank's shard on disk, embeddings assembled into one memmap
    cache = out / "cache"
    calls, handle = count_calls(model)
    first = snapshot(hstrat.collect(loader=loader(shuffle=True), cache=cache, **run))
    (merged,) = cache.glob("merged-*")
    inode, n_calls = merged.stat().st_ino, len(calls)
    again = snapshot(hstrat.collect(loader=loader(shuffle=True), cache=cache, **run))
    handle.remove()
    results["cache assembled once"] = merged.stat().st_ino == inode
    results["cache"] = first
    results["cache again"] = again
    results["cache calls"] = len(calls) - n_calls
    results["cache files"] = sorted(p.name for p in cache.iterdir())
    results["cache positions"] = snapshot(
        hstrat.collect(loader=loader(ids=False), cache=out / "cache2", **run)
    )

    # the object collectives on a gloo group of their own, as under NCCL
    real_backend = dist.get_backend
    dist.get_backend = lambda group=None: "nccl"
    try:
        results["subgroup"] = snapshot(hstrat.collect(loader=loader(), **run))
    finally:
        dist.get_backend = real_backend

    # audit: every rank the same report, also without a seed
    strata = {"south": site_mask()}
    results["audit"] = hstrat.audit(
        model, loader(shuffle=True), strata, progress=False, random_state=0, **AUDIT
    ).table
    unseeded = hstrat.audit(model, loader(), strata, progress=False, **AUDIT)
    results["audit unseeded"] = unseeded.table
    found = hstrat.audit(
        model,
        loader(shuffle=True),
        strata,
        detectors=[detector()],
        cache=out / "cache3",
        progress=False,
        random_state=0,
        **AUDIT,
    )
    results["audit detectors"] = (found.table, found.clusters)

    # what is not gathered
    plain = DataLoader(Cases(), batch_size=4)  # every rank the whole data set: no gather
    results["plain"] = snapshot(hstrat.collect(model, plain, progress=False))
    results["opt out"] = snapshot(
        hstrat.collect(model, loader(), progress=False, distributed=False)
    )

    # distributed=True without a DistributedSampler: matched by id
    data = Cases()
    mine = [data[i] for i in range(rank, N, 2)] + ([data[0]] if rank == 1 else [])
    batches = [torch.utils.data.default_collate(mine[i : i + 4]) for i in range(0, len(mine), 4)]
    results["by id"] = snapshot(hstrat.collect(model, batches, progress=False, distributed=True))
    results["empty rank"] = snapshot(
        hstrat.collect(model, batches if rank == 0 else [], progress=False, distributed=True)
    )

    # errors reach every rank
    results["error bad label"] = error_of(
        lambda: hstrat.collect(model, loader(bad_label_at=1), progress=False)
    )
    other = Exact(shift=1.0 if rank == 1 else 0.0)
    results["error weights"] = error_of(lambda: hstrat.collect(other, loader(), progress=False))
    results["error drop_last"] = error_of(
        lambda: hstrat.collect(model, loader(drop_last=True), progress=False)
    )
    results["error no ids"] = error_of(
        lambda: hstrat.collect(
            model,
            [(x[rank::2], y[rank::2]) for x, y in [features()]],
            progress=False,
            distributed=True,
        )
    )

    results["error detector seed"] = error_of(
        lambda: hstrat.audit(model, loader(), detectors=[KMeansDetector()], progress=False)
    )

    with open(out / f"rank{rank}.pkl", "wb") as handle:
        pickle.dump(results, handle)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    try:
        main(Path(sys.argv[1]))
    except BaseException:
        traceback.print_exc()
        raise
