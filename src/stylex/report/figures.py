"""Figures of the explanation report, built from plain arrays (no models needed).

Image grids are drawn with PIL: every image becomes a *tile* (the image upscaled to ``tile`` pixels
square) with a caption band underneath (``caption_lines`` lines of text), so labels stay legible even
for 32 px images. Curves are drawn with matplotlib (Agg backend, chosen inside the functions).

Every figure function returns a ``PIL.Image`` (RGB) and, when ``path`` is given, also writes it there
as PNG.

Grid layout (all sizes in pixels, :class:`FigureStyle` fields; see :func:`grid_size`)::

    width  = pad + ncols * (tile + pad) + (number of column groups - 1) * group_gap
    height = title_height + nrows * (tile + caption_height + pad) + pad
    caption_height = caption_lines * (font_size + line_gap) + line_gap
    title_height   = 0 without a title, else title_lines * (title_size + line_gap) + pad

Inputs: images are ``uint8`` arrays ``[H, W, 3]`` (or ``[N, H, W, 3]`` stacks, or ``[H, W]`` grey),
probabilities are either ``[N, K]`` rows (the column of ``target_class`` is shown) or ``[N]`` values
of the target class already.
"""

from __future__ import annotations

import io
import json
import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import StylexError

Color = tuple[int, int, int]


@dataclass(frozen=True)
class FigureStyle:
    """Sizes and colours of the PIL grids (pixels)."""

    tile: int | None = None        # image tile side; None: the smallest multiple of the source size >= min_tile
    min_tile: int = 128            # smallest tile when ``tile`` is None (32 px -> 128, 64 -> 128, 256 -> 256)
    pad: int = 8                   # gap between tiles and around the border
    group_gap: int = 14            # extra gap between column groups (original/edited pairs)
    font_size: int = 15            # caption text
    title_size: int = 18           # figure title
    line_gap: int = 4              # space between text lines
    background: Color = (255, 255, 255)
    text: Color = (20, 20, 20)
    muted: Color = (90, 90, 90)    # "original"/"edited" labels
    highlight: Color = (0, 90, 170)  # edited / counterfactual labels

    def caption_height(self, lines: int) -> int:
        """Height of a caption band of ``lines`` text lines."""
        return lines * (self.font_size + self.line_gap) + self.line_gap if lines > 0 else 0

    def title_height(self, lines: int) -> int:
        """Height of a title band of ``lines`` lines (0 when there is no title)."""
        return lines * (self.title_size + self.line_gap) + self.pad if lines > 0 else 0


DEFAULT_STYLE = FigureStyle()


@dataclass(frozen=True)
class Caption:
    """Text lines drawn under one tile; ``emphasis`` colours the first line."""

    lines: tuple[str, ...]
    emphasis: bool = False


# ----------------------------------------------------------------------------------------------------------
# Small helpers shared with animation.py


