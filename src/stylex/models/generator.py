"""StyleGAN2 generator with StyleSpace as a first-class API.

Stack (bottom-up): :class:`SynthesisLayer` / :class:`ToRGBLayer` -> :class:`SynthesisBlock` ``b{res}``
-> :class:`SynthesisNetwork` -> :class:`Generator` (+ :class:`MappingNetwork`). Skip architecture,
no progressive growing; parameter names read like NVlabs' (``synthesis.b64.conv1.affine.weight``).

StylEx specifics: the synthesis latent is ``w ++ p`` (``c_dim = w_dim + K``; class probabilities are
appended *after* mapping) and the same latent drives every layer's affine.

StyleSpace (docs/METHOD.md section 4): the styles of an image are the affine outputs of every layer.
:meth:`Generator.styles` returns them as :class:`Styles`; ``Styles.flat()`` concatenates the *conv*
styles (``[N, S]``, toRGB excluded) in the order ``b4.conv1, b8.conv0, b8.conv1, b16.conv0, ...``.
:meth:`Generator.synthesize` renders from styles with optional per-sample additive offsets on the flat
coordinates; weights are never mutated. :class:`StyleLayout` maps flat indices to layers and blocks
and is derivable from the config alone (:meth:`StyleLayout.from_config`).

Partial recompute for AttFind: :meth:`SynthesisNetwork.block_states` records the ``(x, img)`` input
of every block for unedited styles; :meth:`SynthesisNetwork.forward_from` runs only blocks ``b..end``,
which is exact for edits whose coordinates all lie in blocks ``>= b`` (``LayerInfo.block_index``).

Upsampling in ``conv0``: transposed conv (stride 2) followed by the ``[1, 3, 3, 1]`` FIR filter, as in
StyleGAN2 (see :func:`stylex.models.layers.conv2d_resample`).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .config import NetworkConfig, block_resolutions, channels_at
from .layers import (FullyConnectedLayer, assert_shape, bias_act, modulated_conv2d, normalize_2nd_moment,
                     setup_filter, upsample2d)

NOISE_MODES = ("random", "const", "none")


# ----------------------------------------------------------------------------------- StyleSpace
@dataclass(frozen=True)
class LayerInfo:
    """One conv layer's slice of the flat StyleSpace."""

    name: str          # "b8.conv0"
    resolution: int    # output resolution of the layer
    width: int         # number of style coordinates (= the conv's input channels)
    start: int         # first flat index
    block_index: int   # index of the synthesis block (0 = b4); see SynthesisNetwork.forward_from

    @property
    def stop(self) -> int:
        """One past the last flat index."""
        return self.start + self.width


