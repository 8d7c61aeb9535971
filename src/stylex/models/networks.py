"""Network configuration and construction of the StylEx networks (G, E, D).

```python
from stylex.models.networks import NetworkConfig, build_networks
cfg = NetworkConfig(resolution=64, num_classes=2)
G, E, D = build_networks(cfg)
latent = G.condition(E(images), probs)                 # [N, w_dim + K]
styles = G.styles(latent); img = G.synthesize(styles)  # StyleSpace round trip
```
"""

from __future__ import annotations

from torch import nn

from .config import SUPPORTED_RESOLUTIONS, NetworkConfig, block_resolutions
from .discriminator import Discriminator, Encoder
from .generator import Generator, StyleLayout


def build_networks(cfg: NetworkConfig) -> tuple[Generator, Encoder, Discriminator]:
    """Construct freshly initialised ``(G, E, D)`` on the CPU.

    Args:
        cfg: network configuration (validated here).

    Returns:
        ``(Generator, Encoder, Discriminator)``.
    """
    cfg.validate()
    return Generator(cfg), Encoder(cfg), Discriminator(cfg)


def count_flops_per_image(module_or_cfg: nn.Module | NetworkConfig) -> dict[str, int]:
    """Analytic multiply-accumulates (MACs) of one image's forward pass, by network.

    Counts convolutions (including modulated convs, 1x1 toRGB/fromRGB/skip convs and the depthwise
    FIR filters) and fully connected layers; ignores element-wise ops, style modulation and noise.
    FLOPs ~= 2 * MACs; a training step costs about 3x the forward.

    Args:
        module_or_cfg: a :class:`NetworkConfig`, or a Generator / Encoder / Discriminator (uses its ``cfg``).

    Returns:
        ``{"G": macs, "mapping": macs, "E": macs, "D": macs}`` (``G`` includes ``mapping``).
    """
    cfg = module_or_cfg if isinstance(module_or_cfg, NetworkConfig) else module_or_cfg.cfg
    ch = cfg.channels
    fir = 16                                             # 4x4 depthwise FIR taps
    # mapping: z_dim -> w_dim -> ... -> w_dim
    mapping = cfg.z_dim * cfg.w_dim + (cfg.mapping_layers - 1) * cfg.w_dim * cfg.w_dim
    synth = 0
    for res in block_resolutions(cfg.resolution):
        c_out = ch(res)
        convs = [(c_out, c_out)] if res == 4 else [(ch(res // 2), c_out), (c_out, c_out)]
        for c_in, c_o in convs:
            synth += cfg.c_dim * c_in                    # affine
            synth += res * res * c_o * c_in * 9          # 3x3 conv at output resolution
        if res > 4:
            synth += res * res * c_out * fir             # FIR after the transposed conv (conv0)
            synth += res * res * 3 * fir                 # skip image upsampling
        synth += cfg.c_dim * c_out + res * res * 3 * c_out   # toRGB affine + 1x1 conv

    def trunk(out_features: int, mbstd: int) -> int:
        macs = 0
        for res in [r for r in reversed(block_resolutions(cfg.resolution)) if r > 4]:
            c, c_o = ch(res), ch(res // 2)
            if res == cfg.resolution:
                macs += res * res * 3 * c                # fromRGB 1x1
            macs += res * res * c * c * 9                # conv0
            macs += (res + 1) ** 2 * c * fir             # FIR before the strided conv1
            macs += (res // 2) ** 2 * c_o * c * 9        # conv1 (stride 2)
            macs += (res // 2) ** 2 * c * (fir + c_o)    # skip: decimating FIR + 1x1
        c4 = ch(4)
        macs += 16 * (c4 + mbstd) * c4 * 9 + 16 * c4 * c4 + c4 * out_features
        return macs

    return {"G": mapping + synth, "mapping": mapping, "E": trunk(cfg.w_dim, 0), "D": trunk(cfg.num_classes, 1)}


__all__ = ["NetworkConfig", "build_networks", "count_flops_per_image", "Generator", "Encoder", "Discriminator",
           "StyleLayout", "SUPPORTED_RESOLUTIONS"]
