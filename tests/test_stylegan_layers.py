"""StyleGAN2 primitives: fast paths equal their references, shapes, gradients."""

import math

import pytest
import torch
import torch.nn.functional as F

from stylex.models.layers import (Conv2dLayer, FullyConnectedLayer, MinibatchStdLayer, assert_shape, bias_act,
                                  conv2d_resample, demod_coefficients, downsample2d, modulated_conv2d,
                                  modulated_conv2d_reference, normalize_2nd_moment, setup_filter, upfirdn2d,
                                  upsample2d)

DT = torch.float64




@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_setup_filter_normalised_and_separable():
    f = setup_filter()
    assert f.shape == (4, 4)
    assert torch.isclose(f.sum(), torch.tensor(1.0))
    assert torch.allclose(f, f.t())


def test_upsample2d_equals_upfirdn_reference():
    f = setup_filter().to(DT)
    x = torch.randn(2, 3, 5, 7, dtype=DT)
    fast = upsample2d(x, f)
    ref = upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], gain=4)
    assert fast.shape == (2, 3, 10, 14)
    assert torch.allclose(fast, ref, atol=1e-12)
    # a constant image stays constant away from the border (gain up**2 keeps the magnitude)
    ones = upsample2d(torch.ones(1, 1, 8, 8, dtype=DT), f)
    assert torch.allclose(ones[..., 2:-2, 2:-2], torch.ones_like(ones[..., 2:-2, 2:-2]))


def test_downsample2d_shape_and_dc_gain():
    f = setup_filter().to(DT)
    y = downsample2d(torch.ones(1, 2, 8, 8, dtype=DT), f)
    assert y.shape == (1, 2, 4, 4)
    assert torch.allclose(y[..., 1:-1, 1:-1], torch.ones_like(y[..., 1:-1, 1:-1]))


@pytest.mark.parametrize("k", [1, 3])
def test_conv2d_resample_down_equals_reference(k):
    f = setup_filter().to(DT)
    x = torch.randn(2, 3, 8, 8, dtype=DT)
    w = torch.randn(5, 3, k, k, dtype=DT)
    p = k // 2
    fast = conv2d_resample(x, w, f, down=2, padding=p)
    ref = F.conv2d(upfirdn2d(x, f, padding=p + 1), w)[:, :, ::2, ::2]
    assert fast.shape == (2, 5, 4, 4)
    assert torch.allclose(fast, ref, atol=1e-12)


def test_conv2d_resample_up_equals_reference():
    f = setup_filter().to(DT)
    x = torch.randn(2, 3, 6, 6, dtype=DT)
    w = torch.randn(5, 3, 3, 3, dtype=DT)
    fast = conv2d_resample(x, w, f, up=2, padding=1)
    ref = F.conv2d(upfirdn2d(x, f, up=2, padding=[3, 2, 3, 2], gain=4), w)
    assert fast.shape == (2, 5, 12, 12)
    assert torch.allclose(fast, ref, atol=1e-12)


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv2d_matches_per_sample_reference(up, fused, demodulate):
    f = setup_filter().to(DT)
    x = torch.randn(3, 4, 6, 6, dtype=DT)
    weight = torch.randn(5, 4, 3, 3, dtype=DT)
    styles = torch.randn(3, 4, dtype=DT)
    fast = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, padding=1,
                            resample_filter=f, fused=fused)
    ref = modulated_conv2d_reference(x, weight, styles, demodulate=demodulate, up=up, padding=1, resample_filter=f)
    assert fast.shape == (3, 5, 6 * up, 6 * up)
    assert torch.allclose(fast, ref, atol=1e-10)


def test_modulated_conv2d_gradients_match_between_paths():
    x = torch.randn(2, 4, 5, 5, dtype=DT)
    weight = torch.randn(3, 4, 3, 3, dtype=DT, requires_grad=True)
    styles = torch.randn(2, 4, dtype=DT, requires_grad=True)
    grads = []
    for fused in (True, False):
        out = modulated_conv2d(x, weight, styles, padding=1, fused=fused)
        grads.append(torch.autograd.grad(out.square().sum(), [weight, styles]))
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-10)


def test_demod_coefficients_equal_explicit_norm():
    weight = torch.randn(5, 4, 3, 3, dtype=DT)
    styles = torch.randn(2, 4, dtype=DT)
    w = weight[None] * styles[:, None, :, None, None]
    ref = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
    assert torch.allclose(demod_coefficients(weight, styles).to(DT), ref, rtol=1e-5)


def test_equalised_lr_layers_unit_variance():
    fc = FullyConnectedLayer(256, 128)
    y = fc(torch.randn(512, 256))
    assert abs(y.std().item() - 1) < 0.1
    conv = Conv2dLayer(64, 32, 3, activation="lrelu", down=2)
    y = conv(torch.randn(4, 64, 16, 16))
    assert y.shape == (4, 32, 8, 8)
    assert set(n for n, _ in conv.named_parameters()) == {"weight", "bias"}
    lr = FullyConnectedLayer(8, 8, lr_multiplier=0.01, bias_init=1)
    assert torch.allclose(lr.bias * lr.bias_gain, torch.full([8], 0.01))


def test_bias_act():
    x = torch.tensor([[-1.0, 2.0]])
    assert torch.allclose(bias_act(x, torch.tensor([0.5, 0.0]), act="lrelu"),
                          torch.tensor([[-0.1, 2.0]]) * math.sqrt(2))
    assert torch.allclose(bias_act(x * 10, act="linear", clamp=5.0), torch.tensor([[-5.0, 5.0]]))


@pytest.mark.parametrize("n", [1, 3, 4, 5, 6, 8])
def test_minibatch_std_any_batch(n):
    layer = MinibatchStdLayer(group_size=4)
    x = torch.randn(n, 6, 4, 4)
    y = layer(x)
    assert y.shape == (n, 7, 4, 4)
    assert torch.isfinite(y).all()
    g = MinibatchStdLayer.effective_group_size(n, 4)
    assert n % g == 0 and g <= 4
    if g > 1:
        assert y[:, -1].std() >= 0 and y[:, -1].abs().sum() > 0


def test_normalize_2nd_moment_and_assert_shape():
    z = normalize_2nd_moment(torch.randn(4, 16) * 7)
    assert torch.allclose(z.square().mean(1), torch.ones(4), atol=1e-5)
    assert_shape(z, [None, 16])
    with pytest.raises(AssertionError):
        assert_shape(z, [4, 15])
    with pytest.raises(AssertionError):
        assert_shape(z, [4])


def test_double_backward_through_resampling_conv():
    """R1 needs grad-of-grad through the FIR filters and strided convs."""
    conv = Conv2dLayer(3, 4, 3, activation="lrelu", down=2).double()
    x = torch.randn(2, 3, 8, 8, dtype=DT, requires_grad=True)
    (g,) = torch.autograd.grad(conv(x).sum(), x, create_graph=True)
    g.square().sum().backward()
    assert conv.weight.grad is not None and torch.isfinite(conv.weight.grad).all()
