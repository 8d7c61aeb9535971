"""KID / FD against direct implementations, the identity score, LPIPS.pairwise, and the held-out probe."""

import os

import numpy as np
import pytest
import torch

from stylex.errors import StylexError
from stylex.explain.realism import frechet_distance, kid
from stylex.training.fidelity import identity_scores


def _kid_direct(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, written as the definition's three sums."""
    m, d = len(x), x.shape[1]

    def k(a, b):
        return (float(np.dot(a, b)) / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_equals_the_direct_estimator_on_known_inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 5))
    y = rng.normal(loc=0.7, size=(12, 5))
    mean, std = kid(x, y, num_subsets=3)      # subsets of the whole sets: every subset is the full estimator
    assert mean == pytest.approx(_kid_direct(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)
    assert mean > 0.1                          # shifted distributions are far apart
    same, _ = kid(x, x.copy(), num_subsets=1)
    assert same == pytest.approx(_kid_direct(x, x), rel=1e-10)


def test_kid_subsets_average_the_direct_estimator():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 4)), rng.normal(size=(15, 4))
    mean, _ = kid(x, y, num_subsets=4, max_subset_size=6, seed=3)
    draws = np.random.default_rng(3)
    direct = []
    for _ in range(4):
        a = x[draws.choice(20, 6, replace=False)]
        b = y[draws.choice(15, 6, replace=False)]
        direct.append(_kid_direct(a, b))
    assert mean == pytest.approx(np.mean(direct), rel=1e-10)


def test_frechet_distance_against_closed_forms():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(400, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # a shifted copy: only the mean term remains
    assert frechet_distance(a, a + [1.0, 2.0, 0.0]) == pytest.approx(5.0, rel=1e-8)
    # a scaled copy: covariance s^2 C, so tr(C + s^2 C - 2 s C) = (1 - s)^2 tr(C), plus the mean term
    s = 3.0
    expected = float(((a.mean(0) - s * a.mean(0)) ** 2).sum() + (1 - s) ** 2 * np.trace(np.cov(a, rowvar=False)))
    assert frechet_distance(a, s * a) == pytest.approx(expected, rel=1e-6)
    # a generic pair against the trace of the matrix square root through the eigenvalues of S_a S_b
    b = rng.normal(size=(400, 3)) @ rng.normal(size=(3, 3))
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    tr_sqrt = np.sqrt(np.linalg.eigvals(ca @ cb).real.clip(min=0)).sum()
    direct = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca) + np.trace(cb) - 2 * tr_sqrt
    assert frechet_distance(a, b) == pytest.approx(direct, rel=1e-8)


def test_realism_input_errors():
    with pytest.raises(StylexError, match="KID"):
        kid(np.zeros((1, 3)), np.zeros((5, 3)))
    with pytest.raises(StylexError, match="FD"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


def test_identity_scores():
    dist = torch.tensor([[0.1, 0.5, 0.6, 0.9],     # own original nearest
                         [0.2, 0.3, 0.4, 0.9],     # one other original nearer: rank 1
                         [0.1, 0.1, 0.5, 0.2],     # three nearer: rank 3
                         [0.5, 0.5, 0.5, 0.5]])    # all tied: ties count against it (rank 3)
    s = identity_scores(dist, classes=np.array([0, 0, 1, 1]), num_classes=2)
    assert s["identity_top1"] == 0.25
    assert s["identity_top5"] == 1.0
    assert s["identity_chance"] == 0.25
    assert s["identity_by_class"]["0"] == {"n": 2, "top1": 0.5, "top5": 1.0}
    assert s["identity_by_class"]["1"]["top1"] == 0.0
    generic = identity_scores(torch.ones(10, 10))   # every reconstruction the same: nothing identified
    assert generic["identity_top1"] == 0.0


def _lpips_or_skip():
    from stylex.models.lpips import LPIPS, lpips_available

    if not lpips_available("alex"):
        if os.environ.get("STYLEX_REQUIRE_WEIGHTS") == "1":
            pytest.fail("STYLEX_REQUIRE_WEIGHTS=1 but no LPIPS alex weights found")
        pytest.skip("no LPIPS weights installed")
    return LPIPS("alex")


def test_lpips_pairwise_equals_forward_on_every_pair():
    lpips = _lpips_or_skip()
    g = torch.Generator().manual_seed(0)
    x = torch.rand([5, 3, 64, 64], generator=g) * 2 - 1
    y = torch.rand([4, 3, 64, 64], generator=g) * 2 - 1
    d = lpips.pairwise(x, y, batch_size=3)
    direct = torch.stack([lpips(x[i:i + 1].expand(4, -1, -1, -1), y) for i in range(5)])
    assert d.shape == (5, 4)
    assert torch.allclose(d, direct, atol=1e-5)


def test_fidelity_probe_identifies_perfect_reconstructions():
    """A generator that returns each original exactly scores identity 1 and LPIPS 0."""
    from stylex.training.fidelity import FidelityProbe

    lpips = _lpips_or_skip()
    g = torch.Generator().manual_seed(1)
    images = torch.rand([6, 3, 32, 32], generator=g) * 2 - 1

    class Copy(torch.nn.Module):       # "encoder" and "generator" that pass the image through
        def forward(self, latent, noise_mode="const"):
            return latent[:, :-2].view(-1, 3, 32, 32)

        def condition(self, w, p):
            return torch.cat([w, p], 1)

    encoder = torch.nn.Flatten()
    classifier = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 2))
    stats = FidelityProbe(images, lpips, batch_size=4)(Copy(), encoder, classifier)
    assert stats["heldout_identity_top1"] == 1.0
    assert stats["heldout_lpips"] == pytest.approx(0.0, abs=1e-5)
    assert stats["heldout_agreement"] == 1.0


def test_training_probe_and_evaluate_measure_identity_on_the_same_images(tiny_run):
    """The held-out identity `stylex train` logs is the one `stylex evaluate` reports (same images, same G)."""
    import dataclasses

    from stylex.explain.pipeline import EvalConfig, _reconstruction
    from stylex.trained_run import load_run
    from stylex.training.loop import _fidelity_probe

    lpips = _lpips_or_skip()
    run = load_run(tiny_run, progress=False)
    cfg = dataclasses.replace(run.train_config, fidelity_images=6)
    probe = _fidelity_probe(cfg, run.data_spec, lpips, torch.device("cpu"))
    stats = probe(run.G, run.E, run.classifier)
    res, (originals, _) = _reconstruction(run, EvalConfig(recon_images=6, identity_images=6), None, lpips)
    assert torch.equal(originals, probe.images)
    assert res["lpips"] == pytest.approx(stats["heldout_lpips"], abs=1e-5)
    assert res["identity_top1"] == stats["heldout_identity_top1"]
    # More reconstruction images than identity images: the identity set is still training's.
    res12, _ = _reconstruction(run, EvalConfig(recon_images=10, identity_images=6), None, lpips)
    assert res12["identity_top1"] == stats["heldout_identity_top1"]
    assert res12["identity_top5"] == stats["heldout_identity_top5"]
