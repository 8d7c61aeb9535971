"""Wu et al. and random baselines on hand-made data; flip rate on a toy generator/classifier whose
answer is known; reconstruction metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stylex.errors import StylexError
from stylex.explain.baselines import random_attributes, wu_attributes, wu_relevance
from stylex.explain.metrics import (attribute_moves, flip_rate, flip_rate_repeats, reconstruction_metrics)
from stylex.explain.selection import Attribute


# --------------------------------------------------------------------------- Wu et al.
def wu_case():
    """Coordinate 2 separates the classes (up for class 0), coordinate 4 weakly (down for class 0)."""
    rng = np.random.default_rng(0)
    N, S = 200, 6
    styles = rng.normal(size=(N, S))
    probs0 = np.where(np.arange(N) < N // 2, 0.95, 0.05)
    probs = np.stack([probs0, 1 - probs0], 1)
    styles[: N // 2, 2] += 4.0
    styles[: N // 2, 4] -= 0.7
    return styles, probs


def test_wu_relevance_finds_the_separating_coordinate():
    styles, probs = wu_case()
    relevance, direction = wu_relevance(styles, probs, 0)
    assert int(np.argmax(relevance)) == 2 and direction[2] == 1 and direction[4] == 0
    assert np.argsort(-relevance)[1] == 4
    relevance1, direction1 = wu_relevance(styles, probs, 1)
    assert int(np.argmax(relevance1)) == 2 and direction1[2] == 0
    assert wu_relevance(styles, probs, 0, positive_threshold=0.99) is None


def test_wu_attributes_merged_and_one_vs_all():
    styles, probs = wu_case()
    merged = wu_attributes(torch.as_tensor(styles), probs, num_attributes=2)
    # towards class 0: coordinate 2 up, coordinate 4 down; duplicates across classes dropped
    assert [(a.index, a.direction, a.target_class) for a in merged[:2]] == [(2, 1, 0), (4, 0, 0)]
    assert len({a.index for a in merged}) == len(merged) and [a.rank for a in merged] == [1, 2]
    ova = wu_attributes(styles, probs, num_attributes=1, merge_two_class=False)
    assert {(a.index, a.direction, a.target_class) for a in ova} == {(2, 1, 0), (2, 0, 1)}
    with pytest.warns(UserWarning, match="class 0"):
        wu_attributes(styles, np.stack([np.zeros(200), np.ones(200)], 1), 2)
    with pytest.raises(StylexError):
        wu_attributes(styles, probs[:10], 2)


def test_random_attributes():
    a = random_attributes(50, 2, 10, seed=3)
    assert a == random_attributes(50, 2, 10, seed=3) and a != random_attributes(50, 2, 10, seed=4)
    assert len({x.index for x in a}) == 10 and all(x.target_class == 0 for x in a)
    assert {x.direction for x in a} == {0, 1}
    assert [x.target_class for x in random_attributes(50, 3, 4)] == [0, 1, 2, 0]
    with pytest.raises(StylexError):
        random_attributes(5, 2, 6)


# ------------------------------------------------------------------------------ toy model
class ToyStyles:
    def __init__(self, s):
        self.s = s

    def flat(self):
        return self.s


class ToyGenerator(torch.nn.Module):
    """'Image' = the styles themselves (plus offsets), laid out as [N, 3, 1, S/3]."""

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def styles(self, latent):
        return ToyStyles(latent.float())

    def synthesize(self, styles, offsets=None, noise_mode="const"):
        s = styles.flat() + (0 if offsets is None else offsets)
        return s.reshape(len(s), 3, 1, -1)


def threshold_classifier(coord: int, num_classes: int = 2):
    """Class 1 iff style coordinate `coord` > 0 (two classes); K=3: class 2 iff coordinate 1 > 2."""
    def clf(img):
        s = img.reshape(len(img), -1)
        logits = torch.stack([-s[:, coord], s[:, coord]], 1)
        if num_classes == 3:
            logits = torch.cat([logits, (s[:, 1:2] - 2) * 10], 1)
        return logits
    return clf


def toy_latents(n=40, S=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    lat = torch.rand(n, S, generator=g) * 1.6 - 0.8          # all coordinates in (-0.8, 0.8)
    smin, smax = -np.ones(S, np.float32), np.ones(S, np.float32)
    return lat, smin, smax


def test_flip_rate_known_answers():
    lat, smin, smax = toy_latents()
    G, C = ToyGenerator(), threshold_classifier(0)
    towards0 = [Attribute(1, 3, 1, 0, 1.0), Attribute(2, 0, 0, 0, 0.5)]   # irrelevant coord, then coord 0 "min"
    res = flip_rate(G, C, lat, towards0, k=2, style_min=smin, style_max=smax, batch_size=7)
    assert res.curve == [0.0, 1.0] and res.rate == 1.0 and res.n_images == 40
    assert set(res.base_class.tolist()) == {0, 1}     # both base classes are present and both flip
    wrong = [Attribute(1, 0, 1, 0, 1.0)]              # claims "max pushes towards class 0": wrong way
    assert flip_rate(G, C, lat, wrong, 1, smin, smax).rate == 0.0
    # a one-vs-all list for class 1 "max": only class-0 images use it as recorded, class-1 images reverse it
    assert flip_rate(G, C, lat, [Attribute(1, 0, 1, 1, 1.0)], 1, smin, smax).rate == 1.0


def test_flip_rate_partial_and_repeats():
    lat, smin, smax = toy_latents(n=30)
    lat[:, 0] = torch.linspace(0.05, 0.8, 30)          # all class 1
    smin = smin.copy()
    smin[0] = 0.4                                       # moving to min crosses 0 for no image ...
    lat[:10, 0] = -lat[:10, 0]                          # ... and the 10 class-0 images go to max=1: flip
    G, C = ToyGenerator(), threshold_classifier(0)
    attrs = [Attribute(1, 0, 0, 0, 1.0)]
    res = flip_rate(G, C, lat, attrs, 1, smin, smax)
    assert res.rate == pytest.approx(10 / 30) and res.flipped[:10].all() and not res.flipped[10:].any()
    rep = flip_rate_repeats(G, C, lat, attrs, 1, smin, smax, num_repeats=3)
    # sets stratified by base class: the 10 flipping class-0 images spread 4/3/3 over the three sets of 10
    # (contiguous sets would have given 1.0, 0.0, 0.0: a spread that measured the class mix, not the method)
    assert rep.rates == [pytest.approx(0.4), pytest.approx(0.3), pytest.approx(0.3)] and rep.n_images == 30
    assert rep.mean == pytest.approx(1 / 3) and rep.std == pytest.approx(np.std([0.4, 0.3, 0.3]))
    assert "stratified" in rep.as_dict()["sets"]
    assert rep.as_dict()["curve"] == [pytest.approx(1 / 3)]
    # the 10 class-0 images all flip, the 20 class-1 images none: the split says which way flips go
    assert rep.as_dict()["by_base_class"] == {"0": {"n": 10, "rate": 1.0}, "1": {"n": 20, "rate": 0.0}}
    with pytest.raises(StylexError):
        flip_rate_repeats(G, C, lat, attrs, 1, smin, smax, num_repeats=31)


def test_stratified_sets_have_the_same_class_mix():
    from stylex.explain.metrics import stratified_sets

    base = np.array([1] * 17 + [0] * 5 + [2] * 9)
    np.random.default_rng(0).shuffle(base)
    sets = stratified_sets(base, 4)
    assert sorted(np.concatenate(sets).tolist()) == list(range(len(base)))          # disjoint, complete
    for c in (0, 1, 2):
        counts = [int((base[s] == c).sum()) for s in sets]
        assert max(counts) - min(counts) <= 1
    assert max(map(len, sets)) - min(map(len, sets)) <= 1


def test_attribute_moves_rules():
    attrs = [Attribute(1, 5, 1, 0, 3.0), Attribute(2, 5, 0, 1, 2.0), Attribute(3, 7, 0, 2, 1.0),
             Attribute(4, 8, 1, 1, 0.5)]
    assert attribute_moves(attrs, 1, 2, 10) == [(5, 1), (7, 0), (8, 0)]   # K=2: own class reversed
    assert attribute_moves(attrs, 0, 2, 10) == [(5, 0), (7, 0), (8, 1)]
    assert attribute_moves(attrs, 1, 3, 10) == [(5, 1), (7, 0)]           # K=3: own class skipped
    assert attribute_moves(attrs, 2, 3, 2) == [(5, 1), (8, 1)]


def test_flip_rate_three_classes():
    lat, smin, smax = toy_latents(S=6)
    G, C = ToyGenerator(), threshold_classifier(0, num_classes=3)
    # class 2 needs coordinate 1 > 2: never reached with style_max 1 -> only the class-0/1 moves count
    attrs = [Attribute(1, 1, 1, 2, 1.0), Attribute(2, 0, 0, 0, 0.5), Attribute(3, 0, 1, 1, 0.4)]
    res = flip_rate(G, C, lat, attrs, 2, smin, smax)
    assert res.curve == [0.0, 1.0]


def test_reconstruction_metrics():
    x = torch.zeros(4, 3, 8, 8)
    y = x + 0.5
    lo = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 0.0]])
    lr = torch.tensor([[2.0, 0.0], [2.0, 0.0], [3.0, 0.0], [0.0, 0.0]])
    m = reconstruction_metrics(x, y, lo, lr, lpips_fn=lambda a, b: (a - b).abs().mean((1, 2, 3)), batch_size=3)
    assert m["l1"] == pytest.approx(0.5) and m["lpips"] == pytest.approx(0.5)
    assert m["class_agreement"] == pytest.approx(0.75)
    p = torch.softmax(lo, 1)[:, 0] - torch.softmax(lr, 1)[:, 0]
    assert m["prob_gap"] == pytest.approx(float(p.abs().mean()), abs=1e-6)
    assert reconstruction_metrics(x, y, lo, lr)["lpips"] is None
    # originals: classes 0, 1, 0, 0 (a tie goes to 0); reconstructions: 0, 0, 0, 0
    assert m["agreement_by_class"] == {"0": {"n": 3, "agreement": 1.0}, "1": {"n": 1, "agreement": 0.0}}
    assert m["balanced_agreement"] == pytest.approx(0.5)
    assert "accuracy_orig" not in m
    m = reconstruction_metrics(x, y, lo, lr, labels=torch.tensor([0, 1, 1, -1]))
    assert m["accuracy_orig"] == pytest.approx(2 / 3) and m["accuracy_recon"] == pytest.approx(1 / 3)
    with pytest.raises(StylexError, match="2 labels for 4 images"):
        reconstruction_metrics(x, y, lo, lr, labels=torch.tensor([0, 1]))