class StyleLayout:
    """Flat StyleSpace index <-> (conv layer, channel); derived from the network config alone."""

    def __init__(self, layers: list[LayerInfo], torgb_widths: list[int] | None = None):
        """
        Args:
            layers: the conv layers in flat order (contiguous ``start`` offsets).
            torgb_widths: style widths of the toRGB layers, one per block (not part of the flat space).
        """
        self.layers = list(layers)
        self.torgb_widths = list(torgb_widths or [])
        self._starts = [layer.start for layer in self.layers]
        self.num_coords = self.layers[-1].stop if self.layers else 0
        self.num_blocks = (self.layers[-1].block_index + 1) if self.layers else 0

    @classmethod
    def from_config(cls, cfg: NetworkConfig) -> "StyleLayout":
        """The layout of a generator built from ``cfg`` (no weights are allocated)."""
        layers: list[LayerInfo] = []
        torgb: list[int] = []
        start = 0
        for b, res in enumerate(block_resolutions(cfg.resolution)):
            out_ch = channels_at(res, cfg.channel_base, cfg.channel_max)
            convs = [("conv1", out_ch)] if res == 4 else [
                ("conv0", channels_at(res // 2, cfg.channel_base, cfg.channel_max)), ("conv1", out_ch)]
            for name, width in convs:
                layers.append(LayerInfo(f"b{res}.{name}", res, width, start, b))
                start += width
            torgb.append(out_ch)
        return cls(layers, torgb)

    @property
    def num_layers(self) -> int:
        """Number of conv layers (13 at 256 px)."""
        return len(self.layers)

    @property
    def widths(self) -> list[int]:
        """Style width of every conv layer, in flat order."""
        return [layer.width for layer in self.layers]

    def to_layer(self, k: int) -> tuple[int, int]:
        """Flat index -> ``(layer index, channel)``."""
        if not 0 <= k < self.num_coords:
            raise IndexError(f"style coordinate {k} out of range [0, {self.num_coords})")
        layer = bisect.bisect_right(self._starts, k) - 1
        return layer, k - self.layers[layer].start

    def to_flat(self, layer: int, channel: int) -> int:
        """``(layer index, channel)`` -> flat index."""
        info = self.layers[layer]
        if not 0 <= channel < info.width:
            raise IndexError(f"channel {channel} out of range for layer {info.name} (width {info.width})")
        return info.start + channel

    def block_of(self, k: int) -> int:
        """Synthesis block index of flat coordinate ``k``."""
        return self.layers[self.to_layer(k)[0]].block_index

    def block_start(self, block_index: int) -> int:
        """First flat index of block ``block_index`` (``num_coords`` past the last block)."""
        for layer in self.layers:
            if layer.block_index >= block_index:
                return layer.start
        return self.num_coords

    def coord_blocks(self) -> torch.Tensor:
        """``int64 [S]``: the block index of every flat coordinate."""
        return torch.cat([torch.full([layer.width], layer.block_index, dtype=torch.int64) for layer in self.layers])

    def as_json(self) -> list[dict]:
        """``[{"name", "resolution", "width", "start", "block_index"}, ...]`` for ``attributes.json``."""
        return [{"name": l.name, "resolution": l.resolution, "width": l.width, "start": l.start,
                 "block_index": l.block_index} for l in self.layers]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StyleLayout) and self.layers == other.layers and self.torgb_widths == other.torgb_widths

    def __repr__(self) -> str:
        return f"StyleLayout(num_coords={self.num_coords}, num_layers={self.num_layers}, num_blocks={self.num_blocks})"


@dataclass
class Styles:
    """Per-layer style vectors (affine outputs) of a batch."""

    conv: list[torch.Tensor]    # one [N, C_in] per conv layer: b4.conv1, b8.conv0, b8.conv1, ...
    torgb: list[torch.Tensor]   # one [N, C] per toRGB layer: b4.torgb, b8.torgb, ...

    def flat(self) -> torch.Tensor:
        """``[N, S]``: the conv styles concatenated (the AttFind space)."""
        return torch.cat(self.conv, dim=1)

    def with_flat(self, s: torch.Tensor) -> "Styles":
        """A copy whose conv styles are the slices of ``s`` ``[N, S]`` (toRGB styles shared)."""
        widths = [t.shape[1] for t in self.conv]
        if s.ndim != 2 or s.shape[1] != sum(widths):
            raise ValueError(f"with_flat: expected [N, {sum(widths)}], got {list(s.shape)}")
        return Styles(conv=list(s.split(widths, dim=1)), torgb=list(self.torgb))

    @property
    def batch_size(self) -> int:
        return self.conv[0].shape[0]

    def to(self, *args, **kwargs) -> "Styles":
        """``Tensor.to`` applied to every style tensor."""
        return Styles([t.to(*args, **kwargs) for t in self.conv], [t.to(*args, **kwargs) for t in self.torgb])

    def detach(self) -> "Styles":
        return Styles([t.detach() for t in self.conv], [t.detach() for t in self.torgb])

    def index(self, idx) -> "Styles":
        """Select samples (any tensor index along the batch dimension)."""
        return Styles([t[idx] for t in self.conv], [t[idx] for t in self.torgb])

    def repeat_interleave(self, repeats: int) -> "Styles":
        """Each sample repeated ``repeats`` times in a row (``[N, .] -> [N*repeats, .]``)."""
        return Styles([t.repeat_interleave(repeats, 0) for t in self.conv],
                      [t.repeat_interleave(repeats, 0) for t in self.torgb])

    @staticmethod
    def cat(items: list["Styles"]) -> "Styles":
        """Concatenate along the batch dimension."""
        return Styles([torch.cat(ts) for ts in zip(*(s.conv for s in items))],
                      [torch.cat(ts) for ts in zip(*(s.torgb for s in items))])


class BlockState(NamedTuple):
    """Inputs of one synthesis block: features ``x`` ``[N, C, r/2, r/2]`` and the running image ``img``
    ``[N, 3, r/2, r/2]`` (both None for the first block ``b4``)."""

    x: torch.Tensor | None
    img: torch.Tensor | None


# ----------------------------------------------------------------------------------- mapping
class MappingNetwork(nn.Module):
    """``z [N, z_dim] -> normalize_2nd_moment -> num_layers x FC(lrelu, lr_mul 0.01) -> w [N, w_dim]``."""

    def __init__(self,
                 z_dim: int,                    # input latent width
                 w_dim: int,                    # output latent width (and hidden width)
                 num_layers: int = 8,           # number of FC layers
                 lr_multiplier: float = 0.01,   # learning-rate multiplier of the FC layers
                 w_avg_beta: float = 0.995):    # decay of the running mean of w (for truncation)
        super().__init__()
        self.z_dim, self.w_dim, self.num_layers = z_dim, w_dim, num_layers
        self.w_avg_beta = w_avg_beta
        features = [z_dim] + [w_dim] * num_layers
        for idx in range(num_layers):
            setattr(self, f"fc{idx}", FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu",
                                                          lr_multiplier=lr_multiplier))
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, update_w_avg: bool = True) -> torch.Tensor:
        """Map ``z`` ``[N, z_dim]`` to ``w`` ``[N, w_dim]``; in training mode also track ``w_avg``.

        Args:
            z: latent codes.
            truncation_psi: 1 = no truncation; ``w_avg + psi * (w - w_avg)`` otherwise.
            update_w_avg: update the running mean (training mode only).
        """
        assert_shape(z, [None, self.z_dim])
        x = normalize_2nd_moment(z)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_w_avg and self.training and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if truncation_psi != 1:
            x = self.w_avg.to(x.dtype).lerp(x, truncation_psi)
        return x


