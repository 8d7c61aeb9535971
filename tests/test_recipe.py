"""The training recipe's schedule: encoder warm-up on the reconstruction terms alone, the ramp-up of the
adversarial and classifier-KL terms, and Adam's beta1 for reconstruction (issue 13)."""

from __future__ import annotations

import json

import pytest
import torch

from stylex.training.config import resolve_config
from stylex.training.loop import Networks, _g_reg_interval, _lazy_ratio, _ramp, _set_phase, train

import test_training
from test_training import synthetic_spec, tiny_cfg

classifier_file = test_training.classifier_file     # the module's fixture: an untrained tiny classifier


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEX_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("nimg, expected", [(0, 0.0), (999, 0.0), (1000, 0.0), (1500, 0.25), (3000, 1.0),
                                            (9000, 1.0)])
def test_ramp_is_zero_in_the_warmup_then_linear(nimg, expected):
    cfg = resolve_config("tiny", warmup_kimg=1.0, rampup_kimg=2.0)
    assert _ramp(cfg, nimg) == pytest.approx(expected)


def test_no_rampup_means_full_weight_after_the_warmup():
    cfg = resolve_config("tiny", warmup_kimg=1.0, rampup_kimg=0.0)
    assert _ramp(cfg, 999) == 0.0 and _ramp(cfg, 1000) == 1.0


def test_warmup_trains_reconstruction_only_then_the_full_objective(tmp_path, classifier_file):
    # one step per tick: 2 warm-up steps, then encoder (ramp 0), mapping (ramp 1), encoder (ramp 1)
    cfg = tiny_cfg(kimg=0.020, tick_kimg=0.004, warmup_kimg=0.008, rampup_kimg=0.004, beta1_rec=0.9)
    train(cfg, synthetic_spec(), classifier_file, tmp_path / "run", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert len(rows) == 5
    for row in rows[:2]:                     # warm-up: reconstruction terms only, D idle
        assert "G_rec_l1" in row and "warmup" in row
        assert not {"G_cls_kl", "G_adv", "D_loss", "G_adv_map"} & set(row), row
    for row in rows[2:]:
        assert "D_loss" in row and "warmup" not in row
    assert "G_cls_kl" not in rows[2] and "G_adv" not in rows[2]     # the ramp starts at 0
    assert {"G_adv_map", "G_cls_kl_map"} <= set(rows[3]) and {"G_adv", "G_cls_kl"} <= set(rows[4])
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["opt_E"]["param_groups"][0]["betas"][0] == pytest.approx(0.9)
    assert ckpt["opt_G"]["param_groups"][0]["betas"][0] == pytest.approx(cfg.beta1)   # D came in: GAN betas


def test_beta1_rec_is_validated():
    from stylex.errors import StylexError

    with pytest.raises(StylexError, match="--beta1-rec"):
        resolve_config("tiny", beta1_rec=1.0)
    with pytest.raises(StylexError, match="--rampup-kimg"):
        resolve_config("tiny", rampup_kimg=-1.0)


@pytest.mark.parametrize("warmup_lr", [0.01, 0.0])
def test_warmup_lr_and_beta1_hold_in_the_warmup_only(warmup_lr):
    cfg = resolve_config("tiny", warmup_lr=warmup_lr, beta1_rec=0.9, lr_g=0.002, lr_e=0.003, lr_d=0.004,
                         pl_weight=2.0).with_classes(2)
    nets = Networks.build(cfg, torch.device("cpu"))
    ratio = _lazy_ratio(_g_reg_interval(cfg))
    assert ratio < 1                                                   # G's lazy-regularisation correction in play
    d_before = dict(nets.opt_D.param_groups[0])
    g, e = nets.opt_G.param_groups[0], nets.opt_E.param_groups[0]
    _set_phase(nets, cfg, warmup=True)
    assert g["lr"] == pytest.approx((warmup_lr or 0.002) * ratio) and e["lr"] == pytest.approx(warmup_lr or 0.003)
    assert g["betas"][0] == pytest.approx(0.9 ** ratio)
    _set_phase(nets, cfg, warmup=False)
    assert g["lr"] == pytest.approx(0.002 * ratio) and e["lr"] == pytest.approx(0.003)
    assert g["betas"][0] == pytest.approx(cfg.beta1 ** ratio) and e["betas"][0] == pytest.approx(0.9)
    d_after = nets.opt_D.param_groups[0]
    assert d_after["lr"] == d_before["lr"] and d_after["betas"] == d_before["betas"]          # D is left alone


def test_warmup_lr_is_validated():
    from stylex.errors import StylexError

    for bad in (-0.001, float("nan"), float("inf")):
        with pytest.raises(StylexError, match="--warmup-lr"):
            resolve_config("tiny", warmup_lr=bad)


def test_cooldown_trains_the_encoder_alone_against_the_frozen_ema_generator(tmp_path, classifier_file):
    """The last cooldown_kimg: E changes; G, G_ema and D are exactly those of the same run stopped before it."""
    spec = synthetic_spec()
    full = tiny_cfg(kimg=0.016, tick_kimg=0.004, cooldown_kimg=0.008)
    short = tiny_cfg(kimg=0.008, tick_kimg=0.004)
    train(full, spec, classifier_file, tmp_path / "full", progress=False)
    train(short, spec, classifier_file, tmp_path / "short", progress=False)
    rows = [json.loads(line) for line in (tmp_path / "full" / "stats.jsonl").read_text().splitlines()]
    assert ["cooldown" in r for r in rows] == [False, False, True, True]
    for row in rows[2:]:                     # reconstruction and KL at full weight, nothing adversarial
        assert {"G_rec_l1", "G_cls_kl", "class_agreement"} <= set(row)
        assert not {"G_adv", "D_loss", "G_adv_map"} & set(row), row
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "short" / "checkpoint.pt", weights_only=True)
    for net in ("G", "G_ema", "D"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net
    assert not all(torch.equal(a["E"][k], b["E"][k]) for k in a["E"])


def test_cooldown_is_validated():
    from stylex.errors import StylexError

    with pytest.raises(StylexError, match="--cooldown-kimg"):
        resolve_config("tiny", kimg=1.0, cooldown_kimg=1.0)
    with pytest.raises(StylexError, match="--cooldown-kimg"):
        resolve_config("tiny", cooldown_kimg=-1.0)
    assert resolve_config("tiny", kimg=1.0, cooldown_kimg=0.5).cooldown_kimg == 0.5
