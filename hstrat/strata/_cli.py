"""``hstrat label`` and ``hstrat schema``: the labelling page, labels and schema files.

Registered in :mod:`hstrat.cli` by the ``add_*_parser`` functions and run by ``run_*``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._io import atomic_write_text, spreadsheet_csv
from ._agreement import MERGE_RULES, agreement, disagreements, merge_labels
from ._labeler import as_binary, serve_labeler
from ._schema import Schema, read_labels

if TYPE_CHECKING:
    from ._labeler_http import LabelerServer

__all__ = ["add_label_parser", "add_schema_parser", "run_label", "run_schema"]


def _actions(subparsers: Any, name: str, help: str, description: str) -> Any:
    """Add the command ``name`` and return the subparsers of its actions."""
    parser = subparsers.add_parser(name, help=help, description=description)
    return parser.add_subparsers(dest=f"{name}_action", metavar="ACTION", required=True)


def add_label_parser(subparsers: Any) -> None:
    """Add the ``label`` command and its actions to ``hstrat``'s subparsers."""
    actions = _actions(
        subparsers,
        "label",
        "label cases with a schema in a local web page; check and compare labels",
        "Label cases with a schema, check a labels file, compare two annotators.",
    )
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
        choices=MERGE_RULES,
        help="merge rule (default: agree = keep consensus only)",
    )


def add_schema_parser(subparsers: Any) -> None:
    """Add the ``schema`` command and its actions to ``hstrat``'s subparsers."""
    actions = _actions(
        subparsers,
        "schema",
        "check a subclass schema; derive labels from metadata with its rules",
        "Check a subclass schema, or derive labels from metadata with its rules.",
    )
    check = actions.add_parser(
        "check", help="check a schema file and print its variables and digest"
    )
    check.add_argument("schema", help="schema file (.json, .toml, .yaml)")
    derive = actions.add_parser(
        "derive", help="derive labels from a metadata CSV with the schema's rules"
    )
    derive.add_argument("schema", help="schema file")
    derive.add_argument("--metadata", required=True, help="metadata CSV, one row per case")
    derive.add_argument(
        "--id-col",
        "--id-column",
        action=_Renamed,
        default="id",
        help="the metadata column holding case ids (default: %(default)s)",
    )
    derive.add_argument(
        "--label-col",
        "--label-column",
        action=_Renamed,
        default=None,
        help="0/1 column of the target label, to leave variables empty where they do not apply",
    )
    derive.add_argument("--out", required=True, help="labels CSV to write")


class _Renamed(argparse.Action):
    """An option whose old spelling (``--id-column``) still works, with a notice."""

    def __call__(
        self, parser: Any, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        if option != self.option_strings[0]:
            print(f"hstrat: {option} is deprecated; use {self.option_strings[0]}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def run_label(args: argparse.Namespace) -> int:
    """Run ``hstrat label ACTION``; returns the exit code (errors: see ``hstrat.cli``)."""
    return {"serve": _serve, "check": _check_labels}.get(args.label_action, _agreement)(args)


def run_schema(args: argparse.Namespace) -> int:
    """Run ``hstrat schema ACTION``; returns the exit code."""
    return _check_schema(args) if args.schema_action == "check" else _derive(args)


def _zero_one(values: pd.Series, option: str) -> npt.NDArray[np.int_]:
    """Return the 0/1 labels of a CSV column; a ValueError names the option."""
    codes = [as_binary(v) for v in values]
    bad = sorted({str(v) for v, code in zip(values, codes, strict=True) if code is None})
    if bad:
        raise ValueError(f"{option} must be 0 or 1 on every row; got {bad[:5]!r}.")
    return np.array(codes, dtype=int)


def _serve(args: argparse.Namespace) -> int:
    schema = Schema.from_file(args.schema)
    if args.variables:
        schema = schema.select([v.strip() for v in args.variables.split(",")])
    try:
        annotator = args.annotator or getpass.getuser()
    except (KeyError, OSError):  # no user name in some containers
        annotator = "annotator"

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


def _check_labels(args: argparse.Namespace) -> int:
    schema = Schema.from_file(args.schema)
    labels = read_labels(args.labels, annotator=args.annotator)
    y_true = None
    if args.items is not None:
        items = pd.read_csv(args.items, dtype=str, keep_default_na=False)
        if "id" not in items.columns or "y_true" not in items.columns:
            raise ValueError(f"--items {args.items!r} needs 'id' and 'y_true' columns.")
        y_true = pd.Series(_zero_one(items["y_true"], "--items y_true"), index=items["id"])
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
    a = read_labels(args.labels_a, annotator=args.annotator_a)
    b = read_labels(args.labels_b, annotator=args.annotator_b)
    table = agreement(a, b, schema)
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(table.drop(columns=["note"]).round(3).to_string(index=False))
    if args.disagreements is not None:
        # a file for people to adjudicate, in a spreadsheet: formula cells neutralised
        atomic_write_text(args.disagreements, spreadsheet_csv(disagreements(a, b, schema)))
        print(f"Disagreements written to {args.disagreements}")
    if args.merge is not None:
        atomic_write_text(args.merge, merge_labels(a, b, schema, rule=args.rule).to_csv())
        print(f"Merged labels (rule {args.rule!r}) written to {args.merge}")
    return 0


def _check_schema(args: argparse.Namespace) -> int:
    schema = Schema.from_file(args.schema)
    target = f", target {schema.target!r}" if schema.target else ""
    print(f"{args.schema}: schema {schema.name!r}{target}\n  digest sha256:{schema.digest}")
    for name, var in schema.variables.items():
        rule = "" if var.rule is None else f"; derived from column {var.rule.column!r}"
        print(f"  {name} ({var.applies_to}): {', '.join(map(str, var.values))}{rule}")
    return 0


def _derive(args: argparse.Namespace) -> int:
    schema = Schema.from_file(args.schema)
    metadata = pd.read_csv(args.metadata, dtype=str, keep_default_na=False, na_values=[""])
    if args.id_col not in metadata.columns:
        raise ValueError(
            f"--id-col {args.id_col!r} is not a column of {args.metadata!r}; the columns are "
            f"{list(metadata.columns)!r}."
        )
    metadata = metadata.set_index(args.id_col)
    y_true = None
    if args.label_col is not None:
        if args.label_col not in metadata.columns:
            raise ValueError(
                f"--label-col {args.label_col!r} is not a column of {args.metadata!r}."
            )
        codes = _zero_one(metadata[args.label_col], f"--label-col {args.label_col!r}")
        y_true = pd.Series(codes, index=metadata.index)
    labels = schema.derive(metadata, y_true=y_true)
    labels.index.name = "id"
    atomic_write_text(args.out, labels.to_csv())
    counts = ", ".join(f"{c}: {int(labels[c].notna().sum())}" for c in labels.columns)
    print(
        f"Derived {', '.join(labels.columns)} for {len(labels)} cases ({counts} labelled) "
        f"-> {args.out}"
    )
    return 0
