"""The ``hstrat`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._version import __version__


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``hstrat`` command."""
    parser = argparse.ArgumentParser(
        prog="hstrat",
        description="Audit a classifier for hidden stratification.",
    )
    parser.add_argument("--version", action="version", version=f"hstrat {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", help="run the audit on built-in synthetic chest X-rays")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "demo":
        print("hstrat demo: the synthetic chest X-ray demo is coming in a later release.")
        return 0
    parser.error(f"unknown command {args.command!r}")
    return 2
