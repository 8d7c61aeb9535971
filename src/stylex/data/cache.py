"""The uint8 decode cache: every image is decoded once into a memory-mapped ``uint8 [N, H, W, 3]`` .npy.

An entry is two files in the cache folder, ``<key>.npy`` (the pixels) and ``<key>.json`` (which
files it holds, which were unreadable). The key is a hash of everything that changes the pixels:
format, resolved path, the sorted file list with sizes and modification times, resolution, split and
the decoder version. Both files are written to temporary names and renamed into place, the .npy
last, so a reader never sees a half-written entry and two writers at once are harmless.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..atomic import atomic_path, write_text
from ..errors import StylexError
from .images import decode_task

POOL_THRESHOLD = 2000     # decode with a process pool from this many images on
SKIP_HINT = "pass --skip-bad-images to skip unreadable files"


def default_cache_dir(explicit: str | None = None) -> Path:
    """``explicit``, else ``$STYLEX_CACHE``, else ``~/.cache/stylex``."""
    return Path(explicit or os.environ.get("STYLEX_CACHE") or Path.home() / ".cache" / "stylex").expanduser()


def cache_key(parts: dict) -> str:
    """A stable hex key for a JSON-serialisable description."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:32]


def file_fingerprint(files: Sequence[Path], root: Path) -> list[tuple[str, int, int]]:
    """``(relative name, size, mtime_ns)`` per file, in the given (sorted) order."""
    out = []
    for p in files:
        st = p.stat()
        out.append((p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p), st.st_size,
                    st.st_mtime_ns))
    return out




def _open_entry(npy: Path) -> np.ndarray:
    return np.load(npy, mmap_mode="r")


def _bad_image_error(path: str, message: str) -> StylexError:
    return StylexError(f"cannot read image {path} ({message}): fix or remove the file, or {SKIP_HINT}")


def _warn_skipped(bad: list[list[str]]) -> None:
    first = ", ".join(Path(p).name for p, _ in bad[:3])
    warnings.warn(f"skipped {len(bad)} unreadable image(s) (e.g. {first})", UserWarning, stacklevel=3)


def _iter_decoded(files: Sequence[Path], resolution: int, workers: int | None):
    """Yield ``(index, image | None, error | None)`` in order, with a process pool for many images."""
    tasks = [(i, str(p), resolution) for i, p in enumerate(files)]
    if workers is None:
        workers = min(os.cpu_count() or 1, 8) if len(files) >= POOL_THRESHOLD else 1
    if workers <= 1:
        yield from map(decode_task, tasks)
        return
    # fork: workers only run PIL/numpy, and fork needs no importable __main__ (spawn would).
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # "fork with threads" notice on 3.12+
        pool = multiprocessing.get_context(method).Pool(workers)
    try:
        yield from pool.imap(decode_task, tasks, chunksize=32)
    finally:
        pool.terminate()
        pool.join()


def decode_files(files: Sequence[Path], resolution: int, out_npy: Path, skip_bad_images: bool,
                 progress: bool = True, workers: int | None = None) -> list[list[str]]:
    """Decode ``files`` into a new .npy at ``out_npy`` (atomically).

    Args:
        files: image files, in dataset order.
        resolution: side length of the square output images.
        out_npy: destination; written as a temporary file and renamed.
        skip_bad_images: drop unreadable files instead of raising.
        progress: show a tqdm progress bar.
        workers: processes to use (default: a pool from :data:`POOL_THRESHOLD` images on).

    Returns:
        ``[[path, error], ...]`` for the skipped files (the .npy holds the others, in order).

    Raises:
        StylexError: an unreadable file without ``skip_bad_images`` (naming the file).
    """
    n = len(files)
    out_npy.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_npy.with_name(f".{out_npy.stem}.{uuid.uuid4().hex}.tmp.npy")
    bad: list[list[str]] = []
    try:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, resolution, resolution, 3))
        j = 0
        bar = tqdm(total=n, desc=f"decoding {n} images at {resolution}px", unit="img", disable=not progress,
                   leave=False)
        with bar:
            for i, img, err in _iter_decoded(files, resolution, workers):
                bar.update(1)
                if img is None:
                    if not skip_bad_images:
                        raise _bad_image_error(str(files[i]), err or "unknown error")
                    bad.append([str(files[i]), err or ""])
                    continue
                arr[j] = img       # [H, W, 3]; rows stay in order, bad ones leave no gap
                j += 1
        arr.flush()
        if j < n:   # some files were skipped: copy the good rows to a file of the right length
            short_tmp = tmp.with_name(tmp.name + ".short.npy")
            short = np.lib.format.open_memmap(short_tmp, mode="w+", dtype=np.uint8,
                                              shape=(j, resolution, resolution, 3))
            for s in range(0, j, 1024):
                short[s:s + 1024] = arr[s:min(j, s + 1024)]
            short.flush()
            del short, arr
            os.replace(short_tmp, tmp)
        else:
            del arr
        os.replace(tmp, out_npy)
    finally:
        if tmp.exists():
            tmp.unlink()
    return bad


def cached_decode(files: Sequence[Path], key_parts: dict, resolution: int, cache_dir: Path,
                  skip_bad_images: bool, progress: bool = True) -> tuple[np.ndarray, list[int], Path]:
    """Memory-mapped decoded images of ``files``, decoding only when no cache entry exists.

    Args:
        files: image files in dataset order.
        key_parts: JSON-serialisable description of the data (format, path, split, fingerprint...).
        resolution: output side length.
        cache_dir: the cache folder.
        skip_bad_images: drop unreadable files (one warning with the count) instead of raising.
        progress: show a progress bar while decoding.

    Returns:
        ``(images uint8 [M, R, R, 3] read-only memmap, kept indices into files [M], path of the .npy)``.
    """
    key = cache_key({**key_parts, "resolution": resolution})
    npy, meta_path = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
    meta = None
    if npy.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            meta = None
    if meta is None:
        try:
            bad = decode_files(files, resolution, npy, skip_bad_images, progress=progress)
        except OSError as exc:
            raise StylexError(f"cannot write the decode cache in {cache_dir} ({exc}): set $STYLEX_CACHE "
                              "to a writable folder") from exc
        bad_set = {p for p, _ in bad}
        meta = {"key_parts": key_parts, "resolution": resolution, "num_images": len(files) - len(bad),
                "bad": bad, "kept": [i for i, p in enumerate(files) if str(p) not in bad_set]}
        write_text(meta_path, json.dumps(meta))
    bad = meta["bad"]
    if bad and not skip_bad_images:
        raise _bad_image_error(*bad[0])
    if bad:
        _warn_skipped(bad)
    images = _open_entry(npy)
    if images.shape[0] != len(meta["kept"]):
        raise StylexError(f"decode cache entry {npy} is inconsistent: delete it and retry")
    return images, list(meta["kept"]), npy


def cached_array(cache_dir: Path, key_parts: dict, shape: tuple[int, ...],
                 fill: Callable[[np.ndarray], None]) -> tuple[np.ndarray, Path]:
    """A memory-mapped uint8 array made once by ``fill(array)`` (used for rendered synthetic images).

    Returns:
        ``(read-only memmap of ``shape``, path of the .npy)``.
    """
    npy = cache_dir / f"{cache_key(key_parts)}.npy"
    if not npy.is_file():
        with atomic_path(npy, suffix=".tmp.npy") as tmp:
            arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            fill(arr)
            arr.flush()
            del arr
    images = _open_entry(npy)
    if images.shape != tuple(shape):
        raise StylexError(f"cache entry {npy} has shape {images.shape}, expected {shape}: delete it and retry")
    return images, npy