# --------------------------------------------------------------------------------- synthesis
class SynthesisLayer(nn.Module):
    """Affine (latent -> style) + modulated 3x3 conv (optionally 2x up) + noise + bias + lrelu."""

    def __init__(self,
                 in_channels: int,                 # input feature maps (= style width)
                 out_channels: int,                # output feature maps
                 latent_dim: int,                  # width of the synthesis latent (w_dim + K)
                 resolution: int,                  # output resolution
                 kernel_size: int = 3,             # conv kernel size
                 up: int = 1,                      # 2 for the first conv of a block
                 use_noise: bool = True,           # add per-pixel noise
                 conv_clamp: float | None = None,  # clamp the output to +-X (None: off)
                 resample_filter: torch.Tensor | None = None):  # FIR filter [fh, fw] for up > 1
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up = resolution, up
        self.use_noise = use_noise
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.act_gain = math.sqrt(2.0)
        self.affine = FullyConnectedLayer(latent_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))  # [O, I, k, k]
        self.register_buffer("resample_filter", resample_filter if resample_filter is not None else setup_filter(),
                             persistent=False)
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))  # [H, W]
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    fused_modconv = False   # default path of modulated_conv2d; see Generator.set_fused_modconv

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise_mode: str = "random",
                fused: bool | None = None) -> torch.Tensor:
        """``x`` ``[N, I, H, W]``, ``style`` ``[N, I]`` -> ``[N, O, H*up, W*up]``.

        Args:
            fused: grouped-conv (True) or activation-scaling (False) modulated conv; None: ``self.fused_modconv``.
        """
        n = x.shape[0]
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([n, 1, self.resolution, self.resolution], device=x.device,
                                dtype=x.dtype) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength              # [H, W]
        fused = self.fused_modconv if fused is None else fused
        x = modulated_conv2d(x, self.weight, style, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, fused=fused)
        return bias_act(x, self.bias, act="lrelu", gain=self.act_gain, clamp=self.conv_clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"resolution={self.resolution}, up={self.up}")