def font(size: int) -> ImageFont.ImageFont:
    """PIL's built-in font at ``size`` pixels (scalable with Pillow >= 10.1; bitmap fallback before)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def text_width(fnt: ImageFont.ImageFont, text: str) -> float:
    """Rendered width of ``text`` in pixels."""
    if hasattr(fnt, "getlength"):
        return float(fnt.getlength(text))
    box = fnt.getbbox(text)
    return float(box[2] - box[0])


def fit_font(text: str, max_width: int, size: int, min_size: int = 12) -> tuple[ImageFont.ImageFont, str]:
    """The largest font (<= ``size``) at which ``text`` fits ``max_width``; ellipsizes at ``min_size``."""
    for s in range(size, min_size - 1, -1):
        fnt = font(s)
        if text_width(fnt, text) <= max_width:
            return fnt, text
    fnt = font(min_size)
    while len(text) > 1 and text_width(fnt, text + "...") > max_width:
        text = text[:-1]
    return fnt, text + "..."  # ASCII: the built-in font has no ellipsis glyph


def to_uint8_image(image: Any) -> np.ndarray:
    """Validate one image as ``uint8 [H, W, 3]`` (grey ``[H, W]`` / ``[H, W, 1]`` and PIL images accepted).

    Raises:
        ValueError: for float arrays or other shapes (convert with ``((x + 1) * 127.5).round()`` first).
    """
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"images must be uint8 [H, W, 3], got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ValueError(f"images must be uint8 [H, W, 3], got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr[:, :, :3]


def image_list(images: Any) -> list[np.ndarray]:
    """A stack ``[N, H, W, 3]`` or a sequence of images -> list of ``uint8 [H, W, 3]``."""
    if isinstance(images, np.ndarray) and images.ndim == 4:
        return [to_uint8_image(im) for im in images]
    return [to_uint8_image(im) for im in images]


def auto_tile(images: Sequence[np.ndarray], style: FigureStyle = DEFAULT_STYLE) -> int:
    """Tile side: ``style.tile`` or the smallest integer multiple of the largest image side >= min_tile."""
    if style.tile is not None:
        return int(style.tile)
    side = max((max(im.shape[0], im.shape[1]) for im in images), default=style.min_tile)
    return side * max(1, math.ceil(style.min_tile / side))


def upscale(image: np.ndarray, tile: int) -> Image.Image:
    """Resize to ``tile`` x ``tile``: NEAREST for integer upscaling (crisp pixels), LANCZOS otherwise."""
    img = Image.fromarray(image)
    h, w = image.shape[:2]
    if (h, w) == (tile, tile):
        return img
    exact = h == w and tile % h == 0
    return img.resize((tile, tile), Image.NEAREST if exact else Image.LANCZOS)


def probability_values(probs: Any, count: int, class_names: Sequence[str], target_class: int | str) -> np.ndarray:
    """Probabilities of the target class, ``[count]``, from ``[N, K]`` rows or ``[N]`` values."""
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 0:
        p = p[None]
    if p.ndim == 2:
        p = p[:, class_index(class_names, target_class, num_classes=p.shape[1])]
    if p.ndim != 1 or p.shape[0] != count:
        raise ValueError(f"expected {count} probabilities ([N] or [N, K]), got shape {np.shape(probs)}")
    return p


def class_index(class_names: Sequence[str], target_class: int | str, num_classes: int | None = None) -> int:
    """Index of ``target_class`` (an index or a name in ``class_names``)."""
    if isinstance(target_class, str):
        if target_class not in class_names:
            raise ValueError(f"target class {target_class!r} is not one of {list(class_names)}")
        return list(class_names).index(target_class)
    idx = int(target_class)
    limit = num_classes if num_classes is not None else len(class_names)
    if not 0 <= idx < limit:
        raise ValueError(f"target class index {idx} out of range 0..{limit - 1}")
    return idx


def class_label(class_names: Sequence[str], target_class: int | str) -> str:
    """Display name of the target class (the name, or ``class i`` when names are missing)."""
    if isinstance(target_class, str):
        return target_class
    idx = int(target_class)
    return class_names[idx] if 0 <= idx < len(class_names) else f"class {idx}"


def prob_text(class_name: str, p: float) -> str:
    """``p=0.93 dog``: the number first, so that a label shortened to fit its tile keeps it."""
    return f"p={p:.2f} {class_name}"


def wrap_lines(text: str, fnt: ImageFont.ImageFont, max_width: int) -> list[str]:
    """Greedy word wrap of ``text`` to ``max_width`` pixels (a word longer than a line is kept whole)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split()
        line = ""
        for word in words:
            cand = f"{line} {word}".strip()
            if line and text_width(fnt, cand) > max_width:
                lines.append(line)
                line = word
            else:
                line = cand
        lines.append(line)
    return lines or [""]


def save_png(img: Image.Image, path: str | Path | None) -> Image.Image:
    """Write ``img`` as PNG when ``path`` is given (parent folders created); returns ``img``."""
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, format="PNG")
    return img


# ----------------------------------------------------------------------------------------------------------
# Generic captioned grid


