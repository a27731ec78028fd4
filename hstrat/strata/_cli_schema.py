"""``hstrat schema``: check a schema file, derive labels from metadata with its rules.

Registered in :mod:`hstrat.cli` with :func:`add_schema_parser` and run by
:func:`run_schema`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import pandas as pd

from .._io import atomic_write_text
from ._schema import Schema

__all__ = ["add_schema_parser", "run_schema"]


def add_schema_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``schema`` command and its actions to ``hstrat``'s subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "schema",
        help="check a subclass schema; derive labels from metadata with its rules",
        description="Check a subclass schema, or derive labels from metadata with its rules.",
    )
    actions = parser.add_subparsers(dest="schema_action", metavar="ACTION", required=True)
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
    return parser


class _Renamed(argparse.Action):
    """An option whose old spelling (``--id-column``) still works, with a notice."""

    def __call__(
        self, parser: Any, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        if option != self.option_strings[0]:
            print(f"hstrat: {option} is deprecated; use {self.option_strings[0]}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def run_schema(args: argparse.Namespace) -> int:
    """Run ``hstrat schema ACTION``; returns the exit code."""
    return _check(args) if args.schema_action == "check" else _derive(args)


def _check(args: argparse.Namespace) -> int:
    schema = Schema.from_file(args.schema)
    print(
        f"{args.schema}: schema {schema.name!r}"
        + (f", target {schema.target!r}" if schema.target else "")
    )
    print(f"  digest sha256:{schema.digest}")
    for name, var in schema.variables.items():
        rule = "" if var.rule is None else f"; derived from column {var.rule.column!r}"
        print(f"  {name} ({var.applies_to}): {', '.join(map(str, var.values))}{rule}")
    return 0


def _derive(args: argparse.Namespace) -> int:
    schema = Schema.from_file(args.schema)
    metadata = pd.read_csv(args.metadata, dtype=str, keep_default_na=False, na_values=[""])
    if args.id_col not in metadata.columns:
        raise ValueError(
            f"--id-col {args.id_col!r} is not a column of {args.metadata!r}; the "
            "columns are "
            f"{list(metadata.columns)!r}."
        )
    metadata = metadata.set_index(args.id_col)
    y_true = None
    if args.label_col is not None:
        if args.label_col not in metadata.columns:
            raise ValueError(
                f"--label-col {args.label_col!r} is not a column of {args.metadata!r}."
            )
        codes = {"0": 0, "1": 1, "false": 0, "true": 1, "False": 0, "True": 1}
        column = metadata[args.label_col]
        bad = sorted(set(column.dropna()) - set(codes))
        if bad or column.isna().any():
            raise ValueError(
                f"--label-col {args.label_col!r} must be 0 or 1 on every row; got {bad[:5]!r}."
            )
        y_true = pd.Series(column.map(codes).to_numpy(dtype=int), index=metadata.index)
    labels = schema.derive(metadata, y_true=y_true)
    labels.index.name = "id"
    atomic_write_text(args.out, labels.to_csv())
    counts = ", ".join(f"{c}: {int(labels[c].notna().sum())}" for c in labels.columns)
    print(
        f"Derived {', '.join(labels.columns)} for {len(labels)} cases ({counts} labelled) "
        f"-> {args.out}"
    )
    return 0
