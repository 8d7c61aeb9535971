"""Sample grids written during training: originals over reconstructions, and random samples,
each tile labelled with the classifier's most likely class and its probability."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from ..data.tensors import to_uint8

TILE = 128  # pixels per tile in the saved grid (small images are upscaled so labels stay legible)


def _label(probs: torch.Tensor, class_names: list[str]) -> str:
    k = int(probs.argmax())
    name = class_names[k] if len(class_names[k]) <= 14 else class_names[k][:13] + "."
    return f"{name} {float(probs[k]):.2f}"


def labelled_grid(rows: list[torch.Tensor], probs: list[torch.Tensor], class_names: list[str],
                  row_titles: list[str]) -> Image.Image:
    """Lay out rows of images ``[N, 3, H, W]`` with a probability label under each tile."""
    font = ImageFont.load_default(size=11)
    n = max(r.shape[0] for r in rows)
    label_h, title_w = 16, 78
    grid = Image.new("RGB", (title_w + n * TILE, len(rows) * (TILE + label_h)), "white")
    draw = ImageDraw.Draw(grid)
    for r, (imgs, p, title) in enumerate(zip(rows, probs, row_titles)):
        y = r * (TILE + label_h)
        draw.text((4, y + TILE // 2 - 6), title, fill="black", font=font)
        for i, arr in enumerate(to_uint8(imgs)):
            tile = Image.fromarray(arr).resize((TILE, TILE), Image.NEAREST)
            x = title_w + i * TILE
            grid.paste(tile, (x, y))
            draw.text((x + 2, y + TILE + 1), _label(p[i], class_names), fill="black", font=font)
    return grid


def save_grid(image: Image.Image, path: Path) -> None:
    """Write a PNG, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
