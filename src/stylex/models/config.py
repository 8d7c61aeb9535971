"""Sizes of the StylEx networks: :class:`NetworkConfig` and the channel/resolution formulas.

A leaf module (it imports nothing else of the package's models), so the generator, the encoder,
the discriminator and the training configuration all import it at run time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from ..errors import StylexError

SUPPORTED_RESOLUTIONS = (32, 64, 128, 256)   # what the project trains and documents
ALLOWED_RESOLUTIONS = tuple(2 ** i for i in range(3, 11))  # 8..1024 build (tests use 16)


def channels_at(res: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at resolution ``res``: ``min(channel_base // res, channel_max)``."""
    return min(channel_base // res, channel_max)


def block_resolutions(resolution: int) -> list[int]:
    """``[4, 8, ..., resolution]``."""
    return [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the StyleGAN2 generator, encoder and discriminator."""

    resolution: int = 64          # 32..256 supported (8..1024 build), power of two
    num_classes: int = 2          # K (filled in from the classifier when training starts)
    z_dim: int = 512              # mapping input width
    w_dim: int = 512              # mapping output width == encoder output width
    mapping_layers: int = 8       # depth of the mapping network
    channel_base: int = 32768     # channels at res r: min(channel_base // r, channel_max); 32768 gives S=5760 at 256 px
    channel_max: int = 512
    mbstd_group: int = 4          # minibatch-stddev group size in D (the encoder has none)

    def validate(self) -> "NetworkConfig":
        """Raise :class:`StylexError` for impossible settings; return ``self``."""
        if self.resolution not in ALLOWED_RESOLUTIONS:
            raise StylexError(f"network resolution {self.resolution} is not supported (option 'resolution'): "
                              f"use a power of two in {SUPPORTED_RESOLUTIONS[0]}..{SUPPORTED_RESOLUTIONS[-1]}")
        if self.num_classes < 1:
            raise StylexError(f"num_classes={self.num_classes} in the network config: need at least 1 class")
        for name in ("z_dim", "w_dim", "mapping_layers", "mbstd_group"):
            if getattr(self, name) < 1:
                raise StylexError(f"network option '{name}' must be >= 1, got {getattr(self, name)}")
        if self.channel_max < 1 or self.channel_base < self.resolution:
            raise StylexError(f"network channels: channel_base={self.channel_base} must be >= resolution "
                              f"({self.resolution}) and channel_max={self.channel_max} >= 1")
        return self

    def channels(self, res: int) -> int:
        """Feature maps at resolution ``res``."""
        return channels_at(res, self.channel_base, self.channel_max)

    @property
    def c_dim(self) -> int:
        """Width of the synthesis latent ``w ++ p``."""
        return self.w_dim + self.num_classes

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkConfig":
        """Build from a dict (e.g. a run's ``config.json``); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise StylexError(f"unknown network options in config: {', '.join(unknown)}")
        return cls(**d).validate()
