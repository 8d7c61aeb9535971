"""AttFind screening (stylex.explain.screening): the gradient estimate is the derivative (finite
differences), screening with M = 2S is the exhaustive search, small M measures only candidates, and the
saturating-edit blind spot (large effect, zero gradient) is real and visible to the agreement check."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_attfind_effects import MiniGenerator, MiniStyles, TinyClassifier, _tiny_generator

from stylex.errors import StylexError
from stylex.explain.attfind import compute_effects
from stylex.explain.screening import (agreement, column_scores, first_order_effects, screened_effects,
                                      select_columns, spearman, style_gradients)
from stylex.explain.selection import select_attributes


def test_gradient_estimate_equals_finite_difference():
    G, cfg = _tiny_generator()
    G, C = G.double(), TinyClassifier(2).double()
    with torch.no_grad():
        lat = G.condition(G.mapping(torch.randn(3, cfg.z_dim, dtype=torch.float64)),
                          torch.softmax(torch.randn(3, 2, dtype=torch.float64), 1))
    grads, flat, logits = style_gradients(G, C, lat, batch_size=2)          # two batches: 2 + 1 images
    S = G.layout.num_coords
    assert grads.shape == (3, 2, S) and flat.shape == (3, S) and np.abs(grads).max() > 1e-3
    st, eps = G.styles(lat), 1e-5
    for k in np.linspace(0, S - 1, 7).round().astype(int):                   # coordinates in every block
        off = torch.zeros(3, S, dtype=torch.float64)
        off[:, k] = eps
        with torch.no_grad():
            fd = (C(G.synthesize(st, off)) - C(G.synthesize(st, -off))) / (2 * eps)   # [N, K]
        np.testing.assert_allclose(grads[:, :, k], fd.numpy(), rtol=1e-3, atol=1e-6)
    est = first_order_effects(grads, flat)                                    # [N, 2, S, K]
    n, k, c = 1, S // 2, 1
    assert est[n, 1, k, c] == pytest.approx(grads[n, c, k] * (flat[:, k].max() - flat[n, k]), rel=1e-5)
    assert est[n, 0, k, c] == pytest.approx(grads[n, c, k] * (flat[:, k].min() - flat[n, k]), rel=1e-5)


def test_screen_all_columns_equals_exhaustive():
    torch.manual_seed(3)
    G, C = MiniGenerator(), TinyClassifier(3)
    lat = torch.randn(6, 6)
    S = G.layout.num_coords
    full = compute_effects(G, C, lat, batch_size=7, chunk_coords=4, progress=False)
    res, info = screened_effects(G, C, lat, 2 * S, batch_size=7, chunk_coords=4, progress=False)
    assert info.coords.tolist() == list(range(S))
    np.testing.assert_array_equal(res.effects, full.effects)
    assert select_attributes(res.effects, res.base_logits) == select_attributes(full.effects, full.base_logits)


def test_small_screen_measures_only_candidates():
    torch.manual_seed(4)
    G, C = MiniGenerator(), TinyClassifier(2)
    lat = torch.randn(8, 6)
    res, info = screened_effects(G, C, lat, 2, margin=0.0, progress=False)
    S = G.layout.num_coords
    assert all(len(cols) == 2 for cols in info.columns) and 1 <= len(info.coords) <= 4
    # each class's best-scoring column is measured; every other coordinate keeps effect 0
    assert {int(np.argmax(row)) % S for row in info.scores} <= set(info.coords.tolist())
    assert not np.delete(res.effects, info.coords, axis=2).any()
    assert {a.index for a in select_attributes(res.effects, res.base_logits)} <= set(info.coords.tolist())
    assert info.as_dict()["measured_coords"] == len(info.coords) and info.as_dict()["mode"] == "screened"


def test_select_columns_margin():
    scores = np.array([[5.0, 4.0, 3.9, 3.0, 0.0, 0.0]])
    assert select_columns(scores, 2, 0.0)[0].tolist() == [0, 1]
    assert select_columns(scores, 2, 0.1)[0].tolist() == [0, 1, 2]            # 3.9 >= 0.9 * 4.0
    assert select_columns(scores, 2, 0.3)[0].tolist() == [0, 1, 2, 3]
    assert select_columns(scores, 6)[0].tolist() == list(range(6))
    with pytest.raises(StylexError, match="--screen"):
        select_columns(scores, 0)


def test_spearman_with_ties():
    assert spearman(np.array([1, 2, 3, 4.0]), np.array([10, 20, 30, 40.0])) == pytest.approx(1.0)
    assert spearman(np.array([1, 2, 3, 4.0]), np.array([4, 3, 2, 1.0])) == pytest.approx(-1.0)
    assert spearman(np.array([0, 0, 1, 2.0]), np.array([0, 0, 1, 2.0])) == pytest.approx(1.0)
    assert spearman(np.zeros(4), np.arange(4.0)) is None


# ------------------------------------------------------------------ saturating edit (blind spot)
class _Layer:
    name, resolution, block_index = "l0", 1, 0

    def __init__(self, width):
        self.start, self.width = 0, width


class _Layout:
    def __init__(self, S):
        self.layers, self.num_coords = [_Layer(S)], S


class IdentityGenerator(torch.nn.Module):
    """'Images' are the flat styles themselves, ``[N, S, 1, 1]``."""

    def __init__(self, S):
        super().__init__()
        self.layout = _Layout(S)

    def styles(self, latent):
        return MiniStyles([latent.float()], [])

    def synthesize(self, styles, offsets=None, noise_mode="const"):
        s = styles.flat() if offsets is None else styles.flat() + offsets
        return s[:, :, None, None]


class SaturatingClassifier(torch.nn.Module):
    """Class 0 logit: small linear effects of coordinates 0-4, plus ``10 * relu(s5 - 0.9)`` (flat below 0.9)."""

    def forward(self, x):
        s = x[:, :, 0, 0]
        lin = s[:, :5] @ torch.tensor([0.3, -0.2, 0.25, 0.1, -0.15]) - 1.0 + 10 * torch.relu(s[:, 5] - 0.9)
        return torch.stack([lin, torch.zeros_like(lin)], 1)


def test_saturating_edit_is_the_blind_spot():
    """Coordinate 5's move to its max has the largest true effect but zero gradient on every image that
    votes: screening with small M misses it whatever the margin, the agreement check reports it, and
    measuring all columns finds it."""
    rng = np.random.default_rng(0)
    lat = torch.tensor(np.c_[rng.uniform(-1, 1, (10, 5)), np.r_[rng.uniform(0, 0.5, 9), 2.0]], dtype=torch.float32)
    G, C = IdentityGenerator(6), SaturatingClassifier()
    full = compute_effects(G, C, lat, progress=False)
    exact = select_attributes(full.effects, full.base_logits)
    assert (exact[0].index, exact[0].direction_name) == (5, "max") and exact[0].score > 5
    res, info = screened_effects(G, C, lat, 2, margin=0.99, progress=False)
    assert 5 not in info.coords.tolist() and info.scores[0, 6 + 5] == 0
    screened = select_attributes(res.effects, res.base_logits)
    assert all(a.index != 5 for a in screened)
    agr = agreement(screened, exact, info, full.effects, full.base_logits, k=3)
    assert agr["exact_top_k_measured"] < 1 and agr["top_k_overlap"] < 1
    res_all, _ = screened_effects(G, C, lat, 12, progress=False)
    assert select_attributes(res_all.effects, res_all.base_logits)[0] == exact[0]
    # the exact statistic ranks the column first (its estimate is 0, asserted above)
    assert int(np.argmax(column_scores(full.effects, full.base_logits)[0])) == 6 + 5


# ------------------------------------------------------------------ stylex attfind --screen / --exact / --verify
def test_cli_screen_exact_verify(tiny_run, tmp_path, capsys):
    import json

    from stylex.cli import main

    base = ["attfind", "--run", str(tiny_run), "--num-images", "6", "--no-progress", "--device", "cpu"]
    assert main(base + ["--out", str(tmp_path / "s"), "--screen", "3", "--verify", "--verify-images", "4"]) == 0
    assert "coordinates measured exactly" in capsys.readouterr().out
    doc = json.loads((tmp_path / "s" / "attributes.json").read_text())
    scr, S = doc["screening"], doc["num_style_coords"]
    assert scr["mode"] == "screened" and scr["top_m"] == 3 and doc["config"]["screen"] == 3
    assert 1 <= scr["measured_coords"] < S
    with np.load(tmp_path / "s" / "effects.npz") as z:
        measured = np.flatnonzero(np.abs(z["effects"]).sum(axis=(0, 1, 3)))
    assert len(measured) <= scr["measured_coords"] and {a["index"] for a in doc["attributes"]} <= set(measured)
    v = scr["verify"]
    with np.load(tmp_path / "s" / "effects_exhaustive.npz") as z:
        assert z["coords"].tolist() == list(range(S))
    assert v["top_k_overlap"] is None or 0 <= v["top_k_overlap"] <= 1
    assert v["flip_rate_images"] == 4 and len(v["exhaustive_attributes"]) <= 20
    assert all(r is None or 0 <= r <= 1 for r in v["flip_rate"].values())
    assert main(base + ["--out", str(tmp_path / "e"), "--exact"]) == 0
    assert json.loads((tmp_path / "e" / "attributes.json").read_text())["screening"]["mode"] == "exhaustive"
    assert main(base + ["--out", str(tmp_path / "v"), "--verify"]) == 2
    assert "--screen M" in capsys.readouterr().err
