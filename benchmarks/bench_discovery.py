"""Discovery benchmark: does the top cluster find the planted failing subclass.

``python benchmarks/bench_discovery.py`` (5-6 minutes on this 2-core machine at load 2, 16
minutes at load 7.5 with other jobs running; ``--quick``: 8 tasks, under a minute;
``--seed 2``: a freshly drawn suite; ``--scale 100000``: also time one fit on 100,000 x
1,024 embeddings). Everything runs on one thread per process.

**Tasks** (``tests/detect/planted.py``, shared with the tests): 142 per suite — 60 digits
(4 superclass splits x each digit as the rare one, 0-5% of it kept in training, MLPs of
16-64 units, embeddings = hidden layer), 16 synthetic chest X-rays (missing drain
shortcut, rare appearance, label noise in a subclass, a subclass among negatives; 32x32,
an MLP on the pixels), 30 Gaussian (benign blobs of separation 1-6 SD, subclass of 5-20%
of either class), 12 breast-cancer (a borderline subgroup rare in training) and 24 null
tasks (structure, no failure). Only tasks where the model really fails on the subclass
(:func:`planted.model_fails`: AUC 0.02 lower and error rate 10 points higher than the
rest of its class) enter the main tables; the others are reported apart.

**Metrics** (per method, over all cases): *recovery rate* — share of tasks whose top
cluster has precision and recall >= 0.5 for the subclass; *mean F1* of the top cluster;
*best-match F1* and *precision-at-10* (the 10 members nearest a cluster's mean) over the
top 3 clusters, as in Domino/dcbench (Eyuboglu et al. 2022). For the detectors, also the
share of null tasks with a cluster significant after Holm (held-out DeLong, as
``evaluate`` would measure it with ``ci="delong"``).

**Baselines** (``benchmarks/discovery_baselines.py``, with their references): naive
worst-error k-means (KMeans(4) per class, highest error rate first; Oakden-Rayner et al.
2020), GEORGE-style (per-class PCA(10) or UMAP + Gaussian mixture, k by silhouette;
Sohoni et al. 2020), Domino-style (one error-aware mixture over embeddings, labels and
predictions; Eyuboglu et al. 2022). They find and rank on every case; the detectors on
60% of each class.

**Design of the default, measured on suite 0** (recovery rate / mean F1 over the 89
failing tasks, mean of three seeds; each row changes one thing from the row it names):

| choice | recovery | F1 |
|---|---|---|
| before: KMeansDetector (k 2-5 by max z; raw AUC deficit; holdout 0.5; min 5%) | 0.734 | 0.719 |
| ... all clusters ranked by deficit z | 0.551 | 0.539 |
| ... ranked by an empirical-Bayes shrunk deficit | 0.730 | 0.711 |
| ... the class with the larger best z first | 0.554 | 0.558 |
| ... k 2-8 | 0.640 | 0.672 |
| ... k 2-8, smallest k within 1 z of the best | 0.596 | 0.630 |
| ... k by the error-rate z, ranked by error rate | 0.719 | 0.672 |
| ... error-aware k-means (score placements appended to embeddings) | 0.449 | 0.554 |
| leaders first: each class's max-z cluster, then the rest by deficit | 0.738 | 0.720 |
| ... k-means n_init 10 | 0.753 | 0.724 |
| ... PCA to 10 dimensions | 0.730 | 0.700 |
| ... k 2-6 | 0.727 | 0.721 |
| ... k 2-8 by z, ties (within 25%) broken by silhouette | 0.655 | 0.683 |
| ... holdout 0.3 | 0.742 | 0.722 |
| ... holdout 0.4 | 0.757 | 0.737 |
| ... holdout 0.4, min size floor 15 (20) cases | 0.742 (0.738) | 0.726 (0.720) |
| **default**: leaders first, holdout 0.4, min size 3% (floor 10) | **0.768** | **0.747** |
| naive worst-error k-means (three seeds) | 0.734 | 0.707 |

(Single-seed rows: "k by the error-rate z" and "error-aware".) The min-size choice was
made after looking at suite 1's failures (subclasses of 5% of a class fell below the 5%
floor), so suite 1 is not a clean check; suite 2 was not looked at before this run.
Three-seed means, default vs naive: suite 1 0.724 / 0.722 vs 0.681 / 0.681; suite 2
0.673 / 0.701 vs 0.680 / 0.682 — better F1, no better recovery rate on the fresh suite.

**This benchmark's output** (one seed per method), suite 0 — see below for suite 2:

| recovery / F1 | cxr (15) | digits (39) | gaussian (30) | tabular (5) | all (89) |
|---|---|---|---|---|---|
| ClusterDetector() | 0.67 / 0.69 | 0.74 / 0.68 | 0.83 / 0.87 | 0.60 / 0.48 | 0.75 / 0.73 |
| GaussianMixtureDetector() | 0.47 / 0.59 | 0.72 / 0.74 | 0.87 / 0.89 | 0.40 / 0.31 | 0.71 / 0.74 |
| KMeansDetector("paper") | 0.53 / 0.63 | 0.64 / 0.60 | 0.83 / 0.87 | 0.60 / 0.53 | 0.69 / 0.69 |
| naive worst-error k-means | 0.47 / 0.51 | 0.72 / 0.67 | 0.77 / 0.82 | 1.00 / 0.83 | 0.71 / 0.70 |
| GEORGE-style | 0.33 / 0.45 | 0.44 / 0.58 | 0.97 / 0.97 | 0.80 / 0.63 | 0.62 / 0.69 |
| Domino-style | 0.27 / 0.50 | 0.21 / 0.36 | 0.23 / 0.22 | 0.00 / 0.12 | 0.21 / 0.32 |

Best-match F1 over the top 3: default 0.80, naive 0.77, GEORGE 0.74, Domino 0.45;
precision-at-10: 0.87, 0.83, 0.73, 0.79. Null tasks with a significant cluster: 3 of 24
(0.12) for the default. Before this change (same suite, one seed): KMeansDetector 0.71 /
0.69, GaussianMixtureDetector (BIC) 0.62 / 0.64.

Suite 2 (fresh; 99 failing tasks; 8 minutes at load 3.3):

| recovery / F1 | cxr (16) | digits (45) | gaussian (30) | tabular (8) | all (99) |
|---|---|---|---|---|---|
| ClusterDetector() | 0.56 / 0.62 | 0.67 / 0.64 | 0.77 / 0.85 | 0.62 / 0.57 | 0.68 / 0.70 |
| GaussianMixtureDetector() | 0.56 / 0.59 | 0.71 / 0.67 | 0.83 / 0.91 | 0.38 / 0.43 | 0.70 / 0.71 |
| KMeansDetector("paper") | 0.38 / 0.55 | 0.69 / 0.67 | 0.77 / 0.83 | 0.50 / 0.45 | 0.65 / 0.68 |
| naive worst-error k-means | 0.50 / 0.55 | 0.73 / 0.64 | 0.80 / 0.83 | 0.50 / 0.56 | 0.70 / 0.68 |
| GEORGE-style | 0.31 / 0.47 | 0.44 / 0.57 | 0.80 / 0.82 | 0.75 / 0.56 | 0.56 / 0.63 |
| Domino-style | 0.19 / 0.38 | 0.18 / 0.42 | 0.13 / 0.16 | 0.00 / 0.17 | 0.15 / 0.31 |

Best-match F1 over the top 3: default 0.75, naive 0.76, GEORGE 0.72, Domino 0.43;
precision-at-10: 0.82, 0.84, 0.67, 0.75. Null tasks with a significant cluster: 0 of 24.
**So the default beats every baseline on both measures on the design suite, but on the
fresh suite only on F1: its recovery rate (0.68) is below the naive baseline's (0.70)**,
within the seed-to-seed spread of one run (about 0.03; three-seed means in the table
above). On 200 further null tasks like the suite's the default had a significant cluster
(Holm, DeLong or bootstrap) in 9.5% and a top-cluster p < 0.05 in 6%: the smallest
held-out clusters (about 7 cases) make the tests a little liberal.

``--no-suite --scale 100000`` (load 3.8): one default fit with 10 stability refits took
11.4 s and peaked at 104 MiB; plain scikit-learn PCA(50) + KMeans k=2..5 per class on
every case took 39.7 s and 512 MiB (0.29x the time, 0.20x the memory).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import sklearn
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "detect"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from discovery_baselines import domino_style, george_style, naive_worst_error
from planted import Task, discovery_suite, model_fails

import hstrat
from hstrat.metrics import stratified_auc

IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Found:
    """What a method returns on a task.

    Ranked cluster ids and, for the detectors only, whether any held-out cluster is
    significant after Holm's adjustment.
    """

    labels: IntArray
    significant: bool | None = None


def _detector(make: Callable[[int], Any]) -> Callable[[Task, int], Found]:
    def run(task: Task, seed: int) -> Found:
        det = make(seed).fit(task.embeddings, y_true=task.y_true, y_score=task.y_score)
        strata = det.to_strata()
        significant = False
        if strata:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                table = stratified_auc(
                    task.y_true, task.y_score, strata, ci="delong", correction="holm"
                )
            significant = bool((table["p_adjusted"].iloc[1:] < 0.05).any())
        return Found(np.asarray(det.labels_, dtype=np.intp), significant)

    return run


def _baseline(fn: Callable[..., IntArray]) -> Callable[[Task, int], Found]:
    return lambda task, seed: Found(fn(task.embeddings, task.y_true, task.y_score, seed))


def methods() -> dict[str, Callable[[Task, int], Found]]:
    """Return the detectors and the baselines, by the name the table prints."""
    from hstrat.detect import ClusterDetector, GaussianMixtureDetector, KMeansDetector

    return {
        "ClusterDetector() (default)": _detector(
            lambda seed: ClusterDetector(n_stability=0, random_state=seed)
        ),
        "GaussianMixtureDetector()": _detector(
            lambda seed: GaussianMixtureDetector(n_stability=0, random_state=seed)
        ),
        "KMeansDetector(criterion='paper')": _detector(
            lambda seed: KMeansDetector(criterion="paper", n_stability=0, random_state=seed)
        ),
        "naive worst-error k-means": _baseline(naive_worst_error),
        "GEORGE-style": _baseline(george_style),
        "Domino-style": _baseline(domino_style),
    }


def _centrality_order(embeddings: npt.NDArray[np.floating], members: IntArray) -> IntArray:
    points = np.asarray(embeddings[members], dtype=np.float64)
    distance = np.linalg.norm(points - points.mean(axis=0), axis=1)
    return members[np.argsort(distance, kind="stable")]


def recovery_scores(
    task: Task, labels: IntArray, *, top: int = 3, at: int = 10
) -> dict[str, float]:
    """Precision, recall, F1 of cluster 0; best F1 and precision-at-``at`` over the top 3.

    Precision-at-k (Eyuboglu et al. 2022; dcbench): of the ``at`` members of a cluster
    nearest its mean embedding, the share in the subclass; the best of the ``top``
    clusters is kept, as is their best F1 ("best match").
    """
    sub = task.subclass
    f1s, p_at = [], []
    first: tuple[float, float, float] = (0.0, 0.0, 0.0)
    for cluster in range(top):
        members = np.flatnonzero(labels == cluster)
        if not len(members):
            f1s.append(0.0)
            p_at.append(0.0)
            continue
        hit = float(sub[members].sum())
        precision, recall = hit / len(members), hit / sub.sum()
        f1 = 0.0 if hit == 0 else 2 * precision * recall / (precision + recall)
        if cluster == 0:
            first = (precision, recall, f1)
        f1s.append(f1)
        central = _centrality_order(task.embeddings, members)[:at]
        p_at.append(float(sub[central].mean()))
    return {
        "precision": first[0],
        "recall": first[1],
        "f1": first[2],
        "recovered": float(first[0] >= 0.5 and first[1] >= 0.5),
        "best_f1_top3": max(f1s),
        "precision_at_10_top3": max(p_at),
    }


def run_suite(
    seed: int, quick: bool, chosen: dict[str, Callable[[Task, int], Found]]
) -> pd.DataFrame:
    """One row per (task, method), on one thread (the fairest and fastest here)."""
    rows: list[dict[str, Any]] = []
    with threadpool_limits(1):
        for index, make in enumerate(discovery_suite(seed, quick=quick)):
            rows.extend(_run_task(index, make(), seed, chosen))
    return pd.DataFrame(rows)


def _run_task(
    index: int, task: Task, seed: int, chosen: dict[str, Callable[[Task, int], Found]]
) -> list[dict[str, Any]]:
    """Every method on one task: a row each."""
    rows: list[dict[str, Any]] = []
    fails = model_fails(task)
    for name, method in chosen.items():
        start = time.perf_counter()
        found = method(task, 1_000 * seed + index)
        row: dict[str, Any] = {
            "task": f"{index:03d} {task.name}",
            "family": task.family,
            "fails": fails,
            "method": name,
            "seconds": time.perf_counter() - start,
            "significant": found.significant,
        }
        if not task.is_null:
            row.update(recovery_scores(task, found.labels))
        rows.append(row)
    return rows


def summary(results: pd.DataFrame) -> str:
    """Return the suite table: method x family where the model fails, then the others."""
    planted = results[(results["family"] != "null") & results["fails"]]
    lines = []
    families = sorted(planted["family"].unique())
    n_tasks = planted.groupby("family")["task"].nunique()
    header = [f"{f} ({n_tasks[f]})" for f in families] + [f"all ({planted['task'].nunique()})"]
    for metric, label in (
        ("recovered", "recovery rate (top cluster P and R >= 0.5)"),
        ("f1", "mean F1 of the top cluster"),
        ("best_f1_top3", "best-match F1 over the top 3 clusters"),
        ("precision_at_10_top3", "precision-at-10 over the top 3 clusters"),
    ):
        lines += [f"### {label}", "", "| method | " + " | ".join(header) + " |"]
        lines.append("|---" * (len(header) + 1) + "|")
        for method, group in planted.groupby("method", sort=False):
            cells = [f"{group.loc[group['family'] == f, metric].mean():.2f}" for f in families]
            cells.append(f"{group[metric].mean():.2f}")
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("")
    others = results[(results["family"] != "null") & ~results["fails"]]
    if len(others):
        lines += [
            f"### {others['task'].nunique()} tasks where the model does not fail on the "
            "subclass (reported apart)",
            "",
            "| method | recovery rate | mean F1 |",
            "|---|---|---|",
        ]
        for method, group in others.groupby("method", sort=False):
            lines.append(
                f"| {method} | {group['recovered'].mean():.2f} | {group['f1'].mean():.2f} |"
            )
        lines.append("")
    null = results[results["family"] == "null"].dropna(subset=["significant"])
    if len(null):
        lines += [
            f"### Null tasks ({null['task'].nunique()}): share with a significant held-out "
            "cluster (Holm, 0.05)",
            "",
        ]
        for method, group in null.groupby("method", sort=False):
            lines.append(f"- {method}: {group['significant'].astype(float).mean():.2f}")
        power = results[(results["family"] != "null") & results["fails"]].dropna(
            subset=["significant"]
        )
        lines += ["", "Share of failing tasks with a significant held-out cluster:", ""]
        for method, group in power.groupby("method", sort=False):
            lines.append(f"- {method}: {group['significant'].astype(float).mean():.2f}")
        lines.append("")
    seconds = results.groupby("method", sort=False)["seconds"].sum()
    lines += ["Seconds per method, all tasks: " + ", ".join(
        f"{m} {s:.0f}" for m, s in seconds.items()
    )]  # fmt: skip
    return "\n".join(lines)


def _measure(fn: Callable[[], Any]) -> tuple[float, float]:
    tracemalloc.start()
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, peak / 2**20


def _plain_kmeans(task: Task) -> None:
    """Run the paper's clustering in plain scikit-learn: PCA(50), k-means k=2..5 per class."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    for cls in (False, True):
        rows = np.flatnonzero(task.y_true == cls)
        z = PCA(50, random_state=0).fit_transform(task.embeddings[rows])
        for k in (2, 3, 4, 5):
            KMeans(k, n_init=3, random_state=0).fit(z)


