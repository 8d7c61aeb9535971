"""AttFind generation step: the batched path equals the brute-force oracle (one image, one coordinate
per call), with and without the partial-recompute seam, on a tiny StyleGAN2 generator and on a
small stand-in generator; chunked resume; effects.npz round trip."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from stylex.errors import StylexError
from stylex.explain.attfind import (EffectsResult, compute_effects, compute_effects_reference, load_effects,
                                    save_effects)




# ------------------------------------------------------------------ stand-in generator
@dataclass
class MiniStyles:
    conv: list
    torgb: list

    def flat(self):
        return torch.cat(self.conv, 1)

    def with_flat(self, s):
        out, i = [], 0
        for t in self.conv:
            out.append(s[:, i:i + t.shape[1]])
            i += t.shape[1]
        return MiniStyles(out, self.torgb)


@dataclass
class MiniLayer:
    name: str
    resolution: int
    width: int
    start: int
    block_index: int


class MiniLayout:
    def __init__(self, widths, blocks):
        starts = np.cumsum([0] + widths[:-1]).tolist()
        self.layers = [MiniLayer(f"l{i}", 4 * 2 ** b, w, s, b)
                       for i, (w, s, b) in enumerate(zip(widths, starts, blocks))]
        self.num_coords = sum(widths)


class MiniSynthesis(torch.nn.Module):
    """Layers: block 0 = [conv 4->3], block 1 = [conv 3->5, conv 5->4] at twice the resolution."""

    def __init__(self, widths, outs, blocks):
        super().__init__()
        self.const = torch.nn.Parameter(torch.randn(1, widths[0], 4, 4))
        self.convs = torch.nn.ModuleList(torch.nn.Conv2d(w, o, 3, padding=1) for w, o in zip(widths, outs))
        self.rgb = torch.nn.Conv2d(outs[-1], 3, 1)
        self.blocks = blocks

    def _layer(self, i, x, styles):
        if i > 0 and self.blocks[i] != self.blocks[i - 1]:
            x = F.interpolate(x, scale_factor=2)
        return F.leaky_relu(self.convs[i](x * styles.conv[i][:, :, None, None]), 0.2)

    def block_states(self, styles, noise_mode="const"):
        """(x, img) entering each block, as stylex.models.generator (img unused here: None)."""
        x = self.const.expand(len(styles.conv[0]), -1, -1, -1)
        states = [(None, None)]
        for i in range(len(self.convs)):
            x = self._layer(i, x, styles)
            if i + 1 < len(self.convs) and self.blocks[i + 1] != self.blocks[i]:
                states.append((x, None))
        return states

    def forward_from(self, block, x, img, styles, offsets=None, noise_mode="const"):
        if offsets is not None:
            styles = styles.with_flat(styles.flat() + offsets)
        if block == 0:
            x = self.const.expand(len(styles.conv[0]), -1, -1, -1)
        for i in range(len(self.convs)):
            if self.blocks[i] >= block:
                x = self._layer(i, x, styles)
        return torch.tanh(self.rgb(x * styles.torgb[0][:, :, None, None]))


class MiniGenerator(torch.nn.Module):
    def __init__(self, seam=True, d=6):
        super().__init__()
        widths, outs, blocks = [4, 3, 5], [3, 5, 4], [0, 1, 1]
        self.layout = MiniLayout(widths, blocks)
        self.affine = torch.nn.ModuleList(torch.nn.Linear(d, w) for w in widths)
        self.rgb_affine = torch.nn.Linear(d, outs[-1])
        synth = MiniSynthesis(widths, outs, blocks)
        if seam:
            self.synthesis = synth
        else:
            self._synth = synth

    def styles(self, latent):
        return MiniStyles([a(latent) + 1 for a in self.affine], [self.rgb_affine(latent) + 1])

    def synthesize(self, styles, offsets=None, noise_mode="const"):
        synth = getattr(self, "synthesis", None) or self._synth
        return synth.forward_from(0, None, None, styles, offsets)


class TinyClassifier(torch.nn.Module):
    """A small random conv net: images -> logits [N, K]."""

    def __init__(self, K=2):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.LeakyReLU(0.2),
                                       torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(32, K))

    def forward(self, x):
        return self.net(x) * 10        # large logits so the effects are not all tiny


@pytest.mark.parametrize("seam", [True, False])
def test_batched_equals_reference_minigen(seam):
    torch.manual_seed(0)
    G, C = MiniGenerator(seam=seam), TinyClassifier(3)
    lat = torch.randn(5, 6)
    ref = compute_effects_reference(G, C, lat)
    fast = compute_effects(G, C, lat, batch_size=7, chunk_coords=4, progress=False)
    assert fast.effects.shape == (5, 2, 12, 3) and np.abs(ref.effects).max() > 1e-2
    np.testing.assert_allclose(fast.effects, ref.effects, atol=1e-4)
    np.testing.assert_allclose(fast.base_logits, ref.base_logits, atol=1e-5)
    np.testing.assert_allclose(fast.style_min, fast.styles.min(0))
    # the image holding the extreme of k has (almost) no effect in that direction
    n = int(np.argmax(fast.styles[:, 7]))
    assert np.abs(fast.effects[n, 1, 7]).max() < 1e-4


def test_coordinate_subset_and_resume(tmp_path, monkeypatch):
    torch.manual_seed(1)
    G, C = MiniGenerator(), TinyClassifier(2)
    lat = torch.randn(4, 6)
    full = compute_effects(G, C, lat, batch_size=5, chunk_coords=3, progress=False, chunk_dir=tmp_path)
    files = sorted(tmp_path.glob("chunk_*.npz"))
    assert len(files) == 5                                   # block 0: 4 coords -> 2 chunks; block 1: 8 -> 3
    # a restart loads every chunk instead of recomputing: synthesis must not be called for edits
    calls = []
    orig = G.synthesis.forward_from
    monkeypatch.setattr(G.synthesis, "forward_from", lambda *a, **k: calls.append(1) or orig(*a, **k))
    again = compute_effects(G, C, lat, batch_size=5, chunk_coords=3, progress=False, chunk_dir=tmp_path)
    np.testing.assert_array_equal(again.effects, full.effects)
    assert len(calls) == 1                                   # the base pass only (4 images, one batch)
    files[1].unlink()                                        # one chunk lost: only it is recomputed
    again = compute_effects(G, C, lat, batch_size=100, chunk_coords=3, progress=False, chunk_dir=tmp_path)
    np.testing.assert_allclose(again.effects, full.effects, atol=1e-5)
    assert len(calls) == 3                                   # base pass + the 24 edits of that chunk
    with pytest.raises(StylexError, match="another AttFind run"):
        compute_effects(G, C, lat + 1, chunk_coords=3, progress=False, chunk_dir=tmp_path)
    with pytest.raises(StylexError, match="another AttFind run"):             # other classifier weights
        compute_effects(G, TinyClassifier(2), lat, chunk_coords=3, progress=False, chunk_dir=tmp_path)
    sub = compute_effects(G, C, lat, coords=[2, 9], progress=False)
    assert sub.coords.tolist() == [2, 9]
    np.testing.assert_allclose(sub.effects[:, :, [2, 9]], full.effects[:, :, [2, 9]], atol=1e-5)
    assert not np.delete(sub.effects, [2, 9], axis=2).any()
    with pytest.raises(StylexError, match="out of range"):
        compute_effects(G, C, lat, coords=[12], progress=False)


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(2)
    G, C = MiniGenerator(), TinyClassifier(2)
    C.train()                                                   # evaluated in eval mode, mode restored
    res = compute_effects(G, C, torch.randn(3, 6), progress=False, image_ids=[10, 11, 12])
    assert C.training and G.training                      # (a fresh Module is in train mode)
    save_effects(tmp_path / "effects.npz", res)
    back = load_effects(tmp_path / "effects.npz")
    for key in ("effects", "style_min", "style_max", "styles", "latents", "base_logits", "image_ids", "coords"):
        np.testing.assert_array_equal(getattr(back, key), getattr(res, key))
    assert back.effects.dtype == np.float32 and back.image_ids.tolist() == [10, 11, 12]
    np.savez(tmp_path / "bad.npz", effects=np.zeros(3))
    with pytest.raises(StylexError, match="lacks"):
        load_effects(tmp_path / "bad.npz")
    with pytest.raises(StylexError, match="not found"):
        load_effects(tmp_path / "missing.npz")
    assert isinstance(back, EffectsResult) and back.base_class.shape == (3,)


# ------------------------------------------------------------------ the real tiny generator
def _tiny_generator(K=2):
    net_mod = pytest.importorskip("stylex.models.networks")
    cfg = net_mod.NetworkConfig(resolution=32, num_classes=K, z_dim=16, w_dim=16, mapping_layers=2,
                                channel_base=128, channel_max=8)
    torch.manual_seed(0)
    G = net_mod.build_networks(cfg)[0]
    return G.eval(), cfg


def test_batched_equals_reference_tiny_stylegan2():
    G, cfg = _tiny_generator()
    C = TinyClassifier(2)
    z = torch.randn(3, cfg.z_dim)
    with torch.no_grad():
        w = G.mapping(z)
        lat = G.condition(w, torch.softmax(torch.randn(3, 2), 1))
    S = G.layout.num_coords
    coords = np.unique(np.r_[np.arange(0, S, max(1, S // 12)), S - 1])   # every block, both ends
    ref = compute_effects_reference(G, C, lat, coords=coords)
    fast = compute_effects(G, C, lat, batch_size=16, coords=coords, progress=False)
    assert np.abs(ref.effects).max() > 1e-3
    np.testing.assert_allclose(fast.effects, ref.effects, atol=1e-4)
    full = compute_effects(G, C, lat, batch_size=16, coords=coords, progress=False, use_seam=False)
    np.testing.assert_allclose(full.effects, ref.effects, atol=1e-4)
    assert not any(m.training for m in G.modules())              # the generator is left in eval mode


def test_end_to_end_on_tiny_stylegan2():
    """effects -> AttFind / Wu / random attributes -> flip rate, on the real generator API."""
    import json

    from stylex.explain import (attribute_to_dict, flip_rate_repeats, random_attributes, select_attributes,
                                wu_attributes)

    G, cfg = _tiny_generator()
    C = TinyClassifier(2)
    with torch.no_grad():
        lat = G.condition(G.mapping(torch.randn(10, cfg.z_dim)), torch.softmax(torch.randn(10, 2), 1))
    res = compute_effects(G, C, lat[:6], batch_size=64, progress=False)
    attrs = select_attributes(res.effects, res.base_logits)
    probs = np.array([[0.95, 0.05], [0.05, 0.95]] * 3)         # both classes have positives
    wu = wu_attributes(res.styles, probs, 3)
    rnd = random_attributes(G.layout.num_coords, 2, max(1, len(attrs)), seed=0)
    records = [attribute_to_dict(a, G.layout, ["a", "b"]) for a in attrs + wu + rnd]
    json.dumps(records)
    assert all(r["layer_name"].startswith("b") for r in records)
    for lst in (attrs, wu, rnd):
        summary = flip_rate_repeats(G, C, lat[6:], lst, 3, res.style_min, res.style_max, num_repeats=2)
        assert summary.n_images == 4 and len(summary.curve) == 3 and 0 <= summary.mean <= 1


def test_attfind_says_its_cost_before_and_per_chunk(capsys):
    """The number of edits up front, and a line per finished chunk in logs (no progress bar)."""
    from stylex.explain import compute_effects

    torch.manual_seed(0)
    G, C = MiniGenerator(), TinyClassifier(2)
    compute_effects(G, C, torch.randn(3, 6), batch_size=5, chunk_coords=3, progress=False)
    err = capsys.readouterr().err
    assert "AttFind: 72 edits to compute (3 images x 2 directions x 12 coordinates, 5 chunks" in err
    assert err.count("AttFind chunk ") == 5 and "AttFind chunk 5/5: 72/72 edits" in err and "min left" in err
