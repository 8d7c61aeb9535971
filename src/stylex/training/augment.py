"""Differentiable augmentation of everything the discriminator sees, with ADA's adaptive strength.

Small data sets (the 4,000-9,000 images of the shared CelebA and cats vs dogs sets) let a StyleGAN2
discriminator memorise its reals, after which its gradients stop teaching the generator (Karras et al.
2020, "Training Generative Adversarial Networks with Limited Data"). The cure used here is theirs: every
image D sees, real or generated, in D's loss and in G's adversarial terms, passes through the same random
augmentation with probability ``p`` per operation, and ``p`` is steered so that D stays unsure of its reals.
The reconstruction and classifier terms never see augmented images.

Operations (each applied per image with probability ``p``, all differentiable w.r.t. the image, the
identity at ``p = 0``):

* ``xflip``: mirror left-right;
* ``translate``: integer shift by up to 1/8 of the size in x and y (reflection padding, so no black bars);
* ``brightness`` / ``contrast`` / ``saturation``: ADA's colour transforms (additive N(0, 0.2); log-normal
  scale with std 0.5 log 2 around the image mean; log-normal scale with std log 2 around the luma);
* ``cutout``: a square of half the image size at a random centre set to 0 (mid grey in [-1, 1]).

The ADA heuristic: ``r_t = E[sign(D(real))]`` over the last ``interval`` steps; ``p`` moves by
``sign(r_t - target) * images / (ada_kimg * 1000)`` (``target`` 0.6, as ADA).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import StylexError

AUGMENT_MODES = ("auto", "ada", "fixed", "none")
# Below this many training images ``--augment auto`` means ADA; above it, none (ADA's own guidance).
ADA_AUTO_MAX_IMAGES = 30_000
# ITU-R BT.601 luma weights, for the saturation transform.
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class AugmentSpec:
    """A parsed ``--augment`` value: ``mode`` is ada | fixed | none, ``p`` the fixed or starting strength."""

    mode: str
    p: float = 0.0

    @property
    def adaptive(self) -> bool:
        return self.mode == "ada"


def parse_augment(value: str, num_images: int | None = None) -> AugmentSpec:
    """Parse ``ada``, ``fixed:P``, ``none`` or ``auto`` (ADA below 30k training images, else none).

    Args:
        value: the option's text.
        num_images: size of the training set (needed to resolve ``auto``; None keeps ``auto`` as ADA).

    Raises:
        StylexError: an unknown mode or a probability outside [0, 1].
    """
    text = value.strip().lower()
    if text == "auto":
        small = num_images is None or num_images < ADA_AUTO_MAX_IMAGES
        return AugmentSpec("ada" if small else "none")
    if text in ("ada", "none"):
        return AugmentSpec(text)
    if text.startswith("fixed:"):
        try:
            p = float(text.split(":", 1)[1])
        except ValueError:
            p = math.nan
        if not 0.0 <= p <= 1.0:
            raise StylexError(f"--augment {value!r}: the probability after 'fixed:' must be in [0, 1], e.g. fixed:0.3")
        return AugmentSpec("fixed", p)
    raise StylexError(f"--augment {value!r}: use ada, fixed:P (P in [0, 1]), none or auto")


class AugmentPipe(nn.Module):
    """Random, differentiable image augmentation with a shared strength ``p`` (a buffer, checkpointed).

    Args:
        p: starting probability of each operation.
        translate_frac: largest shift as a fraction of the image size.
        cutout_frac: side of the cutout square as a fraction of the image size.
    """

    def __init__(self, p: float = 0.0, translate_frac: float = 0.125, cutout_frac: float = 0.5):
        super().__init__()
        self.translate_frac = translate_frac
        self.cutout_frac = cutout_frac
        self.register_buffer("p", torch.tensor(float(p)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Augment ``x`` ``[N, 3, H, W]`` (any range; [-1, 1] here); returns the same shape."""
        p = float(self.p)
        if p <= 0:
            return x
        x = self._xflip(x, p)
        x = self._translate(x, p)
        x = self._color(x, p)
        return self._cutout(x, p)

    # ------------------------------------------------------------------ operations
    @staticmethod
    def _chosen(n: int, p: float, device: torch.device) -> torch.Tensor:
        """``[N]`` bool: which images an operation applies to."""
        return torch.rand([n], device=device) < p

    def _xflip(self, x: torch.Tensor, p: float) -> torch.Tensor:
        mask = self._chosen(x.shape[0], p, x.device).view(-1, 1, 1, 1)
        return torch.where(mask, x.flip(3), x)

    def _translate(self, x: torch.Tensor, p: float) -> torch.Tensor:
        n, _, h, w = x.shape
        pad = max(1, int(round(max(h, w) * self.translate_frac)))
        on = self._chosen(n, p, x.device)
        shift = torch.randint(-pad, pad + 1, [n, 2], device=x.device) * on.view(-1, 1)
        xp = nn.functional.pad(x, [pad, pad, pad, pad], mode="reflect")      # [N, C, H + 2pad, W + 2pad]
        rows = torch.arange(h, device=x.device).view(1, h) + pad - shift[:, 1:2]   # [N, H]
        cols = torch.arange(w, device=x.device).view(1, w) + pad - shift[:, 0:1]   # [N, W]
        idx = torch.arange(n, device=x.device).view(n, 1, 1)
        out = xp.permute(0, 2, 3, 1)[idx, rows.view(n, h, 1), cols.view(n, 1, w)]  # [N, H, W, C]
        return out.permute(0, 3, 1, 2)

    def _color(self, x: torch.Tensor, p: float) -> torch.Tensor:
        n = x.shape[0]
        dev, dt = x.device, x.dtype
        ones = torch.ones([n, 1, 1, 1], device=dev, dtype=dt)
        b = torch.randn([n, 1, 1, 1], device=dev, dtype=dt) * 0.2
        x = x + torch.where(self._chosen(n, p, dev).view(-1, 1, 1, 1), b, torch.zeros_like(b))
        c = torch.exp2(torch.randn([n, 1, 1, 1], device=dev, dtype=dt) * 0.5)
        c = torch.where(self._chosen(n, p, dev).view(-1, 1, 1, 1), c, ones)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * c + mean
        s = torch.exp2(torch.randn([n, 1, 1, 1], device=dev, dtype=dt))
        s = torch.where(self._chosen(n, p, dev).view(-1, 1, 1, 1), s, ones)
        luma = (x * torch.tensor(_LUMA, device=dev, dtype=dt).view(1, 3, 1, 1)).sum(1, keepdim=True)
        return (x - luma) * s + luma

    def _cutout(self, x: torch.Tensor, p: float) -> torch.Tensor:
        n, _, h, w = x.shape
        on = self._chosen(n, p, x.device).view(-1, 1, 1)
        centre = torch.rand([n, 2, 1], device=x.device)                        # [N, (y, x), 1] in [0, 1)
        ys = (torch.arange(h, device=x.device).view(1, h) + 0.5) / h          # [1, H]
        xs = (torch.arange(w, device=x.device).view(1, w) + 0.5) / w          # [1, W]
        inside_y = (ys - centre[:, 0]).abs() < self.cutout_frac / 2           # [N, H]
        inside_x = (xs - centre[:, 1]).abs() < self.cutout_frac / 2           # [N, W]
        cut = inside_y.unsqueeze(2) & inside_x.unsqueeze(1) & on              # [N, H, W]
        return x * (~cut).unsqueeze(1).to(x.dtype)


