"""``hstrat audit``: audit scores stored in a CSV file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from ._audit import Predictions, evaluate

__all__ = ["add_audit_parser", "run_audit"]


class CommandError(Exception):
    """A user error in a command's arguments or files (exit code 1)."""


def add_audit_parser(subparsers: Any) -> None:
    """Register the ``audit`` subcommand."""
    p = subparsers.add_parser(
        "audit",
        help="audit predictions stored in a CSV file",
        description=(
            "Audit scores from a CSV (one row per case) for hidden stratification. "
            "Writes report.html, table.csv, report.json, forest.png and roc.png to --out."
        ),
    )
    p.add_argument("--predictions", required=True, metavar="CSV", help="one row per case")
    p.add_argument("--label-col", required=True, help="column of 0/1 labels")
    p.add_argument("--score-col", required=True, help="column of scores (higher = positive)")
    p.add_argument("--id-col", help="column of sample ids (joins --strata by id)")
    p.add_argument(
        "--strata",
        metavar="CSV",
        help="subclass labels: one column per variable, joined by --id-col (else by row order)",
    )
    p.add_argument(
        "--strata-cols",
        metavar="COLS",
        help="comma-separated columns to use as strata (from --strata, else from --predictions)",
    )
    p.add_argument("--groups-col", help="column of cluster ids (patient/study) for resampling")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--ci", choices=["bootstrap", "delong"], default="bootstrap")
    p.add_argument("--method", choices=["percentile", "basic", "bca"], default="percentile")
    p.add_argument("--n-resamples", type=int, default=2000)
    p.add_argument("--confidence-level", type=float, default=0.95)
    p.add_argument("--correction", choices=["holm", "fdr_bh", "none"], default="holm")
    p.add_argument("--reference", choices=["complement", "overall"], default="complement")
    p.add_argument(
        "--threshold",
        default="youden",
        help="'youden', a number, 'sensitivity=0.9' or 'specificity=0.9'",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _read_csv(path: str, what: str, id_col: str | None) -> pd.DataFrame:
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"{what} file not found: {file}")
    try:
        dtype = {id_col: str} if id_col else None
        return pd.read_csv(file, dtype=dtype)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CommandError(f"could not read {what} file {file}: {err}") from None


def _require(frame: pd.DataFrame, columns: list[str], what: str, path: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise CommandError(
            f"{what} file {path} has no column(s) {', '.join(map(repr, missing))}; "
            f"its columns are {', '.join(map(repr, frame.columns))}"
        )


def _threshold(text: str) -> Any:
    if text == "youden":
        return text
    if "=" in text:
        key, _, value = text.partition("=")
        try:
            return {key.strip(): float(value)}
        except ValueError:
            raise CommandError(f"--threshold {text!r}: {value!r} is not a number") from None
    try:
        return float(text)
    except ValueError:
        raise CommandError(
            "--threshold must be 'youden', a number, 'sensitivity=X' or 'specificity=X'; "
            f"got {text!r}"
        ) from None


def _strata(args: argparse.Namespace, preds: pd.DataFrame) -> pd.DataFrame | None:
    cols = [c.strip() for c in args.strata_cols.split(",")] if args.strata_cols else None
    if args.strata is None:
        if cols is None:
            return None
        _require(preds, cols, "predictions", args.predictions)
        frame = preds[cols]
        return frame.set_axis(preds[args.id_col], axis=0) if args.id_col else frame
    strata = _read_csv(args.strata, "strata", args.id_col)
    if args.id_col:
        _require(strata, [args.id_col], "strata", args.strata)
        strata = strata.set_index(args.id_col)
    elif len(strata) != len(preds):
        raise CommandError(
            f"strata file {args.strata} has {len(strata)} rows but predictions have {len(preds)}; "
            "without --id-col the rows are matched by order, so their numbers must agree"
        )
    if cols is not None:
        _require(strata, cols, "strata", args.strata)
        strata = strata[cols]
    return strata


def run_audit(args: argparse.Namespace) -> int:
    """Run ``hstrat audit`` and return the exit code."""
    preds = _read_csv(args.predictions, "predictions", args.id_col)
    needed = [args.label_col, args.score_col] + [c for c in (args.id_col, args.groups_col) if c]
    _require(preds, needed, "predictions", args.predictions)
    strata = _strata(args, preds)
    predictions = Predictions.from_frame(
        preds, label_col=args.label_col, score_col=args.score_col, id_col=args.id_col
    )
    groups = preds[args.groups_col].to_numpy() if args.groups_col else None
    report = evaluate(
        predictions.y_true,
        predictions.y_score,
        strata,
        ids=predictions.ids,
        metadata=predictions.metadata,
        groups=groups,
        threshold=_threshold(args.threshold),
        ci=args.ci,
        method=args.method,
        n_resamples=args.n_resamples,
        confidence_level=args.confidence_level,
        correction=None if args.correction == "none" else args.correction,
        reference=args.reference,
        random_state=args.seed,
        progress=not args.no_progress,
    )
    paths = report.save(args.out)
    print(report.summary())
    print()
    for path in paths.values():
        print(f"wrote {path}")
    return 0
