"""One module per ``stylex`` subcommand; each exposes ``register(subparsers)``.

Use :func:`add_parser` so every subcommand shows its defaults in ``--help``, and :class:`Default` so a
default is read from the dataclass (or function) that owns it instead of being written again here.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
from typing import Any


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` after an option's help, except where there is nothing to show (required
    options, ``None``, off flags), so no option reads "(default: None)"."""

    def _get_help_string(self, action):
        if action.required or action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def add_parser(subparsers, name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
    """Add a subcommand parser that shows defaults in ``--help``."""
    return subparsers.add_parser(
        name,
        help=help,
        description=description or help,
        formatter_class=_DefaultsFormatter,
    )


class Default:
    """A command-line default owned by a dataclass field or a function's keyword argument.

    Looked up only when needed (``--help`` shows it; :func:`resolve_defaults` replaces it after parsing),
    so building the parser imports no heavy module, and the value is written in one place.

    Args:
        owner: ``"module:Name"``, e.g. ``"stylex.explain.pipeline:AttFindConfig"``.
        name: the field or keyword (default: the option's own name).
    """

    def __init__(self, owner: str, name: str):
        self.owner, self.name = owner, name

    def value(self) -> Any:
        """The owner's default for ``name``."""
        module, _, attr = self.owner.partition(":")
        obj = getattr(importlib.import_module(module), attr)
        if dataclasses.is_dataclass(obj):
            f = next(f for f in dataclasses.fields(obj) if f.name == self.name)
            return f.default_factory() if f.default is dataclasses.MISSING else f.default
        return inspect.signature(obj).parameters[self.name].default

    def __str__(self) -> str:
        return str(self.value())


class PresetDefault(Default):
    """The default of a ``stylex train`` option that the chosen ``--preset`` fills in.

    ``--help`` lists each preset's value (``tiny 0.032, cpu 60.0, ...``); after parsing it resolves to ``None``,
    so the preset's value applies.

    Args:
        path: the :class:`~stylex.training.config.TrainConfig` attribute, dotted for nested ones
            (``"network.resolution"``, ``"losses.rec_l1"``).
    """

    def __init__(self, path: str):
        super().__init__("stylex.training.config:TrainConfig", path)

    def value(self) -> Any:
        return None

    def __str__(self) -> str:
        from ..training.config import PRESETS

        def get(cfg):
            for part in self.name.split("."):
                cfg = getattr(cfg, part)
            return cfg

        values = {name: get(cfg) for name, cfg in PRESETS.items()}
        if all(v is None for v in values.values()):
            return "unset in every preset"
        if len(set(map(repr, values.values()))) == 1:
            return f"{next(iter(values.values()))} in every preset"
        return "by --preset: " + ", ".join(f"{name} {v}" for name, v in values.items())


def defaults_from(owner: str):
    """A shorthand: ``d = defaults_from("pkg.mod:Config"); p.add_argument("--seed", default=d("seed"))``."""
    return lambda name: Default(owner, name)


def explicit_options(args: argparse.Namespace) -> set[str]:
    """Destinations the user gave on the command line (valid before :func:`resolve_defaults`).

    An option counts as given when it holds neither a :class:`Default`, ``None`` nor ``False``.
    """
    return {k for k, v in vars(args).items() if v is not None and v is not False and not isinstance(v, Default)}


def resolve_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """Replace every :class:`Default` left in ``args`` by its value."""
    for key, value in vars(args).items():
        if isinstance(value, Default):
            setattr(args, key, value.value())
    return args
