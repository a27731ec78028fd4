"""Audit scores computed anywhere, stored in a CSV file — no torch needed.

    python examples/audit_precomputed.py                      # simulated scores
    python examples/audit_precomputed.py --predictions preds.csv --label-col y \
        --score-col p --strata-cols drain,opacity --out audit-report
    python examples/audit_precomputed.py --smoke              # a few seconds, for CI

Without ``--predictions`` the script simulates a pneumothorax test set shaped like the
paper's (80% of positives with a chest drain, the model relying on the drain) and
writes it to ``<out>/simulated_predictions.csv`` first, so you can see the file format.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import hstrat


def simulate_predictions(n_cases: int, *, seed: int = 0) -> pd.DataFrame:
    """Scores of a model that leans on chest drains (simulated, for illustration)."""
    rng = np.random.default_rng(seed)
    y = rng.random(n_cases) < 0.2
    drain = np.where(y, rng.random(n_cases) < 0.8, rng.random(n_cases) < 0.02)
    opacity = rng.random(n_cases) < 0.3
    score = rng.normal(size=n_cases) + 1.0 * y + 1.6 * (y & drain) - 0.3 * (y & opacity)
    return pd.DataFrame(
        {
            "image": [f"img{i:05d}.png" for i in range(n_cases)],
            "patient": rng.integers(0, n_cases // 2, n_cases),
            "pneumothorax": y.astype(int),
            "score": score,
            # drain is a subclass of pneumothorax: labelled on positives only
            "chest_drain": np.where(y, np.where(drain, "yes", "no"), None),
            "airspace_opacity": np.where(opacity, "yes", "no"),
        }
    )


def main(argv: list[str] | None = None) -> hstrat.AuditReport:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictions", help="CSV with one row per case")
    parser.add_argument("--label-col", default="pneumothorax")
    parser.add_argument("--score-col", default="score")
    parser.add_argument("--id-col", default="image")
    parser.add_argument("--groups-col", default="patient")
    parser.add_argument("--strata-cols", default="chest_drain,airspace_opacity")
    parser.add_argument("--out", default="audit-precomputed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny and fast")
    args = parser.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.predictions is None:
        path = out / "simulated_predictions.csv"
        simulate_predictions(600 if args.smoke else 5000, seed=args.seed).to_csv(path, index=False)
        args.predictions = str(path)
    frame = pd.read_csv(args.predictions, dtype={args.id_col: str})
    strata = frame.set_index(args.id_col)[args.strata_cols.split(",")]
    report = hstrat.evaluate(
        frame[args.label_col],
        frame[args.score_col],
        strata,
        ids=frame[args.id_col],
        groups=frame[args.groups_col] if args.groups_col else None,
        n_resamples=200 if args.smoke else 2000,
        random_state=args.seed,
    )
    print(report)
    for name, path in report.save(out, overwrite=True).items():
        print(f"{name:>6}: {path}")
    return report


if __name__ == "__main__":
    main()