class AdaptiveStrength:
    """ADA's controller of ``pipe.p``: fed ``E[sign(D(real))]`` of every step, it adjusts ``p`` every ``interval`` steps.

    Args:
        pipe: the augmentation pipe whose ``p`` is steered.
        target: the wanted ``r_t = E[sign(D(real))]`` (0.6 in ADA).
        interval: steps between adjustments.
        ada_kimg: thousands of images over which ``p`` can move by 1 at most.
    """

    def __init__(self, pipe: AugmentPipe, target: float = 0.6, interval: int = 4, ada_kimg: float = 100.0):
        self.pipe, self.target, self.interval, self.ada_kimg = pipe, target, interval, ada_kimg
        self.sign_sum = 0.0
        self.count = 0
        self.last_rt = float("nan")   # r_t of the last adjustment (nan before the first)

    def step(self, real_sign: float, batch_images: int) -> None:
        """Record one optimiser step's mean ``sign(D(real))`` (over all processes); adjust ``p`` when due.

        Args:
            real_sign: mean of ``sign(D(aug(real)))`` over the step's real images.
            batch_images: images per step over all processes.
        """
        self.sign_sum += float(real_sign)
        self.count += 1
        if self.count < self.interval:
            return
        self.last_rt = self.sign_sum / self.count
        delta = math.copysign(1.0, self.last_rt - self.target) * batch_images * self.count / (self.ada_kimg * 1000)
        self.pipe.p.copy_((self.pipe.p + delta).clamp(0.0, 1.0))
        self.sign_sum, self.count = 0.0, 0

    def state_dict(self) -> dict[str, float]:
        return {"sign_sum": self.sign_sum, "count": self.count, "last_rt": self.last_rt}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.sign_sum, self.count, self.last_rt = float(state["sign_sum"]), int(state["count"]), float(state["last_rt"])
