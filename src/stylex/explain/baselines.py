"""Baselines for AttFind: Wu et al. (StyleSpace analysis, as in the replication) and random coordinates.

Both return :class:`~stylex.explain.selection.Attribute` records with the same meaning as AttFind's,
so the flip rate treats all three alike. With two classes (``merge_two_class=True``) they return one
list of moves towards class 0 (``target_class = 0``), like AttFind's merged list.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import StylexError
from .selection import Attribute


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def wu_relevance(styles: np.ndarray, probs: np.ndarray, target_class: int,
                 positive_threshold: float = 0.9, min_positives: int = 2) -> tuple[np.ndarray, np.ndarray] | None:
    """Wu et al.'s per-coordinate relevance for one class (docs/METHOD.md section 6).

    Each coordinate is standardised by its mean and std over all N images; for the positives
    (``probs[:, c] > positive_threshold``) ``relevance_k = |mean_k| / std_k`` of the standardised values.

    Args:
        styles: ``[N, S]`` StyleSpace vectors.
        probs: ``[N, K]`` classifier probabilities.
        target_class: class c.
        positive_threshold: probability above which an image is a positive.
        min_positives: fewer positives than this -> None (the std over positives is meaningless).

    Returns:
        ``(relevance [S], direction [S])`` with direction 1 ("max") where the positives' mean is above
        the population mean (moving the coordinate up pushes towards c), else 0; or None.
    """
    styles, probs = _as_numpy(styles), _as_numpy(probs)
    pos = probs[:, target_class] > positive_threshold              # [N]
    if int(pos.sum()) < min_positives:
        return None
    mu, sd = styles.mean(axis=0), styles.std(axis=0)               # [S]; ddof=0
    z = (styles - mu) / np.where(sd > 0, sd, 1.0)                  # [N, S]; constant coords -> 0
    zp = z[pos]
    mean_p, std_p = zp.mean(axis=0), zp.std(axis=0)                # [S]
    # std floor: a coordinate constant over the positives but shifted is maximally relevant, not inf/NaN
    relevance = np.abs(mean_p) / np.maximum(std_p, 1e-6)
    return relevance, (mean_p > 0).astype(np.int64)


def wu_attributes(styles, probs, num_attributes: int = 10, positive_threshold: float = 0.9,
                  merge_two_class: bool = True) -> list[Attribute]:
    """Wu et al. baseline: rank coordinates by relevance for each class.

    Two classes (merged): each class's top ``num_attributes`` coordinates, class 1's re-expressed as
    moves towards class 0 by flipping the direction; all sorted by relevance (descending, stable) and
    a coordinate occurring twice keeps only its more relevant entry. The result has up to
    ``2 * num_attributes`` entries, like AttFind's merged list. Otherwise one-vs-all: each class's top
    ``num_attributes``, all sorted by relevance. Classes with fewer than two positives are skipped
    with a warning.

    Args:
        styles: ``[N, S]`` StyleSpace vectors of the AttFind images.
        probs: ``[N, K]`` classifier probabilities on the generated images.
        num_attributes: coordinates per class.
        positive_threshold: probability above which an image counts as a positive (0.9).
        merge_two_class: merged "towards class 0" list when K == 2.

    Returns:
        Attributes, best first, score = relevance.
    """
    styles_np, probs_np = _as_numpy(styles), _as_numpy(probs)
    if styles_np.ndim != 2 or probs_np.ndim != 2 or len(styles_np) != len(probs_np):
        raise StylexError(f"Wu baseline got styles {styles_np.shape} and probs {probs_np.shape}: "
                          "expected [N, S] and [N, K] for the same N images")
    K = probs_np.shape[1]
    merged = K == 2 and merge_two_class
    entries: list[tuple[float, int, int, int]] = []                # (relevance, index, direction, class)
    for c in range(K):
        rel = wu_relevance(styles_np, probs_np, c, positive_threshold)
        if rel is None:
            warnings.warn(f"Wu baseline: fewer than 2 images with p(class {c}) > {positive_threshold}; "
                          "class skipped", stacklevel=2)
            continue
        relevance, direction = rel
        top = np.argsort(-relevance, kind="stable")[:num_attributes]
        for k in top:
            d = int(direction[k])
            if merged and c == 1:
                entries.append((float(relevance[k]), int(k), 1 - d, 0))
            else:
                entries.append((float(relevance[k]), int(k), d, c))
    entries.sort(key=lambda e: e[0], reverse=True)
    if merged:
        seen: set[int] = set()
        unique = []
        for e in entries:
            if e[1] not in seen:
                seen.add(e[1])
                unique.append(e)
        entries = unique
    return [Attribute(rank=r + 1, index=k, direction=d, target_class=c, score=s)
            for r, (s, k, d, c) in enumerate(entries)]


def random_attributes(num_coords: int, num_classes: int, num_attributes: int, seed: int = 0,
                      merge_two_class: bool = True) -> list[Attribute]:
    """Random baseline: random distinct coordinates with random directions (seeded).

    Args:
        num_coords: S.
        num_classes: K.
        num_attributes: how many attributes in total (use ``len(attfind_list)`` to match AttFind's count).
        seed: random seed.
        merge_two_class: K == 2 -> every entry is a move "towards class 0" (as AttFind's merged list);
            otherwise entries cycle through the target classes 0, 1, ..., K-1.

    Returns:
        Attributes with score 0.
    """
    if num_attributes > num_coords:
        raise StylexError(f"random baseline: {num_attributes} attributes asked for but the style space "
                          f"has only {num_coords} coordinates; lower num_attributes")
    rng = np.random.default_rng(seed)
    index = rng.choice(num_coords, size=num_attributes, replace=False)
    direction = rng.integers(0, 2, size=num_attributes)
    merged = num_classes == 2 and merge_two_class
    return [Attribute(rank=r + 1, index=int(index[r]), direction=int(direction[r]),
                      target_class=0 if merged else r % num_classes, score=0.0)
            for r in range(num_attributes)]
