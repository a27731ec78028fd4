"""Speed and memory of hstrat's bootstrap AUC interval against common baselines.

Run from the repository root::

    python benchmarks/bench_bootstrap.py              # full run (about 4-5 minutes)
    python benchmarks/bench_bootstrap.py --quick      # fewer iterations (about 1-2 minutes)
    python benchmarks/bench_bootstrap.py --repeats 9  # more repeats on a busy machine

What it measures, on binormal data with 30% positives (scores N(1, 1) vs N(0, 1)):

1. Seconds per 2,000 class-stratified bootstrap resamples at n = 1e3, 1e4, 1e5 for
   - ``hstrat.metrics.bootstrap_ci`` (percentile interval, all 2,000 resamples timed)
     on one thread (``n_jobs=1``) and with the default ``n_jobs=None`` (every CPU the
     process may use), the two timed alternately;
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
   times. Every timing except pROC's is the best of ``--repeats`` runs (the spread,
   slowest / fastest, is printed at n = 1e5): on a machine shared with other work the
   best run is the one least disturbed; the ratio of each back-to-back pair of
   ``n_jobs=1`` and default runs is printed too (median and range), since the two best
   runs need not come from equally quiet moments. Targets at n = 1e5, for the default:
   >= 1.6x ``n_jobs=1`` on 2 cores, >= 30x the scikit-learn loop, >= 15x pROC. A line says
   whether the draws are counted by numba's compiled loop (``hstrat-audit[fast]``) or by
   numpy's ``bincount``, which serializes threads (``bench_thread_scaling.py``).
2. Agreement with pROC at n = 1e5: both percentile intervals are printed; the verdict
   asks for agreement to the third decimal (|difference| < 5e-4 for both bounds).
3. ``hstrat.metrics.delong_ci`` time at n = 1e6.
4. Peak memory of ``bootstrap_ci`` at n = 1e6 with 2,000 resamples (200 with
   ``--quick``) and the default ``n_jobs``, measured in a fresh subprocess: the
   tracemalloc peak of the call (numpy reports its buffers to tracemalloc) and the
   process's peak resident set size. Target: a few hundred MB.
"""

from __future__ import annotations

import argparse
import importlib.metadata
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
from hstrat._parallel import effective_n_jobs
from hstrat.metrics import bootstrap_ci, delong_ci
from hstrat.metrics._counting import counting_kernel

N_RESAMPLES = 2000
SIZES = (1_000, 10_000, 100_000)
TARGET_THREADS = 1.6
TARGET_SKLEARN = 30.0
TARGET_PROC = 15.0
TARGET_MEMORY_MB = 500.0

