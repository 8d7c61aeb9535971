"""AttFind screening: rank every (direction, coordinate) column by a first-order estimate, then measure
exact effects only for the candidates.

One forward and K backward passes per image give ``grad[n, c, k] = d logit_c / d s_k`` at the unedited
styles. The first-order estimate of an effect is ``grad[n, c, k] * (s_min[k] - s[n, k])`` (direction 0)
and ``grad[n, c, k] * (s_max[k] - s[n, k])`` (direction 1). Columns ``d * S + k`` are ranked per target
class c by the statistic the greedy selection starts from (``stylex.explain.selection``): the mean of the
positive part of the effect over the images whose base class is not c (after the same unstable-image
filter). The top M columns per class, plus every column whose score is within ``margin`` (relative) of the
M-th, are measured exactly with :func:`stylex.explain.attfind.compute_effects` (both directions of each
candidate coordinate), and the selection runs on those exact effects: a column never measured has effect
0 and can never be selected.

Blind spot: an edit whose effect is large but whose gradient at the unedited image is zero (a saturating
non-linearity that the move to the extreme crosses) scores 0 and is kept only when fewer than M columns
score above 0. ``--verify`` measures what screening missed against the exhaustive search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import StylexError
from .attfind import EffectsResult, compute_effects, eval_mode
from .selection import Attribute, SelectionConfig, filter_unstable_images, select_attributes

DEFAULT_MARGIN = 0.25


@dataclass
class ScreenResult:
    """What screening measured and why.

    top_m: candidates per class (M). margin: relative margin below the M-th score that is also kept.
    estimates: ``[N, 2, S, K]`` first-order effects. scores: ``[K, 2S]`` screening statistic per target class.
    columns: per class, the kept columns ``d * S + k``. coords: ``[C]`` coordinates measured exactly.
    """

    top_m: int
    margin: float
    estimates: np.ndarray
    scores: np.ndarray
    columns: list[np.ndarray]
    coords: np.ndarray

    def as_dict(self) -> dict:
        """The ``screening`` record of ``attributes.json`` (without the verification)."""
        S = self.estimates.shape[2]
        return {"mode": "screened", "top_m": int(self.top_m), "margin": float(self.margin),
                "num_style_coords": int(S), "measured_coords": int(len(self.coords)),
                "measured_fraction": float(len(self.coords) / S),
                "candidate_columns_per_class": [int(len(c)) for c in self.columns]}


def style_gradients(generator, classifier, latents, *, batch_size: int = 16,
                    device=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradient of every class logit with respect to every flat style coordinate, image by image.

    The gradient is taken with respect to a zero offset on the flat conv styles
    (``generator.synthesize(styles, offsets)``), so it is ``d logits / d s`` at the unedited image.

    Args:
        generator: ``Generator`` (``styles``, ``synthesize``, ``layout``).
        classifier: images in [-1, 1] -> logits ``[N, K]``.
        latents: ``[N, D]`` synthesis latents.
        batch_size: images per forward/backward pass.
        device: where to compute (default: the generator's device).

    Returns:
        ``(grads [N, K, S], styles [N, S], logits [N, K])``, float32 numpy.
    """
    latents = torch.as_tensor(latents)
    if latents.ndim != 2 or len(latents) == 0 or batch_size < 1:
        raise StylexError(f"screening: latents {tuple(latents.shape)} / batch size {batch_size}: "
                          "expected [N, D] latents with N >= 1 and a batch size >= 1")
    if device is None:
        device = next((p.device for p in generator.parameters()), "cpu") if hasattr(generator, "parameters") else "cpu"
    device = torch.device(device)
    S = generator.layout.num_coords
    grads, flats, logits = [], [], []
    with eval_mode(generator, classifier), torch.enable_grad():
        for i in range(0, len(latents), batch_size):
            with torch.no_grad():
                st = generator.styles(latents[i:i + batch_size].to(device))
            offsets = torch.zeros(st.conv[0].shape[0], S, device=device, requires_grad=True)  # [B, S]
            out = classifier(generator.synthesize(st, offsets, noise_mode="const")).float()  # [B, K]
            K = out.shape[1]
            g = [torch.autograd.grad(out[:, c].sum(), offsets, retain_graph=c + 1 < K)[0] for c in range(K)]
            grads.append(torch.stack(g, 1).cpu())                                        # [B, K, S]
            flats.append(st.flat().detach().float().cpu())
            logits.append(out.detach().cpu())
    return torch.cat(grads).numpy(), torch.cat(flats).numpy(), torch.cat(logits).numpy()


