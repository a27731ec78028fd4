"""Cost of the cache's input digests, as a ratio of the inference pass they guard.

Run from the repository root::

    python benchmarks/bench_cache_digest.py            # 1024 images, 7 repeats
    python benchmarks/bench_cache_digest.py --quick    # 256 images, 3 repeats

With ``cache=``, :func:`hstrat.collect` takes a SHA-256 digest of every batch's inputs,
so that cached outputs are never returned for other data; a pass over a cache reads and
hashes every batch. What it measures, on one CPU process (nothing is downloaded):

* the data: :func:`hstrat.datasets.make_synthetic_cxr` at 64 px, batches of 64 images
  (``1x64x64`` float32), collated once beforehand so that loading costs the same in every
  timing;
* the model: the demo's compact DenseNet (``hstrat._demo.compact_densenet``), random
  weights;
* **baseline**, the inference pass: ``TorchAdapter.predict`` on every batch — the
  forward pass with the embedding hook, in eval mode under ``inference_mode``, one
  ``.cpu()`` per batch — exactly what ``collect`` runs per batch;
* **digests**: ``digest_values`` of every batch's inputs, as ``collect(cache=...)``
  computes them.

The two are timed alternately in one process (drifts in machine load hit both alike)
after a warm-up; the ratio (inference + digests) / inference is printed for the median
and for the best of the repeats, against the target <= 1.05. For the record, two whole
calls follow: ``collect(cache=new directory)`` over ``collect()`` (digests plus writing
the files), and reusing the complete cache (the model not run) over that first pass.

torch runs one intra-op thread by default (``--threads N`` for more, ``0`` for torch's
default): more threads make the model faster and the digests a larger share.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader

import hstrat
from hstrat._audit._cache import digest_values
from hstrat._demo import compact_densenet
from hstrat.adapters import TorchAdapter
from hstrat.datasets import make_synthetic_cxr

TARGET = 1.05


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256 images, 3 repeats")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n_images, repeats = (256, 3) if args.quick else (1024, 7)
    data = make_synthetic_cxr(n_images, image_size=64, random_state=0)
    loader = DataLoader(data, batch_size=64)
    batches = list(loader)
    model = compact_densenet(random_state=0)
    adapter = TorchAdapter(model)
    n_bytes = sum(x.numpy().nbytes for x, _, _ in batches)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; hstrat "
        f"{hstrat.__version__}; compact DenseNet, {n_images} synthetic CXR at 64 px, "
        f"{len(batches)} batches of 64 ({n_bytes / 2**20:.1f} MiB of inputs), CPU"
    )

    def inference() -> None:
        with adapter.session():
            for x, _, _ in batches:
                adapter.predict(x)

    def digests() -> None:
        for x, _, _ in batches:
            digest_values(x, None)

    inference(), digests()  # warm-up
    runs: dict[str, list[float]] = {"inference": [], "digests": []}
    for _ in range(repeats):
        runs["inference"].append(timed(inference))
        runs["digests"].append(timed(digests))
    for name, times in runs.items():
        shown = ", ".join(f"{t:.3f}" for t in times)
        print(f"  {name:9s} median {statistics.median(times):7.3f} s  (runs {shown})")
    for label, pick in (("median", statistics.median), ("best", min)):
        ratio = 1 + pick(runs["digests"]) / pick(runs["inference"])
        verdict = "meets" if ratio <= TARGET else "MISSES"
        print(f"  (inference + digests) / inference, {label}: {ratio:.4f} ({verdict} <= {TARGET})")
    print(f"  digest throughput: {n_bytes / min(runs['digests']) / 1e9:.2f} GB/s")

    # whole calls; random weights: the logits may all lie in [0, 1], so say "sigmoid"
    calls: dict[str, list[float]] = {"plain": [], "first": [], "again": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            for name, cache in (("plain", None), ("first", tmp), ("again", tmp)):
                calls[name].append(
                    timed(
                        lambda cache=cache: hstrat.collect(
                            model, loader, activation="sigmoid", cache=cache, progress=False
                        )
                    )
                )
    plain, first, again = (statistics.median(t) for t in calls.values())
    print(
        f"whole calls, medians: collect() {plain:.3f} s; collect(cache=new) {first:.3f} s "
        f"(x{first / plain:.3f}); reusing that cache {again:.3f} s (x{again / first:.3f} of "
        "the first pass: the loader is read and hashed, the model not run)"
    )


if __name__ == "__main__":
    main()