# Resamples run by each baseline per n and repeat (full run / --quick); pROC runs once.
ITERATIONS = {
    "sklearn": {1_000: (200, 50), 10_000: (60, 20), 100_000: (20, 5)},
    "scipy": {1_000: (100, 50), 10_000: (40, 15), 100_000: (10, 5)},
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
    """Seconds per 2,000 resamples (best run), extrapolated from ``iterations`` resamples."""

    seconds_per_2000: float
    iterations: int
    runs: tuple[float, ...] = ()
    cpu_seconds: float = float("nan")  # process CPU time (all threads) of the best run

    def cell(self) -> str:
        """Format the time for the table, with the resamples run when extrapolated."""
        note = "" if self.iterations >= N_RESAMPLES else f" ({self.iterations} run)"
        return f"{self.seconds_per_2000:9.2f}{note}"

    def spread(self) -> str:
        """Best, slowest and their ratio over the repeats."""
        worst = max(self.runs)
        return (
            f"best {self.seconds_per_2000:.2f} s, slowest {worst:.2f} s "
            f"({worst / self.seconds_per_2000:.2f}x) over {len(self.runs)} runs"
        )


def best_of(runs: list[float], iterations: int) -> Timing:
    per_2000 = tuple(r / iterations * N_RESAMPLES for r in runs)
    return Timing(min(per_2000), iterations, per_2000)


def binormal(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    s = rng.normal(size=n) + y
    return y, s


def time_hstrat(
    y: np.ndarray, s: np.ndarray, repeats: int
) -> tuple[Timing, Timing, tuple[float, float]]:
    """Time n_jobs=1 and the default alternately; check that they give the same interval."""
    runs: dict[int | None, list[float]] = {1: [], None: []}
    cpu: dict[int | None, list[float]] = {1: [], None: []}
    intervals = set()
    for _ in range(repeats):
        for n_jobs in runs:
            start, start_cpu = time.perf_counter(), time.process_time()
            result = bootstrap_ci(y, s, n_resamples=N_RESAMPLES, random_state=0, n_jobs=n_jobs)
            runs[n_jobs].append(time.perf_counter() - start)
            cpu[n_jobs].append(time.process_time() - start_cpu)
            intervals.add((result.ci_low, result.ci_high))
    if len(intervals) != 1:
        raise AssertionError(f"n_jobs changed the interval: {intervals}")
    timings = []
    for n_jobs in runs:
        timing = best_of(runs[n_jobs], N_RESAMPLES)
        timing.cpu_seconds = cpu[n_jobs][int(np.argmin(runs[n_jobs]))]
        timings.append(timing)
    return timings[0], timings[1], intervals.pop()


def time_sklearn_loop(y: np.ndarray, s: np.ndarray, iterations: int, repeats: int) -> Timing:
    rng = np.random.default_rng(1)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            idx = np.concatenate(
                [
                    pos[rng.integers(0, len(pos), len(pos))],
                    neg[rng.integers(0, len(neg), len(neg))],
                ]
            )
            roc_auc_score(y[idx], s[idx])
        runs.append(time.perf_counter() - start)
    return best_of(runs, iterations)


def time_scipy(y: np.ndarray, s: np.ndarray, iterations: int, repeats: int) -> Timing:
    pos, neg = s[y], s[~y]
    labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]

    def statistic(a: np.ndarray, b: np.ndarray) -> float:
        return roc_auc_score(labels, np.concatenate([a, b]))

    parameters = inspect.signature(scipy.stats.bootstrap).parameters
    seed_arg = "rng" if "rng" in parameters else "random_state"  # scipy < 1.15: random_state
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        scipy.stats.bootstrap(
            (pos, neg),
            statistic,
            n_resamples=iterations,
            vectorized=False,
            method="percentile",
            **{seed_arg: np.random.default_rng(2)},
        )
        runs.append(time.perf_counter() - start)
    return best_of(runs, iterations)


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
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per method (best kept)")
    parser.add_argument("--memory-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    pick = 1 if args.quick else 0
    repeats = 3 if args.quick else args.repeats
    has_proc = proc_available()
    threads = effective_n_jobs(None)

    print("hstrat bootstrap benchmark" + (" (--quick)" if args.quick else ""))
    print(
        f"hstrat {hstrat.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, n_jobs=None -> {threads} threads, "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    counting = "numpy's bincount (numba is not installed)"
    if counting_kernel() is not None:
        counting = f"compiled (numba {importlib.metadata.version('numba')})"
    print(f"Draws counted from 30,000 cases on by: {counting}")
    print(
        f"Seconds per {N_RESAMPLES} stratified resamples, best of {repeats} runs (baselines: "
        "resamples run in parentheses, time extrapolated linearly; pROC: one run); "
        "ratio = baseline / hstrat default."
    )
    print()
    header = (
        f"{'n':>8} | {'n_jobs=1':>9} | {'default':>9} {'x 1':>5} | "
        f"{'sklearn loop':>18} {'ratio':>7} | {'scipy.stats.bootstrap':>21} {'ratio':>7} | "
        f"{'pROC ci.auc':>18} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    results = {}
    for n in SIZES:
        y, s = binormal(n)
        one, ours, ours_ci = time_hstrat(y, s, repeats)
        sk = time_sklearn_loop(y, s, ITERATIONS["sklearn"][n][pick], repeats)
        sp = time_scipy(y, s, ITERATIONS["scipy"][n][pick], repeats)
        pr = pr_ci = None
        proc_version = None
        if has_proc:
            pr, pr_ci, proc_version = time_proc(y, s, ITERATIONS["pROC"][n][pick])
        results[n] = (one, ours, sk, sp, pr, ours_ci, pr_ci)
        print(
            f"{n:>8} | {one.cell():>9} | {ours.cell():>9} "
            f"{one.seconds_per_2000 / ours.seconds_per_2000:4.2f}x | "
            f"{sk.cell():>18} {ratio_cell(sk, ours)} | "
            f"{sp.cell():>21} {ratio_cell(sp, ours)} | "
            f"{pr.cell() if pr else 'not available':>18} {ratio_cell(pr, ours)}",
            flush=True,
        )
    print()

    one, ours, sk, sp, pr, ours_ci, pr_ci = results[100_000]
    print(f"Spread at n=1e5: n_jobs=1 {one.spread()}; default {ours.spread()}")
    print(f"                 sklearn loop {sk.spread()}")
    pairs = sorted(a / b for a, b in zip(one.runs, ours.runs, strict=True))
    print(
        f"                 n_jobs=1 / default, pair by pair (timed back to back): median "
        f"{float(np.median(pairs)):.2f}x, {pairs[0]:.2f}-{pairs[-1]:.2f}x (the best runs' "
        "ratio below can pair a disturbed n_jobs=1 run with a quiet default one)"
    )
    busy_one = one.cpu_seconds / one.seconds_per_2000
    busy = ours.cpu_seconds / ours.seconds_per_2000
    print(
        f"CPU time of the best runs at n=1e5 (all threads): n_jobs=1 {one.cpu_seconds:.2f} s, "
        f"default {ours.cpu_seconds:.2f} s; CPU / wall: {busy_one:.2f} and {busy:.2f} "
        "(2.0 = two busy cores; less: other work held the CPUs)"
    )
    targets = [
        (f"default ({threads} threads) vs n_jobs=1", one, TARGET_THREADS),
        ("default vs the sklearn loop", sk, TARGET_SKLEARN),
    ]
    if pr is not None:
        targets.append(("default vs pROC per resample", pr, TARGET_PROC))
    for label, baseline, target in targets:
        ratio = baseline.seconds_per_2000 / ours.seconds_per_2000
        verdict = "PASS" if ratio >= target else "MISS"
        print(f"Target n=1e5: {label} >= {target:g}x: {ratio:.2f}x  {verdict}")
    if threads < 2:
        print("(one CPU available: the thread target cannot be met here)")
    if pr is not None:
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
        f"bootstrap_ci at n=1e6, {n_mem} resamples, {threads} threads "
        f"({mem['seconds']:.1f} s): peak traced "
        f"allocations {mem['traced_peak_mb']:.0f} MB (target <= {TARGET_MEMORY_MB:.0f} MB: "
        f"{verdict}); process peak RSS {mem['rss_peak_mb']:.0f} MB "
        f"({mem['rss_before_mb']:.0f} MB before the call, data included)"
    )


if __name__ == "__main__":
    main()
