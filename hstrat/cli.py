"""The ``hstrat`` command line: ``hstrat demo | audit | label | schema``.

``hstrat audit`` lines its files up by the package's one rule (`hstrat._align`):
``--strata`` is joined to ``--predictions`` on an id column (``--id-col``, or the one
column both files share whose values are unique per row), by row order only with
``--by-row-order``. Columns that look like ids or free text (unique per row, or more than
``MAX_LEVELS`` values) become strata only when ``--strata-cols`` names them.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._audit import AuditReport, Predictions, evaluate
from ._validation import did_you_mean
from ._version import __version__
from .exceptions import HstratError
from .strata._cli import add_label_parser, add_schema_parser, run_label, run_schema

#: A strata column with more levels than this is not used unless --strata-cols names it.
MAX_LEVELS = 20
_OPTIONS = ("--label-col", "--score-col")


class CommandError(Exception):
    """A command failed on its files or data (exit code 1)."""


class UsageError(CommandError):
    """A command's options are invalid or contradict each other (exit code 2)."""


def _add_audit_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "audit",
        help="audit predictions stored in a CSV file",
        description=(
            "Audit scores from a CSV (one row per case) for hidden stratification. "
            "Writes report.html, table.csv, report.json and the figures to --out."
        ),
    )
    p.add_argument(
        "--predictions", required=True, metavar="CSV", help="scores, one row per case (required)"
    )
    p.add_argument(
        "--label-col",
        action="append",
        help="column of 0/1 labels; repeat with --score-col to audit several findings",
    )
    p.add_argument(
        "--score-col",
        action="append",
        help="column of scores (higher = positive), one per --label-col",
    )
    p.add_argument(
        "--findings",
        metavar="NAMES",
        help="comma-separated findings to audit instead: labels in the column NAME, "
        "scores in NAME_score; writes a report per finding and an index.html",
    )
    p.add_argument(
        "--id-col",
        help="column of case ids in both files, to join --strata on (default: the one "
        "column both files share whose values are unique per row)",
    )
    p.add_argument(
        "--strata",
        metavar="CSV",
        help="subclass labels, one column per variable, joined to --predictions by id; "
        "cases it does not list are unlabelled",
    )
    p.add_argument(
        "--strata-finding",
        metavar="NAME",
        help="with several findings: the one finding the strata belong to (default: all)",
    )
    p.add_argument(
        "--by-row-order",
        action="store_true",
        help="match --strata to --predictions by row order instead of by id",
    )
    p.add_argument(
        "--strata-cols",
        metavar="COLS",
        help="comma-separated columns to use as strata (from --strata, else from "
        f"--predictions); default: every --strata column with at most {MAX_LEVELS} levels",
    )
    p.add_argument(
        "--groups-col",
        help="column of cluster ids (patient, study) resampled together (default: none)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (required)")
    p.add_argument("--force", action="store_true", help="replace a report already in --out")
    for flag, choices, text in (
        ("--ci", ["bootstrap", "delong"], "how intervals and tests are computed"),
        ("--method", ["percentile", "basic", "bca"], "bootstrap interval method"),
        ("--correction", ["holm", "fdr_bh", "none"], "multiple-comparison adjustment"),
        ("--test", ["auto", "permutation", "wald"], "test against the reference"),
        ("--reference", ["complement", "overall"], "what each stratum is compared with"),
    ):
        p.add_argument(
            flag, choices=choices, default=choices[0], help=f"{text} (default %(default)s)"
        )
    p.add_argument(
        "--n-resamples", type=int, default=2000, help="bootstrap replicates (default %(default)s)"
    )
    p.add_argument("--confidence-level", type=float, default=0.95, help="(default %(default)s)")
    p.add_argument(
        "--threshold",
        default="youden",
        help="operating point: 'youden', a number, 'sensitivity=0.9' or 'specificity=0.9' "
        "(default %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed of the bootstrap and the permutations (default %(default)s)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="threads for the bootstrap (default: every CPU; the numbers do not depend on it)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def read_csv(path: str, what: str) -> pd.DataFrame:
    """Read a CSV with every cell as text (ids keep their leading zeros); empty = missing."""
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"{what} file not found: {file}")
    try:
        return pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CommandError(f"could not read {what} file {file}: {err}") from None


