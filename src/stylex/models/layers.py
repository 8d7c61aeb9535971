"""StyleGAN2 primitives in plain PyTorch (the bottom of the network stack).

Layered like NVlabs' stylegan2-ada-pytorch (``torch_utils/ops`` + ``training/networks.py``), but
every op is written in ordinary PyTorch so that it runs on CPU, under bf16 autocast, with
double backward (R1, path length) and under ``torch.compile``:

* resampling: :func:`upfirdn2d` (general reference), :func:`filter2d`, :func:`upsample2d`,
  :func:`downsample2d`; FIR low-pass filter ``[1, 3, 3, 1]`` applied as a depthwise 4x4 convolution;
* :func:`conv2d_resample`: a convolution with optional 2x up/down sampling (transposed conv stride 2
  followed by the FIR filter for up; FIR filter followed by a strided conv for down), as in StyleGAN2;
* :func:`bias_act`: bias + activation (linear / lrelu with gain sqrt(2)) + optional clamp;
* :func:`modulated_conv2d`: StyleGAN2 weight (de)modulation, fused with the grouped-conv trick
  (per-sample weights ``[N*O, I, k, k]``, ``groups=N``) or non-fused (scale activations);
* layers with equalised learning rate: :class:`FullyConnectedLayer`, :class:`Conv2dLayer`;
* :class:`MinibatchStdLayer`, :func:`normalize_2nd_moment`, :func:`assert_shape`.

Layouts: activations ``[N, C, H, W]``; conv weights ``[O, I, kh, kw]``; styles ``[N, I]``.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

LRELU_ALPHA = 0.2
ACT_GAIN = {"linear": 1.0, "lrelu": math.sqrt(2.0)}   # default gains: keep activations' 2nd moment ~1


# ----------------------------------------------------------------------------------------- helpers
def assert_shape(tensor: torch.Tensor, shape: Sequence[int | None]) -> None:
    """Raise AssertionError if ``tensor.shape`` does not match ``shape`` (``None`` matches any size).

    Args:
        tensor: the tensor to check.
        shape: expected sizes, one per dimension; ``None`` for "any".
    """
    if tensor.ndim != len(shape):
        raise AssertionError(f"wrong number of dimensions: got {tensor.ndim}, expected {len(shape)}")
    for idx, (size, ref) in enumerate(zip(tensor.shape, shape)):
        if ref is not None and size != ref:
            raise AssertionError(f"wrong size for dimension {idx}: got {size}, expected {ref}")


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` so that its mean square along ``dim`` is 1 (the mapping network's input norm)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def setup_filter(f: Sequence[float] = (1, 3, 3, 1), normalize: bool = True) -> torch.Tensor:
    """Separable 1-D taps -> 2-D FIR filter ``[fh, fw]`` (outer product), normalised to sum 1."""
    f1 = torch.as_tensor(f, dtype=torch.float32)
    f2 = f1[:, None] * f1[None, :]                       # [fh, fw]
    if normalize:
        f2 = f2 / f2.sum()
    return f2


def _parse_padding(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    """``int`` or ``[px, py]`` or ``[px0, px1, py0, py1]`` -> ``(px0, px1, py0, py1)``."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    padding = list(padding)
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    px0, px1, py0, py1 = padding
    return px0, px1, py0, py1


def _depthwise(f: torch.Tensor, channels: int, dtype: torch.dtype, gain: float) -> torch.Tensor:
    """FIR filter ``[fh, fw]`` -> depthwise conv weight ``[C, 1, fh, fw]`` (scaled by ``gain``)."""
    return (f * gain).to(dtype)[None, None].expand(channels, 1, *f.shape).contiguous()


def _pad_or_crop(x: torch.Tensor, px0: int, px1: int, py0: int, py1: int) -> torch.Tensor:
    """Zero-pad (positive) or crop (negative) the spatial borders of ``x`` ``[N, C, H, W]``."""
    if max(px0, px1, py0, py1) > 0:
        x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    if min(px0, px1, py0, py1) < 0:
        x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    return x


# -------------------------------------------------------------------------------------- resampling
def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
              padding: int | Sequence[int] = 0, gain: float = 1.0) -> torch.Tensor:
    """Upsample (zero insertion), pad, FIR-filter and downsample a batch of images.

    The general, slow reference (same semantics as NVlabs' ``upfirdn2d`` with ``flip_filter=False``).

    Args:
        x: ``[N, C, H, W]``.
        f: 2-D filter ``[fh, fw]``.
        up: integer upsampling factor (zeros inserted between samples).
        down: integer downsampling factor (keep every ``down``-th sample).
        padding: ``int``, ``[px, py]`` or ``[px0, px1, py0, py1]``, applied after upsampling.
        gain: overall gain of the filter (use ``up**2`` to keep the signal's magnitude when upsampling).

    Returns:
        ``[N, C, H', W']`` with ``H' = (H*up + py0 + py1 - fh) // down + 1``.
    """
    n, c, h, w = x.shape
    px0, px1, py0, py1 = _parse_padding(padding)
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])       # [N, C, H, up, W, up]
        x = x.reshape(n, c, h * up, w * up)
    x = _pad_or_crop(x, px0, px1, py0, py1)
    weight = _depthwise(f.flip([0, 1]), c, x.dtype, gain)  # true convolution, as NVlabs
    return F.conv2d(x, weight, stride=down, groups=c)


