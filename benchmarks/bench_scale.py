"""How evaluate() grows with the number of cases: time and peak memory, on every core.

    python benchmarks/bench_scale.py            # 1e4, 1e5, 1e6 cases
    python benchmarks/bench_scale.py --quick    # 1e4, 1e5 and fewer resamples

Each size runs in a fresh subprocess: ``hstrat.evaluate`` on simulated scores with 10
strata (5 of positives sharing the negatives, 5 of both classes) and 2,000 bootstrap
resamples, with the default ``n_jobs`` (every CPU the process may use). Printed per
size: wall time, CPU time of all threads, peak resident memory of the process
(``ru_maxrss``), and the baseline — the same process after importing hstrat and
generating the data but before evaluating — so the difference is what the audit
costs. Growth is printed as the ratio to the previous size. The largest size is run a
second time on one thread (``evaluate(..., n_jobs=1)``), the named baseline of the
thread speed-up; both runs must give the same table. Targets (issues
"Scale" and "The bootstrap on every core"): at 1e6 cases at most 45 s and under 2 GB
on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import hashlib, json, resource, sys, time
import numpy as np
import hstrat
from hstrat._parallel import effective_n_jobs

n, n_resamples, one_thread = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
rng = np.random.default_rng(0)
y = rng.random(n) < 0.3
s = rng.normal(size=n) + y
strata = {}
for k in range(5):
    strata[f"pos{k}"] = y & (rng.random(n) < 0.2 + 0.1 * k)
    strata[f"all{k}"] = rng.random(n) < 0.1 + 0.1 * k
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
n_jobs = 1 if one_thread else None
threads = effective_n_jobs(n_jobs)
t, cpu = time.perf_counter(), time.process_time()
report = hstrat.evaluate(y, s, strata, n_resamples=n_resamples, random_state=0,
                         progress=False, n_jobs=n_jobs)
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
digest = hashlib.sha256(report.table.to_csv().encode()).hexdigest()[:16]
result = {"seconds": seconds, "cpu": cpu, "peak_mb": peak, "baseline_mb": base,
          "threads": threads,
          "rows": len(report.table), "table_sha256": digest}
print(json.dumps(result))
"""

TARGET_SECONDS = 45.0
TARGET_MB = 2048.0


def run(n: int, n_resamples: int, one_thread: bool = False) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(n_resamples), "1" if one_thread else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description="evaluate() time and memory by size")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    n_resamples = 200 if args.quick else 2000
    print(f"evaluate(): 10 strata, {n_resamples} resamples, bootstrap-percentile")
    print(
        f"{'cases':>10} {'threads':>7} {'seconds':>9} {'x prev':>7} {'CPU s':>7} {'peak MB':>9} "
        f"{'audit MB':>9} {'x prev':>7}"
    )
    previous = None
    r: dict[str, float] = {}
    for n in sizes:
        r = run(n, n_resamples)
        extra = r["peak_mb"] - r["baseline_mb"]
        grow_t = f"{r['seconds'] / previous[0]:.1f}" if previous else "-"
        grow_m = f"{extra / previous[1]:.1f}" if previous and previous[1] > 0 else "-"
        timing = f"{n:>10,} {r['threads']:>7} {r['seconds']:>9.2f} {grow_t:>7} {r['cpu']:>7.1f}"
        print(f"{timing} {r['peak_mb']:>9.0f} {extra:>9.0f} {grow_m:>7}", flush=True)
        previous = (r["seconds"], max(extra, 1e-9))
    one = run(sizes[-1], n_resamples, one_thread=True)
    extra = one["peak_mb"] - one["baseline_mb"]
    print(
        f"{sizes[-1]:>10,} {one['threads']:>7} {one['seconds']:>9.2f} {'-':>7} "
        f"{one['cpu']:>7.1f} {one['peak_mb']:>9.0f} {extra:>9.0f} {'-':>7}  (baseline: 1 thread)"
    )
    same = "identical" if one["table_sha256"] == r["table_sha256"] else "DIFFERENT"
    print(
        f"threads: {one['seconds'] / r['seconds']:.2f}x faster than one thread "
        f"at {sizes[-1]:,} cases; tables {same}"
    )
    if not args.quick:
        ok = r["seconds"] <= TARGET_SECONDS and r["peak_mb"] < TARGET_MB
        print(
            f"target at 1,000,000 cases: <= {TARGET_SECONDS:.0f} s and < {TARGET_MB:,.0f} MB: "
            f"{r['seconds']:.1f} s, {r['peak_mb']:.0f} MB  {'PASS' if ok else 'MISS'}"
        )


if __name__ == "__main__":
    main()
