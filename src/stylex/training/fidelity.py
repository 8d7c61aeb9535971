"""Does a reconstruction identify its original? The identity metric, and the held-out probe of training.

A reconstruction that keeps only colour and pose (a "generic face") can score a fair LPIPS and still
belong to none of its originals; an explanation edited on it explains *a* face, not *this* face. The
identity score asks the question directly: among M held-out originals, is the nearest one (by LPIPS) to
reconstruction i the original i? Generic reconstructions score about 1/M; faithful ones near 1.

:class:`FidelityProbe` measures this, with LPIPS and class agreement, on a fixed set of held-out images
during ``stylex train`` (a stats.jsonl row every few ticks), so a user watches fidelity improve.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..models.lpips import upsample_for_lpips


def identity_scores(dist: torch.Tensor | np.ndarray, classes: np.ndarray | None = None,
                    num_classes: int = 0) -> dict[str, Any]:
    """Nearest-original identification from a distance matrix.

    Args:
        dist: ``[M, M]`` with ``dist[i, j]`` = distance between reconstruction i and original j.
        classes: optional ``[M]`` class of each original (the classifier's), for the per-class scores.
        num_classes: number of classes (with ``classes``).

    Returns:
        ``{"identity_top1": fraction of i whose nearest original is i, "identity_top5": fraction with i
        among the 5 nearest, "identity_chance": 1 / M, "identity_by_class": {c: {"n", "top1", "top5"}}}``.
        Ties count against the reconstruction (an original tied with i is ranked before it).
    """
    d = torch.as_tensor(dist, dtype=torch.float64)
    m = d.shape[0]
    if d.ndim != 2 or d.shape[1] != m or m < 2:
        raise ValueError(f"identity needs a square distance matrix of at least 2 x 2, got {tuple(d.shape)}")
    own = d.diagonal().view(m, 1)
    rank = (d <= own).sum(1) - 1          # how many other originals are at least as close as the own one
    top1, top5 = (rank < 1).double(), (rank < 5).double()
    out: dict[str, Any] = {"identity_top1": float(top1.mean()), "identity_top5": float(top5.mean()),
                           "identity_chance": 1.0 / m}
    if classes is not None:
        cls = torch.as_tensor(np.asarray(classes))
        out["identity_by_class"] = {
            str(c): {"n": int((cls == c).sum()),
                     "top1": float(top1[cls == c].mean()) if (cls == c).any() else None,
                     "top5": float(top5[cls == c].mean()) if (cls == c).any() else None}
            for c in range(num_classes)}
    return out


HELDOUT_SEED = 20211001    # fixed: the same held-out images for every run, seed and command


def heldout_order(num_images: int) -> np.ndarray:
    """A fixed random order of the ``num_images`` held-out (val split) images.

    ``stylex train``'s fidelity rows use its first ``--fidelity-images`` entries and ``stylex evaluate``'s
    identity score its first ``identity_images``, so with equal counts (100 by default) the number a user
    watched during training is measured again, on the same images, in metrics.json and the report.
    """
    return np.random.default_rng(HELDOUT_SEED).permutation(num_images)


class FidelityProbe:
    """Reconstruction fidelity of the EMA generator on fixed held-out images, for ``stylex train``'s stats.

    Args:
        images: ``[M, 3, H, W]`` held-out images in [-1, 1] (kept on their device).
        lpips: an LPIPS module (its ``pairwise``); the probe measures nothing without it.
        batch_size: images per network call.
    """

    def __init__(self, images: torch.Tensor, lpips, batch_size: int = 50):
        self.images = images
        self.lpips = lpips
        self.batch = batch_size

    @torch.no_grad()
    def __call__(self, G, E, classifier) -> dict[str, float]:
        """``heldout_lpips``, ``heldout_identity_top1/top5`` and ``heldout_agreement`` of ``G(E(x) ++ C(x))``."""
        recons, agree = [], []
        for x in self.images.split(self.batch):
            logits = classifier(x).float()
            r = G(G.condition(E(x), F.softmax(logits, 1)), noise_mode="const")
            agree.append((classifier(r).float().argmax(1) == logits.argmax(1)).float())
            recons.append(r)
        recon = torch.cat(recons)
        dist = self.lpips.pairwise(*upsample_for_lpips(recon.float(), self.images.float()), self.batch)
        ids = identity_scores(dist)
        return {"heldout_lpips": float(dist.diagonal().mean()), "heldout_identity_top1": ids["identity_top1"],
                "heldout_identity_top5": ids["identity_top5"], "heldout_agreement": float(torch.cat(agree).mean())}
