"""Report figures: documented grid sizes, probability captions, the panel image rule, curves."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from stylex.errors import StylexError
from stylex.report.figures import (FigureStyle, attribute_panel, attribute_title, auto_tile, choose_panel_images,
                                   flip_rate_curve, grid_size, image_explanation, reconstruction_grid,
                                   training_curves)

STYLE = FigureStyle(tile=96)


def images(n: int, res: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, res, res, 3), dtype=np.uint8)


def probs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet([1.0, 1.0], size=n)


def test_grid_size_formula():
    s = STYLE
    w, h = grid_size(2, 5, 96, 2, style=s)
    assert w == s.pad + 5 * (96 + s.pad)
    assert h == 2 * (96 + 2 * (s.font_size + s.line_gap) + s.line_gap + s.pad) + s.pad
    w2, _ = grid_size(1, 6, 96, 2, group=2, style=s)
    assert w2 == w + (96 + s.pad) + 2 * s.group_gap  # one more column, three pairs -> two group gaps


def test_auto_tile_is_integer_multiple():
    assert auto_tile([images(1, 32)[0]]) == 128
    assert auto_tile([images(1, 64)[0]]) == 128
    assert auto_tile([images(1, 48)[0]]) == 144
    assert auto_tile([images(1, 256)[0]]) == 256


def test_reconstruction_grid_layout(tmp_path):
    o, r = images(5), images(5, seed=1)
    img = reconstruction_grid(o, r, probs(5), probs(5, 1), ["cat", "dog"], "dog", path=tmp_path / "rec.png",
                              style=STYLE)
    assert img.size == grid_size(2, 5, 96, 2, style=STYLE)
    assert Image.open(tmp_path / "rec.png").size == img.size
    # Top-left tile is the first original, upscaled by 3 (32 -> 96) with NEAREST.
    tile = np.asarray(img)[STYLE.pad:STYLE.pad + 96, STYLE.pad:STYLE.pad + 96]
    np.testing.assert_array_equal(tile[::3, ::3], o[0])
    wrapped = reconstruction_grid(o, r, probs(5)[:, 1], probs(5, 1)[:, 1], ["cat", "dog"], 1, columns=3, style=STYLE)
    assert wrapped.size == grid_size(4, 3, 96, 2, style=STYLE)


def test_attribute_panel_layout_and_title(tmp_path):
    title = attribute_title(1, "b16.conv0", 45, "max", "cat")
    assert title == "Attribute #1: b16.conv0 channel 45 -> max (towards cat)" and title.isascii()
    img = attribute_panel(title, images(5), images(5, seed=2), probs(5), probs(5, 2), ["cat", "dog"], "cat",
                          path=tmp_path / "panel.png", pairs_per_row=3, style=STYLE)
    assert img.size == grid_size(2, 6, 96, 2, title_lines=1, group=2, style=STYLE)
    assert (tmp_path / "panel.png").is_file()


def test_image_explanation_layout():
    k = 3
    img = image_explanation(images(1)[0], images(k, seed=3), images(1, seed=4)[0], [0.1, 0.9], probs(k),
                            [0.8, 0.2], [f"#{i + 1} b8.conv0 c{i}" for i in range(k)], ["cat", "dog"], "dog",
                            style=STYLE)
    assert img.size == grid_size(1, k + 2, 96, 2, style=STYLE)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="uint8"):
        reconstruction_grid(images(2).astype(np.float32), images(2), probs(2), probs(2), ["a", "b"], 0)
    with pytest.raises(ValueError, match="target class"):
        reconstruction_grid(images(2), images(2), probs(2), probs(2), ["a", "b"], "zebra")
    with pytest.raises(ValueError, match="same non-zero number"):
        attribute_panel("t", images(2), images(3), probs(2), probs(3), ["a", "b"], 0)


def test_choose_panel_images_rule():
    effects = np.array([0.5, 0.05, 0.9, 0.3, 0.6])
    style = np.array([0.0, -5.0, 1.5, -1.0, 1.0])
    # Target extreme 2.0, threshold 0.2: images 0, 2, 3, 4 qualify; distances 2.0, 0.5, 3.0, 1.0.
    np.testing.assert_array_equal(choose_panel_images(effects, style, 2.0, 0.2, 10), [3, 0, 4, 2])
    np.testing.assert_array_equal(choose_panel_images(effects, style, 2.0, 0.2, 2), [3, 0])
    np.testing.assert_array_equal(choose_panel_images(effects, style, 2.0, 0.55, 3), [4, 2])
    np.testing.assert_array_equal(choose_panel_images(effects, style, 2.0, 0.55, 3, fill=True), [4, 2, 0])


def test_flip_rate_curve(tmp_path):
    curves = {"AttFind": (np.linspace(0.1, 0.6, 10), np.full(10, 0.03)),
              "Wu et al.": (np.linspace(0.05, 0.3, 10), np.full(10, 0.02)),
              "random": (np.zeros(10), None)}
    img = flip_rate_curve(curves, tmp_path / "flip.png", size_inches=(5, 3), dpi=80)
    assert img.size == (400, 240)
    assert Image.open(tmp_path / "flip.png").size == (400, 240)


def test_training_curves_robust(tmp_path):
    stats = tmp_path / "stats.jsonl"
    rows = [{"tick": i, "kimg": 0.5 * i, "sec_per_kimg": 3.0, "G_rec_l1": 1.0 / (i + 1), "D_loss": 1.0,
             **({"G_pl": 0.2} if i % 2 else {}), "note": "text"} for i in range(6)]
    rows[3]["G_rec_l1"] = float("nan")
    stats.write_text("\n".join(json.dumps(r) for r in rows) + '\n\n{"torn')
    img = training_curves(stats, tmp_path / "train.png", columns=3, dpi=50)
    assert img.size == (3 * 160, 110)  # three numeric loss keys, 3.2 x 2.2 inches each at 50 dpi
    no_kimg = tmp_path / "nokimg.jsonl"
    no_kimg.write_text('{"loss/G": 1.0}\n{"loss/G": 0.5, "loss/D": 2}\n')
    assert training_curves(no_kimg, columns=2, dpi=50).size == (320, 110)
    with pytest.raises(StylexError, match="not found"):
        training_curves(tmp_path / "missing.jsonl")
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"tick": 1, "kimg": 0.1}\n')
    with pytest.raises(StylexError, match="no numeric"):
        training_curves(empty)


def test_attribute_panel_labels_the_reconstruction_and_shows_the_real_original_once():
    from stylex.report.figures import attribute_panel

    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (2, 16, 16, 3), dtype=np.uint8) for _ in range(3)]
    probs = np.full((2, 2), 0.5)
    plain = attribute_panel("t", imgs[0], imgs[1], probs, probs, ["a", "b"], 0, pairs_per_row=2)
    with_real = attribute_panel("t", imgs[0], imgs[1], probs, probs, ["a", "b"], 0, pairs_per_row=2, reals=imgs[2])
    assert with_real.width > plain.width * 1.3       # three tiles per image instead of two
    with pytest.raises(ValueError, match="one real image per edited image"):
        attribute_panel("t", imgs[0], imgs[1], probs, probs, ["a", "b"], 0, reals=imgs[2][:1])
