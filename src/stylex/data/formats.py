"""Data specifications and the on-disk formats: which files, which labels, which split.

A format turns a folder into a :class:`Listing` (sorted files with their labels) without decoding any
pixels. Labels are always paired with files **by name**, never by listing order.

Formats (``DataSpec.format``; ``auto`` picks one when the layout is unambiguous):

``celeba``
    ``img_align_celeba/`` plus ``list_attr_celeba.txt`` (official layout). ``attribute`` names one of
    the attributes; class 0 is ``not_<Attr>`` (-1), class 1 is ``<Attr>`` (+1). Without an attribute
    the images are unlabelled. With ``list_eval_partition.txt`` its 0 rows are train and its 1 (val)
    and 2 (test) rows are both ``val``; without it a deterministic hash split is used.
``ffhq``
    NVIDIA's FFHQ folders (``images1024x1024/``, ``thumbnails128x128/`` or images named ``NNNNN.png``)
    with its official split and, optionally, age / gender / glasses labels from the
    ffhq-features-dataset JSON files or FFHQ-Aging's CSV (see :mod:`stylex.data.ffhq`).
``folders``
    one sub-folder per class (``cat/*.jpg``), optionally under ``train/`` and ``val/`` (AFHQ layout).
``csv``
    images plus a CSV file mapping file name -> label column.
``images``
    unlabelled images anywhere below the folder.
``synthetic``
    the procedural world of :mod:`stylex.data.synthetic` (no path).
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import StylexError
from . import ffhq
from .images import is_image_file

FORMATS = ("auto", "celeba", "ffhq", "folders", "csv", "images", "synthetic")
SPLITS = ("train", "val", "all")
CELEBA_ATTR_FILE = "list_attr_celeba.txt"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"
CELEBA_IMAGE_DIR = "img_align_celeba"

EXPECTED_LAYOUTS = (
    "expected one of: CelebA (img_align_celeba/ + list_attr_celeba.txt); FFHQ (images1024x1024/ or "
    "thumbnails128x128/, optional ffhq-features-dataset/json/ or ffhq_aging_labels.csv); class folders (<class>/*.jpg, "
    "optionally under train/ and val/); images + one *.csv mapping file names to labels (--csv-file); "
    "a folder of unlabelled images (--format images); or `synthetic`"
)


@dataclass(frozen=True)
class DataSpec:
    """Everything needed to open a data set. Round-trips through ``dataclasses.asdict`` / JSON."""

    path: str | None                      # None only for format="synthetic"
    format: str = "auto"                  # auto|celeba|ffhq|folders|csv|images|synthetic
    attribute: str | None = None          # celeba attribute name; csv: label column; ffhq: age<T|gender|glasses
    split: str = "train"                  # train|val|all
    resolution: int = 64                  # decoded image side (square)
    skip_bad_images: bool = False         # drop unreadable files (one warning) instead of stopping
    csv_file: str | None = None           # csv: mapping file (default: the only *.csv in the folder)
    filename_column: str | None = None    # csv: default first column
    classes: str | None = None            # comma-separated classes to keep (e.g. "cat,dog" of AFHQ's three)
    synthetic_size: int = 4000            # images in the synthetic world (all splits together)
    synthetic_seed: int = 0               # seed of the synthetic world
    val_fraction: float = 0.1             # deterministic split when the format has none
    cache_dir: str | None = None          # uint8 decode cache (default $STYLEX_CACHE or ~/.cache/stylex)
    allow_singleton_classes: bool = False  # csv: keep a label that only one image has (usually a typo)


@dataclass
class Listing:
    """The files of one split of a data set, sorted, with labels paired by name."""

    format: str
    root: Path                            # resolved data folder
    split: str
    files: list[Path]                     # absolute paths, sorted by relative name
    labels: np.ndarray                    # int64 [N]; -1 when unlabelled
    class_names: list[str]
    extra: dict = field(default_factory=dict)   # format-specific information for inspect (e.g. attributes)


# ----------------------------------------------------------------------------- helpers
def is_synthetic(spec: DataSpec) -> bool:
    """True if the spec selects the synthetic world (``format="synthetic"``, path ``synthetic`` or None)."""
    return spec.format == "synthetic" or spec.path in (None, "synthetic")


def validate_spec(spec: DataSpec) -> None:
    """Check the option values of a spec (not the files)."""
    if spec.format not in FORMATS:
        raise StylexError(f"unknown data format {spec.format!r} in --format: use one of {', '.join(FORMATS)}")
    if spec.split not in SPLITS:
        raise StylexError(f"unknown split {spec.split!r} in --split: use one of {', '.join(SPLITS)}")
    if not 8 <= int(spec.resolution) <= 4096:
        raise StylexError(f"resolution {spec.resolution} is out of range: use 8..4096 (e.g. 64)")
    if not 0.0 <= spec.val_fraction < 1.0:
        raise StylexError(f"val_fraction {spec.val_fraction} must be in [0, 1)")
    if spec.classes and is_synthetic(spec):
        raise StylexError("--classes does not apply to the synthetic world (it has two classes)")
    if spec.path is None and spec.format not in ("auto", "synthetic"):
        raise StylexError(f"--data is required for format {spec.format!r}")


def in_val_split(name: str, val_fraction: float) -> bool:
    """Deterministic split by hashing the relative file name (independent of listing order)."""
    h = int.from_bytes(hashlib.sha1(name.encode("utf-8")).digest()[:8], "big")
    return h / 2.0**64 < val_fraction


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _list_images(folder: Path, recursive: bool = True) -> list[Path]:
    """Image files below ``folder``, sorted by relative path (hidden folders skipped)."""
    out = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            out.extend(Path(dirpath) / f for f in filenames if is_image_file(f))
    else:
        out = [p for p in folder.iterdir() if p.is_file() and is_image_file(p.name)]
    return sorted(out, key=lambda p: _rel(p, folder))


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _hash_split(names: list[str], split: str, val_fraction: float) -> np.ndarray:
    """Boolean mask [N] of the items of ``split`` under the hash split."""
    if split == "all":
        return np.ones(len(names), dtype=bool)
    val = np.array([in_val_split(n, val_fraction) for n in names], dtype=bool)
    return val if split == "val" else ~val


def _missing_error(missing: list[str], label_file: Path) -> StylexError:
    few = ", ".join(missing[:5]) + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
    return StylexError(f"{len(missing)} image(s) listed in {label_file} do not exist: {few}; "
                       "fix the label file or restore the images")


def _warn_unlabelled(count: int, label_file: Path) -> None:
    if count:
        warnings.warn(f"{count} image(s) have no row in {label_file}; skipping them", UserWarning, stacklevel=3)


# ----------------------------------------------------------------------------- detection
def _find_csv_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*.csv") if p.is_file())


def _has_class_folders(folder: Path) -> bool:
    return any(any(is_image_file(f) for f in _safe_listdir(d)) for d in _subdirs(folder))


def _safe_listdir(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def detect_format(spec: DataSpec) -> str:
    """The concrete format of ``spec`` (resolves ``auto``).

    Raises:
        StylexError: if the path does not exist or its layout matches no format.
    """
    if is_synthetic(spec):
        return "synthetic"
    root = Path(spec.path).expanduser()
    if not root.exists():
        raise StylexError(f"data path {spec.path} does not exist: pass an existing folder to --data "
                          "(or `--data synthetic`)")
    if spec.format != "auto":
        return spec.format
    if root.is_file():
        if root.suffix.lower() == ".csv":
            return "csv"
        raise StylexError(f"--data {spec.path} is a file: pass a folder ({EXPECTED_LAYOUTS})")
    if (root / CELEBA_ATTR_FILE).is_file():
        return "celeba"
    if ffhq.looks_like_ffhq(root):
        return "ffhq"
    if spec.csv_file or _find_csv_files(root):
        return "csv"
    split_dirs = [root / s for s in ("train", "val") if (root / s).is_dir()]
    if split_dirs and any(_has_class_folders(d) for d in split_dirs):
        return "folders"
    if _has_class_folders(root):
        return "folders"
    if any(is_image_file(f) for f in _safe_listdir(root)):
        return "images"
    raise StylexError(f"no images found in {root} in a known layout: {EXPECTED_LAYOUTS}")


def resolve_listing(spec: DataSpec) -> Listing:
    """List the files and labels of ``spec``'s split (no decoding).

    Args:
        spec: the data specification (not synthetic).

    Returns:
        The :class:`Listing` of the requested split.
    """
    validate_spec(spec)
    fmt = detect_format(spec)
    builders = {"celeba": _celeba, "ffhq": _ffhq, "folders": _folders, "csv": _csv, "images": _images}
    if fmt not in builders:
        raise StylexError(f"format {fmt!r} has no file listing")
    root = Path(spec.path).expanduser().resolve()
    if not root.is_dir() and fmt != "csv":
        raise StylexError(f"--data {spec.path} is not a folder ({EXPECTED_LAYOUTS})")
    listing = builders[fmt](spec, root)
    if spec.classes:
        listing = _keep_classes(listing, spec.classes)
    if not listing.files:
        raise StylexError(f"the {spec.split} split of {root} (format {fmt}) has no images: {EXPECTED_LAYOUTS}")
    return listing


def _keep_classes(listing: Listing, classes: str) -> Listing:
    """The listing restricted to the named classes (relabelled 0..K-1 in the listing's class order)."""
    wanted = {c.strip() for c in classes.split(",") if c.strip()}
    if not listing.class_names:
        raise StylexError(f"--classes {classes}: {listing.root} is unlabelled (format {listing.format}); "
                          "drop --classes or give labels")
    unknown = sorted(wanted - set(listing.class_names))
    if unknown:
        raise StylexError(f"--classes: {', '.join(unknown)} not among the classes of {listing.root}: "
                          + ", ".join(listing.class_names))
    if len(wanted) < 2:
        raise StylexError(f"--classes {classes}: name at least two classes (e.g. cat,dog)")
    kept = [c for c in listing.class_names if c in wanted]
    new_index = np.array([kept.index(c) if c in wanted else -1 for c in listing.class_names], dtype=np.int64)
    relabelled = new_index[listing.labels]
    keep = relabelled >= 0
    return Listing(listing.format, listing.root, listing.split, [f for f, k in zip(listing.files, keep) if k],
                   relabelled[keep], kept, extra={**listing.extra, "classes_kept": kept})


# ----------------------------------------------------------------------------- celeba
def _is_values_row(tokens: list[str]) -> bool:
    """True for ``name v1 v2 ...`` with integer values: an image's row, not a header."""
    try:
        [int(v) for v in tokens[1:]]
    except ValueError:
        return False
    return len(tokens) >= 2


def _check_celeba_header(attr_file: Path, first: list[str], second: list[str]) -> None:
    """Line 1 must be the image count and line 2 the attribute names; say which one is missing."""
    layout = ("the file starts with the image count (e.g. 202599), then the attribute names "
              "(5_o_Clock_Shadow Arched_Eyebrows ...), then one row per image")
    if len(first) != 1 or not first[0].isdigit():
        lost = "the count line and the header line of attribute names are" if _is_values_row(first) else \
            "the count line is"
        raise StylexError(f"{attr_file} line 1: {lost} missing: {layout}")
    if _is_values_row(second):
        raise StylexError(f"{attr_file} line 2: the header line of attribute names is missing (line 2 holds the "
                          f"values of {second[0]}): {layout}")


def read_celeba_attributes(attr_file: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """Parse ``list_attr_celeba.txt``: count line, names line, then ``name v1 v2 ...`` rows of +-1.

    Returns:
        ``(attribute_names, {file_name: int8 [A] values})``.
    """
    try:
        lines = attr_file.read_text().splitlines()
    except OSError as exc:
        raise StylexError(f"cannot read {attr_file}: {exc}") from exc
    lines = [ln for ln in lines if ln.strip()]
    if len(lines) < 2:
        raise StylexError(f"{attr_file} is not a CelebA attribute file (expected a count line and a names line)")
    _check_celeba_header(attr_file, lines[0].split(), lines[1].split())
    names = lines[1].split()
    if len(lines) > 2 and len(lines[2].split()) == len(names):
        names = names[1:]   # some copies name the file-name column too ("image_id ...")
    rows: dict[str, np.ndarray] = {}
    for lineno, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if len(parts) != len(names) + 1:
            raise StylexError(f"{attr_file} line {lineno}: expected a file name and {len(names)} values, "
                              f"got {len(parts)} fields")
        try:
            rows[parts[0]] = np.array([int(v) for v in parts[1:]], dtype=np.int8)
        except ValueError as exc:
            raise StylexError(f"{attr_file} line {lineno}: values must be 1 or -1 ({exc})") from exc
    return names, rows


def _celeba(spec: DataSpec, root: Path) -> Listing:
    attr_file = root / CELEBA_ATTR_FILE
    if not attr_file.is_file():
        raise StylexError(f"{root} has no {CELEBA_ATTR_FILE}: not a CelebA folder ({EXPECTED_LAYOUTS})")
    img_dir = root / CELEBA_IMAGE_DIR if (root / CELEBA_IMAGE_DIR).is_dir() else root
    names, rows = read_celeba_attributes(attr_file)
    if spec.attribute is not None and spec.attribute not in names:
        raise StylexError(f"unknown CelebA attribute {spec.attribute!r} in --attribute: valid names are "
                          + ", ".join(names))
    on_disk = {p.name: p for p in _list_images(img_dir, recursive=False)}
    missing = sorted(n for n in rows if n not in on_disk)
    if missing:
        raise _missing_error(missing, attr_file)
    _warn_unlabelled(sum(1 for n in on_disk if n not in rows), attr_file)
    file_names = sorted(rows)

    part_file = root / CELEBA_PARTITION_FILE
    if part_file.is_file():
        partition = {}
        for line in part_file.read_text().splitlines():
            parts = line.split()
            if len(parts) == 2:
                partition[parts[0]] = int(parts[1])
        unlisted = [n for n in file_names if n not in partition]
        if unlisted:
            raise StylexError(f"{len(unlisted)} image(s) of {attr_file} have no row in {part_file}, e.g. "
                              f"{', '.join(unlisted[:5])}; fix the partition file or remove it")
        split_source = "partition file (0 train; 1 val and 2 test -> val)"
        is_val = np.array([partition[n] != 0 for n in file_names], dtype=bool)
        keep = {"all": np.ones(len(file_names), bool), "val": is_val, "train": ~is_val}[spec.split]
    else:
        split_source = f"hash of file names (val_fraction={spec.val_fraction})"
        keep = _hash_split(file_names, spec.split, spec.val_fraction)
    file_names = [n for n, k in zip(file_names, keep) if k]

    if spec.attribute is None:
        labels = np.full(len(file_names), -1, dtype=np.int64)
        class_names: list[str] = []
    else:
        col = names.index(spec.attribute)
        labels = np.array([1 if rows[n][col] > 0 else 0 for n in file_names], dtype=np.int64)
        class_names = [f"not_{spec.attribute}", spec.attribute]
    return Listing("celeba", root, spec.split, [on_disk[n] for n in file_names], labels, class_names,
                   extra={"attributes": names, "split_source": split_source})


# ----------------------------------------------------------------------------- ffhq
def _ffhq(spec: DataSpec, root: Path) -> Listing:
    folder = ffhq.image_folder(root, int(spec.resolution))
    by_number = ffhq.numbered_images(_list_images(folder), folder)
    if not by_number:
        raise StylexError(f"no FFHQ images (files named 00000.png ... 69999.png) below {folder}: "
                          f"{EXPECTED_LAYOUTS}")
    numbers = sorted(by_number)
    extra: dict = {"image_folder": str(folder)}
    attr = ffhq.parse_attribute(spec.attribute)
    labels_of: dict[int, int] = {}
    if attr is not None:
        source = ffhq.label_source(root)
        if source is None:
            raise StylexError(f"--attribute {spec.attribute} needs FFHQ labels in {root}: "
                              f"{' or '.join(ffhq.JSON_DIRS)}/NNNNN.json (ffhq-features-dataset) or "
                              f"{ffhq.AGING_CSV} (FFHQ-Aging); without --attribute the images are unlabelled")
        labels_of = ffhq.read_labels(source, attr, numbers)
        ffhq.warn_unlabelled(len(numbers) - len(labels_of), source)
        numbers = [n for n in numbers if n in labels_of]
        extra["label_source"] = str(source)
    names = [_rel(by_number[n], folder) for n in numbers]
    hashed = (_hash_split(names, spec.split, spec.val_fraction),
              f"hash of file names (val_fraction={spec.val_fraction})")
    keep, extra["split_source"] = ffhq.split_mask(numbers, spec.split, hashed)
    numbers = [n for n, k in zip(numbers, keep) if k]
    if attr is None:
        labels, names_of_classes = np.full(len(numbers), -1, dtype=np.int64), []
    else:
        labels = np.array([labels_of[n] for n in numbers], dtype=np.int64)
        names_of_classes = ffhq.class_names(attr)
    return Listing("ffhq", root, spec.split, [by_number[n] for n in numbers], labels, names_of_classes, extra=extra)


# ----------------------------------------------------------------------------- folders
def _folders(spec: DataSpec, root: Path) -> Listing:
    split_dirs = {s: root / s for s in ("train", "val") if (root / s).is_dir() and _has_class_folders(root / s)}
    entries: list[tuple[str, Path, str]] = []   # (relative name, path, class)

    def collect(base: Path, prefix: str) -> None:
        for d in _subdirs(base):
            for p in _list_images(d):
                entries.append((prefix + _rel(p, base), p, d.name))

    if split_dirs:
        for s, d in split_dirs.items():
            collect(d, f"{s}/")
        class_names = sorted({c for _, _, c in entries})
        if spec.split == "all":
            chosen = entries
            split_source = "train/ and val/ folders"
        elif spec.split in split_dirs:
            chosen = [e for e in entries if e[0].startswith(f"{spec.split}/")]
            split_source = f"{spec.split}/ folder"
        else:  # val requested but only train/ exists: hash split of train/
            base = [e for e in entries if e[0].startswith("train/")]
            keep = _hash_split([e[0] for e in base], spec.split, spec.val_fraction)
            chosen = [e for e, k in zip(base, keep) if k]
            split_source = f"hash of file names in train/ (no val/ folder; val_fraction={spec.val_fraction})"
    else:
        collect(root, "")
        class_names = sorted({c for _, _, c in entries})
        keep = _hash_split([e[0] for e in entries], spec.split, spec.val_fraction)
        chosen = [e for e, k in zip(entries, keep) if k]
        split_source = f"hash of file names (val_fraction={spec.val_fraction})"
    if not class_names:
        raise StylexError(f"no class sub-folders with images in {root}: {EXPECTED_LAYOUTS}")
    chosen = sorted(chosen, key=lambda e: e[0])
    index = {c: i for i, c in enumerate(class_names)}
    labels = np.array([index[c] for _, _, c in chosen], dtype=np.int64)
    return Listing("folders", root, spec.split, [p for _, p, _ in chosen], labels, class_names,
                   extra={"split_source": split_source})


# ----------------------------------------------------------------------------- csv
def _sort_key(value: str):
    """Sort integer-like labels numerically, everything else as text."""
    try:
        return (0, int(value), "")
    except ValueError:
        return (1, 0, value)


def _refuse_singleton_classes(counts: Counter, class_names: list[str], csv_path: Path, column: str) -> None:
    """Refuse labels that only one image has ('one' or '1.0' in a 0/1 column), showing every label's count."""
    single = [c for c in class_names if counts[c] == 1]
    if not single:
        return
    shown = ", ".join(f"{c!r}: {counts[c]}" for c in class_names[:12])
    more = f" and {len(class_names) - 12} more" if len(class_names) > 12 else ""
    raise StylexError(f"{csv_path}: column {column!r} has {len(class_names)} distinct labels ({shown}{more}); "
                      f"{len(single)} of them label a single image ({', '.join(map(repr, single[:5]))}), which is "
                      "usually a typo (e.g. 'one' or '1.0' in a 0/1 column): fix the file, or pass "
                      "--allow-singleton-classes to keep such classes")


def _read_csv_table(csv_path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header's column names and the rows (stripped) of a CSV file; the delimiter is sniffed."""
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(fh, dialect=dialect)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    return columns, rows


def _csv(spec: DataSpec, root: Path) -> Listing:
    if root.is_file():                       # --data points at the CSV itself
        csv_path, root = root, root.parent
    elif spec.csv_file:
        csv_path = Path(spec.csv_file).expanduser()
        if not csv_path.is_absolute() and not csv_path.exists():
            csv_path = root / csv_path
        if not csv_path.is_file():
            raise StylexError(f"CSV file {spec.csv_file} given in --csv-file does not exist")
    else:
        found = _find_csv_files(root)
        if len(found) != 1:
            what = "no *.csv file" if not found else f"several CSV files ({', '.join(p.name for p in found)})"
            raise StylexError(f"{root} has {what}: pass the label file with --csv-file")
        csv_path = found[0]
    csv_path = csv_path.resolve()
    columns, rows = _read_csv_table(csv_path)
    if len(columns) < 2:
        raise StylexError(f"{csv_path} needs a header row with a file-name column and a label column")
    fcol = spec.filename_column or columns[0]
    if fcol not in columns:
        raise StylexError(f"file-name column {fcol!r} is not in {csv_path}: columns are {', '.join(columns)}")
    others = [c for c in columns if c != fcol]
    if spec.attribute is None:
        if len(others) != 1:
            raise StylexError(f"{csv_path} has several label columns; choose one with --attribute: "
                              + ", ".join(others))
        lcol = others[0]
    elif spec.attribute in others:
        lcol = spec.attribute
    else:
        raise StylexError(f"label column {spec.attribute!r} (--attribute) is not in {csv_path}: columns are "
                          + ", ".join(others))

    images = _list_images(root)
    by_rel = {_rel(p, root): p for p in images}
    by_name: dict[str, list[Path]] = {}
    for p in images:
        by_name.setdefault(p.name, []).append(p)
    pairs: dict[str, tuple[Path, str]] = {}    # relative name -> (path, label text)
    missing = []
    for lineno, r in enumerate(rows, start=2):
        name, label = r.get(fcol, ""), r.get(lcol, "")
        if not name:
            continue
        if label == "":
            raise StylexError(f"{csv_path} line {lineno}: empty {lcol!r} for {name}; fill it in or remove the row")
        rel = name.replace("\\", "/").removeprefix("./")
        path = by_rel.get(rel)
        if path is None and len(by_name.get(Path(rel).name, [])) == 1:
            path = by_name[Path(rel).name][0]
        if path is None:
            missing.append(name)
            continue
        key = _rel(path, root)
        if key in pairs and pairs[key][1] != label:
            raise StylexError(f"{csv_path}: {name} has two different labels ({pairs[key][1]!r}, {label!r})")
        pairs[key] = (path, label)
    if missing:
        raise _missing_error(missing, csv_path)
    _warn_unlabelled(sum(1 for k in by_rel if k not in pairs), csv_path)
    class_names = sorted({lab for _, lab in pairs.values()}, key=_sort_key)
    if not spec.allow_singleton_classes:
        _refuse_singleton_classes(Counter(lab for _, lab in pairs.values()), class_names, csv_path, lcol)
    names = sorted(pairs)
    keep = _hash_split(names, spec.split, spec.val_fraction)
    names = [n for n, k in zip(names, keep) if k]
    index = {c: i for i, c in enumerate(class_names)}
    labels = np.array([index[pairs[n][1]] for n in names], dtype=np.int64)
    return Listing("csv", root, spec.split, [pairs[n][0] for n in names], labels, class_names,
                   extra={"csv_file": str(csv_path), "label_column": lcol,
                          "split_source": f"hash of file names (val_fraction={spec.val_fraction})"})


# ----------------------------------------------------------------------------- images
def _images(spec: DataSpec, root: Path) -> Listing:
    files = _list_images(root)
    if not files:
        raise StylexError(f"no images found in {root}: {EXPECTED_LAYOUTS}")
    keep = _hash_split([_rel(p, root) for p in files], spec.split, spec.val_fraction)
    files = [p for p, k in zip(files, keep) if k]
    return Listing("images", root, spec.split, files, np.full(len(files), -1, dtype=np.int64), [],
                   extra={"split_source": f"hash of file names (val_fraction={spec.val_fraction})"})