def filter2d(x: torch.Tensor, f: torch.Tensor, padding: int | Sequence[int] = 0,
             gain: float = 1.0) -> torch.Tensor:
    """FIR-filter ``x`` ``[N, C, H, W]`` with ``f`` ``[fh, fw]`` (depthwise conv), after padding."""
    return upfirdn2d(x, f, padding=padding, gain=gain)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2, gain: float = 1.0) -> torch.Tensor:
    """2x (``up``x) upsampling with the FIR filter ``f``: ``[N, C, H, W] -> [N, C, H*up, W*up]``.

    Implemented as one depthwise transposed convolution (no explicit zero insertion); equals
    ``upfirdn2d(x, f, up=up, padding=[(fw+up-1)//2, (fw-up)//2, ...], gain=gain*up**2)``.
    """
    c = x.shape[1]
    fh, fw = f.shape
    p0y, p0x = (fh + up - 1) // 2, (fw + up - 1) // 2
    if (fh - up) // 2 != p0y + 1 - up or (fw - up) // 2 != p0x + 1 - up:  # lengths would not match
        return upfirdn2d(x, f, up=up, padding=[p0x, (fw - up) // 2, p0y, (fh - up) // 2], gain=gain * up * up)
    weight = _depthwise(f, c, x.dtype, gain * up * up)    # [C, 1, fh, fw]
    return F.conv_transpose2d(x, weight, stride=up, padding=(fh - 1 - p0y, fw - 1 - p0x), groups=c)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2, gain: float = 1.0) -> torch.Tensor:
    """FIR low-pass then ``down``x decimation: ``[N, C, H, W] -> [N, C, H/down, W/down]`` (strided depthwise conv)."""
    fh, fw = f.shape
    padding = [(fw - down + 1) // 2, (fw - down) // 2, (fh - down + 1) // 2, (fh - down) // 2]
    return upfirdn2d(x, f, down=down, padding=padding, gain=gain)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1,
                    down: int = 1, padding: int = 0, groups: int = 1) -> torch.Tensor:
    """2-D convolution (correlation, as ``F.conv2d``) with optional FIR up- or downsampling.

    Semantics (the padding is applied once, to the input of the combined FIR + conv kernel):
    ``up``: ``conv2d(upfirdn2d(x, f, up, padding=[p + (fw+up-1)//2, p + (fw-up)//2, ...], gain=up**2), w)``;
    ``down``: ``conv2d(upfirdn2d(x, f, padding=[p + (fw-down+1)//2, p + (fw-down)//2, ...]), w)[..., ::down, ::down]``.
    Implemented as in StyleGAN2: transposed conv with stride ``up`` followed by the FIR filter for
    ``up``; FIR filter followed by a strided conv for ``down`` (1x1 kernels: decimate first).

    Args:
        x: ``[N, I*groups, H, W]``.
        w: ``[O, I, kh, kw]`` (``O`` divisible by ``groups``).
        f: FIR filter ``[fh, fw]`` (required when ``up`` or ``down`` > 1).
        up: 1 or 2 (any integer works).
        down: 1 or 2 (any integer works); not combined with ``up``.
        padding: symmetric padding of the (virtual) convolution input.
        groups: conv groups (the batch size in the fused modulated conv).

    Returns:
        ``[N, O, H*up/down, W*up/down]`` (for ``padding = k // 2``).
    """
    out_ch, in_ch, kh, kw = w.shape
    if up == 1 and down == 1:
        return F.conv2d(x, w, padding=padding, groups=groups)
    assert f is not None and not (up > 1 and down > 1), "conv2d_resample: one of up/down, with a filter"
    fh, fw = f.shape
    if down > 1:
        px0 = padding + (fw - down + 1) // 2
        px1 = padding + (fw - down) // 2
        py0 = padding + (fh - down + 1) // 2
        py1 = padding + (fh - down) // 2
        if kh == 1 and kw == 1:                          # decimate first: 1/down^2 of the conv work
            return F.conv2d(upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1]), w, groups=groups)
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1])
        return F.conv2d(x, w, stride=down, groups=groups)
    # up > 1: transposed conv (stride up) of the flipped kernel == correlation with the zero-inserted input.
    px0 = padding + (fw + up - 1) // 2 - (kw - 1)
    px1 = padding + (fw - up) // 2 - (kw - up)
    py0 = padding + (fh + up - 1) // 2 - (kh - 1)
    py1 = padding + (fh - up) // 2 - (kh - up)
    pxt = max(min(-px0, -px1), 0)
    pyt = max(min(-py0, -py1), 0)
    if groups == 1:
        wt = w.transpose(0, 1)                           # [I, O, kh, kw]
    else:
        wt = w.reshape(groups, out_ch // groups, in_ch, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_ch, out_ch // groups, kh, kw)
    x = F.conv_transpose2d(x, wt.flip([2, 3]), stride=up, padding=(pyt, pxt), groups=groups)
    return upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up * up)


