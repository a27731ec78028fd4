"""Speed and memory of hstrat's bootstrap AUC interval against common baselines.

Run from the repository root::

    python benchmarks/bench_bootstrap.py           # full run (about 3-4 minutes)
    python benchmarks/bench_bootstrap.py --quick   # fewer baseline iterations (about 1 minute)

What it measures, on binormal data with 30% positives (scores N(1, 1) vs N(0, 1)):

1. Seconds per 2,000 class-stratified bootstrap resamples at n = 1e3, 1e4, 1e5 for
   - ``hstrat.metrics.bootstrap_ci`` (percentile interval, all 2,000 resamples timed);
   - a Python loop of :func:`sklearn.metrics.roc_auc_score` over stratified resamples
     drawn with numpy (index draw + gather + score, the usual hand-written bootstrap);
   - :func:`scipy.stats.bootstrap` with two samples (positives, negatives: the same
     class-stratified scheme), ``vectorized=False`` and ``roc_auc_score`` as the
     statistic, percentile method;
   - R's pROC ``ci.auc(method = "bootstrap", boot.stratified = TRUE)``, timed inside R
     with ``system.time`` (R start-up and data loading excluded), when ``Rscript`` and
     pROC are installed.
   The baselines are slow, so they run fewer resamples (the count is printed) and their
   time is extrapolated linearly to 2,000; the speed-up is the ratio of the per-resample
   times. Targets at n = 1e5: >= 20x the scikit-learn loop, >= 15x pROC.
2. Agreement with pROC at n = 1e5: both percentile intervals are printed; the verdict
   asks for agreement to the third decimal (|difference| < 5e-4 for both bounds).
3. ``hstrat.metrics.delong_ci`` time at n = 1e6.
4. Peak memory of ``bootstrap_ci`` at n = 1e6 with 2,000 resamples (200 with
   ``--quick``), measured in a fresh subprocess: the tracemalloc peak of the call (numpy
   reports its buffers to tracemalloc) and the process's peak resident set size. Target:
   a few hundred MB.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import scipy
import scipy.stats
import sklearn
from sklearn.metrics import roc_auc_score

import hstrat
from hstrat.metrics import bootstrap_ci, delong_ci

N_RESAMPLES = 2000
SIZES = (1_000, 10_000, 100_000)
TARGET_SKLEARN = 20.0
TARGET_PROC = 15.0
TARGET_MEMORY_MB = 500.0

# Resamples actually run by each baseline, per n (full run / --quick).
ITERATIONS = {
    "sklearn": {1_000: (500, 100), 10_000: (200, 50), 100_000: (50, 10)},
    "scipy": {1_000: (300, 100), 10_000: (100, 30), 100_000: (30, 10)},
    "pROC": {1_000: (500, 200), 10_000: (200, 100), 100_000: (1000, 200)},
}

PROC_SCRIPT = r"""
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], header = FALSE, col.names = c("y", "s"))
boot_n <- as.integer(args[2])
r <- roc(d$y, d$s, levels = c(0, 1), direction = "<", quiet = TRUE)
set.seed(1)
t <- system.time(ci <- ci.auc(r, method = "bootstrap", boot.n = boot_n,
                              boot.stratified = TRUE, conf.level = 0.95, progress = "none"))
cat(sprintf("RESULT %.6f %.10f %.10f %s\n", t[["elapsed"]], ci[1], ci[3],
            as.character(packageVersion("pROC"))))
