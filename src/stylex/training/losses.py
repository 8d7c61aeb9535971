"""StylEx loss terms, organised as StyleGAN2-style phases.

Phases (each returns a scalar to back-propagate and a dict of named terms for logging):
  * ``generator_encoder_path``: G and E reconstruct real images from E(x) ++ C(x):
    adversarial + 1.0 L1 + 0.1 LPIPS + 0.1 L1(E(x'), E(x)) + KL(C(x) || C(x')).
  * ``generator_mapping_path``: G samples from mapping(z) ++ p, p a class vector from the batch:
    adversarial + KL(p || C(G(.))).
  * ``generator_path_length``: lazy path-length regularisation (mapping path).
  * ``discriminator_main``: logistic loss on reals and the fakes of the G phase.
  * ``discriminator_r1``: lazy R1 gradient penalty on reals.

With an augmentation pipe (:mod:`stylex.training.augment`), every image D sees passes through it: reals and
fakes in D's loss and R1, fakes in G's adversarial terms. The reconstruction and classifier terms see the
images as they are. ``ramp`` (set by the loop: 0 during the encoder warm-up, rising to 1 over the ramp-up)
scales the adversarial and classifier-KL terms of both paths; a term whose weight is 0 is left out.

All images are ``[N, 3, H, W]`` in ``[-1, 1]``; class vectors ``p`` are softmax probabilities ``[N, K]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..models.lpips import upsample_for_lpips
from .config import LossWeights

def kl_divergence(p_ref: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """KL(p_ref || softmax(logits)) per sample: ``sum p_ref * (log p_ref - log q)`` -> ``[N]``."""
    log_q = F.log_softmax(logits.float(), dim=1)
    p = p_ref.float()
    return (p * (torch.log(p.clamp_min(1e-12)) - log_q)).sum(1)


@dataclass
class PhaseResult:
    """What a phase hands back to the loop."""

    loss: torch.Tensor                   # scalar to back-propagate
    terms: dict[str, torch.Tensor]       # raw (unweighted) per-term means, detached
    fake: torch.Tensor | None = None     # generated images (for the D phase), detached by the caller
    fake_probs: torch.Tensor | None = None  # the class vector the fakes were generated with
    agreement: torch.Tensor | None = None   # encoder path: argmax C(x') == argmax C(x), per sample


class StylexLoss:
    """Computes the StylEx loss phases for one micro-batch.

    Args:
        G: generator (``mapping``, ``condition``, ``forward(latent, noise_mode)``).
        E: encoder, images -> ``[N, w_dim]``.
        D: conditional discriminator, ``(images, probs) -> [N]``.
        classifier: frozen classifier, images in [-1, 1] -> logits ``[N, K]``.
        weights: loss weights.
        lpips: an LPIPS module (images in [-1, 1] -> ``[N]``), or None when ``weights.rec_lpips == 0``.
        z_dim: width of the mapping network's input.
        augment: optional differentiable augmentation applied to every image D sees.
        eager: optional uncompiled ``(G, D)`` for the lazy regularisers (path length, R1), which
            need double backward; ``torch.compile``'d modules cannot differentiate their backward.
            Default: ``G`` and ``D`` themselves.
    """

    def __init__(self, G: nn.Module, E: nn.Module, D: nn.Module, classifier: nn.Module,
                 weights: LossWeights, lpips: nn.Module | None, z_dim: int, augment: nn.Module | None = None,
                 eager: tuple[nn.Module, nn.Module] | None = None):
        self.G, self.E, self.D, self.C = G, E, D, classifier
        self.G_reg, self.D_reg = eager if eager is not None else (G, D)
        self.w = weights
        self.lpips = lpips
        self.z_dim = z_dim
        self.augment = augment
        self.pl_mean = torch.zeros([])
        self.ramp = 1.0        # scale of the adversarial and KL terms: 0 in the encoder warm-up, then up to 1

    def _D(self, images: torch.Tensor, probs: torch.Tensor, D: nn.Module | None = None) -> torch.Tensor:
        """The discriminator (``self.D`` unless given) on (augmented) images."""
        if self.augment is not None:
            images = self.augment(images)
        return (self.D if D is None else D)(images, probs)

    # ------------------------------------------------------------------ helpers
    @torch.no_grad()
    def class_probs(self, real: torch.Tensor) -> torch.Tensor:
        """The classifier's softmax probabilities on real images ``[N, K]`` (no gradient)."""
        return F.softmax(self.C(real).float(), dim=1)

    def _lpips(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x, y = upsample_for_lpips(x, y)
        return self.lpips(x.float(), y.float())

    # ------------------------------------------------------------------ G phases
    def generator_encoder_path(self, real: torch.Tensor, probs: torch.Tensor) -> PhaseResult:
        """Reconstruct ``real`` from E(x) ++ C(x) and score it (docs/METHOD.md section 3)."""
        w_real = self.E(real)                                   # [N, w_dim]
        latent = self.G.condition(w_real, probs.to(w_real.dtype))  # [N, w_dim + K]
        fake = self.G(latent, noise_mode="random")              # [N, 3, H, W]
        terms: dict[str, torch.Tensor] = {}
        total = torch.zeros([], device=real.device)
        adv_weight = self.ramp * self.w.adv * self.w.rec_adv_scale
        if adv_weight > 0:
            adv = F.softplus(-self._D(fake, probs)).float().mean()
            terms["G_adv"] = adv
            total = total + adv_weight * adv
        l1 = (fake.float() - real.float()).abs().mean()
        terms["G_rec_l1"] = l1
        total = total + self.w.rec_l1 * l1
        if self.w.rec_lpips > 0 and self.lpips is not None:
            lp = self._lpips(fake, real).mean()
            terms["G_rec_lpips"] = lp
            total = total + self.w.rec_lpips * lp
        if self.w.rec_latent > 0:
            w_fake = self.E(fake)
            lat = (w_fake.float() - w_real.float()).abs().mean()
            terms["G_rec_latent"] = lat
            total = total + self.w.rec_latent * lat
        kl_weight = self.ramp * self.w.cls_kl * self.w.rec_kl_scale
        if kl_weight > 0:
            logits_fake = self.C(fake)
            kl = kl_divergence(probs, logits_fake).mean()
            terms["G_cls_kl"] = kl
            total = total + kl_weight * kl
        else:
            with torch.no_grad():
                logits_fake = self.C(fake.detach())
        agreement = (logits_fake.argmax(1) == probs.argmax(1)).float()
        terms = {k: v.detach() for k, v in terms.items()}
        return PhaseResult(total, terms, fake, probs, agreement.detach())

    def generator_mapping_path(self, probs: torch.Tensor) -> PhaseResult:
        """Sample from mapping(z) ++ ``probs`` and score it (adversarial + classifier KL)."""
        n = probs.shape[0]
        z = torch.randn([n, self.z_dim], device=probs.device)
        w = self.G.mapping(z)
        fake = self.G(self.G.condition(w, probs.to(w.dtype)), noise_mode="random")
        adv = F.softplus(-self._D(fake, probs)).float().mean()
        kl = kl_divergence(probs, self.C(fake)).mean()
        total = self.ramp * self.w.adv * adv + self.ramp * self.w.cls_kl * kl
        terms = {"G_adv_map": adv.detach(), "G_cls_kl_map": kl.detach()}
        return PhaseResult(total, terms, fake, probs)

    def generator_path_length(self, probs: torch.Tensor, interval: int, decay: float) -> PhaseResult:
        """Lazy path-length regularisation on the mapping path (multiplied by ``interval``)."""
        n = probs.shape[0]
        z = torch.randn([n, self.z_dim], device=probs.device)
        w = self.G_reg.mapping(z)
        fake = self.G_reg(self.G_reg.condition(w, probs.to(w.dtype)), noise_mode="random").float()
        noise = torch.randn_like(fake) / math.sqrt(fake.shape[2] * fake.shape[3])
        (grad,) = torch.autograd.grad((fake * noise).sum(), w, create_graph=True)
        lengths = grad.square().sum(1).sqrt()                   # [N]
        pl_mean = self.pl_mean.to(lengths.device)
        pl_mean = pl_mean + decay * (lengths.detach().mean() - pl_mean)
        self.pl_mean = pl_mean.detach()
        penalty = (lengths - pl_mean).square().mean()
        # `fake[:, 0, 0, 0] * 0` keeps every synthesis parameter in the graph (as NVlabs does).
        loss = (penalty * self.w.pl_weight + fake[:, 0, 0, 0].mean() * 0) * interval
        return PhaseResult(loss, {"G_pl_penalty": penalty.detach(), "G_pl_mean": pl_mean.detach()})

    # ------------------------------------------------------------------ D phases
    def discriminator_main(self, real: torch.Tensor, real_probs: torch.Tensor,
                           fake: torch.Tensor, fake_probs: torch.Tensor) -> PhaseResult:
        """Logistic loss: fakes scored low, reals high."""
        d_fake = self._D(fake.detach(), fake_probs).float()
        d_real = self._D(real, real_probs).float()
        loss = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
        terms = {"D_loss": loss.detach(), "D_real": d_real.mean().detach(),
                 "D_fake": d_fake.mean().detach(), "D_real_sign": torch.sign(d_real.detach()).mean()}
        return PhaseResult(loss, terms)

    def discriminator_r1(self, real: torch.Tensor, real_probs: torch.Tensor, interval: int) -> PhaseResult:
        """Lazy R1 penalty ``gamma / 2 * |grad_x D(x)|^2`` on reals (multiplied by ``interval``)."""
        real = real.detach().requires_grad_(True)
        d_real = self._D(real, real_probs, self.D_reg).float()
        (grad,) = torch.autograd.grad(d_real.sum(), real, create_graph=True)
        penalty = grad.square().sum([1, 2, 3]).mean()
        loss = (penalty * (self.w.r1_gamma / 2) + d_real.mean() * 0) * interval
        return PhaseResult(loss, {"D_r1_penalty": penalty.detach()})
