"""StyleSpace edits as per-sample offsets: the one place that turns "move coordinate k towards its
min/max" into the ``offsets`` argument of ``Generator.synthesize(styles, offsets)``.

An edit with shift factor ``a`` moves ``s_k`` to ``s_k + a * (target - s_k)`` where target is
``style_min[k]`` (direction 0) or ``style_max[k]`` (direction 1); ``a = 1`` sets it to the extreme
(AttFind, flip rate), ``a = 2`` overshoots (the discriminator filter). Weights are never changed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

Move = tuple[int, int]          # (flat coordinate k, direction 0 = to min / 1 = to max)


def set_coordinates(flat: torch.Tensor, values: Sequence[Sequence[tuple[int, float]]]) -> torch.Tensor:
    """Offsets ``[N, S]`` that set, per image n, each listed coordinate k to the given value.

    Args:
        flat: ``[N, S]`` flat styles of the images (``Styles.flat()``).
        values: per image, ``(k, value)`` pairs applied together.
    """
    offsets = torch.zeros_like(flat)
    for n, pairs in enumerate(values):
        for k, value in pairs:
            offsets[n, k] = float(value) - flat[n, k]
    return offsets


def edit_offsets(flat: torch.Tensor, moves: Sequence[Move] | Sequence[Sequence[Move]], style_min, style_max,
                 shift: float = 1.0) -> torch.Tensor:
    """Offsets ``[N, S]`` moving coordinates towards their extremes.

    Args:
        flat: ``[N, S]`` flat styles of the images.
        moves: one list of ``(k, direction)`` for every image, or one such list per image.
        style_min, style_max: ``[S]`` extremes of each coordinate (over the AttFind images).
        shift: shift factor (1: set to the extreme).
    """
    if len(moves) and isinstance(moves[0], (tuple, list)) and len(moves[0]) == 2 \
            and not isinstance(moves[0][0], (tuple, list)):
        moves = [moves] * flat.shape[0]                       # the same moves for every image
    smin = np.asarray(style_min, dtype=np.float64)
    smax = np.asarray(style_max, dtype=np.float64)
    offsets = torch.zeros_like(flat)
    for n, per_image in enumerate(moves):
        for k, d in per_image:
            target = smax[k] if d == 1 else smin[k]
            offsets[n, k] = shift * (float(target) - flat[n, k])
    return offsets
