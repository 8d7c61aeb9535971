"""``stylex data``: describe a data set (format, images, classes, source size) without decoding it."""

from __future__ import annotations

import json

from . import add_parser
from .common import add_data_arguments, data_spec_from_args


def register(subparsers) -> None:
    """Add the ``data`` subcommand."""
    p = add_parser(subparsers, "data", "describe a data set (counts per class, image size, split)",
                   "Detect the layout of a data folder and report its images and classes. Reads image "
                   "headers only, so it is fast; `--data synthetic` describes the synthetic world.")
    add_data_arguments(p, required=True)
    p.add_argument("--split", default="all", choices=["train", "val", "all"], help="which split to describe")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=execute)


def _table(info: dict) -> str:
    rows = [("format", info["format"]), ("path", info.get("path") or "-"), ("split", info["split"]),
            ("split source", info.get("split_source", "-")), ("images", str(info["num_images"])),
            ("source size", info["resolution"])]
    if info.get("unreadable_headers"):
        rows.append(("unreadable", f"{info['unreadable_headers']} (e.g. {info['unreadable_examples'][0]})"))
    if "causal_factors" in info:
        rows.append(("causal factors", ", ".join(info["causal_factors"])))
        rows.append(("spurious factors", ", ".join(info["spurious_factors"])))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    counts = info["class_counts"]
    if counts:
        total = max(1, sum(counts.values()))
        name_w = max(len(n) for n in counts)
        lines.append("")
        lines.append(f"{'class':<{name_w}}  {'images':>7}  share")
        lines += [f"{n:<{name_w}}  {c:>7}  {c / total:6.1%}" for n, c in counts.items()]
    else:
        lines.append("classes".ljust(width) + "  none (unlabelled)")
        if info.get("attributes"):
            lines.append("attributes".ljust(width) + "  " + ", ".join(info["attributes"])
                         + "  (choose one with --attribute)")
    return "\n".join(lines)


def execute(args) -> int:
    """Print the description of the data set selected by ``args``."""
    from ..data import inspect_dataset

    spec = data_spec_from_args(args, resolution=64, split=args.split)
    info = inspect_dataset(spec)
    print(json.dumps(info, indent=None if args.json else 2) if args.json else _table(info))
    return 0
