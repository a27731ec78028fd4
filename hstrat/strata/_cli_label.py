"""``hstrat label``: the labelling page, checking a labels file, comparing annotators.

Registered in :mod:`hstrat.cli` with :func:`add_label_parser` and run by
:func:`run_label`.
"""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING, Any

import pandas as pd

from .._io import atomic_write_text, spreadsheet_csv
from ._agreement import agreement, disagreements, merge_labels
from ._schema import Schema, read_labels

if TYPE_CHECKING:
    from ._labeler_http import LabelerServer

__all__ = ["add_label_parser", "run_label"]


def _default_annotator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in some containers
        return "annotator"


def add_label_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``label`` command and its actions to ``hstrat``'s subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "label",
        help="label cases with a schema in a local web page; check and compare labels",
        description="Label cases with a schema, check a labels file, compare two annotators.",
    )
    actions = parser.add_subparsers(dest="label_action", metavar="ACTION", required=True)

    serve = actions.add_parser(
        "serve",
        help="serve the labelling page on this computer",
        description=(
            "Show each listed image with the schema's values as buttons (keys 1-9; "
            "arrows or Backspace to move; s to skip). Every answer is saved at once to "
            "--out (atomically); restarting resumes where the annotator left off. Several "
            "servers (annotators, browser tabs) may share one --out."
        ),
    )
    serve.add_argument("--schema", required=True, help="schema file (.json, .toml, .yaml)")
    serve.add_argument(
        "--items", required=True, help="CSV with 'id' and 'path' (and optional 'y_true') columns"
    )
    serve.add_argument(
        "--images-root", required=True, help="folder the item paths are relative to"
    )
    serve.add_argument("--out", required=True, help="labels CSV to create or resume")
    serve.add_argument("--annotator", default=None, help="your name (default: the login name)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)"
    )
    serve.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    serve.add_argument(
        "--variables",
        default=None,
        help="comma-separated variables to ask (default: all; leave out those a rule derives)",
    )

    check = actions.add_parser("check", help="check a labels CSV against a schema")
    check.add_argument("labels", help="labels CSV")
    check.add_argument("--schema", required=True, help="schema file")
    check.add_argument("--annotator", default=None, help="only this annotator's rows")
    check.add_argument(
        "--items", default=None, help="items CSV with 'id' and 'y_true' to check applies_to"
    )

    agree = actions.add_parser(
        "agreement", help="Cohen's kappa between two annotators, per variable"
    )
    agree.add_argument("labels_a", help="first annotator's labels CSV")
    agree.add_argument("labels_b", help="second annotator's labels CSV (may be the same file)")
    agree.add_argument("--schema", required=True, help="schema file")
    agree.add_argument("--annotator-a", default=None, help="annotator to read from labels_a")
    agree.add_argument("--annotator-b", default=None, help="annotator to read from labels_b")
    agree.add_argument(
        "--disagreements", default=None, help="write the conflicting cases to this CSV"
    )
    agree.add_argument("--merge", default=None, help="write merged labels to this CSV")
    agree.add_argument(
        "--rule",
        default="agree",
        choices=["agree", "either", "prefer_a", "prefer_b"],
        help="merge rule (default: agree = keep consensus only)",
    )
    return parser


def run_label(args: argparse.Namespace) -> int:
    """Run ``hstrat label ACTION``; returns the exit code (errors: see ``hstrat.cli``)."""
    actions = {"serve": _serve, "check": _check}
    return actions.get(args.label_action, _agreement)(args)


def _serve(args: argparse.Namespace) -> int:
    from ._labeler import serve_labeler

    schema = Schema.from_file(args.schema)
    if args.variables:
        schema = schema.select([v.strip() for v in args.variables.split(",")])
    annotator = args.annotator or _default_annotator()

    def ready(server: LabelerServer) -> None:
        state = server.app.state()
        print(
            f"Labelling {state['total']} cases as {annotator!r} ({state['done']} done, "
            f"{state['skipped']} skipped so far); answers are saved to {args.out}.\n"
            f"Open {server.url}  (Ctrl+C to stop)",
            flush=True,
        )

    serve_labeler(
        schema,
        args.items,
        args.images_root,
        args.out,
        annotator=annotator,
        host=args.host,
        port=args.port,
        on_ready=ready,
    )
    return 0


def _check(args: argparse.Namespace) -> int:
    schema = Schema.from_file(args.schema)
    labels = read_labels(args.labels, annotator=args.annotator)
    y_true = None
    if args.items is not None:
        items = pd.read_csv(args.items, dtype=str, keep_default_na=False)
        if "id" not in items.columns or "y_true" not in items.columns:
            raise ValueError(f"--items {args.items!r} needs 'id' and 'y_true' columns.")
        codes = {"0": 0, "1": 1, "false": 0, "true": 1, "False": 0, "True": 1}
        bad = sorted(set(items["y_true"]) - set(codes))
        if bad:
            raise ValueError(f"--items y_true must be 0 or 1; got {bad[:5]!r}.")
        y_true = pd.Series(
            items["y_true"].map(codes).to_numpy(dtype=int), index=pd.Index(items["id"])
        )
    clean = schema.validate(labels, y_true=y_true)
    print(f"{args.labels}: {len(clean)} cases; every value fits the schema {schema.name!r}.")
    for name, var in schema.variables.items():
        counts = clean[name].value_counts()
        parts = [f"{v} {int(counts.get(v, 0))}" for v in var.values]
        parts.append(f"not labelled {int(clean[name].isna().sum())}")
        print(f"  {name} ({var.applies_to}): " + ", ".join(parts))
    return 0


def _agreement(args: argparse.Namespace) -> int:
    schema = Schema.from_file(args.schema)
    a = _labels_only(read_labels(args.labels_a, annotator=args.annotator_a))
    b = _labels_only(read_labels(args.labels_b, annotator=args.annotator_b))
    table = agreement(a, b, schema)
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(table.drop(columns=["note"]).round(3).to_string(index=False))
    if args.disagreements is not None:
        # a file for people to adjudicate, in a spreadsheet: formula cells neutralised
        atomic_write_text(args.disagreements, spreadsheet_csv(disagreements(a, b, schema)))
        print(f"Disagreements written to {args.disagreements}")
    if args.merge is not None:
        merged = merge_labels(a, b, schema, rule=args.rule)
        atomic_write_text(args.merge, merged.to_csv())
        print(f"Merged labels (rule {args.rule!r}) written to {args.merge}")
    return 0


def _labels_only(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(
        columns=[c for c in ("annotator", "labelled_at", "skipped") if c in frame.columns]
    )
