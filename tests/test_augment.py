"""Augmentation of what D sees: identity at p = 0, each operation real and differentiable, ADA's controller."""

import pytest
import torch

from stylex.errors import StylexError
from stylex.training.augment import AdaptiveStrength, AugmentPipe, parse_augment


def _images(n=8, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand([n, 3, size, size], generator=g) * 2 - 1


def test_identity_at_p_zero():
    x = _images()
    assert torch.equal(AugmentPipe(0.0)(x), x)


def test_p_one_changes_every_image_and_keeps_shape():
    x = _images()
    torch.manual_seed(1)
    y = AugmentPipe(1.0)(x)
    assert y.shape == x.shape
    assert all(not torch.allclose(a, b) for a, b in zip(x, y))


def test_augmentation_is_differentiable_wrt_the_image():
    x = _images().requires_grad_(True)
    torch.manual_seed(2)
    y = AugmentPipe(1.0)(x)
    (g,) = torch.autograd.grad((y * torch.randn_like(y)).sum(), x)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize("op", ["_xflip", "_translate"])
def test_geometric_operations_only_move_pixels(op):
    """Flips and integer translations (reflection padding) take every output pixel from an input pixel."""
    x = _images(n=4, size=8)
    torch.manual_seed(3)
    y = getattr(AugmentPipe(1.0), op)(x, 1.0)
    for a, b in zip(x, y):
        src = {tuple(v.tolist()) for v in a.permute(1, 2, 0).reshape(-1, 3)}
        assert all(tuple(v.tolist()) in src for v in b.permute(1, 2, 0).reshape(-1, 3))


def test_translate_shifts_by_whole_pixels():
    """Each image is its input shifted by one integer (dy, dx) within 1/8 of the size (interior compared)."""
    size = 16
    x = torch.randn([32, 3, size, size])
    torch.manual_seed(4)
    y = AugmentPipe(1.0)._translate(x, 1.0)
    pad = 2
    shifts = set()
    for a, b in zip(x, y):
        found = [(dy, dx) for dy in range(-pad, pad + 1) for dx in range(-pad, pad + 1)
                 if torch.equal(b[:, pad:size - pad, pad:size - pad],
                                a[:, pad - dy:size - pad - dy, pad - dx:size - pad - dx])]
        assert len(found) == 1
        shifts.add(found[0])
    assert len(shifts) > 3          # the shifts are random, not one fixed offset


def test_cutout_zeroes_a_square_of_half_the_size():
    x = torch.ones([4, 3, 16, 16])
    torch.manual_seed(5)
    y = AugmentPipe(1.0)._cutout(x, 1.0)
    zeros = (y[:, 0] == 0).sum(dim=(1, 2))
    assert ((zeros > 0) & (zeros <= 64)).all()      # at most 8 x 8, clipped at the border


def test_parse_augment():
    assert parse_augment("ada").mode == "ada"
    assert parse_augment("none").mode == "none"
    assert parse_augment("fixed:0.25").p == 0.25
    assert parse_augment("auto", num_images=5000).mode == "ada"
    assert parse_augment("auto", num_images=70000).mode == "none"
    for bad in ("fixed:2", "fixed:x", "always"):
        with pytest.raises(StylexError, match="--augment"):
            parse_augment(bad)


def test_ada_raises_p_when_d_overfits_and_lowers_it_otherwise():
    pipe = AugmentPipe(0.0)
    ada = AdaptiveStrength(pipe, target=0.6, interval=2, ada_kimg=1.0)
    for _ in range(4):
        ada.step(1.0, batch_images=100)            # D sure of every real: overfitting
    assert float(pipe.p) == pytest.approx(0.4)     # 2 adjustments x 100 images x 2 steps / 1000
    for _ in range(2):
        ada.step(-1.0, batch_images=100)
    assert float(pipe.p) == pytest.approx(0.2)
    for _ in range(20):
        ada.step(-1.0, batch_images=100)
    assert float(pipe.p) == 0.0                    # clamped
    state = ada.state_dict()
    other = AdaptiveStrength(AugmentPipe(0.0), interval=2)
    other.load_state_dict(state)
    assert other.state_dict() == state
