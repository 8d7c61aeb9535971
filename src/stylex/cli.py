"""The ``stylex`` command line: parses arguments and hands them to the pipeline stages.

Each subcommand lives in ``stylex.commands.<name>`` and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` to a function taking the parsed arguments and returning an exit code.
This module holds no logic of its own beyond error handling.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from pathlib import Path

from . import __version__
from .commands import explicit_options, resolve_defaults
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
        importlib.import_module(f"stylex.commands.{name}").register(subparsers)
    return parser


_PACKAGE_DIR = Path(__file__).resolve().parent


def _warning_printer(command: str, default):
    """``warnings.showwarning`` for a command: the project's own warnings (a skipped image, an
    unlabelled file) as one plain ``stylex CMD: warning: ...`` line; everything else as Python shows it."""
    def show(message, category, filename, lineno, file=None, line=None):
        try:
            ours = Path(filename).resolve().is_relative_to(_PACKAGE_DIR)
        except (OSError, ValueError):
            ours = False
        if ours and issubclass(category, UserWarning):
            print(f"stylex {command}: warning: {message}", file=sys.stderr if file is None else file)
        else:
            default(message, category, filename, lineno, file, line)
    return show


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stylex`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.explicit = explicit_options(args)   # what the user gave (before the defaults are filled in)
    resolve_defaults(args)
    # The command line as given, recorded in the outputs so that every result says how it was made.
    args.command_line = ["stylex", *(sys.argv[1:] if argv is None else argv)]
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer(args.command, warnings.showwarning)
            return int(args.func(args) or 0)
    except StylexError as exc:
        print(f"stylex {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"stylex {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