"""


@dataclass
class Timing:
    """Seconds per 2,000 resamples, extrapolated from ``iterations`` resamples."""

    seconds_per_2000: float
    iterations: int

    def cell(self) -> str:
        """Format the time for the table, with the resamples run when extrapolated."""
        note = "" if self.iterations >= N_RESAMPLES else f" ({self.iterations} run)"
        return f"{self.seconds_per_2000:9.2f}{note}"


def binormal(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    s = rng.normal(size=n) + y
    return y, s


def time_hstrat(y: np.ndarray, s: np.ndarray, repeats: int) -> tuple[Timing, tuple]:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = bootstrap_ci(y, s, n_resamples=N_RESAMPLES, random_state=0)
        best = min(best, time.perf_counter() - start)
    return Timing(best, N_RESAMPLES), (result.ci_low, result.ci_high)


def time_sklearn_loop(y: np.ndarray, s: np.ndarray, iterations: int) -> Timing:
    rng = np.random.default_rng(1)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    start = time.perf_counter()
    for _ in range(iterations):
        idx = np.concatenate(
            [pos[rng.integers(0, len(pos), len(pos))], neg[rng.integers(0, len(neg), len(neg))]]
        )
        roc_auc_score(y[idx], s[idx])
    elapsed = time.perf_counter() - start
    return Timing(elapsed / iterations * N_RESAMPLES, iterations)


def time_scipy(y: np.ndarray, s: np.ndarray, iterations: int) -> Timing:
    pos, neg = s[y], s[~y]
    labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]

    def statistic(a: np.ndarray, b: np.ndarray) -> float:
        return roc_auc_score(labels, np.concatenate([a, b]))

    parameters = inspect.signature(scipy.stats.bootstrap).parameters
    seed_arg = "rng" if "rng" in parameters else "random_state"  # scipy < 1.15: random_state
    start = time.perf_counter()
    scipy.stats.bootstrap(
        (pos, neg),
        statistic,
        n_resamples=iterations,
        vectorized=False,
        method="percentile",
        **{seed_arg: np.random.default_rng(2)},
    )
    elapsed = time.perf_counter() - start
    return Timing(elapsed / iterations * N_RESAMPLES, iterations)


def proc_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(
        ["Rscript", "-e", "quit(status = !requireNamespace('pROC', quietly = TRUE))"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def time_proc(y: np.ndarray, s: np.ndarray, iterations: int) -> tuple[Timing, tuple, str]:
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data.csv")
        script = os.path.join(tmp, "bench.R")
        np.savetxt(data, np.column_stack([y.astype(int), s]), fmt=["%d", "%.17g"], delimiter=",")
        with open(script, "w") as f:
            f.write(PROC_SCRIPT)
        out = subprocess.run(
            ["Rscript", script, data, str(iterations)], capture_output=True, text=True, check=True
        )
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    _, elapsed, low, high, version = line.split()
    timing = Timing(float(elapsed) / iterations * N_RESAMPLES, iterations)
    return timing, (float(low), float(high)), version


def memory_child(n: int, n_resamples: int) -> None:
    """Run in a subprocess: peak memory of one bootstrap_ci call at size n."""
    import resource
    import tracemalloc

    y, s = binormal(n)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    bootstrap_ci(y, s, n_resamples=n_resamples, random_state=0)
    elapsed = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "traced_peak_mb": traced_peak / 2**20,
                "rss_peak_mb": rss_after / 1024,
                "rss_before_mb": rss_before / 1024,
                "seconds": elapsed,
            }
        )
    )


def measure_memory(n: int, n_resamples: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(n), str(n_resamples)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def ratio_cell(baseline: Timing | None, ours: Timing) -> str:
    if baseline is None:
        return f"{'-':>7}"
    return f"{baseline.seconds_per_2000 / ours.seconds_per_2000:6.1f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer baseline iterations")
    parser.add_argument("--memory-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    pick = 1 if args.quick else 0
    has_proc = proc_available()

    print("hstrat bootstrap benchmark" + (" (--quick)" if args.quick else ""))
    print(
        f"hstrat {hstrat.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"Seconds per {N_RESAMPLES} stratified resamples (baselines: resamples run in "
        "parentheses, time extrapolated linearly); ratio = baseline / hstrat."
    )
    print()
    header = (
        f"{'n':>8} | {'hstrat':>9} | {'sklearn loop':>20} {'ratio':>7} | "
        f"{'scipy.stats.bootstrap':>20} {'ratio':>7} | {'pROC ci.auc':>20} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    results = {}
    for n in SIZES:
        y, s = binormal(n)
        ours, ours_ci = time_hstrat(y, s, repeats=3 if n <= 10_000 else 1)
        sk = time_sklearn_loop(y, s, ITERATIONS["sklearn"][n][pick])
        sp = time_scipy(y, s, ITERATIONS["scipy"][n][pick])
        pr = pr_ci = None
        proc_version = None
        if has_proc:
            pr, pr_ci, proc_version = time_proc(y, s, ITERATIONS["pROC"][n][pick])
        results[n] = (ours, sk, sp, pr, ours_ci, pr_ci)
        print(
            f"{n:>8} | {ours.cell():>9} | {sk.cell():>20} {ratio_cell(sk, ours)} | "
            f"{sp.cell():>20} {ratio_cell(sp, ours)} | "
            f"{pr.cell() if pr else 'not available':>20} {ratio_cell(pr, ours)}",
            flush=True,
        )
    print()

    ours, sk, sp, pr, ours_ci, pr_ci = results[100_000]
    speedup_sk = sk.seconds_per_2000 / ours.seconds_per_2000
    verdict = "PASS" if speedup_sk >= TARGET_SKLEARN else "MISS"
    print(f"Target n=1e5: >= {TARGET_SKLEARN:.0f}x the sklearn loop: {speedup_sk:.1f}x  {verdict}")
    if pr is not None:
        speedup_pr = pr.seconds_per_2000 / ours.seconds_per_2000
        verdict = "PASS" if speedup_pr >= TARGET_PROC else "MISS"
        print(
            f"Target n=1e5: >= {TARGET_PROC:.0f}x pROC per resample: {speedup_pr:.1f}x  {verdict}"
        )
        diff = max(abs(ours_ci[0] - pr_ci[0]), abs(ours_ci[1] - pr_ci[1]))
        verdict = "AGREE" if diff < 5e-4 else "DISAGREE"
        print(
            f"95% percentile interval at n=1e5: hstrat ({N_RESAMPLES} resamples) "
            f"[{ours_ci[0]:.4f}, {ours_ci[1]:.4f}]; pROC {proc_version} "
            f"({pr.iterations} resamples) [{pr_ci[0]:.4f}, {pr_ci[1]:.4f}]; "
            f"max |difference| {diff:.6f}: {verdict} to the third decimal (< 5e-4)"
        )
    else:
        print("pROC comparison skipped: Rscript with the pROC package was not found.")
    print()

    y, s = binormal(1_000_000)
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        delong_ci(y, s)
        best = min(best, time.perf_counter() - start)
    print(f"delong_ci at n=1e6: {best:.3f} s (best of 3)")

    n_mem = 200 if args.quick else N_RESAMPLES
    mem = measure_memory(1_000_000, n_mem)
    verdict = "PASS" if mem["traced_peak_mb"] <= TARGET_MEMORY_MB else "MISS"
    print(
        f"bootstrap_ci at n=1e6, {n_mem} resamples ({mem['seconds']:.1f} s): peak traced "
        f"allocations {mem['traced_peak_mb']:.0f} MB (target <= {TARGET_MEMORY_MB:.0f} MB: "
        f"{verdict}); process peak RSS {mem['rss_peak_mb']:.0f} MB "
        f"({mem['rss_before_mb']:.0f} MB before the call, data included)"
    )


if __name__ == "__main__":
    main()
