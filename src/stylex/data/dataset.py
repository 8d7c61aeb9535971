"""``ImageDataset`` (a view on the uint8 cache), ``open_dataset`` and ``inspect_dataset``."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from . import synthetic
from .cache import cached_array, cached_decode, default_cache_dir, file_fingerprint
from .formats import DataSpec, is_synthetic, resolve_listing, validate_spec
from .images import DECODE_VERSION, header_size
from .tensors import uint8_to_unit


class ImageDataset(torch.utils.data.Dataset):
    """Images of one split as a read-only memory-mapped ``uint8 [N, H, W, 3]`` array, with labels.

    ``__getitem__`` converts one image to a float tensor on the fly; the data set is never held as float.
    Pickles by cache-file path (cheap for DataLoader workers), not by pixels.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, class_names: list[str], files: list[str],
                 resolution: int, format: str, split: str, factors: dict[str, np.ndarray] | None = None,
                 cache_path: Path | None = None, rows: slice | np.ndarray | None = None):
        """
        Args:
            images: uint8 ``[N, H, W, 3]`` (a memmap of ``cache_path`` restricted to ``rows``).
            labels: int64 ``[N]``, -1 when unlabelled.
            class_names: index -> name (empty when unlabelled).
            files: source file per item (synthetic: ``synthetic:<index>``).
            resolution: image side.
            format: the concrete data format.
            split: train | val | all.
            factors: synthetic only: factor name -> ``[N]`` values.
            cache_path: the .npy the images come from (used to re-open after pickling).
            rows: the rows of ``cache_path`` this data set covers (a slice keeps it a memmap view).
        """
        assert images.ndim == 4 and images.shape[1:] == (resolution, resolution, 3) and images.dtype == np.uint8
        assert len(images) == len(labels) == len(files)
        self._images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.class_names = list(class_names)
        self.files = list(files)
        self.resolution = int(resolution)
        self.format = format
        self.split = split
        self.factors = factors
        self._cache_path, self._rows = cache_path, rows

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        """``(image float [3, H, W] in [-1, 1], label)``."""
        x = torch.from_numpy(np.array(self._images[i]))          # [H, W, 3] uint8 (a copy of one image)
        x = uint8_to_unit(x.permute(2, 0, 1))                   # [3, H, W]
        return x, int(self.labels[i])

    def uint8_images(self) -> np.ndarray:
        """All images, ``uint8 [N, H, W, 3]``: the memory-mapped cache (read-only), no float copy."""
        return self._images

    def class_counts(self) -> dict[str, int]:
        """``{class name: count}`` (empty when unlabelled)."""
        counts = np.bincount(self.labels[self.labels >= 0], minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts)}

    def __getstate__(self):
        state = dict(self.__dict__)
        if self._cache_path is not None:
            state["_images"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self._images is None:
            images = np.load(self._cache_path, mmap_mode="r")
            self._images = images if self._rows is None else images[self._rows]

    def __repr__(self) -> str:
        return (f"ImageDataset(format={self.format!r}, split={self.split!r}, n={len(self)}, "
                f"resolution={self.resolution}, classes={self.class_names})")


def _open_synthetic(spec: DataSpec, progress: bool) -> ImageDataset:
    world = synthetic.SyntheticWorld(spec.synthetic_seed, spec.synthetic_size)
    r = int(spec.resolution)
    key = {"format": "synthetic", "seed": spec.synthetic_seed, "size": spec.synthetic_size, "resolution": r,
           "render_version": synthetic.RENDER_VERSION, "agreement": synthetic.SPURIOUS_AGREEMENT}
    images, npy = cached_array(default_cache_dir(spec.cache_dir), key, (world.size, r, r, 3),
                               lambda out: world.render(r, out=out))
    rows = world.split_slice(spec.split, spec.val_fraction)
    idx = np.arange(world.size)[rows]
    return ImageDataset(images[rows], world.labels[rows], world.class_names, [f"synthetic:{i}" for i in idx],
                        r, "synthetic", spec.split, factors={k: v[rows] for k, v in world.factors.items()},
                        cache_path=npy, rows=rows)


def open_dataset(spec: DataSpec, progress: bool = True) -> ImageDataset:
    """Open one split of a data set, decoding it into the uint8 cache the first time.

    Args:
        spec: what to open (see :class:`~stylex.data.formats.DataSpec`).
        progress: show a progress bar while decoding / rendering.

    Returns:
        The :class:`ImageDataset`.

    Raises:
        StylexError: missing path, unknown layout or attribute, unreadable image (without
            ``skip_bad_images``), missing files named in a label file.
    """
    validate_spec(spec)
    if is_synthetic(spec):
        return _open_synthetic(spec, progress)
    listing = resolve_listing(spec)
    key = {"format": listing.format, "path": str(listing.root), "split": spec.split,
           "files": file_fingerprint(listing.files, listing.root), "decode_version": DECODE_VERSION}
    images, kept, npy = cached_decode(listing.files, key, int(spec.resolution),
                                      default_cache_dir(spec.cache_dir), spec.skip_bad_images, progress)
    kept_idx = np.asarray(kept, dtype=np.int64)
    return ImageDataset(images, listing.labels[kept_idx], listing.class_names,
                        [str(listing.files[i]) for i in kept], int(spec.resolution), listing.format, spec.split,
                        cache_path=npy)


def inspect_dataset(spec: DataSpec) -> dict:
    """Describe a data set without decoding it (image headers only).

    Args:
        spec: the data set and split to describe.

    Returns:
        A JSON-ready dict: ``format, path, split, num_images, class_names, class_counts, resolution``
        (source size ``"WxH"`` if all images agree, else ``"mixed"``), ``unreadable_headers`` and
        format-specific extras (CelebA ``attributes``, synthetic ``factors``, ``split_source``).
    """
    validate_spec(spec)
    if is_synthetic(spec):
        world = synthetic.SyntheticWorld(spec.synthetic_seed, spec.synthetic_size)
        rows = world.split_slice(spec.split, spec.val_fraction)
        labels = world.labels[rows]
        return {
            "format": "synthetic", "path": None, "split": spec.split, "num_images": int(len(labels)),
            "class_names": world.class_names,
            "class_counts": {n: int((labels == i).sum()) for i, n in enumerate(world.class_names)},
            "resolution": f"{spec.resolution}x{spec.resolution} (rendered at any size)",
            "seed": spec.synthetic_seed, "size": spec.synthetic_size,
            "causal_factors": synthetic.CAUSAL_FACTORS, "spurious_factors": synthetic.SPURIOUS_FACTORS,
            "factors": {k: dataclasses.asdict(v) for k, v in synthetic.FACTORS.items()},
            "split_source": f"last {spec.val_fraction:.0%} of the world is val",
        }
    listing = resolve_listing(spec)
    sizes = Counter()
    unreadable = []
    for p in listing.files:
        s = header_size(p)
        if s is None:
            unreadable.append(str(p))
        else:
            sizes[s] += 1
    if len(sizes) == 1:
        (w, h), = sizes
        resolution = f"{w}x{h}"
    else:
        resolution = "mixed" if sizes else "unknown"
    counts = np.bincount(listing.labels[listing.labels >= 0], minlength=len(listing.class_names))
    info = {
        "format": listing.format, "path": str(listing.root), "split": spec.split,
        "num_images": len(listing.files), "class_names": listing.class_names,
        "class_counts": {n: int(c) for n, c in zip(listing.class_names, counts)},
        "resolution": resolution,
        "unreadable_headers": len(unreadable), "unreadable_examples": unreadable[:5],
    }
    if len(sizes) > 1:
        info["sizes"] = {f"{w}x{h}": c for (w, h), c in sizes.most_common(5)}
    info.update(listing.extra)
    return info
