"""AttFind extraction step: from the effect tensor to a ranked list of attributes (pure numpy).

This is docs/METHOD.md section 5 ("Extraction"), written to reproduce the authors' AttFind notebook
(``filter_unstable_images``, ``find_significant_styles`` and the two-class merge cell) exactly,
except where the notebook is wrong (argmax of NaN on an empty image set: we stop instead).

Conventions:
- ``effects`` is ``[N, 2, S, K]``: the change of every class logit when style coordinate ``k`` of
  image ``n`` is moved to ``style_min[k]`` (direction 0, "min") or ``style_max[k]`` (direction 1, "max").
- The greedy search works on the flattened ``(direction, coordinate)`` axis: column ``d * S + k``.
- An :class:`Attribute` ``(index=k, direction=d, target_class=c)`` means "moving coordinate ``k`` to
  its extreme ``d`` pushes the classifier towards class ``c``".
- Two-class merge: every attribute of the merged list has ``target_class = 0`` (a move towards class 0).
  Class 1's attributes are re-expressed by flipping the direction; the opposite move then leads
  towards class 1. See :func:`stylex.explain.metrics.attribute_moves` for how the flip rate uses this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import StylexError

DIRECTION_NAMES = ("min", "max")


@dataclass(frozen=True)
class SelectionConfig:
    """Constants of the AttFind extraction step (defaults: the authors' notebook / docs/METHOD.md section 5)."""

    num_attributes: int = 10              # greedy picks per target class (before the two-class merge)
    effect_threshold: float | None = None  # None: 0.2 with two classes (merged), 0.1 one-vs-all
    image_effect_factor: float = 5.0       # max_image_effect = image_effect_factor * effect_threshold
    unstable_effect: float = 2.0           # |effect| above this counts towards instability
    unstable_count: int = 750              # more than this many such entries -> image dropped
    merge_two_class: bool = True           # K == 2: one merged list "towards class 0" (the notebook's)

    def validate(self) -> "SelectionConfig":
        """Check the values; raise :class:`StylexError` naming the option on a mistake."""
        if self.num_attributes < 1:
            raise StylexError(f"num_attributes={self.num_attributes} in the AttFind options: use 1 or more")
        if self.effect_threshold is not None and not self.effect_threshold > 0:
            raise StylexError(f"effect_threshold={self.effect_threshold} in the AttFind options: use a value > 0")
        if not self.image_effect_factor > 0:
            raise StylexError(f"image_effect_factor={self.image_effect_factor} in the AttFind options: use > 0")
        if self.unstable_count < 0 or not self.unstable_effect > 0:
            raise StylexError("unstable_effect/unstable_count in the AttFind options: use a positive "
                              "threshold and a non-negative count")
        return self

    def threshold_for(self, num_classes: int) -> float:
        """The effect threshold for a K-class problem (0.2 two-class merged, 0.1 one-vs-all)."""
        if self.effect_threshold is not None:
            return float(self.effect_threshold)
        return 0.2 if (num_classes == 2 and self.merge_two_class) else 0.1

    def max_image_effect(self, num_classes: int) -> float:
        """Accumulated effect at which an image stops voting in the greedy search."""
        return self.image_effect_factor * self.threshold_for(num_classes)


@dataclass(frozen=True)
class Attribute:
    """One selected StyleSpace attribute.

    rank: 1-based position in its list. index: flat style coordinate k. direction: 0 (to style_min)
    or 1 (to style_max). target_class: the class this move pushes towards. score: the ranking score
    (AttFind: mean logit effect; Wu et al.: relevance; random: 0).
    """

    rank: int
    index: int
    direction: int
    target_class: int
    score: float

    @property
    def direction_name(self) -> str:
        """"min" or "max"."""
        return DIRECTION_NAMES[self.direction]


# ----------------------------------------------------------------------------- steps
def _check_effects(effects: np.ndarray) -> np.ndarray:
    effects = np.asarray(effects)
    if effects.ndim != 4 or effects.shape[1] != 2:
        raise StylexError(f"effects array has shape {effects.shape}: expected [N, 2, S, K] "
                          "(recompute with compute_effects / check the effects.npz file)")
    return effects


def filter_unstable_images(effects: np.ndarray, effect_threshold: float = 2.0,
                           count_threshold: int = 750) -> tuple[np.ndarray, np.ndarray]:
    """Zero the effects of unstable images (the notebook's ``filter_unstable_images``).

    Args:
        effects: ``[N, 2, S, K]`` logit effects (not modified).
        effect_threshold: an entry is large when ``|effect| > effect_threshold``.
        count_threshold: an image is unstable when it has more than this many large entries.

    Returns:
        ``(filtered copy [N, 2, S, K] float32, unstable mask [N] bool)``.
    """
    effects = _check_effects(effects)
    large = np.abs(effects) > effect_threshold                     # [N, 2, S, K]
    unstable = large.reshape(len(effects), -1).sum(axis=1) > count_threshold  # [N]
    out = np.array(effects, dtype=np.float32, copy=True)
    out[unstable] = 0.0
    return out, unstable


def greedy_select(positive_effect: np.ndarray, num: int, max_image_effect: float) -> list[int]:
    """The notebook's greedy search (``find_significant_styles`` without the discriminator filter).

    Repeat until ``num`` columns are chosen: among the images whose accumulated effect is still below
    ``max_image_effect``, take the column with the largest mean effect (first on ties, as
    ``np.argmax``); add that column to every image's accumulated effect; zero the column.

    Departure from the notebook: it stops early (returns fewer columns) when no image is active any
    more (the notebook takes argmax of a NaN mean there) or when the best mean over the active images
    is not positive (the notebook would then pick an already-zeroed column again).

    Args:
        positive_effect: ``[M, F]`` non-negative effects (images x flattened (direction, coordinate)).
        num: number of columns to pick.
        max_image_effect: images with accumulated effect >= this no longer vote.

    Returns:
        The chosen column indices, in pick order.
    """
    E = np.array(positive_effect, dtype=np.float32, copy=True)    # [M, F]; zeroed as columns are chosen
    image_effect = np.zeros(E.shape[0], dtype=np.float64)         # [M] (float64 as the notebook)
    chosen: list[int] = []
    while len(chosen) < num:
        active = image_effect < max_image_effect                  # [M]
        if not active.any():
            break
        mean = E[active].mean(axis=0)                              # [F]
        col = int(np.argmax(mean))
        if not mean[col] > 0:
            break
        chosen.append(col)
        image_effect += E[:, col]
        E[:, col] = 0.0
    return chosen


def select_for_class(effects: np.ndarray, base_class: np.ndarray, target_class: int, num: int,
                     max_image_effect: float) -> list[tuple[int, int]]:
    """Greedy attributes that push towards ``target_class``, found on images not already in it.

    Args:
        effects: ``[N, 2, S, K]`` (already filtered for unstable images).
        base_class: ``[N]`` argmax of the classifier on the generated images.
        target_class: class c.
        num: attributes to pick.
        max_image_effect: see :func:`greedy_select`.

    Returns:
        ``[(direction, index), ...]`` in pick order; empty when every image is already in class c.
    """
    S = effects.shape[2]
    rows = np.asarray(base_class) != target_class
    if not rows.any():
        return []
    E = np.maximum(effects[rows, :, :, target_class], 0.0).reshape(int(rows.sum()), 2 * S)  # [M, 2S]
    return [(col // S, col % S) for col in greedy_select(E, num, max_image_effect)]


def merge_two_class(effects: np.ndarray, list0: list[tuple[int, int]],
                    list1: list[tuple[int, int]]) -> list[Attribute]:
    """The notebook's two-class merge: one list of moves towards class 0, sorted by score.

    Class 1's picks are re-expressed as moves towards class 0 by flipping the direction; those whose
    coordinate already occurs in class 0's list are dropped (only across lists, as in the notebook);
    each candidate ``(d, k)`` is scored by ``mean_n effect[n, d, k, 0] + effect[n, 1-d, k, 1]`` over ALL
    images (dropped unstable images count as zeros) and the list is sorted by score, descending,
    stable on ties.

    Args:
        effects: ``[N, 2, S, 2]`` (filtered).
        list0, list1: ``[(direction, index)]`` from :func:`select_for_class` for classes 0 and 1.

    Returns:
        Attributes with ``target_class = 0``, ranks 1..n.
    """
    seen = {k for _, k in list0}
    candidates = list(list0) + [(1 - d, k) for d, k in list1 if k not in seen]
    mean = effects.mean(axis=0, dtype=np.float64)                 # [2, S, 2]
    scores = [float(mean[d, k, 0] + mean[1 - d, k, 1]) for d, k in candidates]
    order = sorted(range(len(candidates)), key=lambda i: scores[i], reverse=True)  # stable
    return [Attribute(rank=r + 1, index=int(candidates[i][1]), direction=int(candidates[i][0]),
                      target_class=0, score=scores[i]) for r, i in enumerate(order)]


def select_attributes(effects: np.ndarray, base_logits: np.ndarray,
                      cfg: SelectionConfig = SelectionConfig()) -> list[Attribute]:
    """AttFind extraction: the ranked attribute list of a model (docs/METHOD.md section 5).

    Two classes (and ``cfg.merge_two_class``): the notebook's merged list, every attribute a move
    towards class 0 (``target_class = 0``), up to ``2 * num_attributes`` long. Otherwise one-vs-all:
    for each class c the greedy picks on the images whose base class is not c, scored by the mean
    over all images of ``effect[:, d, k, c]``; all classes' picks are returned in one list sorted by
    score (descending, stable), ranks 1..n.

    Args:
        effects: ``[N, 2, S, K]`` logit effects from :func:`stylex.explain.compute_effects`.
        base_logits: ``[N, K]`` classifier logits on the unedited generated images.
        cfg: selection constants.

    Returns:
        The attributes, best first. Fewer than requested when the greedy search stops early.
    """
    cfg.validate()
    effects = _check_effects(effects)
    base_logits = np.asarray(base_logits)
    N, _, S, K = effects.shape
    if base_logits.shape != (N, K):
        raise StylexError(f"base_logits has shape {base_logits.shape}, effects {effects.shape}: "
                          "they must come from the same AttFind run ([N, K] and [N, 2, S, K])")
    filtered, _ = filter_unstable_images(effects, cfg.unstable_effect, cfg.unstable_count)
    base_class = base_logits.argmax(axis=1)                       # [N]
    cap = cfg.max_image_effect(K)
    picks = [select_for_class(filtered, base_class, c, cfg.num_attributes, cap) for c in range(K)]
    if K == 2 and cfg.merge_two_class:
        return merge_two_class(filtered, picks[0], picks[1])
    mean = filtered.mean(axis=0, dtype=np.float64)                # [2, S, K]
    flat = [(float(mean[d, k, c]), d, k, c) for c in range(K) for d, k in picks[c]]
    order = sorted(range(len(flat)), key=lambda i: flat[i][0], reverse=True)
    return [Attribute(rank=r + 1, index=int(flat[i][2]), direction=int(flat[i][1]),
                      target_class=int(flat[i][3]), score=flat[i][0]) for r, i in enumerate(order)]


def select_for_image(effects_n: np.ndarray, target_class: int, k: int,
                     max_image_effect: float = math.inf) -> list[Attribute]:
    """Image-specific ("independent") top-k: the greedy step on a single image.

    With one image the greedy step reduces to "largest positive effect first"; the notebook's cap on
    the accumulated effect would stop it after a few picks, so by default there is no cap
    (``max_image_effect=inf``); pass ``SelectionConfig().max_image_effect(K)`` to apply it.

    Args:
        effects_n: ``[2, S, K]`` effects of one image.
        target_class: class c to push towards.
        k: number of attributes.
        max_image_effect: accumulated-effect cap (see :func:`greedy_select`).

    Returns:
        Up to k attributes (fewer when fewer moves have a positive effect), score = effect on class c.
    """
    effects_n = np.asarray(effects_n)
    if effects_n.ndim != 3 or effects_n.shape[0] != 2:
        raise StylexError(f"effects of one image have shape {effects_n.shape}: expected [2, S, K]")
    if not 0 <= target_class < effects_n.shape[2]:
        raise StylexError(f"target class {target_class} out of range for {effects_n.shape[2]} classes")
    picks = select_for_class(effects_n[None], np.array([-1]), target_class, k, max_image_effect)
    return [Attribute(rank=r + 1, index=int(kk), direction=int(d), target_class=int(target_class),
                      score=float(effects_n[d, kk, target_class])) for r, (d, kk) in enumerate(picks)]


def attribute_to_dict(attr: Attribute, layout=None, class_names: list[str] | None = None) -> dict:
    """The ``attributes.json`` record of one attribute (see docs/INTERFACES.md).

    Args:
        attr: the attribute.
        layout: optional ``StyleLayout`` to add ``layer``, ``layer_name`` and ``channel``.
        class_names: optional class names (``target_class`` is then the name).

    Returns:
        A JSON-ready dict.
    """
    out = {"rank": attr.rank, "index": attr.index, "direction": attr.direction_name,
           "target_class": (class_names[attr.target_class] if class_names else attr.target_class),
           "target_class_index": attr.target_class, "score": float(attr.score)}
    if layout is not None:
        layer, channel = layout.to_layer(attr.index)
        out.update(layer=int(layer), layer_name=layout.layers[layer].name, channel=int(channel))
    return out


def attribute_from_dict(d: dict) -> Attribute:
    """Inverse of :func:`attribute_to_dict` (reads ``attributes.json`` records)."""
    direction = d["direction"]
    if isinstance(direction, str):
        if direction not in DIRECTION_NAMES:
            raise StylexError(f"attribute direction {direction!r} in attributes.json: use 'min' or 'max'")
        direction = DIRECTION_NAMES.index(direction)
    target = d.get("target_class_index", d.get("target_class"))
    return Attribute(rank=int(d["rank"]), index=int(d["index"]), direction=int(direction),
                     target_class=int(target), score=float(d.get("score", 0.0)))