# --------------------------------------------------------------------------------------- bias+act
def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None, dim: int = 1) -> torch.Tensor:
    """``clamp(act(x + b) * gain)``.

    Args:
        x: any tensor; ``b`` is broadcast along dimension ``dim``.
        b: bias ``[x.shape[dim]]`` or None.
        act: ``"linear"`` or ``"lrelu"`` (slope 0.2).
        gain: output gain; default: the activation's (1 for linear, sqrt(2) for lrelu).
        clamp: clamp the output to ``[-clamp, clamp]`` (None: off).
    """
    if act not in ACT_GAIN:
        raise ValueError(f"bias_act: unknown activation {act!r}")
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.to(x.dtype).reshape(shape)
    if act == "lrelu":
        x = F.leaky_relu(x, LRELU_ALPHA)
    gain = ACT_GAIN[act] if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


# -------------------------------------------------------------------------------- modulated conv
def demod_coefficients(weight: torch.Tensor, styles: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Demodulation ``1 / |w * s|`` per sample and output channel without building ``[N, O, I, k, k]``.

    ``sum_{i,k} (w[o,i,k] s[n,i])^2 = sum_i s[n,i]^2 * sum_k w[o,i,k]^2`` -> one ``[N, I] @ [I, O]`` matmul.

    Args:
        weight: ``[O, I, kh, kw]``.
        styles: ``[N, I]``.

    Returns:
        ``[N, O]``.
    """
    dtype = torch.promote_types(torch.promote_types(weight.dtype, styles.dtype), torch.float32)  # >= fp32
    wsq = weight.to(dtype).square().sum(dim=[2, 3])        # [O, I]
    return (styles.to(dtype).square() @ wsq.t() + eps).rsqrt()


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                     noise: torch.Tensor | None = None, demodulate: bool = True, up: int = 1,
                     padding: int = 0, resample_filter: torch.Tensor | None = None,
                     fused: bool = True) -> torch.Tensor:
    """StyleGAN2 modulated (and demodulated) convolution.

    ``w'[n,o,i] = w[o,i] * s[n,i]``; with ``demodulate``: ``w'' = w' / sqrt(sum_{i,k} w'^2 + 1e-8)``;
    then ``x[n]`` is convolved with its own ``w''[n]``.

    Args:
        x: ``[N, I, H, W]``.
        weight: ``[O, I, kh, kw]`` (raw parameter; any global gain must already be in ``styles``).
        styles: ``[N, I]`` per-sample modulation.
        noise: optional ``[N or 1, 1 or O, H', W']`` added to the output.
        demodulate: normalise each output channel's per-sample weight.
        up: 1, or 2 for the FIR-upsampling conv (needs ``resample_filter``).
        padding: conv padding (``k // 2`` keeps the size).
        resample_filter: FIR filter ``[fh, fw]`` for ``up > 1``.
        fused: True: one grouped conv with per-sample weights ``[N*O, I, kh, kw]``, ``groups=N``;
            False: scale the activations by ``styles`` and ``dcoefs`` around one shared-weight conv
            (same result; usually faster when training with large batches).

    Returns:
        ``[N, O, H*up, W*up]``.
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    assert_shape(x, [n, in_ch, None, None])
    assert_shape(styles, [n, in_ch])
    dcoefs = demod_coefficients(weight, styles) if demodulate else None  # [N, O]
    if not fused:
        x = x * styles.to(x.dtype).reshape(n, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, padding=padding)
        if dcoefs is not None:
            x = x * dcoefs.to(x.dtype).reshape(n, -1, 1, 1)
        return x if noise is None else x + noise.to(x.dtype)
    w = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)      # [N, O, I, kh, kw]
    if dcoefs is not None:
        w = w * dcoefs.to(w.dtype).reshape(n, -1, 1, 1, 1)
    xg = x.reshape(1, -1, *x.shape[2:])                             # [1, N*I, H, W]
    wg = w.reshape(-1, in_ch, kh, kw).to(x.dtype)                   # [N*O, I, kh, kw]
    xg = conv2d_resample(xg, wg, f=resample_filter, up=up, padding=padding, groups=n)
    x = xg.reshape(n, -1, *xg.shape[2:])                            # [N, O, H', W']
    return x if noise is None else x + noise.to(x.dtype)


def modulated_conv2d_reference(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor,
                               demodulate: bool = True, up: int = 1, padding: int = 0,
                               resample_filter: torch.Tensor | None = None) -> torch.Tensor:
    """Slow per-sample reference of :func:`modulated_conv2d` (a Python loop over the batch; tests only)."""
    outs = []
    for i in range(x.shape[0]):
        w = weight * styles[i].reshape(1, -1, 1, 1)                 # [O, I, kh, kw]
        if demodulate:
            w = w / (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).sqrt()
        xi = x[i:i + 1]
        if up > 1:
            fh, fw = resample_filter.shape
            pad = [padding + (fw + up - 1) // 2, padding + (fw - up) // 2,
                   padding + (fh + up - 1) // 2, padding + (fh - up) // 2]
            outs.append(F.conv2d(upfirdn2d(xi, resample_filter, up=up, padding=pad, gain=up * up), w))
        else:
            outs.append(F.conv2d(xi, w, padding=padding))
    return torch.cat(outs)


# ----------------------------------------------------------------------------------------- layers
class FullyConnectedLayer(nn.Module):
    """Linear layer with equalised learning rate: ``act(x @ (W * g).T + b * lr_mul)``, ``g = lr_mul / sqrt(in)``."""

    def __init__(self,
                 in_features: int,             # number of input features
                 out_features: int,            # number of output features
                 bias: bool = True,            # apply an additive bias?
                 activation: str = "linear",   # "linear" or "lrelu"
                 lr_multiplier: float = 1.0,   # learning-rate multiplier (0.01 in the mapping network)
                 bias_init: float = 0.0):      # initial value of the bias (1 for style affines)
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)  # [O, I]
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, in_features] -> [N, out_features]``."""
        w = self.weight * self.weight_gain
        b = self.bias
        if b is not None and self.bias_gain != 1:
            b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return F.linear(x, w.to(x.dtype), b.to(x.dtype))
        return bias_act(F.linear(x, w.to(x.dtype)), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class Conv2dLayer(nn.Module):
    """Convolution with equalised learning rate, optional FIR up/down sampling, bias and activation."""

    def __init__(self,
                 in_channels: int,                       # input channels
                 out_channels: int,                      # output channels
                 kernel_size: int,                       # kernel width and height
                 bias: bool = True,                      # apply an additive bias?
                 activation: str = "linear",             # "linear" or "lrelu"
                 up: int = 1,                            # integer upsampling factor
                 down: int = 1,                          # integer downsampling factor
                 resample_filter: Sequence[float] = (1, 3, 3, 1),  # low-pass filter taps for resampling
                 conv_clamp: float | None = None):       # clamp the output to +-X (None: off)
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.activation = activation
        self.up, self.down = up, down
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(resample_filter), persistent=False)
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = ACT_GAIN[activation]
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))  # [O, I, k, k]
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """``[N, I, H, W] -> [N, O, H*up/down, W*up/down]``; ``gain`` scales the output (and the clamp)."""
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, f=self.resample_filter, up=self.up, down=self.down, padding=self.padding)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, activation={self.activation}, "
                f"up={self.up}, down={self.down}")


class MinibatchStdLayer(nn.Module):
    """Append the within-group standard deviation of the features as extra channels (StyleGAN2 D).

    Groups are strided over the batch (sample ``i`` is in group ``i % (N // G)``) as in NVlabs. When the
    batch size ``N`` is not a multiple of ``group_size``, the group size used is the largest divisor of
    ``N`` that is ``<= group_size`` (so odd batches work; ``N`` prime gives groups of 1, whose std is 0).
    """

    def __init__(self,
                 group_size: int,         # images per statistics group (clipped to a divisor of the batch)
                 num_channels: int = 1):  # number of std channels appended
        super().__init__()
        self.group_size = group_size
        self.num_channels = num_channels

    @staticmethod
    def effective_group_size(batch: int, group_size: int) -> int:
        """The largest divisor of ``batch`` that is at most ``group_size``."""
        g = max(1, min(group_size, batch))
        while batch % g:
            g -= 1
        return g

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, C, H, W] -> [N, C + num_channels, H, W]``."""
        n, c, h, w = x.shape
        g = self.effective_group_size(n, self.group_size)
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)        # [G, n, F, c, H, W]
        y = y - y.mean(dim=0)
        y = (y.float().square().mean(dim=0) + 1e-8).sqrt()   # [n, F, c, H, W]
        y = y.mean(dim=[2, 3, 4]).to(x.dtype)        # [n, F]
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)  # [N, F, H, W]
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
