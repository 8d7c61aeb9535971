"""The FFHQ layout: NVIDIA's image folders, its official split, and the two public label sets.

FFHQ itself has no labels: StylEx needs none to train its generator (the classifier supplies the
class probabilities), so ``--attribute`` is optional. The labels are for training or checking a
classifier on FFHQ itself. Layout (the folder given to ``--data``)::

    images1024x1024/00000/00000.png ...     official (download_ffhq.py), and/or
    thumbnails128x128/00000/00000.png ...   official thumbnails, and/or
    00000.png ...                           any other folder of images named by their FFHQ number
    ffhq-features-dataset/json/00000.json   optional labels (DCGM, Microsoft Face API output), or
    json/00000.json                         the same, without the repository folder, or
    ffhq_aging_labels.csv                   optional labels (FFHQ-Aging: age groups, gender, glasses)

When both official image folders exist, the thumbnails are used up to 128 px and the 1024 px
images above, so one face is never listed twice. The split is the official one (numbers 0-59999
train, 60000-69999 val) when the folder holds images of both; a subset on one side of it gets the
hash split of the other formats.

Attributes: ``age<T`` (class 1 ``age_under_T``, class 0 ``age_T_plus``; with FFHQ-Aging T must be
an age-group boundary), ``gender`` (``female``, ``male``) and ``glasses`` (``no_glasses``,
``glasses``). Images without a face record (empty JSON, no CSV row) are skipped with a warning.
"""

from __future__ import annotations

import csv
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np

from ..errors import StylexError

IMAGE_DIRS = ("thumbnails128x128", "images1024x1024")
JSON_DIRS = ("ffhq-features-dataset/json", "json")
AGING_CSV = "ffhq_aging_labels.csv"
OFFICIAL_TRAIN = 60000                 # numbers below are FFHQ's training split, the rest validation
ATTRIBUTES_HELP = "age<T (e.g. age<30), gender or glasses"
# FFHQ-Aging's age groups, as written in its CSV; a threshold must fall on one of their lower bounds
AGING_GROUPS = ("0-2", "3-6", "7-9", "10-14", "15-19", "20-29", "30-39", "40-49", "50-69", "70-120")
_NUMBERED = re.compile(r"^\d{5}$")


def looks_like_ffhq(root: Path) -> bool:
    """True if ``root`` has an FFHQ image folder or one of the FFHQ label sets (a ``json/`` folder
    counts only with ``NNNNN.json`` files in it: it could be a class folder)."""
    if any((root / d).is_dir() for d in IMAGE_DIRS) or (root / AGING_CSV).is_file():
        return True
    return any(_has_numbered_json(root / d) for d in JSON_DIRS)


