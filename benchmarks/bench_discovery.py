"""Benchmark of the embedding-clustering detectors: subclass recovery, time and memory.

**Recovery** (as in the subclass-recovery table of GEORGE, Sohoni et al. 2020): on tasks
with a planted failing subclass, the precision (share of the top-ranked cluster that is
the subclass) and recall (share of the subclass inside it) of cluster 0, for each
detector, over three seeds of each task:

* ``planted`` — 2,000 synthetic 32-d embeddings; a fifth of the positives form their
  own blob and score 2 SD lower (``tests/detect/planted.py``);
* ``digits-8`` — scikit-learn's digits, even vs odd, digit 8 kept at 5% in training; the
  embeddings are the MLP's hidden layer on the test half.

**Scale**: one fit on 100,000 x 1,024 float32 embeddings (40% positives, benign
structure, a planted subclass), with 500 bootstrap resamples and 5 stability refits
(and with the defaults, 1,000 and 10). The time includes everything ``fit`` does:
split, per-class PCA, the candidate clusterings, ranking, the held-out bootstrap of
every cluster's AUC, the Fisher tests and the stability refits. Peak memory is what
``tracemalloc`` sees allocated during the fit, on top of the embeddings themselves.

**Baseline** (ratios): the paper's procedure done directly with scikit-learn — per class,
``PCA(50)`` then ``KMeans`` for k = 2..5 on every case, no split, no inference, no
stability — i.e. what the clustering alone costs.

Run ``python benchmarks/bench_discovery.py`` (about 3 minutes on 2 cores);
``--quick`` uses 10,000 cases for a smoke test.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "detect"))
from planted import Task, digits_task, planted_task, top_cluster_recovery

import hstrat
from hstrat.detect import GaussianMixtureDetector, KMeansDetector

DETECTORS: dict[str, Callable[..., Any]] = {
    "kmeans": lambda **kw: KMeansDetector(**kw),
    "kmeans (paper)": lambda **kw: KMeansDetector(mode="paper", **kw),
    "gaussianmixture (bic)": lambda **kw: GaussianMixtureDetector(**kw),
    "gaussianmixture (silhouette)": lambda **kw: GaussianMixtureDetector(
        criterion="silhouette", **kw
    ),
}


def recovery() -> None:
    tasks: dict[str, Callable[[int], Task]] = {
        "planted": lambda seed: planted_task(random_state=seed),
        "digits-8": lambda seed: digits_task(random_state=seed),
    }
    seeds = (0, 1, 2)
    print("## Recovery of the planted subclass by the top-ranked cluster")
    print()
    print("| detector | task | precision (seeds 0, 1, 2) | recall (seeds 0, 1, 2) | mean P / R |")
    print("|---|---|---|---|---|")
    built = {name: [make(seed) for seed in seeds] for name, make in tasks.items()}
    for det_name, make_detector in DETECTORS.items():
        for task_name, instances in built.items():
            precision, recall = [], []
            for seed, task in zip(seeds, instances, strict=True):
                det = make_detector(n_resamples=200, n_stability=0, random_state=seed)
                det.fit(task.embeddings, y_true=task.y_true, y_score=task.y_score)
                p, r = top_cluster_recovery(det.labels_, task.subclass)
                precision.append(p)
                recall.append(r)
            print(
                f"| {det_name} | {task_name} | {', '.join(f'{p:.2f}' for p in precision)} | "
                f"{', '.join(f'{r:.2f}' for r in recall)} | "
                f"{np.mean(precision):.2f} / {np.mean(recall):.2f} |"
            )
    print()


def _measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    tracemalloc.start()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20, result


def _baseline(task: Task) -> None:
    """Run the paper's clustering with plain scikit-learn: PCA(50), k-means k=2..5 per class."""
    for cls in (False, True):
        rows = np.flatnonzero(task.y_true == cls)
        z = PCA(50, random_state=0).fit_transform(task.embeddings[rows])
        for k in (2, 3, 4, 5):
            KMeans(k, n_init=3, random_state=0).fit(z)


def scale(n: int) -> None:
    print(f"## One fit on {n:,} x 1,024 float32 embeddings")
    print()
    task = planted_task(n, 1024, dtype=np.float32, n_modes=4, random_state=0)
    print(
        f"embeddings: {task.embeddings.nbytes / 2**20:,.0f} MiB; positives {task.y_true.sum():,}"
    )
    base_time, base_mem, _ = _measure(lambda: _baseline(task))
    print(
        f"baseline (scikit-learn PCA(50) + KMeans k=2..5 per class): {base_time:.1f} s, "
        f"peak {base_mem:,.0f} MiB"
    )
    print()
    print(
        "| detector | n_resamples | n_stability | time (s) | x baseline | peak MiB | "
        "x baseline | top-cluster P / R | under 60 s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for det_name in ("kmeans", "gaussianmixture (bic)"):
        for n_resamples, n_stability in ((500, 5), (1000, 10)):
            det = DETECTORS[det_name](
                n_resamples=n_resamples, n_stability=n_stability, random_state=0
            )
            elapsed, peak, _ = _measure(
                lambda det=det: det.fit(task.embeddings, y_true=task.y_true, y_score=task.y_score)
            )
            p, r = top_cluster_recovery(det.labels_, task.subclass)
            print(
                f"| {det_name} | {n_resamples} | {n_stability} | {elapsed:.1f} | "
                f"{elapsed / base_time:.2f} | {peak:,.0f} | {peak / base_mem:.2f} | "
                f"{p:.2f} / {r:.2f} | {'yes' if elapsed < 60 else 'NO'} |"
            )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 cases instead of 100,000")
    parser.add_argument("--skip-recovery", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"hstrat {hstrat.__version__}, scikit-learn {sklearn.__version__}, numpy "
        f"{np.__version__}, Python {platform.python_version()}; {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} at start"
    )
    print()
    if not args.skip_recovery:
        recovery()
    scale(10_000 if args.quick else 100_000)


if __name__ == "__main__":
    main()
