"""Quantitative checks of an explanation: flip rate (docs/METHOD.md section 7) and reconstruction quality.

Flip rate: for each test image take its base class b (argmax of the classifier on the *generated*
image), move its top-k attributes together to their extremes in the direction that leads away from
b, regenerate, and count a flip when the argmax class changes.

"Away from b" for an :class:`~stylex.explain.selection.Attribute` ``(index, direction, target_class)``
(a move that pushes towards ``target_class``), see :func:`attribute_moves`:
- ``target_class != b``: the recorded move leads away from b: use it as it is.
- ``target_class == b`` and two classes: the opposite move leads towards the other class: use it with
  the direction flipped. This is what makes the two-class merged list work: every entry there is a
  move towards class 0, so for images of class 1 it is used as recorded and for images of class 0 it
  is reversed.
- ``target_class == b`` and more than two classes: no direction is known to lead away: skipped.
The top-k are the first k usable moves in rank order; a coordinate already moved by a better-ranked
attribute is skipped (it cannot sit at both extremes). Images with fewer than k usable moves get all
they have.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import StylexError
from .attfind import _device_of, eval_mode
from .edits import edit_offsets
from .selection import Attribute


def attribute_moves(attributes: Sequence[Attribute], base_class: int, num_classes: int,
                    k: int) -> list[tuple[int, int]]:
    """The top-k moves ``[(index, direction)]`` that lead away from ``base_class`` (see module doc).

    Args:
        attributes: ranked attributes (rank order is list order).
        base_class: the image's base class b.
        num_classes: K.
        k: number of moves.

    Returns:
        Up to k ``(coordinate, direction)`` pairs, best first.
    """
    moves: list[tuple[int, int]] = []
    used: set[int] = set()
    for a in attributes:
        if len(moves) == k:
            break
        if a.target_class != base_class:
            d = a.direction
        elif num_classes == 2:
            d = 1 - a.direction
        else:
            continue
        if a.index in used:
            continue
        used.add(a.index)
        moves.append((a.index, d))
    return moves


@dataclass
class FlipRateResult:
    """Flip rate on one image set. rate == curve[-1] (k = top_k); curve[j] is the rate with j+1 moves."""

    rate: float
    curve: list[float]
    n_images: int
    flipped: np.ndarray        # [N] bool, at k = top_k
    base_class: np.ndarray     # [N] int64
    flips_by_k: np.ndarray | None = None   # [k, N] bool: flipped with the first j+1 moves (row j)


@torch.no_grad()
def flip_rate(generator, classifier, latents: torch.Tensor, attributes: Sequence[Attribute], k: int,
              style_min, style_max, *, batch_size: int = 32, device=None) -> FlipRateResult:
    """Flip rate of the top-k attributes applied together (docs/METHOD.md section 7).

    Args:
        generator: ``Generator`` (``styles(latent)``, ``synthesize(styles, offsets)``).
        classifier: images in [-1, 1] -> logits ``[N, K]``.
        latents: ``[N, D]`` test latents, disjoint from the images AttFind used.
        attributes: ranked attributes (AttFind, Wu et al. or random).
        k: top_k; the curve covers 1..k.
        style_min, style_max: ``[S]`` extremes of each coordinate over the AttFind images.
        batch_size: images per generator call.
        device: where to compute (default: the generator's device).

    Returns:
        :class:`FlipRateResult`.
    """
    with eval_mode(generator, classifier):
        return _flip_rate(generator, classifier, latents, attributes, k, style_min, style_max, batch_size, device)


def _flip_rate(generator, classifier, latents, attributes, k, style_min, style_max, batch_size,
               device) -> FlipRateResult:
    if k < 1:
        raise StylexError(f"flip rate top-k = {k}: use 1 or more (option --top-k)")
    if len(latents) == 0:
        raise StylexError("flip rate: no test images; give held-out test images (--test-images)")
    device = torch.device(device) if device is not None else _device_of(generator)
    flips = np.zeros((k, len(latents)), dtype=bool)                                  # [k, N]
    base_all = np.zeros(len(latents), dtype=np.int64)
    for start in range(0, len(latents), batch_size):
        lat = latents[start:start + batch_size].to(device)
        styles = generator.styles(lat)
        flat = styles.flat().float()                                                 # [B, S]
        base_logits = classifier(generator.synthesize(styles))                        # [B, K]
        num_classes = base_logits.shape[1]
        base = base_logits.argmax(dim=1)                                              # [B]
        base_all[start:start + len(lat)] = base.cpu().numpy()
        moves = [attribute_moves(attributes, int(b), num_classes, k) for b in base.tolist()]
        for j in range(1, k + 1):
            offsets = edit_offsets(flat, [mv[:j] for mv in moves], style_min, style_max)   # [B, S]
            edited = classifier(generator.synthesize(styles, offsets)).argmax(dim=1)   # [B]
            flips[j - 1, start:start + len(lat)] = (edited != base).cpu().numpy()
    curve = [float(f.mean()) for f in flips]
    return FlipRateResult(rate=curve[-1], curve=curve, n_images=len(latents), flipped=flips[-1],
                          base_class=base_all, flips_by_k=flips)


STRATIFIED_SETS = ("disjoint sets stratified by base class: the images of each class (the classifier's argmax on "
                   "the reconstruction), in test order, dealt in turn to the sets, so every set has the same class mix")


@dataclass
class FlipRateSummary:
    """Flip rate over R disjoint image sets. std is over the R repeats with ddof=0 (population std)."""

    mean: float
    std: float
    n_images: int              # all repeats together
    curve: list[float]         # mean over repeats, k = 1..top_k
    rates: list[float]         # one per repeat
    by_base_class: dict[str, dict] | None = None  # {b: {"n": images with base class b, "rate": their flip rate}}, pooled
    sets: str = STRATIFIED_SETS                   # how the repeats' image sets were drawn

    def as_dict(self) -> dict:
        """The ``metrics.json`` record: mean, std, n_images, curve, the per-repeat rates, the
        flip rate per base class (pooled over repeats: it shows which way the flips go) and how the sets were drawn."""
        return {"mean": self.mean, "std": self.std, "n_images": self.n_images, "curve": self.curve,
                "rates": self.rates, "by_base_class": self.by_base_class, "sets": self.sets}


def stratified_sets(base_class: np.ndarray, num_sets: int) -> list[np.ndarray]:
    """Split ``range(N)`` into ``num_sets`` disjoint sets with the same class mix (sizes differ by at most 1 per class).

    The images of each class, in order, are dealt to the sets in turn; each class starts where the previous
    one stopped, so the set sizes stay within 1 of each other too.
    """
    sets: list[list[int]] = [[] for _ in range(num_sets)]
    turn = 0
    for c in np.unique(base_class):
        for i in np.flatnonzero(base_class == c):
            sets[turn % num_sets].append(int(i))
            turn += 1
    return [np.array(sorted(s), dtype=np.int64) for s in sets]


def flip_rate_repeats(generator, classifier, latents: torch.Tensor, attributes: Sequence[Attribute], k: int,
                      style_min, style_max, *, num_repeats: int = 5, batch_size: int = 32,
                      device=None) -> FlipRateSummary:
    """Flip rate on ``num_repeats`` disjoint sets of ``latents`` with the same class mix (mean +/- std).

    Every image is measured once; the sets are then drawn by :func:`stratified_sets` on the images' base
    classes, so the spread between sets measures the method, not how many images of each class a set
    happened to get (a flip rate that differs by class would otherwise vary with the mix).

    Args:
        generator, classifier, attributes, k, style_min, style_max, batch_size, device: as :func:`flip_rate`.
        latents: ``[N, D]`` test latents (disjoint from the AttFind images).
        num_repeats: R >= 1.

    Returns:
        :class:`FlipRateSummary`; std uses ddof=0, so it is 0 only when all repeats agree (R=1 gives 0).
    """
    if num_repeats < 1 or num_repeats > len(latents):
        raise StylexError(f"flip rate repeats = {num_repeats} with {len(latents)} test images: use "
                          "1 <= repeats <= number of test images (option --repeats)")
    res = flip_rate(generator, classifier, latents, attributes, k, style_min, style_max, batch_size=batch_size,
                    device=device)
    parts = stratified_sets(res.base_class, num_repeats)
    curves = np.array([res.flips_by_k[:, part].mean(axis=1) for part in parts])     # [R, k]
    rates = curves[:, -1]
    base, flipped = res.base_class, res.flipped
    by_class = {str(int(b)): {"n": int((base == b).sum()), "rate": float(flipped[base == b].mean())}
                for b in np.unique(base)}
    return FlipRateSummary(mean=float(rates.mean()), std=float(rates.std(ddof=0)), n_images=int(len(latents)),
                           curve=[float(c) for c in curves.mean(axis=0)], rates=[float(r) for r in rates],
                           by_base_class=by_class)


@torch.no_grad()
def reconstruction_metrics(images: torch.Tensor, recon: torch.Tensor, logits_orig: torch.Tensor,
                           logits_recon: torch.Tensor,
                           lpips_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                           batch_size: int = 32, labels: torch.Tensor | None = None) -> dict:
    """How well the generator reconstructs images and keeps the classifier's opinion.

    Args:
        images, recon: ``[N, 3, H, W]`` in [-1, 1].
        logits_orig, logits_recon: ``[N, K]`` classifier logits on each.
        lpips_fn: optional ``(x, y) -> [N]`` perceptual distance (e.g. ``stylex.models.lpips.LPIPS``).
        batch_size: images per lpips call.
        labels: optional ``[N]`` true labels (-1 = unknown): adds the classifier's accuracy on the
            originals and on the reconstructions.

    Returns:
        ``{"lpips": mean or None, "l1": mean |x - x'| (pixel units of [-1, 1]),
        "class_agreement": fraction with the same argmax, "prob_gap": mean total-variation distance
        0.5 * sum_c |p_c - p'_c| between the softmax outputs (for two classes: |p_0 - p'_0|),
        "agreement_by_class": ``{c: {"n": images the classifier puts in c, "agreement": fraction of
        their reconstructions it also puts in c}}`` for every class c, "balanced_agreement": the mean
        of those fractions over classes with images (a classifier that calls everything one class
        cannot hide a failure on the other behind it)}``; with ``labels`` also
        ``"accuracy_orig"`` and ``"accuracy_recon"`` (over the labelled images, None when there are none).
    """
    if images.shape != recon.shape or len(logits_orig) != len(images) or logits_orig.shape != logits_recon.shape:
        raise StylexError(f"reconstruction metrics: shapes {tuple(images.shape)}, {tuple(recon.shape)}, "
                          f"{tuple(logits_orig.shape)}, {tuple(logits_recon.shape)} do not match")
    l1 = float((images.float() - recon.float()).abs().mean())
    pred_o, pred_r = logits_orig.argmax(1).cpu(), logits_recon.argmax(1).cpu()
    agree = float((pred_o == pred_r).float().mean())
    by_class = {}
    for c in range(logits_orig.shape[1]):
        sel = pred_o == c
        n = int(sel.sum())
        by_class[str(c)] = {"n": n, "agreement": float((pred_r[sel] == c).float().mean()) if n else None}
    seen = [v["agreement"] for v in by_class.values() if v["n"]]
    balanced = float(np.mean(seen)) if seen else None
    gap = float(0.5 * (F.softmax(logits_orig.float(), 1) - F.softmax(logits_recon.float(), 1)).abs().sum(1).mean())
    lp = None
    if lpips_fn is not None:
        vals = [lpips_fn(images[i:i + batch_size], recon[i:i + batch_size]).reshape(-1).float().cpu()
                for i in range(0, len(images), batch_size)]
        lp = float(torch.cat(vals).mean())
    out = {"lpips": lp, "l1": l1, "class_agreement": agree, "prob_gap": gap, "agreement_by_class": by_class,
           "balanced_agreement": balanced}
    if labels is not None:
        if len(labels) != len(images):
            raise StylexError(f"reconstruction metrics: {len(labels)} labels for {len(images)} images")
        lab = torch.as_tensor(labels).cpu()
        known = lab >= 0
        n = int(known.sum())
        out["accuracy_orig"] = float((pred_o[known] == lab[known]).float().mean()) if n else None
        out["accuracy_recon"] = float((pred_r[known] == lab[known]).float().mean()) if n else None
    return out
