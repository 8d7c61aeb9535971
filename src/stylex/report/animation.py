"""Animated explanations: GIFs alternating between an original image and its attribute edit.

The authors showed each attribute as a two-frame animation, 600 ms per frame, looping forever. Each frame
carries a caption band (``original`` / ``edited`` and the class probability), so the frames always differ
even when an edit changes no pixel (PIL would otherwise merge identical frames into one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from .figures import DEFAULT_STYLE, Caption, FigureStyle, captioned_grid, image_list, prob_text, to_uint8_image


def save_gif(frames: Sequence[Image.Image], path: str | Path, frame_ms: int = 600) -> Path:
    """Write ``frames`` as a GIF that loops forever with ``frame_ms`` per frame; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Adaptive palette per frame; disposal 1 keeps the full frame (no transparency tricks), optimize off so
    # every frame is stored whole.
    pal = [f.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT) for f in frames]
    pal[0].save(path, format="GIF", save_all=True, append_images=pal[1:], duration=int(frame_ms), loop=0,
                disposal=1, optimize=False)
    return path


def attribute_gif(original: Any, edited: Any, prob_orig: float, prob_edit: float, class_name: str,
                  path: str | Path, frame_ms: int = 600, style: FigureStyle = DEFAULT_STYLE) -> Path:
    """Two-frame GIF: original, then edited, each with ``p(class)`` written under it; loops forever.

    Args:
        original, edited: ``[H, W, 3]`` uint8.
        prob_orig, prob_edit: probability of ``class_name`` for each image.
        class_name: the class whose probability is shown.
        path: output ``.gif``.
        frame_ms: duration of each frame (the authors used 600 ms).
        style: tile size and fonts (see :class:`stylex.report.figures.FigureStyle`).

    Returns:
        The written path. Frame size is ``grid_size(1, 1, tile, 2)``.
    """
    frames = [
        captioned_grid([[(to_uint8_image(original), Caption(("original", prob_text(class_name, prob_orig))))]],
                       style=style),
        captioned_grid([[(to_uint8_image(edited), Caption(("edited", prob_text(class_name, prob_edit)),
                                                          emphasis=True))]], style=style),
    ]
    return save_gif(frames, path, frame_ms)


def attribute_gif_tiled(originals: Any, edited: Any, probs_orig: Any, probs_edit: Any, class_name: str,
                        path: str | Path, frame_ms: int = 600, columns: int | None = None, title: str | None = None,
                        style: FigureStyle = DEFAULT_STYLE) -> Path:
    """Two-frame GIF tiling several images: all originals, then all edited versions.

    Args:
        originals, edited: ``[N, H, W, 3]`` uint8.
        probs_orig, probs_edit: ``[N]`` probabilities of ``class_name`` (pass the column of ``[N, K]``).
        class_name: the class whose probability is shown.
        path: output ``.gif``.
        frame_ms: duration of each frame.
        columns: tiles per row (default all N in one row).
        title: optional title drawn on both frames.
        style: tile size and fonts.

    Returns:
        The written path. Frame size is ``grid_size(ceil(N / columns), min(N, columns), tile, 2, title lines)``.
    """
    orig, edit = image_list(originals), image_list(edited)
    if len(orig) != len(edit) or not orig:
        raise ValueError(f"need the same non-zero number of originals and edits, got {len(orig)}, {len(edit)}")
    po, pe = np.asarray(probs_orig, dtype=np.float64), np.asarray(probs_edit, dtype=np.float64)
    if po.shape != (len(orig),) or pe.shape != (len(edit),):
        raise ValueError(f"expected [{len(orig)}] probabilities of {class_name!r}, got {po.shape} and {pe.shape}")
    columns = columns or len(orig)

    def frame(images, probs, label, emphasis):
        rows = []
        for start in range(0, len(images), columns):
            rows.append([(images[i], Caption((label, prob_text(class_name, probs[i])), emphasis=emphasis))
                         for i in range(start, min(start + columns, len(images)))])
        return captioned_grid(rows, title=title, style=style)

    return save_gif([frame(orig, po, "original", False), frame(edit, pe, "edited", True)], path, frame_ms)