def _require(frame: pd.DataFrame, columns: list[str], what: str, path: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(
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
            raise UsageError(f"--threshold {text!r}: {value!r} is not a number") from None
    try:
        return float(text)
    except ValueError:
        raise UsageError(
            "--threshold must be 'youden', a number, 'sensitivity=X' or 'specificity=X'; "
            f"got {text!r}"
        ) from None


def _columns(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Return the (label column, score column) of each audited finding."""
    labels, scores = args.label_col or [], args.score_col or []
    if args.findings:
        if labels or scores:
            raise UsageError("pass --findings, or --label-col with --score-col, not both")
        names = [f.strip() for f in args.findings.split(",") if f.strip()]
        return [(name, f"{name}_score") for name in names]
    if not labels or len(labels) != len(scores):
        raise UsageError(
            "give one --score-col per --label-col (at least one pair), or --findings; got "
            f"{len(labels)} --label-col and {len(scores)} --score-col"
        )
    return list(zip(labels, scores, strict=True))


def _numbers(args: argparse.Namespace, frame: pd.DataFrame, column: str, option: str) -> Any:
    values = pd.to_numeric(frame[column], errors="coerce")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise CommandError(
            f"{option} {column!r} of {args.predictions} must hold a number on every row; got "
            f"{frame[column].iloc[row]!r} on data row {row + 1}"
        )
    return values.to_numpy()


def _is_id_like(column: pd.Series) -> bool:
    values = column.dropna()
    return len(values) > 1 and values.is_unique


def _join_column(args: argparse.Namespace, preds: pd.DataFrame, strata: pd.DataFrame) -> str:
    """Return the column to join --strata on: --id-col, or the one id-like column shared."""
    if args.id_col:
        _require(strata, [args.id_col], "strata", args.strata)
        return str(args.id_col)
    shared = [
        c
        for c in strata.columns
        if c in preds.columns and _is_id_like(preds[c]) and _is_id_like(strata[c])
    ]
    if len(shared) == 1:
        return str(shared[0])
    if shared:
        raise UsageError(
            f"--strata and --predictions share several id-like columns ({', '.join(shared)}); "
            "name the one to join on with --id-col"
        )
    raise UsageError(
        "--strata has no id column in common with --predictions; name it with --id-col "
        "(both files need it), or pass --by-row-order to match the rows by their order"
    )


def _strata_columns(args: argparse.Namespace, frame: pd.DataFrame, where: str) -> list[str]:
    if args.strata_cols:
        cols = [c.strip() for c in args.strata_cols.split(",") if c.strip()]
        _require(frame, cols, where, args.strata if where == "strata" else args.predictions)
        return cols
    cols = [str(c) for c in frame.columns]
    suspicious = []
    for c in cols:
        levels = frame[c].nunique()
        if _is_id_like(frame[c]) and len(frame) >= 5:
            suspicious.append(f"{c!r} (unique per row)")
        elif levels > MAX_LEVELS:
            suspicious.append(f"{c!r} ({levels} values)")
    if suspicious:
        raise UsageError(
            f"the strata file's columns {', '.join(suspicious)} look like ids, numbers or "
            f"free text, not subclass labels (at most {MAX_LEVELS} values); name the columns "
            "to use as strata with --strata-cols"
        )
    return cols


def _strata(
    args: argparse.Namespace, preds: pd.DataFrame, strata: pd.DataFrame | None, ids: pd.Index
) -> pd.DataFrame | None:
    if strata is None:
        if args.strata_cols is None:
            return None
        return preds[_strata_columns(args, preds, "predictions")].set_axis(ids, axis=0)
    if args.by_row_order:
        if len(strata) != len(preds):
            raise CommandError(
                f"strata file {args.strata} has {len(strata)} rows but predictions have "
                f"{len(preds)}; --by-row-order needs one row per case"
            )
        return strata[_strata_columns(args, strata, "strata")].set_axis(ids, axis=0)
    key = str(ids.name)
    if strata[key].isna().any() or not strata[key].is_unique:
        raise CommandError(
            f"strata file {args.strata}: column {key!r} has missing or repeated ids"
        )
    strata = strata.set_index(key)
    return strata[_strata_columns(args, strata, "strata")]


def check_out(path: str, force: bool) -> Path:
    """Check ``--out`` before any work: a folder we can write, empty unless ``--force``."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; it must be a folder (new or empty)")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UsageError(f"--out {out} is not empty; pass --force to replace the report in it")
    parent = next(p for p in (out, *out.parents) if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CommandError(f"--out {out}: cannot write to {parent} (permission denied)")
    return out


def run_audit(args: argparse.Namespace) -> int:
    """Run ``hstrat audit`` and return the exit code."""
    check_out(args.out, args.force)
    if args.by_row_order and (args.strata is None or args.id_col):
        raise UsageError("--by-row-order needs --strata and no --id-col")
    columns = _columns(args)
    preds = read_csv(args.predictions, "predictions")
    needed = [c for pair in columns for c in pair]
    _require(
        preds,
        needed + [c for c in (args.id_col, args.groups_col) if c],
        "predictions",
        args.predictions,
    )
    strata = None if args.strata is None else read_csv(args.strata, "strata")
    id_col = args.id_col
    if strata is not None and not args.by_row_order:
        id_col = _join_column(args, preds, strata)
    frame = preds.drop(columns=needed).assign(
        **{
            c: _numbers(args, preds, c, o)
            for pair in columns
            for c, o in zip(pair, _OPTIONS, strict=True)
        }
    )
    findings = {
        label: Predictions.from_frame(
            frame.drop(columns=[c for c in needed if c not in (label, score)]),
            label_col=label,
            score_col=score,
            id_col=id_col,
        )
        for label, score in columns
    }
    ids = next(iter(findings.values())).ids
    subclasses: Any = _strata(args, preds, strata, ids)
    if args.strata_finding is not None:
        if args.strata_finding not in findings:
            raise UsageError(
                f"--strata-finding {args.strata_finding!r} is not one of the findings "
                f"{list(findings)}{did_you_mean(args.strata_finding, findings)}"
            )
        subclasses = {args.strata_finding: subclasses}
    report = evaluate(
        findings if len(findings) > 1 else findings[columns[0][0]],
        strata=subclasses,
        groups=args.groups_col,
        threshold=_threshold(args.threshold),
        ci=args.ci,
        method=args.method,
        n_resamples=args.n_resamples,
        confidence_level=args.confidence_level,
        correction=None if args.correction == "none" else args.correction,
        test=args.test,
        reference=args.reference,
        random_state=args.seed,
        progress=not args.no_progress,
        n_jobs=args.jobs,
    )
    paths = report.save(args.out, overwrite=args.force)
    print(report.summary() if isinstance(report, AuditReport) else report)
    print()
    for path in paths.values():
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``hstrat`` command."""
    parser = argparse.ArgumentParser(
        prog="hstrat",
        description="Audit a classifier for hidden stratification.",
    )
    parser.add_argument("--version", action="version", version=f"hstrat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="train a model on built-in synthetic chest X-rays and audit it",
        description=(
            "Generate synthetic chest X-rays in which most pneumothoraces carry a chest "
            "drain, train a compact DenseNet on the CPU, audit it with the paper's "
            "schema strata and a k-means detector, and write the report."
        ),
    )
    demo.add_argument(
        "--out", default="hstrat-demo", help="output directory (default %(default)s)"
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    demo.add_argument("--force", action="store_true", help="replace a report already in --out")
    demo.add_argument("--fast", action="store_true", help="a few seconds, tiny data (for CI)")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    _add_audit_parser(sub)
    add_label_parser(sub)
    add_schema_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    Every error (and warning) is one line on stderr that names the file or option: exit
    code 2 for a usage error (argparse's, or options that are invalid together), 1 for a
    failure (a missing or unreadable file, data that cannot be audited); Ctrl-C exits 130.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    commands = {"demo": _run_demo, "audit": run_audit, "label": run_label, "schema": run_schema}
    action = getattr(args, f"{args.command}_action", None)
    prefix = f"hstrat {args.command}{f' {action}' if action else ''}"
    try:
        with warnings.catch_warnings():  # a warning is one line too, not a source line
            warnings.showwarning = lambda message, *_, **__: print(
                f"{prefix}: warning: {' '.join(str(message).split())}", file=sys.stderr
            )
            return commands[args.command](args)
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except UsageError as err:
        print(f"{prefix}: error: {err}", file=sys.stderr)
        return 2
    except (CommandError, HstratError, ValueError, TypeError, OSError, ImportError) as err:
        print(f"{prefix}: error: {_one_line(err)}", file=sys.stderr)
        return 1


def _one_line(err: BaseException) -> str:
    """Return the error's message on one line (a SchemaError keeps its problem list)."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err) if isinstance(err, HstratError) else " ".join(str(err).split())


def _run_demo(args: argparse.Namespace) -> int:
    from ._demo import DemoSettings, run_demo

    check_out(args.out, args.force)
    settings = DemoSettings.fast() if args.fast else DemoSettings()
    run_demo(
        args.out,
        seed=args.seed,
        settings=settings,
        progress=not args.no_progress,
        overwrite=args.force,
    )
    return 0
