"""How evaluate() grows with the number of cases: time and peak memory.

    python benchmarks/bench_scale.py            # 1e4, 1e5, 1e6 cases
    python benchmarks/bench_scale.py --quick    # 1e4, 1e5 and fewer resamples

Each size runs in a fresh subprocess: ``hstrat.evaluate`` on simulated scores with 10
strata (5 of positives sharing the negatives, 5 of both classes) and 2,000 bootstrap
resamples. Printed per size: wall time, peak resident memory of the process
(``ru_maxrss``), and the baseline — the same process after importing hstrat and
generating the data but before evaluating — so the difference is what the audit costs.
Growth is printed as the ratio to the previous size. Target (issue "Scale"): under 2 GB
at 1e6 cases.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
import hstrat

n, n_resamples = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
y = rng.random(n) < 0.3
s = rng.normal(size=n) + y
strata = {}
for k in range(5):
    strata[f"pos{k}"] = y & (rng.random(n) < 0.2 + 0.1 * k)
    strata[f"all{k}"] = rng.random(n) < 0.1 + 0.1 * k
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
report = hstrat.evaluate(y, s, strata, n_resamples=n_resamples, random_state=0, progress=False)
seconds = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
result = {"seconds": seconds, "peak_mb": peak, "baseline_mb": base, "rows": len(report.table)}
print(json.dumps(result))
"""


def run(n: int, n_resamples: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), str(n_resamples)],
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
        f"{'cases':>10} {'seconds':>9} {'x prev':>7} {'peak MB':>9} {'audit MB':>9} {'x prev':>7}"
    )
    previous = None
    for n in sizes:
        r = run(n, n_resamples)
        extra = r["peak_mb"] - r["baseline_mb"]
        grow_t = f"{r['seconds'] / previous[0]:.1f}" if previous else "-"
        grow_m = f"{extra / previous[1]:.1f}" if previous and previous[1] > 0 else "-"
        timing = f"{n:>10,} {r['seconds']:>9.2f} {grow_t:>7}"
        print(f"{timing} {r['peak_mb']:>9.0f} {extra:>9.0f} {grow_m:>7}")
        previous = (r["seconds"], max(extra, 1e-9))
    print("target: peak under 2,048 MB at 1,000,000 cases")


if __name__ == "__main__":
    main()
