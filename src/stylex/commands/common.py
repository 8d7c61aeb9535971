"""Arguments shared by several subcommands (data selection)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import defaults_from

FORMATS = ["auto", "celeba", "ffhq", "folders", "csv", "images", "synthetic"]


def add_data_arguments(p: argparse.ArgumentParser, required: bool = True) -> None:
    """``--data``, ``--format``, ``--attribute``, ``--csv-file``, ``--classes``, ``--skip-bad-images``,
    synthetic size/seed."""
    p.add_argument("--data", required=required,
                   help="data folder (CelebA, FFHQ, class folders, CSV + images, plain images) or `synthetic`")
    d = defaults_from("stylex.data.formats:DataSpec")
    p.add_argument("--format", default=d("format"), choices=FORMATS, help="data format (auto-detected by default)")
    p.add_argument("--attribute", help="CelebA attribute name (e.g. Young), the CSV label column, or for FFHQ "
                   "age<T (e.g. 'age<30'), gender or glasses")
    p.add_argument("--csv-file", help="csv format: the file mapping image names to labels (relative to --data "
                   "unless it exists as given; default: the only *.csv in --data)")
    p.add_argument("--filename-column", help="csv format: the column of image file names (default: the first)")
    p.add_argument("--classes", help="keep only these classes, comma-separated (e.g. cat,dog of AFHQ's "
                   "cat/dog/wild)")
    p.add_argument("--allow-singleton-classes", action="store_true",
                   help="csv: keep a label that only one image has (refused by default: usually a typo such as "
                        "'one' or '1.0' in a 0/1 column)")
    p.add_argument("--skip-bad-images", action="store_true", help="skip unreadable images (warns with the count)")
    p.add_argument("--synthetic-size", type=int, default=d("synthetic_size"),
                   help="images in the synthetic world (all splits)")
    p.add_argument("--synthetic-seed", type=int, default=d("synthetic_seed"), help="seed of the synthetic world")


def data_spec_from_args(args: argparse.Namespace, resolution: int, split: str = "train"):
    """Build a :class:`stylex.data.DataSpec` from :func:`add_data_arguments` options."""
    from ..data import DataSpec

    synthetic = args.data == "synthetic" or args.format == "synthetic"
    csv_file = args.csv_file
    if csv_file and Path(csv_file).expanduser().exists():
        csv_file = str(Path(csv_file).expanduser().resolve())
    # absolute paths: the run's config.json then works from any working directory
    return DataSpec(
        path=None if synthetic else str(Path(args.data).expanduser().resolve()),
        format="synthetic" if synthetic else args.format,
        attribute=args.attribute,
        split=split,
        resolution=resolution,
        skip_bad_images=args.skip_bad_images,
        allow_singleton_classes=args.allow_singleton_classes,
        csv_file=csv_file,
        filename_column=args.filename_column,
        classes=args.classes,
        synthetic_size=args.synthetic_size,
        synthetic_seed=args.synthetic_seed,
    )
