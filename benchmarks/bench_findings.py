"""Fourteen findings in one pass: their cost against one finding's, and the memory.

Run from the repository root::

    python benchmarks/bench_findings.py            # 1,024 images, 5 repeats
    python benchmarks/bench_findings.py --quick    # 256 images, 2 repeats, 200 resamples

Part 1, the pass. The model is the demo's compact DenseNet (``hstrat._demo.compact_densenet``)
with a 14-output head, like ChestX-ray14's, on synthetic chest X-rays at 64 px with
multi-hot labels (14 columns). Timed alternately in one process, after a warm-up:

* **baseline** — ``hstrat.collect(model, loader, target=0)``: one finding;
* **hstrat** — ``hstrat.collect(model, loader, targets="all")``: all fourteen, in the
  same single pass (embeddings kept once).

The ratio of the medians is printed; the target is <= 1.20 (auditing 14 findings one at a
time would cost about 14 passes).

Part 2, the statistics. ``hstrat.evaluate`` on DataFrames of 14 findings x 100,000 cases,
10 strata, 2,000 bootstrap resamples; the peak resident memory of the process is printed
against the 2 GB target, and the time per finding against a single-finding evaluate
measured in the same run.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import pandas as pd
import torch

import hstrat
from hstrat._demo import compact_densenet
from hstrat.datasets import make_synthetic_cxr

N_FINDINGS = 14
TARGET_RATIO = 1.20
TARGET_BYTES = 2 * 1024**3


def make_loader(n_images: int) -> torch.utils.data.DataLoader:
    data = make_synthetic_cxr(n_images, image_size=64, random_state=0)
    rng = np.random.default_rng(0)
    labels = rng.random((n_images, N_FINDINGS)) < 0.2
    labels[:, 0] = data.labels == 1
    x = torch.from_numpy(data.images[:, None])
    y = torch.from_numpy(labels.astype(np.float32))
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)


def make_model() -> torch.nn.Module:
    model = compact_densenet(random_state=0)
    head = model.net.classifier
    model.net.classifier = torch.nn.Linear(head.in_features, N_FINDINGS)
    return model.eval()


def time_pass(model: torch.nn.Module, loader: object, repeats: int) -> tuple[float, float]:
    one, many = [], []
    for _ in range(repeats + 1):  # the first round warms up
        start = time.perf_counter()
        hstrat.collect(model, loader, target=0, activation="sigmoid", progress=False)
        one.append(time.perf_counter() - start)
        start = time.perf_counter()
        hstrat.collect(model, loader, targets="all", activation="sigmoid", progress=False)
        many.append(time.perf_counter() - start)
    return statistics.median(one[1:]), statistics.median(many[1:])


def statistics_run(n: int, n_resamples: int) -> tuple[float, float, int]:
    rng = np.random.default_rng(1)
    names = [f"finding_{k}" for k in range(N_FINDINGS)]
    y = pd.DataFrame(rng.random((n, N_FINDINGS)) < 0.3, columns=names)
    s = y + rng.normal(size=(n, N_FINDINGS))
    strata = pd.DataFrame({"site": rng.choice([f"s{k}" for k in range(5)], n)})
    strata["view"] = rng.choice(["PA", "AP", "lateral", "supine", "other"], n)
    options = {"n_resamples": n_resamples, "random_state": 0, "progress": False}
    start = time.perf_counter()
    hstrat.evaluate(y[names[0]], s[names[0]], strata, **options)
    single = time.perf_counter() - start
    start = time.perf_counter()
    reports = hstrat.evaluate(y, s, strata, **options)
    several = time.perf_counter() - start
    assert len(reports) == N_FINDINGS
    assert len(reports[names[0]].table) == 11
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    return single, several / N_FINDINGS, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    n_images, repeats = (256, 2) if args.quick else (1024, 5)
    n_cases, n_resamples = (20_000, 200) if args.quick else (100_000, 2000)

    one, many = time_pass(make_model(), make_loader(n_images), repeats)
    ratio = many / one
    print(f"pass over {n_images} images (median of {repeats}, 1 torch thread)")
    print(f"  baseline, collect(target=0):      {one:7.2f} s")
    print(f"  hstrat,   collect(targets='all'): {many:7.2f} s   ({N_FINDINGS} findings)")
    verdict = "OK" if ratio <= TARGET_RATIO else "MISSED"
    print(f"  ratio {ratio:.3f}  (target <= {TARGET_RATIO})  {verdict}")

    single, per_finding, peak = statistics_run(n_cases, n_resamples)
    print(f"statistics: {N_FINDINGS} findings x 10 strata x {n_resamples} resamples, n={n_cases}")
    print(f"  one finding alone: {single:6.2f} s; per finding of 14: {per_finding:6.2f} s")
    print(
        f"  peak memory {peak / 1024**2:.0f} MB (target < {TARGET_BYTES / 1024**3:.0f} GB)  "
        f"{'OK' if peak < TARGET_BYTES else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
