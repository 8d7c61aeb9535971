"""AttFind extraction step (stylex.explain.selection) against a slow, literal transcription of the
specification (REFERENCE section 5 / the authors' notebook), plus hand-made cases whose answer is
known: merge order, dropped duplicates, the per-image cap, empty image sets and unstable images."""

from __future__ import annotations

import numpy as np
import pytest

from stylex.errors import StylexError
from stylex.explain.selection import (Attribute, SelectionConfig, attribute_from_dict, attribute_to_dict,
                                      filter_unstable_images, greedy_select, select_attributes,
                                      select_for_image)


# ------------------------------------------------------------------- literal transcription
def _argmax(values: list[float]) -> int:
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def ref_filter_unstable(eff: list, thr: float, count_thr: int) -> list:
    """The notebook's filter_unstable_images, with loops."""
    out = []
    for img in eff:
        count = 0
        for d in img:
            for k in d:
                for v in k:
                    if abs(v) > thr:
                        count += 1
        if count > count_thr:
            out.append([[[0.0 for _ in k] for k in d] for d in img])
        else:
            out.append(img)
    return out


def ref_find_significant_styles(eff: list, num_indices: int, class_index: int,
                                max_image_effect: float) -> list[tuple[int, int]]:
    """The notebook's find_significant_styles (no discriminator), stopping instead of argmax(NaN)."""
    num_images = len(eff)
    if num_images == 0:
        return []
    S = len(eff[0][0])
    E = [[max(0.0, eff[n][x // S][x % S][class_index]) for x in range(2 * S)] for n in range(num_images)]
    images_effect = [0.0] * num_images
    all_sindices = []
    while len(all_sindices) < num_indices:
        active = [n for n in range(num_images) if images_effect[n] < max_image_effect]
        if not active:
            break
        means = [sum(E[n][x] for n in active) / len(active) for x in range(2 * S)]
        next_s = _argmax(means)
        if means[next_s] <= 0:
            break
        all_sindices.append(next_s)
        for n in range(num_images):
            images_effect[n] += E[n][next_s]
            E[n][next_s] = 0.0
    return [(x // S, x % S) for x in all_sindices]


def ref_attfind(effects: np.ndarray, base_logits: np.ndarray, num_indices: int, effect_threshold: float,
                unstable_thr: float, unstable_count: int) -> list[tuple[int, int, int, float]]:
    """Whole extraction step as in the notebook; returns [(direction, index, target_class, score)]."""
    eff = ref_filter_unstable(effects.tolist(), unstable_thr, unstable_count)
    N, K = len(eff), len(eff[0][0][0])
    classes = [_argmax(list(row)) for row in base_logits.tolist()]
    lists = {}
    for class_index in range(K):
        all_s = [eff[n] for n in range(N) if classes[n] != class_index]
        lists[class_index] = ref_find_significant_styles(all_s, num_indices, class_index, effect_threshold * 5)

    def mean_effect(d, k, c):
        return sum(eff[n][d][k][c] for n in range(N)) / N

    if K == 2:
        sindex_class_0 = [sindex for _, sindex in lists[0]]
        all_sindices = sindex_class_0 + [s for _, s in lists[1] if s not in sindex_class_0]
        all_signs = [sign for sign, _ in lists[0]] + [1 - sign for sign, s in lists[1] if s not in sindex_class_0]
        effects_ = [mean_effect(sign, s, 0) + mean_effect(1 - sign, s, 1) for sign, s in zip(all_signs, all_sindices)]
        ranked = sorted(zip(all_signs, all_sindices, effects_), key=lambda x: x[2], reverse=True)
        return [(sign, s, 0, score) for sign, s, score in ranked]
    flat = [(sign, s, c, mean_effect(sign, s, c)) for c in range(K) for sign, s in lists[c]]
    return sorted(flat, key=lambda x: x[3], reverse=True)


def random_case(seed: int, K: int, N: int = 14, S: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """Effects with anti-correlated classes (so the two-class lists share coordinates), a few big
    entries (so some images are unstable under a small count threshold) and a few images per class."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.3, size=(N, 2, S, 1)).astype(np.float32)
    effects = np.concatenate([base * (1 if c == 0 else -1) + rng.normal(0, 0.1, size=base.shape)
                              for c in range(K)], axis=3).astype(np.float32)  # [N, 2, S, K]
    big = rng.random(effects.shape) < 0.06
    effects[big] *= 12
    base_logits = rng.normal(size=(N, K)).astype(np.float32)
    return effects, base_logits


@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("seed", range(6))
def test_matches_literal_transcription(seed, K):
    effects, base_logits = random_case(seed, K)
    cfg = SelectionConfig(num_attributes=4, unstable_count=3)
    got = select_attributes(effects, base_logits, cfg)
    want = ref_attfind(effects, base_logits, 4, cfg.threshold_for(K), 2.0, 3)
    assert [(a.direction, a.index, a.target_class) for a in got] == [w[:3] for w in want]
    np.testing.assert_allclose([a.score for a in got], [w[3] for w in want], rtol=1e-5, atol=1e-6)
    assert [a.rank for a in got] == list(range(1, len(got) + 1))
    if K == 2:
        assert all(a.target_class == 0 for a in got)


def test_literal_transcription_cases_are_not_trivial():
    """The random cases exercise what they are meant to: unstable images, cross-list duplicates."""
    dup_seen = unstable_seen = False
    for seed in range(6):
        effects, base_logits = random_case(seed, 2)
        _, unstable = filter_unstable_images(effects, 2.0, 3)
        unstable_seen |= bool(unstable.any() and not unstable.all())
        eff = ref_filter_unstable(effects.tolist(), 2.0, 3)
        classes = base_logits.argmax(1)
        l0 = ref_find_significant_styles([e for e, c in zip(eff, classes) if c != 0], 4, 0, 1.0)
        l1 = ref_find_significant_styles([e for e, c in zip(eff, classes) if c != 1], 4, 1, 1.0)
        dup_seen |= bool({k for _, k in l0} & {k for _, k in l1})
    assert dup_seen and unstable_seen


# ------------------------------------------------------------------------ hand-made cases
def test_merge_order_and_dropped_duplicate():
    effects = np.zeros((2, 2, 3, 2), np.float32)
    base_logits = np.array([[0.0, 1.0], [1.0, 0.0]], np.float32)  # image 0: class 1, image 1: class 0
    effects[0, 1, 0, 0] = 0.5   # class-0 search (image 0): max k0
    effects[0, 0, 2, 0] = 0.3   #                           min k2
    effects[1, 0, 0, 1] = 0.4   # class-1 search (image 1): min k0 -> flipped (max k0): duplicate, dropped
    effects[1, 1, 1, 1] = 0.6   #                           max k1 -> flipped: min k1 towards class 0
    got = select_attributes(effects, base_logits, SelectionConfig(num_attributes=10))
    assert [(a.index, a.direction, a.target_class) for a in got] == [(0, 1, 0), (1, 0, 0), (2, 0, 0)]
    np.testing.assert_allclose([a.score for a in got], [0.45, 0.3, 0.15], atol=1e-6)
    assert got[0].direction_name == "max"


def test_greedy_cap_removes_saturated_images():
    E = np.array([[1.2, 0.8, 0.0],      # image 0 saturates (>= 1.0) after the first pick
                  [0.0, 0.0, 0.5]], np.float32)
    assert greedy_select(E, 10, max_image_effect=1.0) == [0, 2]
    assert greedy_select(E, 10, max_image_effect=np.inf) == [0, 1, 2]
    assert greedy_select(E, 1, max_image_effect=1.0) == [0]


def test_empty_sets():
    rng = np.random.default_rng(0)
    effects = rng.normal(size=(5, 2, 4, 2)).astype(np.float32)
    all_class0 = np.tile([[2.0, 0.0]], (5, 1)).astype(np.float32)
    got = select_attributes(effects, all_class0, SelectionConfig(num_attributes=3))
    # no image outside class 0 -> class-0 list empty; the merged list is class 1's, flipped
    want = ref_attfind(effects, all_class0, 3, 0.2, 2.0, 750)
    assert [(a.direction, a.index) for a in got] == [(w[0], w[1]) for w in want]
    assert 0 < len(got) <= 3
    # no positive effect anywhere -> nothing chosen (no argmax over zeros/NaN)
    assert select_attributes(-np.abs(effects), all_class0, SelectionConfig()) == []
    assert greedy_select(np.zeros((0, 6), np.float32), 3, 1.0) == []


def test_unstable_filter_default_threshold():
    effects = np.zeros((3, 2, 200, 2), np.float32)           # 800 entries per image
    effects[0].reshape(-1)[:751] = 3.0                        # 751 > 750 large entries: dropped
    effects[1].reshape(-1)[:750] = -3.0                       # exactly 750: kept
    effects[2].reshape(-1)[:751] = 2.0                        # not > 2: kept
    out, unstable = filter_unstable_images(effects)
    assert unstable.tolist() == [True, False, False]
    assert not out[0].any() and out[1].any() and effects[0].any()   # input not modified


def test_config_thresholds_and_validation():
    cfg = SelectionConfig()
    assert cfg.threshold_for(2) == 0.2 and cfg.threshold_for(3) == 0.1
    assert cfg.max_image_effect(2) == pytest.approx(1.0) and cfg.max_image_effect(5) == pytest.approx(0.5)
    assert SelectionConfig(merge_two_class=False).threshold_for(2) == 0.1
    with pytest.raises(StylexError, match="num_attributes"):
        SelectionConfig(num_attributes=0).validate()
    with pytest.raises(StylexError, match="base_logits"):
        select_attributes(np.zeros((3, 2, 4, 2)), np.zeros((2, 2)))
    with pytest.raises(StylexError, match="expected"):
        select_attributes(np.zeros((3, 4, 2)), np.zeros((3, 2)))


def test_one_vs_all_for_two_classes_when_not_merged():
    effects, base_logits = random_case(1, 2)
    got = select_attributes(effects, base_logits, SelectionConfig(num_attributes=3, merge_two_class=False))
    assert {a.target_class for a in got} <= {0, 1}
    assert [a.score for a in got] == sorted([a.score for a in got], reverse=True)


def test_select_for_image_is_sorted_positive_effects():
    rng = np.random.default_rng(3)
    e = rng.normal(size=(2, 6, 3)).astype(np.float32)
    got = select_for_image(e, target_class=2, k=4)
    flat = e[:, :, 2].reshape(-1)
    want = [int(i) for i in np.argsort(-flat, kind="stable") if flat[i] > 0][:4]
    assert [a.direction * 6 + a.index for a in got] == want
    assert all(a.target_class == 2 for a in got)
    assert [a.score for a in got] == sorted([a.score for a in got], reverse=True)
    capped = select_for_image(e, 2, 4, max_image_effect=1e-6)
    assert len(capped) == 1
    with pytest.raises(StylexError):
        select_for_image(e, 3, 2)


class _Layout:
    layers = [type("L", (), {"name": "b4.conv1"})(), type("L", (), {"name": "b8.conv0"})()]

    def to_layer(self, k):
        return (0, k) if k < 4 else (1, k - 4)


def test_attribute_json_round_trip():
    a = Attribute(rank=2, index=5, direction=1, target_class=1, score=0.25)
    d = attribute_to_dict(a, _Layout(), ["cat", "dog"])
    assert d == {"rank": 2, "index": 5, "direction": "max", "target_class": "dog", "target_class_index": 1,
                 "score": 0.25, "layer": 1, "layer_name": "b8.conv0", "channel": 1}
    assert attribute_from_dict(d) == a
