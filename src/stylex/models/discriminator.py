"""Residual StyleGAN2 discriminator trunk, used twice: the conditional :class:`Discriminator` and the
:class:`Encoder` (docs/METHOD.md section 2).

Stack: :class:`DiscriminatorBlock` ``b{res}`` (fromRGB only at the top block, conv0, conv1 with 2x FIR
downsampling, 1x1 downsampling skip, ``(x + skip) * sqrt(0.5)``) -> :class:`DiscriminatorEpilogue`
``b4`` (optional minibatch-stddev, 3x3 conv, FC, output FC). Names read like NVlabs'
(``b64.conv1.weight``, ``b4.fc.weight``).

* :class:`Encoder`: the same trunk with **no** minibatch-stddev (an encoding never depends on the
  rest of the batch) and an output FC to ``w_dim``.
* :class:`Discriminator`: with minibatch-stddev; the epilogue outputs one logit per class and the
  result is their probability-weighted sum ``(out * probs).sum(1)`` (projection conditioning, "multiply
  the output of the discriminator with the conditional input"). No ``1/sqrt(K)`` scaling: with
  probabilities summing to 1 the result is a convex combination of per-class logits.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import NetworkConfig, block_resolutions, channels_at
from .layers import Conv2dLayer, FullyConnectedLayer, MinibatchStdLayer, assert_shape


class DiscriminatorBlock(nn.Module):
    """Residual block at resolution ``res``: ``[N, C_in, r, r] -> [N, C_out, r/2, r/2]``."""

    def __init__(self,
                 in_channels: int,                 # input feature maps; 0 for the top block (fromRGB)
                 tmp_channels: int,                # feature maps of conv0
                 out_channels: int,                # output feature maps
                 resolution: int,                  # input resolution
                 img_channels: int = 3,            # image channels
                 conv_clamp: float | None = None): # clamp conv outputs to +-X (None: off)
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None) -> torch.Tensor:
        """``x`` ``[N, C_in, r, r]`` (or ``img`` ``[N, 3, r, r]`` at the top) -> ``[N, C_out, r/2, r/2]``."""
        if self.in_channels == 0:
            y = self.fromrgb(img)
            x = y if x is None else x + y
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv0(x)
        x = self.conv1(x, gain=math.sqrt(0.5))
        return y + x

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, in_channels={self.in_channels}"


class DiscriminatorEpilogue(nn.Module):
    """``b4``: [mbstd] -> conv 3x3 -> FC(lrelu) -> FC(out_features): ``[N, C, 4, 4] -> [N, out_features]``."""

    def __init__(self,
                 in_channels: int,                 # feature maps at 4x4
                 out_features: int,                # output width (K logits, or w_dim for the encoder)
                 resolution: int = 4,              # input resolution
                 mbstd_group: int = 4,             # minibatch-stddev group size
                 mbstd_channels: int = 1,          # minibatch-stddev channels (0: off)
                 conv_clamp: float | None = None): # clamp conv outputs to +-X (None: off)
        super().__init__()
        self.in_channels, self.resolution = in_channels, resolution
        self.mbstd = MinibatchStdLayer(mbstd_group, mbstd_channels) if mbstd_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution ** 2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, self.in_channels, self.resolution, self.resolution])
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        return self.out(x)


class _ResidualTrunk(nn.Module):
    """Shared constructor: blocks ``b{R} .. b8`` and the ``b4`` epilogue."""

    def __init__(self, cfg: NetworkConfig, out_features: int, mbstd_channels: int,
                 conv_clamp: float | None = None):
        super().__init__()
        self.cfg = cfg
        self.img_resolution = cfg.resolution
        self.block_resolutions = [r for r in reversed(block_resolutions(cfg.resolution)) if r > 4]
        ch = lambda r: channels_at(r, cfg.channel_base, cfg.channel_max)  # noqa: E731
        for res in self.block_resolutions:
            in_ch = ch(res) if res < cfg.resolution else 0
            setattr(self, f"b{res}", DiscriminatorBlock(in_ch, ch(res), ch(res // 2), res, conv_clamp=conv_clamp))
        self.b4 = DiscriminatorEpilogue(ch(4), out_features, 4, cfg.mbstd_group, mbstd_channels, conv_clamp)

    def trunk(self, img: torch.Tensor) -> torch.Tensor:
        """``img`` ``[N, 3, R, R]`` -> epilogue output ``[N, out_features]``."""
        assert_shape(img, [None, 3, self.img_resolution, self.img_resolution])
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        if x is None:                                       # resolution 4: no blocks, fromRGB-less input
            raise ValueError("resolution 4 has no discriminator blocks")
        return self.b4(x)


class Encoder(_ResidualTrunk):
    """``E``: images ``[N, 3, R, R]`` in [-1, 1] -> ``w`` ``[N, w_dim]``; no minibatch-stddev."""

    def __init__(self, cfg: NetworkConfig, conv_clamp: float | None = None):
        """
        Args:
            cfg: network configuration.
            conv_clamp: clamp conv outputs to +-X (None: off).
        """
        super().__init__(cfg, cfg.w_dim, mbstd_channels=0, conv_clamp=conv_clamp)
        self.w_dim = cfg.w_dim

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """Encode ``img`` ``[N, 3, R, R]`` -> ``[N, w_dim]``."""
        return self.trunk(img)


class Discriminator(_ResidualTrunk):
    """``D``: residual, minibatch-stddev, projection-conditioned on class probabilities."""

    def __init__(self, cfg: NetworkConfig, conv_clamp: float | None = None):
        """
        Args:
            cfg: network configuration (``num_classes`` outputs, ``mbstd_group``).
            conv_clamp: clamp conv outputs to +-X (None: off).
        """
        super().__init__(cfg, cfg.num_classes, mbstd_channels=1, conv_clamp=conv_clamp)
        self.num_classes = cfg.num_classes

    def forward(self, img: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """Score ``img`` ``[N, 3, R, R]`` given class probabilities ``probs`` ``[N, K]`` -> logits ``[N]``."""
        out = self.trunk(img)                                 # [N, K]
        assert_shape(probs, [img.shape[0], self.num_classes])
        return (out * probs.to(out.dtype)).sum(dim=1)
