"""Do detectors' clusters come out significant when nothing fails? Permutation vs Wald tests.

``python benchmarks/bench_null_tests.py`` (about 4 minutes on this 2-core machine; one
thread) runs the discovery suite's null tasks (``tests/detect/planted.py``: benign cluster
structure, no failing subclass; 24 per suite seed, seeds 100-107 by default, never used
for choosing anything) and counts, per test of ``stratified_auc`` (``test="auto"``, which
permutes small strata, and ``test="wald"``, DeLong's z), the share of tasks in which

- some held-out cluster of the default ``ClusterDetector`` is significant after Holm
  (alpha = 0.05) — what ``evaluate`` would report;
- some *random* held-out subset of the same class and size as each cluster is: the
  exact null, where a family-wise error control must give at most 5%.

Measured on 2026-12-01 (192 tasks, seeds 100-107):

| | clusters | random subsets (exact null) |
|---|---|---|
| ``test="wald"`` (the previous behaviour) | 14.6% (28) | 13.0% (25) |
| ``test="auto"`` (permutation below 200 cases) | 7.3% (14) | 3.6% (7) |

The Wald tests break the family-wise error rate on the exact null (13% where Holm
promises 5%); the permutation tests keep it (3.6%). The clusters' remaining 7.3% are
real, benign differences: embedding clusters in these tasks do differ a little in AUC
(nothing was planted, but scores depend on the embeddings), which a valid test may find.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "detect"))
from planted import discovery_suite

from hstrat import Stratum
from hstrat.detect import ClusterDetector
from hstrat.metrics import stratified_auc

TESTS = ("auto", "wald")


def significant(task, strata, test: str, seed: int) -> bool:
    """Return whether some stratum is significant after Holm (held-out cases)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = stratified_auc(
            task.y_true, task.y_score, strata, ci="delong", correction="holm", test=test,
            random_state=seed,
        )  # fmt: skip
    return bool((table["p_adjusted"].iloc[1:] < 0.05).any())


def random_like(task, detector, strata, rng) -> list[Stratum]:
    """Return a random held-out subset of each cluster's class, of the cluster's size."""
    y = np.asarray(task.y_true, dtype=bool)
    out = []
    for stratum in strata:
        cls = y if stratum.population == "positives" else ~y
        mask = np.zeros(len(y), bool)
        pool = np.flatnonzero(cls & detector.inference_mask_)
        mask[rng.choice(pool, int(stratum.mask.sum()), replace=False)] = True
        out.append(
            Stratum(mask, stratum.population, name=stratum.name, labelled=detector.inference_mask_)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(100, 108)))
    args = parser.parse_args()
    hits = {(kind, test): 0 for kind in ("clusters", "random") for test in TESTS}
    n = 0
    with threadpool_limits(1):
        for seed in args.seeds:
            rng = np.random.default_rng(seed)
            for make in discovery_suite(seed, family="null"):
                task = make()
                detector = ClusterDetector(n_stability=0, random_state=seed)
                detector.fit(task.embeddings, y_true=task.y_true, y_score=task.y_score)
                strata = detector.to_strata()
                others = random_like(task, detector, strata, rng)
                n += 1
                for test in TESTS:
                    hits["clusters", test] += significant(task, strata, test, seed)
                    hits["random", test] += significant(task, others, test, seed)
            print(f"seed {seed}: {n} null tasks so far", flush=True)
    print("\n| | clusters | random subsets (exact null) |\n|---|---|---|")
    for test in TESTS:
        shares = [
            f"{hits[kind, test] / n:.1%} ({hits[kind, test]})" for kind in ("clusters", "random")
        ]
        print(f'| test="{test}" | {shares[0]} | {shares[1]} |')


if __name__ == "__main__":
    main()