def first_order_effects(grads: np.ndarray, styles: np.ndarray) -> np.ndarray:
    """First-order effects ``[N, 2, S, K]``: ``grad * (extreme - s)`` with the extremes over the N images.

    Args:
        grads: ``[N, K, S]`` from :func:`style_gradients`.
        styles: ``[N, S]`` flat styles of the same images.
    """
    delta = np.stack([styles.min(0) - styles, styles.max(0) - styles], axis=1)         # [N, 2, S]
    return (delta[..., None] * grads.transpose(0, 2, 1)[:, None]).astype(np.float32)   # [N, 2, S, K]


def column_scores(effects: np.ndarray, base_logits: np.ndarray, cfg: SelectionConfig = SelectionConfig()
                  ) -> np.ndarray:
    """The greedy selection's first-step statistic per target class, ``[K, 2S]``.

    For class c: the mean over images whose base class is not c of ``max(effect[n, d, k, c], 0)``, after
    the unstable-image filter (zero row when every image is in class c). Works on exact or estimated effects.
    """
    filtered, _ = filter_unstable_images(effects, cfg.unstable_effect, cfg.unstable_count)
    N, _, S, K = filtered.shape
    base_class = np.asarray(base_logits).argmax(axis=1)
    scores = np.zeros((K, 2 * S), dtype=np.float64)
    for c in range(K):
        rows = base_class != c
        if rows.any():
            scores[c] = np.maximum(filtered[rows, :, :, c], 0).reshape(int(rows.sum()), 2 * S).mean(0)
    return scores


def select_columns(scores: np.ndarray, top_m: int, margin: float = DEFAULT_MARGIN) -> list[np.ndarray]:
    """Per class: the top ``top_m`` columns by score (stable order), plus every column scoring at least
    ``(1 - margin)`` times the M-th score when that score is positive. ``top_m >= 2S`` keeps all."""
    if top_m < 1 or not 0 <= margin < 1:
        raise StylexError(f"screening top M = {top_m}, margin = {margin}: use M >= 1 and 0 <= margin < 1 "
                          "(--screen / --screen-margin)")
    out = []
    for row in scores:
        order = np.argsort(-row, kind="stable")
        keep = order[:top_m]
        if top_m < len(row) and row[order[top_m - 1]] > 0:
            keep = np.union1d(keep, np.flatnonzero(row >= (1 - margin) * row[order[top_m - 1]]))
        out.append(np.sort(keep))
    return out


def screening_scores(generator, classifier, latents, *, selection: SelectionConfig = SelectionConfig(),
                     grad_batch_size: int = 16, device=None) -> tuple[np.ndarray, np.ndarray]:
    """First-order effects ``[N, 2, S, K]`` and their column scores ``[K, 2S]`` (one gradient pass)."""
    grads, flat, logits = style_gradients(generator, classifier, latents, batch_size=grad_batch_size, device=device)
    est = first_order_effects(grads, flat)
    return est, column_scores(est, logits, selection)


def candidates(estimates: np.ndarray, scores: np.ndarray, top_m: int, margin: float = DEFAULT_MARGIN) -> ScreenResult:
    """The :class:`ScreenResult` of M = ``top_m``: kept columns per class and the coordinates to measure."""
    columns = select_columns(scores, top_m, margin)
    S = estimates.shape[2]
    coords = np.unique(np.concatenate(columns) % S).astype(np.int64)
    return ScreenResult(top_m=top_m, margin=margin, estimates=estimates, scores=scores, columns=columns, coords=coords)


def screen(generator, classifier, latents, top_m: int, *, margin: float = DEFAULT_MARGIN,
           selection: SelectionConfig = SelectionConfig(), grad_batch_size: int = 16, device=None) -> ScreenResult:
    """Screening alone: gradients, first-order effects, scores and the candidate coordinates."""
    select_columns(np.zeros((1, 1)), top_m, margin)                      # check the options before the work
    est, scores = screening_scores(generator, classifier, latents, selection=selection,
                                   grad_batch_size=grad_batch_size, device=device)
    return candidates(est, scores, top_m, margin)


def screened_effects(generator, classifier, latents, top_m: int, *, margin: float = DEFAULT_MARGIN,
                     selection: SelectionConfig = SelectionConfig(), grad_batch_size: int = 16,
                     **effects_kwargs) -> tuple[EffectsResult, ScreenResult]:
    """AttFind effects with screening: exact effects of the screened coordinates only.

    Args:
        generator, classifier, latents: as :func:`stylex.explain.compute_effects`.
        top_m: candidate columns per target class (M).
        margin: also keep columns within this relative margin of the M-th score.
        selection: the selection constants (unstable-image filter) the ranking mirrors.
        grad_batch_size: images per forward/backward pass of the screening.
        **effects_kwargs: passed to :func:`stylex.explain.compute_effects` (batch_size, device, chunk_dir, ...).

    Returns:
        ``(effects, screen)``: effects are zero outside ``screen.coords``.
    """
    info = screen(generator, classifier, latents, top_m, margin=margin, selection=selection,
                  grad_batch_size=grad_batch_size, device=effects_kwargs.get("device"))
    return compute_effects(generator, classifier, latents, coords=info.coords, **effects_kwargs), info


