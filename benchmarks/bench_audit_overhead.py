"""Overhead of ``hstrat.audit`` over a bare PyTorch inference loop.

Run from the repository root::

    python benchmarks/bench_audit_overhead.py            # 512 images, 7 repeats
    python benchmarks/bench_audit_overhead.py --quick    # 256 images, 3 repeats

What it measures, on one CPU process with synthetic data (nothing is downloaded):

* the model: a small torchvision DenseNet (``growth_rate=8, block_config=(4, 4, 4),
  num_init_features=16``, one output, random weights) on 3x64x64 float32 tensors;
* the loader: a :class:`torch.utils.data.DataLoader` over a ``TensorDataset``, batch 32,
  ``num_workers=0``, in order;
* **baseline** — the bare loop anyone would write: ``model.eval()``, then under
  :func:`torch.inference_mode` ``model(x)`` for every batch, the outputs moved to the CPU
  and concatenated;
* **hstrat** — ``hstrat.audit(model, loader, ci="delong", progress=False)``: the same
  pass plus the penultimate-layer embeddings (forward pre-hook on the classifier), labels,
  ids, the training-flag bookkeeping, validation, and the evaluation (overall AUC with a
  DeLong interval and the operating point; no strata, no bootstrap).

Both are timed in the same process, alternately (so that drifts in machine load hit both
alike), after one warm-up run of each; each is repeated and the medians of wall-clock
and of CPU time are reported. The ratio hstrat / baseline is the overhead; the target
is <= 1.10. Last, the same two runs with a one-layer model, whose cost is next to
nothing, give hstrat's own time in milliseconds (the pass's bookkeeping and the
evaluation), independent of the model.

torch runs one intra-op thread by default (``--threads N`` for more, ``0`` for torch's
default): on a shared machine several threads make both timings swing by a factor of
two, while one thread gives repeatable numbers. More threads make the model faster, and
hstrat's fixed per-call cost (the evaluation, a few tens of milliseconds) a larger share.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torchvision
from torch.utils.data import DataLoader, TensorDataset

import hstrat

TARGET = 1.10


def make_loader(n_images: int, batch_size: int = 32) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_images, 3, 64, 64, generator=g)
    y = (torch.rand(n_images, generator=g) < 0.3).float()
    return DataLoader(TensorDataset(x, y), batch_size=batch_size)


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)  # benchmark script: the weights only need to be reproducible
    return torchvision.models.DenseNet(
        growth_rate=8, block_config=(4, 4, 4), num_init_features=16, num_classes=1
    )


def bare_loop(model: torch.nn.Module, loader: DataLoader) -> torch.Tensor:
    model.eval()
    outputs = []
    with torch.inference_mode():
        for x, _ in loader:
            outputs.append(model(x).cpu())
    return torch.cat(outputs)


def with_hstrat(model: torch.nn.Module, loader: DataLoader) -> hstrat.AuditReport:
    return hstrat.audit(model, loader, ci="delong", progress=False)


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 images, 3 repeats")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (default 1; 0: torch's)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n_images, repeats = (256, 3) if args.quick else (512, 7)
    loader = make_loader(n_images)
    model = make_model()
    threads = torch.get_num_threads()
    print(f"torch {torch.__version__}, {threads} threads; hstrat {hstrat.__version__}")
    print(f"DenseNet (growth 8, blocks 4-4-4), {n_images} images 3x64x64, batch 32, CPU")

    bare_loop(model, loader)  # warm-up: kernel selection, allocator, imports
    report = with_hstrat(model, loader)
    assert report.predictions is not None
    assert report.predictions.embeddings is not None
    print(f"embeddings collected: {report.predictions.embeddings.shape}")

    baseline, audited = [], []
    for _ in range(repeats):  # alternate, so drifts in machine load hit both alike
        baseline.append(timed(lambda: bare_loop(model, loader)))
        audited.append(timed(lambda: with_hstrat(model, loader)))
    for label, clock in (("wall-clock", 0), ("CPU time", 1)):
        b = statistics.median(t[clock] for t in baseline)
        a = statistics.median(t[clock] for t in audited)
        print(f"{label}, median of {repeats}:")
        print(f"  bare inference_mode loop {b:7.3f} s  (runs {_runs(baseline, clock)})")
        print(f"  hstrat.audit             {a:7.3f} s  (runs {_runs(audited, clock)})")
        verdict = "meets" if a / b <= TARGET else "MISSES"
        print(f"  ratio hstrat / bare = {a / b:.3f}  ({verdict} the target <= {TARGET:.2f})")
    print(
        "On a machine shared with other work the wall-clock times drift; the CPU-time "
        "ratio (this process's threads only) is the steadier measure of the overhead."
    )
    # the same comparison with a model that costs next to nothing: what remains is
    # hstrat's own time (pass bookkeeping + evaluation), in absolute terms
    tiny = torch.nn.Sequential(
        torch.nn.Flatten(),
        torch.nn.Linear(3 * 64 * 64, 60),
        torch.nn.ReLU(),
        torch.nn.Linear(60, 1),
    )
    bare_loop(tiny, loader)
    with_hstrat(tiny, loader)
    tiny_bare = [timed(lambda: bare_loop(tiny, loader))[1] for _ in range(repeats)]
    tiny_hstrat = [timed(lambda: with_hstrat(tiny, loader))[1] for _ in range(repeats)]
    extra = statistics.median(tiny_hstrat) - statistics.median(tiny_bare)
    print(
        f"with a one-layer model instead, hstrat.audit adds {1000 * extra:.1f} ms of CPU time "
        f"to a {1000 * statistics.median(tiny_bare):.1f} ms loop ({len(loader)} batches)"
    )


def _runs(times: list[tuple[float, float]], clock: int) -> str:
    return ", ".join(f"{t[clock]:.3f}" for t in times)


if __name__ == "__main__":
    main()
