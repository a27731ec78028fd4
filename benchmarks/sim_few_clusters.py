"""How many clusters do grouped intervals need? Coverage of 95% AUC intervals by G.

Each of G clusters (patients) holds 1 + Poisson(3) images; an image is positive with
probability 0.4, and its score is ``0.8 * label + u + e`` with a patient effect
``u ~ N(0, 1)`` shared by the patient's images and noise ``e ~ N(0, 1)``. The true AUC
is that of a population of 400,000 patients. For each G the share of 95% intervals
(grouped percentile bootstrap with 500 resamples, and grouped DeLong) that contain the
truth is printed, with the binomial standard error of the estimate.

Run: ``python benchmarks/sim_few_clusters.py [reps]``. Its result sets
``hstrat.metrics._stratified.MIN_GROUPS``.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from hstrat.metrics import auc, bootstrap_ci, delong_ci


def draw(g: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sizes = 1 + rng.poisson(3, size=g)
    groups = np.repeat(np.arange(g), sizes)
    y = rng.random(len(groups)) < 0.4
    s = 0.8 * y + rng.normal(size=g)[groups] + rng.normal(size=len(groups))
    return y, s, groups


def main(reps: int = 400) -> None:
    rng = np.random.default_rng(2026)
    y, s, _ = draw(400_000, rng)
    truth = auc(y, s)
    print(f"true AUC {truth:.4f}; {reps} data sets per G")
    print(f"{'G':>4} {'bootstrap':>10} {'delong':>8}   (se ~ {np.sqrt(0.05 * 0.95 / reps):.3f})")
    for g in (4, 6, 8, 10, 12, 15, 20, 30, 50):
        hits = {"bootstrap": [], "delong": []}
        for _ in range(reps):
            y, s, groups = draw(g, rng)
            if y.all() or not y.any():
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                b = bootstrap_ci(y, s, groups=groups, n_resamples=500, random_state=rng)
                d = delong_ci(y, s, groups=groups)
            for name, r in (("bootstrap", b), ("delong", d)):
                if np.isfinite(r.ci_low):
                    hits[name].append(r.ci_low <= truth <= r.ci_high)
        print(f"{g:>4} {np.mean(hits['bootstrap']):>10.3f} {np.mean(hits['delong']):>8.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