class ToRGBLayer(nn.Module):
    """Affine + modulated 1x1 conv without demodulation + bias -> 3 channels."""

    def __init__(self,
                 in_channels: int,                 # input feature maps (= style width)
                 out_channels: int,                # image channels
                 latent_dim: int,                  # width of the synthesis latent
                 conv_clamp: float | None = None): # clamp the output to +-X (None: off)
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(latent_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))  # [O, I, 1, 1]
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels)

    fused_modconv = False   # default path of modulated_conv2d; see Generator.set_fused_modconv

    def forward(self, x: torch.Tensor, style: torch.Tensor, fused: bool | None = None) -> torch.Tensor:
        """``x`` ``[N, I, H, W]``, ``style`` ``[N, I]`` (raw affine output) -> ``[N, 3, H, W]``."""
        fused = self.fused_modconv if fused is None else fused
        x = modulated_conv2d(x, self.weight, style * self.weight_gain, demodulate=False, fused=fused)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution ``b{res}``: [const] conv0 (2x up) -> conv1 -> toRGB, skip image path."""

    def __init__(self,
                 in_channels: int,                 # input feature maps; 0 for the 4x4 block (learned const)
                 out_channels: int,                # feature maps at this resolution
                 latent_dim: int,                  # width of the synthesis latent
                 resolution: int,                  # output resolution of the block
                 img_channels: int = 3,            # image channels
                 conv_clamp: float | None = None): # clamp conv outputs to +-X (None: off)
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.register_buffer("resample_filter", setup_filter(), persistent=False)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))  # [C, 4, 4]
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, latent_dim, resolution, up=2,
                                        conv_clamp=conv_clamp, resample_filter=setup_filter())
        self.conv1 = SynthesisLayer(out_channels, out_channels, latent_dim, resolution, conv_clamp=conv_clamp)
        self.torgb = ToRGBLayer(out_channels, img_channels, latent_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2

    def conv_layers(self) -> list[SynthesisLayer]:
        """The conv layers of this block in StyleSpace order."""
        return [self.conv1] if self.in_channels == 0 else [self.conv0, self.conv1]

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, conv_styles: list[torch.Tensor],
                torgb_style: torch.Tensor, noise_mode: str = "random") -> tuple[torch.Tensor, torch.Tensor]:
        """Run the block.

        Args:
            x: ``[N, in_channels, r/2, r/2]`` (None for b4).
            img: ``[N, 3, r/2, r/2]`` (None for b4).
            conv_styles: ``num_conv`` tensors ``[N, C_in]``.
            torgb_style: ``[N, out_channels]``.
            noise_mode: ``random``, ``const`` or ``none``.

        Returns:
            ``(x [N, out_channels, r, r], img [N, 3, r, r])``.
        """
        n = torgb_style.shape[0]
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).expand(n, -1, -1, -1)
            x = self.conv1(x, conv_styles[0], noise_mode=noise_mode)
        else:
            if x.shape[0] != n:                        # shared block input (batch 1) for N edits
                x = x.expand(n, -1, -1, -1)
            x = self.conv0(x, conv_styles[0], noise_mode=noise_mode)
            x = self.conv1(x, conv_styles[1], noise_mode=noise_mode)
        y = self.torgb(x, torgb_style)
        if img is None:
            img = y
        else:
            img = upsample2d(img, self.resample_filter).to(y.dtype) + y
        return x, img

    def extra_repr(self) -> str:
        return f"resolution={self.resolution}, in_channels={self.in_channels}, out_channels={self.out_channels}"


class SynthesisNetwork(nn.Module):
    """Blocks ``b4 .. b{resolution}``; styles from one latent, images from styles."""

    def __init__(self,
                 latent_dim: int,                  # width of the synthesis latent (w_dim + K)
                 resolution: int,                  # output resolution (power of two)
                 channel_base: int = 32768,        # channels at res r: min(channel_base // r, channel_max)
                 channel_max: int = 512,           # maximum channels
                 img_channels: int = 3,            # image channels
                 conv_clamp: float | None = None): # clamp conv outputs to +-X (None: off)
        super().__init__()
        self.latent_dim, self.resolution, self.img_channels = latent_dim, resolution, img_channels
        self.block_resolutions = block_resolutions(resolution)
        for res in self.block_resolutions:
            in_ch = channels_at(res // 2, channel_base, channel_max) if res > 4 else 0
            out_ch = channels_at(res, channel_base, channel_max)
            setattr(self, f"b{res}", SynthesisBlock(in_ch, out_ch, latent_dim, res, img_channels, conv_clamp))

    @property
    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def styles(self, latent: torch.Tensor) -> Styles:
        """Every layer's affine output for ``latent`` ``[N, latent_dim]`` (the same latent for all layers)."""
        assert_shape(latent, [None, self.latent_dim])
        conv, torgb = [], []
        for block in self.blocks:
            conv.extend(layer.affine(latent) for layer in block.conv_layers())
            torgb.append(block.torgb.affine(latent))
        return Styles(conv, torgb)

    def _block_conv_styles(self, styles: Styles, offsets: torch.Tensor | None) -> list[list[torch.Tensor]]:
        """Per-block lists of conv styles, with the flat ``offsets`` ``[N, S]`` added."""
        conv = list(styles.conv)
        if offsets is not None:
            widths = [t.shape[1] for t in conv]
            if offsets.ndim != 2 or offsets.shape[1] != sum(widths):
                raise ValueError(f"offsets: expected [N, {sum(widths)}], got {list(offsets.shape)}")
            conv = [s + o.to(s.dtype) for s, o in zip(conv, offsets.split(widths, dim=1))]
        out, i = [], 0
        for block in self.blocks:
            out.append(conv[i:i + block.num_conv])
            i += block.num_conv
        return out

    def forward(self, styles: Styles, offsets: torch.Tensor | None = None,
                noise_mode: str = "const") -> torch.Tensor:
        """Render ``[N, 3, R, R]`` from styles (+ per-sample flat offsets ``[N, S]``)."""
        return self.forward_from(0, None, None, styles, offsets, noise_mode)

    def block_states(self, styles: Styles, noise_mode: str = "const") -> list[BlockState]:
        """The ``(x, img)`` input of every block for the unedited ``styles`` (``[0]`` is ``(None, None)``).

        Use with :meth:`forward_from` to re-render edits that touch only blocks ``>= b``. With
        ``noise_mode="random"`` the states hold one draw of the noise; use ``const`` for exactness.
        """
        self._check_noise_mode(noise_mode)
        per_block = self._block_conv_styles(styles, None)
        states, x, img = [], None, None
        for b, block in enumerate(self.blocks):
            states.append(BlockState(x, img))
            x, img = block(x, img, per_block[b], styles.torgb[b], noise_mode=noise_mode)
        return states

    def block_state(self, styles: Styles, block_index: int, noise_mode: str = "const") -> BlockState:
        """The ``(x, img)`` input of block ``block_index`` only (runs blocks ``< block_index``, nothing more)."""
        self._check_noise_mode(noise_mode)
        if not 0 <= block_index < len(self.block_resolutions):
            raise IndexError(f"block_index {block_index} out of range [0, {len(self.block_resolutions)})")
        per_block = self._block_conv_styles(styles, None)
        x = img = None
        for b, block in enumerate(self.blocks[:block_index]):
            x, img = block(x, img, per_block[b], styles.torgb[b], noise_mode=noise_mode)
        return BlockState(x, img)

    def forward_from(self, block_index: int, x: torch.Tensor | None, img: torch.Tensor | None, styles: Styles,
                     offsets: torch.Tensor | None = None, noise_mode: str = "const") -> torch.Tensor:
        """Run blocks ``block_index..end`` from that block's input ``(x, img)``.

        Exact for edits whose offsets are zero in every block ``< block_index`` (offsets there are
        ignored). ``x``/``img`` may have batch 1 (shared by all ``N`` samples of ``styles``).

        Args:
            block_index: first block to run (0 = b4; then ``x = img = None``).
            x: ``[N or 1, C, r/2, r/2]`` block input features (from :meth:`block_states`).
            img: ``[N or 1, 3, r/2, r/2]`` running image.
            styles: styles of the ``N`` samples (all layers; earlier blocks' are unused).
            offsets: ``[N, S]`` additive offsets on the flat conv styles, or None.
            noise_mode: ``random``, ``const`` or ``none``.

        Returns:
            ``[N, 3, R, R]``.
        """
        self._check_noise_mode(noise_mode)
        blocks = self.blocks
        if not 0 <= block_index < len(blocks):
            raise IndexError(f"block_index {block_index} out of range [0, {len(blocks)})")
        per_block = self._block_conv_styles(styles, offsets)
        n = styles.batch_size
        if img is not None and img.shape[0] != n:
            img = img.expand(n, -1, -1, -1)
        for b in range(block_index, len(blocks)):
            x, img = blocks[b](x, img, per_block[b], styles.torgb[b], noise_mode=noise_mode)
        return img

    @staticmethod
    def _check_noise_mode(noise_mode: str) -> None:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")


