"""The synthetic world: determinism, the label rule, the spurious factor, rendering and the data set."""

from __future__ import annotations

import time

import numpy as np
import pytest

from stylex.data import DataSpec, inspect_dataset, open_dataset
from stylex.data import synthetic as S


@pytest.fixture(scope="module")
def world():
    return S.SyntheticWorld(seed=0, size=4000)


def test_factor_table():
    assert S.CAUSAL_FACTORS == ["object_hue", "accessory"]
    assert S.SPURIOUS_FACTORS == ["background_brightness"]
    for info in S.FACTORS.values():
        assert info.kind in ("continuous", "binary", "categorical")
        assert (info.values is None) != (info.range is None)
    assert len(S.CLASS_NAMES) == 2


def test_same_seed_same_bytes():
    a, b, c = (S.sample_factors(300, 7), S.sample_factors(300, 7), S.sample_factors(300, 8))
    assert all(np.array_equal(a[k], b[k]) for k in S.FACTORS)
    assert not np.array_equal(a["object_hue"], c["object_hue"])
    ia, ib = S.render(a, 32), S.render(b, 32, chunk=7)             # chunking does not change pixels
    assert ia.dtype == np.uint8 and ia.shape == (300, 32, 32, 3) and ia.tobytes() == ib.tobytes()
    assert S.render(S.factors_of(a, 5), 32).shape == (32, 32, 3)


def test_label_rule_balance_and_flips(world):
    f, y = world.factors, world.labels
    assert np.array_equal(y, S.label_rule(f))
    assert np.array_equal(y, (S.is_warm(f["object_hue"]) & (f["accessory"] == 1)).astype(np.int64))
    assert 0.4 <= y.mean() <= 0.6
    for name in S.CAUSAL_FACTORS:                                   # both causes matter substantially
        flipped = S.label_rule({**f, name: S.flip_factor(name, f[name])})
        changed = flipped != y
        assert changed.mean() > 0.6, name
        other = "accessory" if name == "object_hue" else "object_hue"
        other_on = (f["accessory"] == 1) if other == "accessory" else S.is_warm(f["object_hue"])
        assert np.array_equal(changed, other_on)                    # flips exactly when the other cause is on
    for name in ("background_brightness", "stripes"):               # non-causal: never changes the label
        assert np.array_equal(S.label_rule({**f, name: S.flip_factor(name, f[name])}), y)
    assert np.allclose(S.flip_factor("object_hue", S.flip_factor("object_hue", f["object_hue"])),
                       f["object_hue"], atol=1e-5)


def test_spurious_factor_correlates_in_train(world):
    tr = world.split_slice("train")
    agree = (S.is_light(world.factors["background_brightness"][tr]) == world.labels[tr]).mean()
    assert abs(agree - S.SPURIOUS_AGREEMENT) < 0.03
    other = S.sample_factors(4000, 0, spurious_agreement=0.5)
    assert abs((S.is_light(other["background_brightness"]) == S.label_rule(other)).mean() - 0.5) < 0.03


def test_render_with_changes_only_that_factor(world):
    f = world.factors
    i = int(np.nonzero((f["accessory"] == 1) & S.is_warm(f["object_hue"]))[0][0])
    base = S.render_with(f, i, 32)
    assert np.array_equal(base, S.render(S.factors_of(f, i), 32))
    no_mark = S.render_with(f, i, 32, accessory=0)
    cool = S.render_with(f, i, 32, object_hue=S.flip_factor("object_hue", f["object_hue"][i]))
    diff = np.abs(base.astype(int) - no_mark.astype(int)).sum(-1) > 30
    assert 3 <= diff.sum() < 0.25 * 32 * 32                        # a small, visible mark
    r, g, b = (cool.astype(int) - base.astype(int)).reshape(-1, 3).T
    assert (b - r).max() > 150                                      # the object turned from warm to cool
    with pytest.raises(ValueError):
        S.render_with(f, i, 32, colour=1)


def test_render_speed():
    f = S.sample_factors(1000, 1)
    t = time.perf_counter()
    S.render(f, 32)
    assert time.perf_counter() - t < 5.0                            # 4000 images: a few seconds


def test_synthetic_dataset_splits(tmp_path):
    base = DataSpec(path=None, format="synthetic", synthetic_size=300, resolution=16, cache_dir=str(tmp_path))
    tr = open_dataset(base)
    va = open_dataset(DataSpec(path="synthetic", synthetic_size=300, resolution=16, cache_dir=str(tmp_path),
                               split="val"))
    assert (len(tr), len(va)) == (270, 30) and not set(tr.files) & set(va.files)
    assert tr.files[0] == "synthetic:0" and va.files[0] == "synthetic:270"
    assert tr.class_names == S.CLASS_NAMES and tr.format == "synthetic"
    assert set(tr.factors) == set(S.FACTORS) and len(tr.factors["shape"]) == 270
    assert np.array_equal(tr.labels, S.label_rule(tr.factors))
    world = S.SyntheticWorld(0, 300)
    assert np.array_equal(va.uint8_images(), world.render(16, indices=np.arange(270, 300)))
    x, y = va[0]
    assert x.shape == (3, 16, 16) and y == world.labels[270]
    info = inspect_dataset(base)
    assert info["num_images"] == 270 and sum(info["class_counts"].values()) == 270
