"""``hstrat demo``: watch hidden stratification happen, and be caught, on a laptop.

Synthetic chest X-rays where most pneumothoraces carry a chest drain (a bright, easy
shortcut); a compact DenseNet trained on them on the CPU (nothing about its performance
is built in); an audit with the paper's schema strata and a k-means detector. The model
and training loop are here so that the demo runs from a wheel; the paper's recipe is
``examples/densenet_training.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._audit import AuditReport, audit
from ._validation import RandomState, check_int, check_random_state
from .adapters import require_torch


@dataclass(frozen=True)
class DemoSettings:
    """Sizes of the demo; ``fast()`` is the CI smoke version."""

    n_train: int = 5000
    n_test: int = 3000
    image_size: int = 64
    epochs: int = 3
    batch_size: int = 64
    lr: float = 1e-3
    n_resamples: int = 2000

    @classmethod
    def fast(cls) -> DemoSettings:
        """Return the smoke-test sizes: too small to mean anything, enough to test the path."""
        return cls(n_train=400, n_test=300, image_size=32, epochs=1, n_resamples=200)


def run_demo(
    out: str | Path = "hstrat-demo",
    *,
    seed: int = 0,
    settings: DemoSettings | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> AuditReport:
    """Generate, train, audit and write the report (``hstrat demo``); return it."""
    from .datasets import cxr14_schema, make_synthetic_cxr
    from .detect import KMeansDetector
    from .strata import Schema

    torch = require_torch("hstrat demo")
    check_int(seed, "seed", minimum=0)
    s = settings or DemoSettings()
    out = Path(out)
    rng = check_random_state(seed)
    seeds = [int(x) for x in rng.integers(2**31 - 1, size=5)]
    started = time.perf_counter()
    print(f"hstrat demo: synthetic chest X-rays, seed {seed}, writing to {out}/")
    train, test = (
        make_synthetic_cxr(n, image_size=s.image_size, split=split, random_state=r)
        for n, split, r in ((s.n_train, "train", seeds[0]), (s.n_test, "test", seeds[1]))
    )
    print(
        f"  data: {s.n_train} training and {s.n_test} test images; "
        f"{test.metadata['chest_drain'][test.metadata['label'] == 1].mean():.0%} of test "
        "pneumothoraces have a chest drain"
    )
    model = compact_densenet(seeds[2])
    loss = _train(model, train, s, seeds[3], progress)
    print(f"  trained a compact DenseNet for {s.epochs} epochs (final loss {loss:.3f})")

    schema = Schema.from_dict(cxr14_schema())
    labels = test.metadata[["chest_drain", "airspace_opacity"]]
    strata = schema.to_strata(labels, y_true=test.metadata["label"].to_numpy(), outside="ignore")
    loader: Any = torch.utils.data.DataLoader(test, batch_size=256)
    detector = KMeansDetector(random_state=seeds[4])
    report = audit(
        model,
        loader,
        strata,
        detectors=[detector],
        n_resamples=s.n_resamples,
        random_state=seed,
        progress=progress,
    )
    report.provenance["schema"] = schema.provenance()
    report.provenance["demo"] = {"seed": seed, **s.__dict__}
    paths = report.save(out, images=test.images, overwrite=overwrite)
    print(f"\n{report}\n{_cluster_truth(report, test.metadata)}\n")
    print(
        f"  wrote {', '.join(p.name for p in paths.values())} to {out}/ "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return report


def _cluster_truth(report: AuditReport, metadata: pd.DataFrame) -> str:
    """Say how often each class's worst cluster has a drain (only a demo knows the truth)."""
    from ._audit._findings import display_names, is_cluster

    table = report.table.assign(name=display_names(report.table))
    drained = metadata["chest_drain"].to_numpy(dtype=bool)
    lines = []
    for label, population in ((1, "positives"), (0, "negatives")):
        rows = [
            r for _, r in table.iterrows()
            if is_cluster(r) and r["defined"] and r["population"] == population
        ]  # fmt: skip
        if not rows:
            continue
        worst = min(rows, key=lambda r: r["auc"])
        mask = next(s.mask for s in report.strata if s.name == worst["stratum"])
        members = metadata["label"].to_numpy() == label
        inside, others = mask & members, ~mask & members
        lines.append(
            f"The worst cluster of {population}, {worst['name']}, holds {int(inside.sum())} "
            f"{population}, {drained[inside].mean():.0%} with a chest drain against "
            f"{drained[others].mean():.0%} of the other {population}."
        )
    if not lines:
        return "  (the detector found no cluster)"
    return "\n".join([*lines, "(The detector was not told about drains.)"])


def _generator(random_state: RandomState) -> Any:
    """Return a :class:`torch.Generator` seeded from ``random_state`` (global RNG untouched)."""
    torch = require_torch("hstrat demo")
    return torch.Generator().manual_seed(int(check_random_state(random_state).integers(2**63 - 1)))


def compact_densenet(random_state: RandomState = None) -> Any:
    """Return the demo's model: a small DenseNet for 1-channel images, one output logit.

    A torchvision DenseNet (growth rate 12, blocks (3, 3, 3)) behind a gray-to-RGB copy
    and ImageNet's normalisation, its weights drawn from ``random_state``.

    Examples
    --------
    >>> import torch
    >>> from hstrat._demo import compact_densenet
    >>> compact_densenet(0)(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 1])
    """
    torch = require_torch("hstrat demo")
    import torchvision

    nn = torch.nn
    with torch.random.fork_rng(devices=[]):  # construction draws from the global RNG
        net = torchvision.models.DenseNet(
            growth_rate=12, block_config=(3, 3, 3), num_init_features=24, bn_size=4, num_classes=1
        )
    generator = _generator(random_state)
    for m in net.modules():  # torchvision's initialisation, drawn from the generator
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, generator=generator)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / float(np.sqrt(m.in_features))
            nn.init.uniform_(m.weight, -bound, bound, generator=generator)

    class GrayscaleDenseNet(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, net: Any) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

        def forward(self, x: Any) -> Any:
            return self.net((x.expand(-1, 3, -1, -1) - self.mean) / self.std)

    return GrayscaleDenseNet(net)


def _train(model: Any, data: Any, s: DemoSettings, random_state: int, progress: bool) -> float:
    """Train with BCEWithLogitsLoss and Adam on the CPU; return the last epoch's mean loss."""
    torch = require_torch("hstrat demo")
    from tqdm.auto import tqdm

    sampler = torch.utils.data.RandomSampler(data, generator=_generator(random_state))
    loader = torch.utils.data.DataLoader(data, batch_size=s.batch_size, sampler=sampler)
    optimiser = torch.optim.Adam(model.parameters(), lr=s.lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    model.train()
    for epoch in range(1, s.epochs + 1):
        total = 0.0
        batches = tqdm(
            loader, f"train epoch {epoch}/{s.epochs}", leave=False, disable=not progress
        )
        for x, y, _ in batches:
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(x).reshape(-1), y)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(y)
    return total / len(data)
