"""Ground-truth recovery on the synthetic world: the factor probe and the scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylex.data import synthetic
from stylex.explain.ground_truth import (ProbeConfig, attribute_factor_table, intervention_changes, load_probe,
                                         recovery_scores, save_probe, single_coordinate_ceiling, style_spread,
                                         train_probe)


def test_recovery_scores_by_hand():
    rows = [{"main_factor": m} for m in ["object_hue", "object_hue", "background_brightness", "shape", "accessory"]]
    s = recovery_scores(rows, causal=["object_hue", "accessory"], spurious=["background_brightness"], k=4)
    assert s["k"] == 4
    assert s["causal_fraction"] == pytest.approx(0.5)
    assert s["causal_coverage"] == pytest.approx(0.5)        # accessory is rank 5, outside the top 4
    assert s["spurious_fraction"] == pytest.approx(0.25)
    assert recovery_scores(rows, ["object_hue", "accessory"], [], k=5)["causal_coverage"] == 1.0
    assert recovery_scores([], ["a"], [], k=3)["k"] == 0


@pytest.fixture(scope="module")
def probe():
    torch.manual_seed(0)
    return train_probe(32, ProbeConfig(num_images=1500, epochs=4, width=16))


def _as_tensor(u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 127.5 - 1


def test_probe_reads_the_factors(probe):
    _, info = probe
    acc = info["val_accuracy"]
    assert acc["accessory"] > 0.9 and acc["stripes"] > 0.7 and acc["shape"] > 0.45  # chance: 0.7, 0.5, 0.33
    assert acc["object_hue"] > 0.6                           # 4 quantile bins: chance is 0.25


def test_probe_names_the_factor_an_edit_changes(probe, tmp_path):
    model, info = probe
    factors = synthetic.sample_factors(64, seed=99)

    def edit(name):
        changed = dict(factors)
        changed[name] = synthetic.flip_factor(name, factors[name])
        return _as_tensor(synthetic.render(factors, 32)), _as_tensor(synthetic.render(changed, 32))

    rows = attribute_factor_table(model, edit, ["accessory", "object_hue", "stripes"])
    assert [r["main_factor"] for r in rows] == ["accessory", "object_hue", "stripes"]
    save_probe(tmp_path / "probe.pt", model, info)
    reloaded, _ = load_probe(tmp_path / "probe.pt")
    x = _as_tensor(synthetic.render(factors, 32))
    assert all(torch.allclose(a, b) for a, b in zip(model(x).values(), reloaded(x).values()))


def test_ceiling_finds_the_one_coordinate_that_carries_a_factor(probe):
    """A toy "generator" whose coordinate 3, moved to its max, removes the mark; every other move only
    adds faint noise. The ceiling names (3, max) for the accessory, and no coordinate moves the hue."""
    model, _ = probe
    factors = synthetic.sample_factors(32, seed=5)
    factors["accessory"][:] = 1
    marked = _as_tensor(synthetic.render(factors, 32))
    unmarked = _as_tensor(synthetic.render({**factors, "accessory": np.zeros(32, np.int64)}, 32))
    noise = torch.randn(marked.shape, generator=torch.Generator().manual_seed(0)) * 0.01

    def generate(offsets):
        if offsets is None:
            return marked
        return unmarked if offsets[0, 3] > 0 else marked + noise

    def offsets_for(k, d):
        off = torch.zeros(32, 6)
        off[:, k] = 1.0 if d == 1 else -1.0
        return off

    best = single_coordinate_ceiling(model, generate, offsets_for, 6)
    assert (best["accessory"]["index"], best["accessory"]["direction"]) == (3, 1)
    assert best["accessory"]["change"] > 0.5
    assert best["object_hue"]["change"] < 0.2


def test_intervention_changes_read_the_flipped_cause(probe):
    """Through a perfect "reconstruction" (the identity), flipping a cause changes that cause most."""
    model, _ = probe
    true = intervention_changes(model, lambda x: x, 32, ["accessory", "object_hue"], num_images=48)
    assert true["accessory"] > 0.5 and true["object_hue"] > 0.5


def test_style_spread_counts_the_coordinates_a_factor_moves():
    """An "encoder" whose coordinate 2 is the share of white pixels (only the mark's dot is white) keeps the mark
    in one coordinate; a random projection of the pixels spreads it (and the hue) over many."""
    def concentrated(x):
        white = ((x + 1) / 2).amin(1).gt(0.9).float().mean((1, 2))
        s = torch.zeros(len(x), 16)
        s[:, 2] = white
        return s

    proj = torch.randn(3 * 32 * 32, 64, generator=torch.Generator().manual_seed(0))
    one = style_spread(concentrated, torch.ones(16), 32, ["accessory"], num_images=32)["accessory"]
    assert one == {"coords_for_half": 1, "num_coords": 16, "top_share": pytest.approx(1.0)}
    many = style_spread(lambda x: x.flatten(1) @ proj, torch.ones(64), 32, ["accessory", "object_hue"],
                        num_images=32)
    assert all(m["num_coords"] == 64 and m["coords_for_half"] >= 12 and m["top_share"] < 0.1 for m in many.values())


def test_ceiling_warnings_name_the_causes_no_coordinate_carries():
    from stylex.explain.pipeline import ceiling_warnings

    ceiling = {"accessory": {"change": 0.06, "index": 161, "direction": "min", "true_change": 0.80,
                             "spread": {"coords_for_half": 133, "num_coords": 448, "top_share": 0.01}},
               "object_hue": {"change": 0.70, "index": 432, "direction": "min", "true_change": 0.99}}
    lines = ceiling_warnings(ceiling)
    assert len(lines) == 1 and "'accessory'" in lines[0] and "0.06" in lines[0] and "0.80" in lines[0]
    assert "133 of the 448 coordinates" in lines[0]
    assert ceiling_warnings({}) == []
