"""One module per ``stylex`` subcommand; each exposes ``register(subparsers)``.

Use :func:`add_parser` so every subcommand shows its defaults in ``--help``.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """Add a subcommand parser that shows defaults in ``--help``."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description or help,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