def grid_size(nrows: int, ncols: int, tile: int, caption_lines: int, title_lines: int = 0, group: int = 0,
              style: FigureStyle = DEFAULT_STYLE) -> tuple[int, int]:
    """(width, height) of a captioned grid, following the layout in the module docstring.

    Args:
        nrows, ncols: tiles per column and per row.
        tile: tile side in pixels.
        caption_lines: text lines under each tile.
        title_lines: lines of the title band (0: no title).
        group: columns per group (pairs: 2); 0 or 1 means no extra group gaps.
    """
    groups = math.ceil(ncols / group) if group > 1 else 1
    width = style.pad + ncols * (tile + style.pad) + (groups - 1) * style.group_gap
    height = style.title_height(title_lines) + nrows * (tile + style.caption_height(caption_lines) + style.pad) \
        + style.pad
    return width, height


def captioned_grid(rows: Sequence[Sequence[tuple[np.ndarray, Caption] | None]], title: str | None = None,
                   caption_lines: int = 2, group: int = 0, style: FigureStyle = DEFAULT_STYLE,
                   tile: int | None = None) -> Image.Image:
    """Draw a grid of captioned tiles (``None`` cells are left blank).

    Args:
        rows: ``rows[r][c] = (uint8 image [H, W, 3], Caption)``.
        title: optional title, word-wrapped to the grid width.
        caption_lines: text lines reserved under every tile (longer captions are cut).
        group: columns per visual group (extra ``group_gap`` between groups).
        style: sizes and colours.
        tile: tile side (default :func:`auto_tile` over all images).

    Returns:
        RGB image of size :func:`grid_size`.
    """
    cells = [cell for row in rows for cell in row if cell is not None]
    if not cells:
        raise ValueError("captioned_grid needs at least one image")
    tile = tile or auto_tile([im for im, _ in cells], style)
    nrows, ncols = len(rows), max(len(r) for r in rows)
    width, _ = grid_size(nrows, ncols, tile, caption_lines, 0, group, style)
    title_font = font(style.title_size)
    title_lines = wrap_lines(title, title_font, width - 2 * style.pad) if title else []
    size = grid_size(nrows, ncols, tile, caption_lines, len(title_lines), group, style)
    canvas = Image.new("RGB", size, style.background)
    draw = ImageDraw.Draw(canvas)
    y = style.pad
    for line in title_lines:
        draw.text((style.pad, y), line, fill=style.text, font=title_font)
        y += style.title_size + style.line_gap
    top = style.title_height(len(title_lines))
    cap_h = style.caption_height(caption_lines)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell is None:
                continue
            image, caption = cell
            x0 = style.pad + c * (tile + style.pad) + ((c // group) * style.group_gap if group > 1 else 0)
            y0 = top + style.pad + r * (tile + cap_h + style.pad)
            canvas.paste(upscale(image, tile), (x0, y0))
            ty = y0 + tile + style.line_gap
            for i, line in enumerate(caption.lines[:caption_lines]):
                fnt, shown = fit_font(line, tile, style.font_size)
                tx = x0 + (tile - text_width(fnt, shown)) / 2
                color = style.highlight if (i == 0 and caption.emphasis) else (style.muted if i == 0 else style.text)
                draw.text((tx, ty), shown, fill=color, font=fnt)
                ty += style.font_size + style.line_gap
    return canvas


# ----------------------------------------------------------------------------------------------------------
# Figures


def reconstruction_grid(originals: Any, recons: Any, probs_orig: Any, probs_recon: Any, class_names: Sequence[str],
                        target_class: int | str, path: str | Path | None = None, columns: int | None = None,
                        title: str | None = None, style: FigureStyle = DEFAULT_STYLE) -> Image.Image:
    """Originals above their reconstructions, with the target-class probability on each tile.

    Args:
        originals, recons: ``[N, H, W, 3]`` uint8.
        probs_orig, probs_recon: ``[N, K]`` probabilities (or ``[N]`` for the target class).
        class_names: index -> name.
        target_class: class whose probability is written (index or name).
        path: optional PNG output path.
        columns: images per row pair (default all N); more images wrap into further row pairs.
        title: optional title.
        style: sizes and colours.

    Returns:
        RGB image of ``2 * ceil(N / columns)`` rows x ``columns`` tiles (see :func:`grid_size`).
    """
    orig, rec = image_list(originals), image_list(recons)
    if len(orig) != len(rec) or not orig:
        raise ValueError(f"need the same non-zero number of originals and reconstructions, got {len(orig)}, {len(rec)}")
    name = class_label(class_names, target_class)
    po = probability_values(probs_orig, len(orig), class_names, target_class)
    pr = probability_values(probs_recon, len(rec), class_names, target_class)
    columns = columns or len(orig)
    rows: list[list] = []
    for start in range(0, len(orig), columns):
        idx = range(start, min(start + columns, len(orig)))
        rows.append([(orig[i], Caption(("original", prob_text(name, po[i])))) for i in idx])
        rows.append([(rec[i], Caption(("reconstruction", prob_text(name, pr[i])), emphasis=True)) for i in idx])
    return save_png(captioned_grid(rows, title=title, style=style), path)


def attribute_title(rank: int, layer_name: str, channel: int, direction: str, target_class: str,
                    label: str | None = None) -> str:
    """Standard panel title, e.g. ``Attribute #1: b16.conv0 channel 45 -> max (towards cat)``.

    ASCII only: PIL's built-in font has no arrows or dashes.
    """
    arrow = f"{layer_name} channel {channel} -> {direction}"
    head = f"Attribute #{rank}" + (f" ({label})" if label else "")
    return f"{head}: {arrow} (towards {target_class})"


def attribute_panel(attr_title: str, originals: Any, edited: Any, probs_before: Any, probs_after: Any,
                    class_names: Sequence[str], target_class: int | str, path: str | Path | None = None,
                    pairs_per_row: int = 4, style: FigureStyle = DEFAULT_STYLE, reals: Any = None,
                    base_label: str = "reconstruction") -> Image.Image:
    """One attribute on several images: (unedited, edited) pairs side by side with probabilities.

    The unedited image is what the generator makes of the latent (for encoded images, the reconstruction,
    which is what the edit changes); with ``reals`` the real image it reconstructs is shown once before it.

    Args:
        attr_title: title line (see :func:`attribute_title`: rank, layer, channel, direction, target class).
        originals, edited: ``[N, H, W, 3]`` uint8: the unedited generated images and their edits.
        reals: optional ``[N, H, W, 3]`` uint8 real images the unedited ones reconstruct (no probability written).
        base_label: caption of the unedited images ("reconstruction", or "sample" for mapping-path latents).
        probs_before, probs_after: ``[N, K]`` probabilities (or ``[N]`` for the target class).
        class_names: index -> name.
        target_class: class whose probability is written.
        path: optional PNG output path.
        pairs_per_row: pairs per row; more images wrap.
        style: sizes and colours.

    Returns:
        RGB image: ``ceil(N / pairs_per_row)`` rows x ``2 * min(N, pairs_per_row)`` tiles, pairs grouped.
    """
    orig, edit = image_list(originals), image_list(edited)
    if len(orig) != len(edit) or not orig:
        raise ValueError(f"need the same non-zero number of originals and edits, got {len(orig)}, {len(edit)}")
    name = class_label(class_names, target_class)
    pb = probability_values(probs_before, len(orig), class_names, target_class)
    pa = probability_values(probs_after, len(edit), class_names, target_class)
    real = image_list(reals) if reals is not None else None
    if real is not None and len(real) != len(orig):
        raise ValueError(f"need one real image per edited image, got {len(real)} for {len(orig)}")
    rows: list[list] = []
    for start in range(0, len(orig), pairs_per_row):
        row: list = []
        for i in range(start, min(start + pairs_per_row, len(orig))):
            if real is not None:
                row.append((real[i], Caption(("original",))))
            row.append((orig[i], Caption((base_label, prob_text(name, pb[i])))))
            row.append((edit[i], Caption(("edited", prob_text(name, pa[i])), emphasis=True)))
        rows.append(row)
    return save_png(captioned_grid(rows, title=attr_title, group=2 if real is None else 3, style=style), path)


def choose_panel_images(effects_for_attr: Any, style_values: Any, target_value: float, threshold: float,
                        count: int, fill: bool = False) -> np.ndarray:
    """Pick the images to show for one attribute (the reference notebook's rule).

    Images whose effect on the target class exceeds ``threshold`` are kept and ranked by the distance of
    their style coordinate from the target extreme, farthest first (the edit is largest there).

    Args:
        effects_for_attr: ``[N]`` effect of the attribute's edit on the target class (logit difference).
        style_values: ``[N]`` the attribute's style coordinate on each image.
        target_value: the extreme the edit moves to (s_min or s_max).
        threshold: minimum effect for an image to qualify.
        count: how many to return at most.
        fill: when fewer than ``count`` qualify, pad with the remaining images by decreasing effect.

    Returns:
        int64 ``[<= count]`` image indices.
    """
    eff = np.asarray(effects_for_attr, dtype=np.float64).reshape(-1)
    sv = np.asarray(style_values, dtype=np.float64).reshape(-1)
    if eff.shape != sv.shape:
        raise ValueError(f"effects {eff.shape} and style values {sv.shape} must have the same length")
    dist = np.abs(sv - float(target_value))
    qualified = np.flatnonzero(eff > threshold)
    # Farthest first; ties broken by larger effect, then by index (stable sort on the composite key).
    order = qualified[np.lexsort((qualified, -eff[qualified], -dist[qualified]))]
    chosen = order[:count]
    if fill and len(chosen) < count:
        rest = np.setdiff1d(np.arange(len(eff)), chosen)
        rest = rest[np.lexsort((rest, -eff[rest]))]
        chosen = np.concatenate([chosen, rest[: count - len(chosen)]])
    return chosen.astype(np.int64)


def image_explanation(original: Any, edited_each: Any, combined: Any, prob_orig: Any, probs_each: Any,
                      prob_combined: Any, attr_labels: Sequence[str], class_names: Sequence[str],
                      target_class: int | str, path: str | Path | None = None, title: str | None = None,
                      style: FigureStyle = DEFAULT_STYLE) -> Image.Image:
    """Explanation of one image: the image, each top attribute applied alone, and all applied together.

    Args:
        original: ``[H, W, 3]`` uint8.
        edited_each: ``[k, H, W, 3]`` uint8, attribute i applied alone.
        combined: ``[H, W, 3]`` uint8, all k attributes applied together (the counterfactual).
        prob_orig, prob_combined: ``[K]`` probabilities or a scalar for the target class.
        probs_each: ``[k, K]`` or ``[k]``.
        attr_labels: ``[k]`` short labels (e.g. ``#1 b8.conv0 c12``).
        class_names: index -> name.
        target_class: class whose probability is written.
        path: optional PNG output path.
        title: optional title.
        style: sizes and colours.

    Returns:
        RGB image: one row of ``k + 2`` tiles.
    """
    edits = image_list(edited_each)
    if len(edits) != len(attr_labels):
        raise ValueError(f"{len(edits)} edited images but {len(attr_labels)} labels")
    name = class_label(class_names, target_class)
    po = probability_values(np.asarray(prob_orig)[None], 1, class_names, target_class)[0]
    pc = probability_values(np.asarray(prob_combined)[None], 1, class_names, target_class)[0]
    pe = probability_values(probs_each, len(edits), class_names, target_class)
    row = [(to_uint8_image(original), Caption(("original", prob_text(name, po))))]
    row += [(im, Caption((lab, prob_text(name, p)), emphasis=True)) for im, lab, p in zip(edits, attr_labels, pe)]
    row.append((to_uint8_image(combined), Caption((f"all {len(edits)} together", prob_text(name, pc)),
                                                  emphasis=True)))
    return save_png(captioned_grid([row], title=title, style=style), path)


# ----------------------------------------------------------------------------------------------------------
# Curves (matplotlib)


def _figure_to_image(fig) -> Image.Image:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    import matplotlib.pyplot as plt

    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def flip_rate_curve(curves: dict[str, tuple[Any, Any]], path: str | Path | None = None,
                    title: str = "Flip rate vs number of attributes changed together",
                    size_inches: tuple[float, float] = (6.4, 4.2), dpi: int = 100) -> Image.Image:
    """Flip rate against k (top-k attributes applied together) with +/- std error bars, one line per method.

    Args:
        curves: method name -> (mean ``[k]``, std ``[k]``); x runs 1..k.
        path: optional PNG output path.
        title: axes title.
        size_inches, dpi: figure size (pixels = inches * dpi).

    Returns:
        RGB image of ``size_inches * dpi`` pixels.
    """
    if not curves:
        raise ValueError("flip_rate_curve needs at least one curve")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=size_inches, dpi=dpi)
    for name, (mean, std) in curves.items():
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        std = np.zeros_like(mean) if std is None else np.asarray(std, dtype=np.float64).reshape(-1)
        ks = np.arange(1, len(mean) + 1)
        ax.errorbar(ks, mean, yerr=std, marker="o", markersize=4, capsize=3, label=name)
    ax.set_xlabel("k (top-k attributes changed together)")
    ax.set_ylabel("flip rate (mean +/- std)")
    ax.set_ylim(-0.02, 1.02)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    # Wrap the title to the figure width (about 11 characters per inch at 11 pt) so small figures do not clip it.
    ax.set_title("\n".join(textwrap.wrap(title, max(20, int(size_inches[0] * 11)))), fontsize=11)
    fig.tight_layout()
    return save_png(_figure_to_image(fig), path)


# Bookkeeping keys of stats.jsonl that are not loss terms.
_NOT_LOSSES = {"tick", "kimg", "step", "epoch", "time", "timestamp", "sec_per_kimg", "img_per_s", "sec_per_tick",
               "peak_mem_gb", "mapping_path", "total_sec", "wall_s", "lr", "seed"}


def read_stats(stats_jsonl_path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``stats.jsonl`` file; blank or unparseable lines (e.g. a torn last line) are skipped.

    Raises:
        StylexError: the file is missing.
    """
    path = Path(stats_jsonl_path)
    if not path.is_file():
        raise StylexError(f"training statistics not found: {path} (train with `stylex train` first)")
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def training_curves(stats_jsonl_path: str | Path, path: str | Path | None = None, keys: Sequence[str] | None = None,
                    columns: int = 3, dpi: int = 100) -> Image.Image:
    """Loss terms against kimg from ``stats.jsonl`` (one small plot per numeric key).

    Every numeric key except bookkeeping ones (tick, kimg, timings, memory) is plotted; keys that appear only
    in some rows are plotted where present. Rows without ``kimg`` use ``tick`` or the row number as x.

    Args:
        stats_jsonl_path: the run's ``stats.jsonl``.
        path: optional PNG output path.
        keys: plot only these keys (in this order) when given.
        columns: plots per row.
        dpi: resolution (each plot is 3.2 x 2.2 inches).

    Returns:
        RGB image.

    Raises:
        StylexError: the file is missing or holds no numeric statistics.
    """
    rows = read_stats(stats_jsonl_path)
    xs = []
    for i, row in enumerate(rows):
        x = _number(row.get("kimg"))
        xs.append(x if x is not None else (_number(row.get("tick")) if _number(row.get("tick")) is not None
                                           else float(i)))
    x_label = "kimg" if any(_number(r.get("kimg")) is not None for r in rows) else "tick"
    if keys is None:
        found: dict[str, None] = {}
        for row in rows:
            for k, v in row.items():
                if k not in _NOT_LOSSES and _number(v) is not None:
                    found.setdefault(k, None)
        # loss/* keys first (if the trainer writes them), then the rest in file order.
        keys = sorted(found, key=lambda k: (not k.startswith("loss/"), list(found).index(k)))
    keys = [k for k in keys if any(_number(r.get(k)) is not None for r in rows)]
    if not keys:
        raise StylexError(f"no numeric training statistics in {stats_jsonl_path}")
    plt = _pyplot()
    ncols = min(columns, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.2 * nrows), dpi=dpi, squeeze=False)
    for ax, key in zip(axes.flat, keys):
        pts = [(x, _number(r.get(key))) for x, r in zip(xs, rows) if _number(r.get(key)) is not None]
        px, py = zip(*pts)
        ax.plot(px, py, marker="." if len(pts) < 30 else None, linewidth=1.2)
        ax.set_title(textwrap.shorten(key, 40), fontsize=10)
        ax.set_xlabel(x_label, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    fig.tight_layout()
    return save_png(_figure_to_image(fig), path)