def _has_numbered_json(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    with os.scandir(folder) as entries:
        return any(e.name.endswith(".json") and _NUMBERED.match(e.name[:-5]) for e in entries)


def label_source(root: Path) -> Path | None:
    """The label file or folder of an FFHQ folder (JSON folder first), or None."""
    for d in JSON_DIRS:
        if _has_numbered_json(root / d):
            return root / d
    return root / AGING_CSV if (root / AGING_CSV).is_file() else None


def image_folder(root: Path, resolution: int) -> Path:
    """Where the images are: the official folder that suits ``resolution``, else ``root`` itself."""
    present = [root / d for d in IMAGE_DIRS if (root / d).is_dir()]
    if not present:
        return root
    if len(present) == 2:
        return present[0] if resolution <= 128 else present[1]
    if present[0].name == IMAGE_DIRS[0] and resolution > 128:
        warnings.warn(f"{present[0]} holds 128 px thumbnails, upsampled to {resolution} px; add "
                      f"{IMAGE_DIRS[1]}/ for sharp images", UserWarning, stacklevel=3)
    return present[0]


def numbered_images(files: list[Path], folder: Path) -> dict[int, Path]:
    """``{FFHQ number: path}`` of image files named ``NNNNN.*``; an error names a number found twice,
    a warning counts the other image files (skipped)."""
    out: dict[int, Path] = {}
    others = [p for p in files if not _NUMBERED.match(p.stem)]
    if others:
        warnings.warn(f"{len(others)} image file(s) in {folder} are not named by an FFHQ number (e.g. "
                      f"{others[0].name}); skipping them", UserWarning, stacklevel=3)
    for p in files:
        if not _NUMBERED.match(p.stem):
            continue
        n = int(p.stem)
        if n in out:
            raise StylexError(f"FFHQ image {p.stem} is in {folder} twice ({out[n]} and {p}): keep one copy, or "
                              "pass the folder of one resolution to --data")
        out[n] = p
    return out


def parse_attribute(attribute: str | None) -> tuple[str, int | None] | None:
    """``age<30`` -> ``("age", 30)``, ``gender`` -> ``("gender", None)``; None for no attribute."""
    if attribute is None:
        return None
    a = attribute.strip().lower().replace(" ", "")
    m = re.fullmatch(r"age<(\d+)", a)
    if m:
        t = int(m.group(1))
        if not 1 <= t <= 120:
            raise StylexError(f"--attribute {attribute}: the age threshold must be in 1..120")
        return "age", t
    if a in ("gender", "glasses"):
        return a, None
    raise StylexError(f"unknown FFHQ attribute {attribute!r} in --attribute: use {ATTRIBUTES_HELP}")


def class_names(attr: tuple[str, int | None]) -> list[str]:
    """Class names of a parsed attribute (class 1 is the attribute's positive side)."""
    name, t = attr
    if name == "age":
        return [f"age_{t}_plus", f"age_under_{t}"]
    return ["female", "male"] if name == "gender" else ["no_glasses", "glasses"]


def read_labels(source: Path, attr: tuple[str, int | None], numbers: list[int]) -> dict[int, int]:
    """Class index per FFHQ number of ``numbers`` that has a usable record in ``source``."""
    if source.is_dir():
        return _json_labels(source, attr, numbers)
    return _aging_labels(source, attr, set(numbers))


def _json_labels(folder: Path, attr: tuple[str, int | None], numbers: list[int]) -> dict[int, int]:
    name, t = attr
    out: dict[int, int] = {}
    for n in numbers:
        path = folder / f"{n:05d}.json"
        if not path.is_file():
            continue
        try:
            faces = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StylexError(f"cannot read FFHQ label file {path}: {exc}") from exc
        if not faces:                           # no face detected: the data set's own gap
            continue
        try:
            fa = faces[0]["faceAttributes"]
            if name == "age":
                out[n] = int(float(fa["age"]) < t)
            elif name == "gender":
                out[n] = {"female": 0, "male": 1}[str(fa["gender"]).lower()]
            else:
                out[n] = int(str(fa["glasses"]).lower() != "noglasses")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise StylexError(f"{path} is not an ffhq-features-dataset record (faceAttributes.{name}): "
                              f"{exc!r}") from exc
    return out


def _aging_labels(csv_path: Path, attr: tuple[str, int | None], wanted: set[int]) -> dict[int, int]:
    name, t = attr
    if name == "age":
        bounds = sorted({int(g.split("-")[0]) for g in AGING_GROUPS})
        if t not in bounds:
            raise StylexError(f"--attribute age<{t}: {csv_path.name} has age groups only; use a threshold on a "
                              f"group boundary: {', '.join(str(b) for b in bounds if b)}")
    column = {"age": "age_group", "gender": "gender", "glasses": "glasses"}[name]
    out: dict[int, int] = {}
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if "image_number" not in (reader.fieldnames or []) or column not in (reader.fieldnames or []):
            raise StylexError(f"{csv_path} needs the FFHQ-Aging columns image_number and {column}")
        for lineno, row in enumerate(reader, start=2):
            try:
                n = int(row["image_number"])
                if n not in wanted:
                    continue
                value = row[column].strip().lower()
                if name == "age":
                    out[n] = int(int(value.split("-")[0]) < t)
                elif name == "gender":
                    out[n] = {"female": 0, "male": 1}[value]
                else:
                    out[n] = int(value not in ("none", "noglasses", ""))
            except (KeyError, ValueError, AttributeError) as exc:
                raise StylexError(f"{csv_path} line {lineno}: unreadable {column} {row.get(column)!r} "
                                  f"({exc!r})") from exc
    return out


def split_mask(numbers: list[int], split: str, hashed: tuple[np.ndarray, str]) -> tuple[np.ndarray, str]:
    """Rows of ``split``: FFHQ's official split when both sides are present, else ``hashed`` (the hash
    split's mask of ``split`` and its description)."""
    nums = np.asarray(numbers, dtype=np.int64)
    is_val = nums >= OFFICIAL_TRAIN
    if split == "all":
        return np.ones(len(nums), dtype=bool), "all images"
    if is_val.any() and (~is_val).any():
        return (is_val if split == "val" else ~is_val), f"official (0-{OFFICIAL_TRAIN - 1} train, the rest val)"
    mask, source = hashed
    return mask, f"{source}; the images are on one side of FFHQ's official split"


def warn_unlabelled(count: int, source: Path) -> None:
    """One warning for images without a usable label record (never a silent drop)."""
    if count:
        warnings.warn(f"{count} FFHQ image(s) have no face record in {source} (empty JSON or no row); "
                      "skipping them", UserWarning, stacklevel=3)
