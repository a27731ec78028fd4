"""What limits the bootstrap on two threads: each kernel's scaling, and processes as the bound.

``python benchmarks/bench_thread_scaling.py`` (about a minute; ``--n`` sets the cases).

The bootstrap (``hstrat.metrics._bootstrap``) splits replicates over threads. Issue 17
asks two threads to run it 1.6x faster than one; on this 2-core machine the ratio has
measured 1.39-1.65 from run to run. This prints, in one run:

1. For each numpy kernel of a replicate, at its size for ``n`` cases (30% positives):
   the time of ``N`` calls on one thread against ``N`` calls on each of two threads at
   once — the *scaling* (2.0: no interference; 1.0: the two threads take turns, as when
   the kernel holds the GIL).
2. The whole bootstrap (2,000 resamples): ``n_jobs=1``, the default on threads, and two
   processes of 1,000 resamples each (``n_jobs=1`` in each), which no GIL ties together:
   the bound that processes could reach.

Measured at n = 100,000 (2026-12-01, idle machine, three runs): two threads calling
``bincount`` at once take longer in all than one thread alone (0.44-0.49x; numpy checks
the input's range and allocates the zero-filled output, 800 kB freed again after each
call, under the GIL), ``np.add.at`` likewise (0.49-0.65x), the other kernels 1.0-1.95x
from run to run. The whole bootstrap: two threads 1.32-1.57x
``n_jobs=1``, two warm processes 1.56-1.83x in the same runs. A prototype that ran the
chunks of ``bootstrap_aucs`` in joblib's loky workers (the data written once to a file
each worker loaded, eight chunks per worker for the progress bar) measured 1.32x against
1.44x for threads in one run: handing the work over ate the processes' margin, so the
threads were kept. ``bench_bootstrap.py --quick`` the same evening: 1.54x, with CPU / wall
1.76 for the two threads and 14% more CPU time than one thread for the same replicates:
the threads are mostly busy, but each runs slower beside the other.

With numba installed (2026-12-02, idle machine): the compiled count
(:mod:`hstrat.metrics._counting`: no lock, no allocation) takes 91 us a call against
150 for ``bincount`` and scales 1.73x where ``bincount`` scaled 0.57x in the same run;
the whole bootstrap on two threads 1.77x ``n_jobs=1``, two processes 1.81x in that run.
But the compiled count speeds up one thread as much as two: in four alternating runs of
``bench_bootstrap.time_hstrat`` (best of 12 each) the bootstrap took 1.15-1.27 s on one
thread and 0.67-0.85 s on two with numba, 1.47-1.72 s and 0.93-1.04 s with ``bincount``:
20-30% less time, the same ratio (1.51-1.72 against 1.50-1.66). What remains is the
cores' shared caches and memory bandwidth. (The row "count, compiled" is left out
without numba.)
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from collections.abc import Callable

import numpy as np
from bench_bootstrap import binormal  # the data the bootstrap benchmark times

from hstrat.metrics import bootstrap_ci
from hstrat.metrics._counting import count_draws, counting_kernel

CALLS = 400
N_RESAMPLES = 2000


def kernels(n: int, seed: int) -> dict[str, Callable[[], object]]:
    """Return the numpy calls of one replicate, on arrays of their size, own buffers each."""
    rng = np.random.default_rng(seed)
    n_pos = int(0.3 * n)
    n_neg = n - n_pos
    u, draws = np.empty(n), np.empty(n, np.intp)
    rng.random(out=u)
    np.multiply(u, n, out=draws, casting="unsafe")
    counts = np.bincount(draws, minlength=n)
    cum = np.empty(n_neg + 1, np.int64)
    lo = np.sort(rng.integers(0, n_neg, n_pos))
    below = np.empty(n_pos, np.int64)
    compiled = counting_kernel()
    out = np.empty(n, np.int64)
    found = {
        "uniform draws": lambda: rng.random(out=u),
        "multiply-cast": lambda: np.multiply(u, n, out=draws, casting="unsafe"),
        "bincount": lambda: np.bincount(draws, minlength=n),
        "count, compiled (numba)": lambda: count_draws(draws, out, compiled),
        "np.add.at": lambda: np.add.at(counts, draws[: n // 4], 1),
        "cumsum": lambda: np.cumsum(counts[:n_neg], out=cum[1:]),
        "take": lambda: np.take(cum, lo, out=below, mode="clip"),
        "einsum": lambda: np.einsum("i,i->", counts[n_neg:], below),
    }
    if compiled is None:  # numba is not installed
        del found["count, compiled (numba)"]
    return found


def scaling(n: int) -> None:
    """Print each kernel's time on one thread and its scaling on two."""
    print(f"| kernel (n = {n:,}) | one thread, us/call | two threads: scaling |")
    print("|---|---|---|")
    for name in kernels(n, 0):
        fns = [kernels(n, seed)[name] for seed in (1, 2)]
        start = time.perf_counter()
        for _ in range(CALLS):
            fns[0]()
        one = time.perf_counter() - start
        threads = [threading.Thread(target=lambda f=f: [f() for _ in range(CALLS)]) for f in fns]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        two = time.perf_counter() - start
        print(f"| {name} | {one / CALLS * 1e6:.0f} | {2 * one / two:.2f}x |")


def _half(n: int) -> None:
    y, s = binormal(n)
    bootstrap_ci(y, s, n_resamples=N_RESAMPLES // 2, random_state=0, n_jobs=1)


def whole(n: int, repeats: int) -> None:
    """Print the bootstrap's best time on one thread, two threads and two processes."""
    y, s = binormal(n)
    bootstrap_ci(y, s, n_resamples=100, random_state=0, n_jobs=None)  # warm
    times: dict[str, list[float]] = {"n_jobs=1": [], "threads": [], "processes": []}
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        pool.map(_half, [1_000, 1_000])  # started, hstrat imported: not timed
        for _ in range(repeats):
            for label, n_jobs in (("n_jobs=1", 1), ("threads", None)):
                start = time.perf_counter()
                bootstrap_ci(y, s, n_resamples=N_RESAMPLES, random_state=0, n_jobs=n_jobs)
                times[label].append(time.perf_counter() - start)
            start = time.perf_counter()
            pool.map(_half, [n, n], chunksize=1)
            times["processes"].append(time.perf_counter() - start)
    one = min(times["n_jobs=1"])
    print(f"\nbootstrap_ci, {N_RESAMPLES:,} resamples at n = {n:,}, best of {repeats}:")
    for label, runs in times.items():
        print(f"- {label}: {min(runs):.2f} s ({one / min(runs):.2f}x n_jobs=1)")
    print("(processes: two warm workers, 1,000 resamples each, data made in each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    scaling(args.n)
    whole(args.n, args.repeats)


if __name__ == "__main__":
    main()