# ----------------------------------------------------------------------------- agreement
def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (as Spearman's correlation uses)."""
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - (counts - 1) / 2.0))[inv]


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman rank correlation of two equal-length vectors (None when either is constant or too short)."""
    a, b = np.ravel(a), np.ravel(b)
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return None
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def _key(a: Attribute) -> tuple[int, int, int]:
    return a.index, a.direction, a.target_class


def agreement(screened: list[Attribute], exact: list[Attribute], info: ScreenResult, exact_effects: np.ndarray,
              base_logits: np.ndarray, selection: SelectionConfig = SelectionConfig(), k: int = 10) -> dict:
    """How screening compares with the exhaustive search on the same images.

    Returns a dict: ``top_k_overlap`` (shared attributes among both top-k, divided by the exhaustive
    list's top-k length), ``exact_top_k_measured`` (fraction of the exhaustive top-k whose coordinate
    screening measured), ``rank_correlation_measured`` / ``rank_correlation_all`` (Spearman between the
    screening score and the exact score of the columns screening measured / of all columns, mean over
    target classes).
    """
    top_s, top_e = {_key(a) for a in screened[:k]}, [_key(a) for a in exact[:k]]
    exact_scores = column_scores(exact_effects, base_logits, selection)                  # [K, 2S]
    S = exact_effects.shape[2]
    measured = np.isin(np.arange(2 * S) % S, info.coords)                               # [2S]
    rho_m = [spearman(info.scores[c, measured], exact_scores[c, measured]) for c in range(len(exact_scores))]
    rho_a = [spearman(info.scores[c], exact_scores[c]) for c in range(len(exact_scores))]

    def mean(xs):
        xs = [x for x in xs if x is not None]
        return float(np.mean(xs)) if xs else None

    coords = set(info.coords.tolist())
    return {"k": k, "top_k_overlap": (sum(t in top_s for t in top_e) / len(top_e)) if top_e else None,
            "exact_top_k_measured": (sum(t[0] in coords for t in top_e) / len(top_e)) if top_e else None,
            "rank_correlation_measured": mean(rho_m), "rank_correlation_all": mean(rho_a)}


def verify(generator, classifier, latents, screened: list[Attribute], info: ScreenResult, test_latents,
           selection: SelectionConfig = SelectionConfig(), top_k: int = 10,
           **effects_kwargs) -> tuple[dict, EffectsResult, list[Attribute]]:
    """Run the exhaustive search on the same latents and compare it with the screened result.

    Args:
        generator, classifier, latents: as used for the screened run.
        screened: the attributes selected on the screened effects.
        info: the screening that produced them.
        test_latents: held-out latents for the flip rate of both lists.
        selection: selection constants (the same as the screened run's).
        top_k: size of the compared top lists and of the flip rate.
        **effects_kwargs: passed to :func:`stylex.explain.compute_effects`.

    Returns:
        ``(record, exhaustive effects, exhaustive attributes)``; the record is :func:`agreement`'s dict plus
        ``flip_rate`` ``{"screened", "exhaustive"}`` (top-k on ``test_latents``; None for an empty list),
        ``flip_rate_difference`` and ``exhaustive_seconds``.
    """
    import time

    from .metrics import flip_rate

    t0 = time.perf_counter()
    full = compute_effects(generator, classifier, latents, **effects_kwargs)
    seconds = time.perf_counter() - t0
    exact = select_attributes(full.effects, full.base_logits, selection)
    record = agreement(screened, exact, info, full.effects, full.base_logits, selection, top_k)
    rates = {name: (flip_rate(generator, classifier, test_latents, attrs, top_k, full.style_min, full.style_max,
                              device=effects_kwargs.get("device")).rate if attrs else None)
             for name, attrs in (("screened", screened), ("exhaustive", exact))}
    diff = None if None in rates.values() else abs(rates["screened"] - rates["exhaustive"])
    record.update(flip_rate=rates, flip_rate_difference=diff, flip_rate_images=int(len(test_latents)),
                  exhaustive_seconds=round(seconds, 2))
    return record, full, exact
