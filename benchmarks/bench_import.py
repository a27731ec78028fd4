"""Time of ``import hstrat`` against importing what it cannot avoid (numpy + pandas).

    python benchmarks/bench_import.py

Each import runs in a fresh interpreter, seven times; the median is printed with the
ratio to the baseline. Target (issue "Documentation site and release-quality
packaging"): well under a second, and no torch, matplotlib, scikit-learn, statsmodels or
scipy.stats loaded by ``import hstrat``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

TIMER = (
    "import time, sys; t = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - t); "
    "print(','.join(m for m in ('torch', 'matplotlib', 'sklearn', 'statsmodels', "
    "'scipy.stats') if m in sys.modules))"
)


def timed(module: str, repeats: int = 7) -> tuple[float, str]:
    seconds, heavy = [], ""
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", TIMER.format(module=module)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        seconds.append(float(out[0]))
        heavy = out[1] if len(out) > 1 else ""
    return statistics.median(seconds), heavy


def main() -> None:
    base, _ = timed("numpy, pandas")
    ours, heavy = timed("hstrat")
    print(f"import numpy, pandas (baseline): {base:.3f} s")
    print(f"import hstrat:                   {ours:.3f} s  ({ours / base:.2f}x the baseline)")
    print(f"heavy modules loaded by import hstrat: {heavy or 'none'}")
    print(f"target: under 1 s: {'PASS' if ours < 1.0 else 'FAIL'}")


if __name__ == "__main__":
    main()
