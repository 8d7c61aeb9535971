"""The ``stylex`` command line: parses arguments and hands them to the pipeline stages.

Each subcommand lives in ``stylex.commands.<name>`` and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` to a function taking the parsed arguments and returning an exit code.
This module holds no logic of its own beyond error handling.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import StylexError

# Order is the order shown by `stylex --help`: the pipeline from data to report.
COMMAND_MODULES = [
    "data",
    "train_classifier",
    "train",
    "attfind",
    "evaluate",
    "report",
    "user_study",
    "demo",
]


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="stylex",
        description="Explain an image classifier with counterfactuals in StyleSpace (StylEx + AttFind).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"stylex {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"stylex.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"stylex.commands.{name}":
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stylex`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # The command line as given, recorded in the outputs so that every result says how it was made.
    args.command_line = ["stylex", *(sys.argv[1:] if argv is None else argv)]
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except StylexError as exc:
        print(f"stylex {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stylex {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
