"""The ``hstrat`` command line: ``hstrat demo | audit | label | schema``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._cli_audit import CommandError, add_audit_parser, run_audit
from ._version import __version__
from .strata._cli_label import add_label_parser, run_label
from .strata._cli_schema import add_schema_parser, run_schema


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
    demo.add_argument("--fast", action="store_true", help="a few seconds, tiny data (for CI)")
    demo.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_audit_parser(sub)
    add_label_parser(sub)
    add_schema_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    User errors (a missing file or column, an invalid option value) print one line to
    stderr and return 1; argparse usage errors return 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    commands = {"demo": _run_demo, "audit": run_audit, "label": run_label, "schema": run_schema}
    try:
        return commands[args.command](args)
    except (CommandError, ValueError, TypeError, FileNotFoundError, ImportError) as err:
        print(f"hstrat {args.command}: error: {err}", file=sys.stderr)
        return 1


def _run_demo(args: argparse.Namespace) -> int:
    from ._demo import DemoSettings, run_demo

    settings = DemoSettings.fast() if args.fast else DemoSettings()
    run_demo(args.out, seed=args.seed, settings=settings, progress=not args.no_progress)
    return 0
