"""The ``hstrat`` command line: ``hstrat demo | audit | label | schema``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._cli_audit import CommandError, UsageError, add_audit_parser, check_out, run_audit
from ._version import __version__
from .exceptions import HstratError
from .strata._cli import add_label_parser, add_schema_parser, run_label, run_schema


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
    add_audit_parser(sub)
    add_label_parser(sub)
    add_schema_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code.

    Every error is one line on stderr that names the file or option: exit code 2 for a
    usage error (argparse's, or options that are invalid together), 1 for a failure
    (a missing or unreadable file, data that cannot be audited); Ctrl-C exits 130.
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