# --------------------------------------------------------------------------------- generator
class Generator(nn.Module):
    """StylEx generator: mapping ``z -> w``; synthesis from ``latent = w ++ p`` ``[N, w_dim + K]``."""

    def __init__(self, cfg: NetworkConfig, conv_clamp: float | None = None):
        """
        Args:
            cfg: network configuration (resolution, widths, number of classes).
            conv_clamp: clamp synthesis conv outputs to +-X (None: off; not needed with bf16).
        """
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.w_dim, self.num_classes = cfg.z_dim, cfg.w_dim, cfg.num_classes
        self.c_dim = cfg.w_dim + cfg.num_classes
        self.img_resolution = cfg.resolution
        self.mapping = MappingNetwork(cfg.z_dim, cfg.w_dim, cfg.mapping_layers)
        self.synthesis = SynthesisNetwork(self.c_dim, cfg.resolution, cfg.channel_base, cfg.channel_max,
                                          conv_clamp=conv_clamp)
        self._layout = StyleLayout.from_config(cfg)

    @property
    def layout(self) -> StyleLayout:
        """Flat StyleSpace layout (``layout.num_coords`` = S)."""
        return self._layout

    @staticmethod
    def condition(w: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
        """``w`` ``[N, w_dim]`` ++ class probabilities ``[N, K]`` -> synthesis latent ``[N, w_dim + K]``."""
        return torch.cat([w, probs.to(w.dtype)], dim=1)

    def styles(self, latent: torch.Tensor) -> Styles:
        """Per-layer styles of ``latent`` ``[N, c_dim]``."""
        return self.synthesis.styles(latent)

    def synthesize(self, styles: Styles, offsets: torch.Tensor | None = None,
                   noise_mode: str = "const") -> torch.Tensor:
        """Images ``[N, 3, R, R]`` from styles with optional per-sample offsets ``[N, S]`` on the flat
        conv styles (editing coordinate k to value v: ``offsets[:, k] = v - s[:, k]``)."""
        return self.synthesis(styles, offsets=offsets, noise_mode=noise_mode)

    def forward(self, latent: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        """``synthesize(styles(latent))``: ``[N, c_dim] -> [N, 3, R, R]`` in about [-1, 1]."""
        return self.synthesize(self.styles(latent), noise_mode=noise_mode)

    def set_fused_modconv(self, fused: bool) -> "Generator":
        """Choose the modulated-conv implementation of every synthesis layer (same result either way).

        False (default): scale activations by the styles and demodulation coefficients around one
        shared-weight conv; measured faster on CPU for training (B=16: 0.38 s vs 0.54 s per G step)
        and for batched inference (B=64: 1.0 s vs 1.7 s) at the ``cpu`` preset. True: NVlabs' fused
        grouped conv (per-sample weights ``[N*O, I, k, k]``, ``groups=N``), their inference default on GPUs.
        """
        for module in self.synthesis.modules():
            if isinstance(module, (SynthesisLayer, ToRGBLayer)):
                module.fused_modconv = fused
        return self
