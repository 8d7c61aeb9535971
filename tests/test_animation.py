"""Attribute animations: two frames, 600 ms each, looping forever; tiled frame size."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageSequence

from stylex.report.animation import attribute_gif, attribute_gif_tiled
from stylex.report.figures import FigureStyle, grid_size

STYLE = FigureStyle(tile=64)


def images(n: int, res: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, res, res, 3), dtype=np.uint8)


def test_attribute_gif_two_frames_600ms_loop(tmp_path):
    img = images(1)[0]
    # Identical original and edit: the captions still make the two frames differ, so PIL keeps both.
    path = attribute_gif(img, img.copy(), 0.93, 0.12, "dog", tmp_path / "a" / "attr.gif")
    gif = Image.open(path)
    assert gif.format == "GIF" and gif.n_frames == 2
    assert gif.info["loop"] == 0
    durations = [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]
    assert durations == [600, 600]
    assert gif.size == grid_size(1, 1, 128, 2)  # 32 px -> 128 px tile by default
    frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(Image.open(path))]
    assert not np.array_equal(frames[0], frames[1])


def test_attribute_gif_frame_ms(tmp_path):
    path = attribute_gif(images(1)[0], images(1, seed=1)[0], 0.5, 0.6, "cat", tmp_path / "b.gif", frame_ms=250,
                         style=STYLE)
    gif = Image.open(path)
    assert gif.n_frames == 2 and gif.info["duration"] == 250
    assert gif.size == grid_size(1, 1, 64, 2, style=STYLE)


def test_attribute_gif_tiled_size(tmp_path):
    n = 5
    path = attribute_gif_tiled(images(n), images(n, seed=1), np.linspace(0, 1, n), np.linspace(1, 0, n), "dog",
                               tmp_path / "tiled.gif", columns=3, style=STYLE)
    gif = Image.open(path)
    assert gif.n_frames == 2 and gif.info["loop"] == 0 and gif.info["duration"] == 600
    assert gif.size == grid_size(2, 3, 64, 2, style=STYLE)
    path = attribute_gif_tiled(images(2), images(2, seed=1), [0.2, 0.3], [0.7, 0.8], "dog", tmp_path / "t2.gif",
                               title="Attribute #1", style=STYLE)
    assert Image.open(path).size == grid_size(1, 2, 64, 2, title_lines=1, style=STYLE)
