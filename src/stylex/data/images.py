"""Image decoding helpers: any PIL-readable file -> square RGB ``uint8 [R, R, 3]``.

Every image goes through the same steps, so the cache, the tests and any one-off decode agree:

1. open with PIL and apply the EXIF orientation;
2. convert to RGB: grayscale is replicated to three channels, palette images are expanded, 16-bit and
   float images are scaled to 8 bits, and images with transparency (RGBA, LA, palette with a
   transparent colour) are composited **on white** (:data:`ALPHA_BACKGROUND`);
3. centre-crop to a square (the shorter side) and resize to ``resolution`` with Lanczos filtering
   (PIL's resize filters widen their support when shrinking, i.e. they are antialiased).

Nothing here touches torch, so pool workers start quickly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# Extensions treated as images when listing folders (compared lower-case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
# Transparent pixels are composited on this colour (white, like most viewers on a light page).
ALPHA_BACKGROUND = (255, 255, 255)
# Bump when the decoding pipeline changes: part of the cache key.
DECODE_VERSION = 1


def is_image_file(path: str | Path) -> bool:
    """True if ``path`` has an image extension (case-insensitive) and is not a hidden file."""
    name = Path(path).name
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL image to mode ``RGB``.

    Args:
        img: an opened PIL image of any mode.

    Returns:
        An RGB image. Transparency is composited on :data:`ALPHA_BACKGROUND` (white).
    """
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(img, dtype=np.float32)
        top = 65535.0 if a.max(initial=0.0) > 255 else 255.0
        img = Image.fromarray(np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def decode_image(path: str | Path, resolution: int) -> np.ndarray:
    """Decode one image file to a centre-cropped square.

    Args:
        path: the image file.
        resolution: output side length in pixels.

    Returns:
        ``uint8 [resolution, resolution, 3]`` RGB.

    Raises:
        OSError, ValueError, SyntaxError, ...: whatever PIL raises for an unreadable file (callers turn
        this into a :class:`~stylex.errors.StylexError` naming the file).
    """
    with Image.open(path) as img:
        if img.format == "JPEG":
            # Let libjpeg do a cheap DCT-domain downscale first; it keeps both sides >= resolution.
            img.draft("RGB", (resolution, resolution))
        img.load()
        img = ImageOps.exif_transpose(img)
        img = to_rgb(img)
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        out = img.resize((resolution, resolution), Image.Resampling.LANCZOS,
                         box=(left, top, left + side, top + side))
    arr = np.asarray(out, dtype=np.uint8)  # [R, R, 3]
    assert arr.shape == (resolution, resolution, 3), arr.shape
    return arr


def decode_task(task: tuple[int, str, int]) -> tuple[int, np.ndarray | None, str | None]:
    """Pool worker: ``(index, path, resolution) -> (index, image or None, error message or None)``."""
    index, path, resolution = task
    try:
        return index, decode_image(path, resolution), None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is reported per file
        return index, None, f"{type(exc).__name__}: {exc}"


def header_size(path: str | Path) -> tuple[int, int] | None:
    """``(width, height)`` from the file header only (no pixel decoding); None if unreadable."""
    try:
        with Image.open(path) as img:
            return img.size
    except Exception:  # noqa: BLE001
        return None