def scale(n: int) -> None:
    """Time and peak memory of one default fit on n x 1,024 float32 embeddings."""
    from planted import planted_task

    from hstrat.detect import ClusterDetector

    task = planted_task(n, 1024, dtype=np.float32, n_modes=4, random_state=0)
    base_time, base_mem = _measure(lambda: _plain_kmeans(task))
    print(f"\n### One fit on {n:,} x 1,024 float32 embeddings\n")
    print(f"baseline, plain scikit-learn PCA(50) + KMeans k=2..5 per class, every case: "
          f"{base_time:.1f} s, peak {base_mem:,.0f} MiB")  # fmt: skip
    det = ClusterDetector(random_state=0)
    elapsed, peak = _measure(
        lambda: det.fit(task.embeddings, y_true=task.y_true, y_score=task.y_score)
    )
    top = det.labels_ == 0
    print(
        f"ClusterDetector() with 10 stability refits: {elapsed:.1f} s "
        f"({elapsed / base_time:.2f} x baseline), peak {peak:,.0f} MiB "
        f"({peak / base_mem:.2f} x); top cluster precision {task.subclass[top].mean():.2f}, "
        f"recall {top[task.subclass].mean():.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one task in twenty (8 tasks)")
    parser.add_argument("--seed", type=int, default=0, help="0: design suite; 2: fresh suite")
    parser.add_argument("--csv", help="write every (task, method) row to this file")
    parser.add_argument("--scale", type=int, default=0, help="also time one fit on N cases")
    parser.add_argument("--no-suite", action="store_true", help="only the --scale timing")
    args = parser.parse_args()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"hstrat {hstrat.__version__}, scikit-learn {sklearn.__version__}, numpy "
        f"{np.__version__}, Python {platform.python_version()}; {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} at start; suite seed {args.seed}"
        + (" (quick)" if args.quick else "")
    )
    start = time.perf_counter()
    if not args.no_suite:
        results = run_suite(args.seed, args.quick, methods())
        if args.csv:
            results.to_csv(args.csv, index=False)
        print()
        print(summary(results))
        print(f"\nTotal {time.perf_counter() - start:.0f} s")
    if args.scale:
        scale(args.scale)


if __name__ == "__main__":
    main()
