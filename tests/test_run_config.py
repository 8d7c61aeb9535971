"""config.json of a run directory: each value stored once, unknown keys refused, and runs written in
the first layout (network sizes in ``train`` and again in ``network``) still load and resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from stylex.errors import StylexError
from stylex.training.config import RunConfig, read_run_config

# Written by stylex at commit e05e0cf (the first layout): a tiny run with three classes.
LAYOUT_1 = Path(__file__).parent / "data" / "run_config_layout1.json"
# Training options that came after the first layout (augmentation, encoder warm-up, fidelity rows).
AFTER_LAYOUT_1 = ("warmup_kimg", "rampup_kimg", "beta1_rec", "warmup_lr", "cooldown_kimg", "augment", "ada_target",
                  "ada_kimg", "ada_interval", "fidelity_images")


def as_layout_1(doc: dict) -> dict:
    """A layout-2 document written back as the first layout's ``write_run_config`` wrote it."""
    train = {k: v for k, v in doc["train"].items() if k != "network"}
    network = {"resolution": doc["train"]["network"]["resolution"], "num_classes": len(doc["class_names"]),
               **{k: v for k, v in doc["train"]["network"].items() if k != "resolution"}}
    flat = {"preset": train.pop("preset"), **{k: v for k, v in network.items() if k != "num_classes"}, **train}
    data = dict(doc["data"])
    data = {**{k: data[k] for k in ("path", "format", "attribute", "split")}, "resolution": network["resolution"],
            **{k: v for k, v in data.items() if k not in ("path", "format", "attribute", "split")}}
    return {"stylex_version": doc["stylex_version"], "train": flat, "data": data,
            "class_names": doc["class_names"], "network": network, "command": doc["command"]}


def _leaves(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def test_first_layout_converts_and_stores_each_value_once():
    old = json.loads(LAYOUT_1.read_text())
    cfg = RunConfig.from_dict(old)
    assert cfg.train.network.num_classes == 3 and cfg.class_names == ("a", "b", "c")
    assert cfg.train.network.resolution == 32 == cfg.data.resolution
    assert (cfg.train.network.z_dim, cfg.train.network.channel_base, cfg.train.paths) == (32, 512, "encoder")
    assert cfg.command == ["stylex", "train", "--preset", "tiny"]
    new = cfg.to_dict()
    names = [k.rsplit(".", 1)[-1] for k, _ in _leaves(new)]
    assert len(names) == len(set(names)), "a value is stored twice"
    assert "num_classes" not in names
    assert RunConfig.from_dict(json.loads(json.dumps(new))) == cfg
    # options added after the first layout take values that keep an old run's training as it was
    added = {k: new["train"].pop(k) for k in AFTER_LAYOUT_1}
    assert added["augment"] == "none"
    assert added["warmup_kimg"] == added["rampup_kimg"] == added["beta1_rec"] == added["warmup_lr"] == 0
    assert added["cooldown_kimg"] == 0
    assert new["data"].pop("allow_singleton_classes") is False     # a data option added after the first layout
    losses = new["train"]["losses"]                                   # loss weights added after it: 1 (no change)
    assert losses.pop("rec_adv_scale") == losses.pop("rec_kl_scale") == 1.0
    # the test's writer of the first layout writes what stylex wrote then
    assert as_layout_1(new) == old


@pytest.mark.parametrize("where", ["top", "train", "network", "data"])
def test_unknown_keys_are_refused(where):
    doc = RunConfig.from_dict(json.loads(LAYOUT_1.read_text())).to_dict()
    target = {"top": doc, "train": doc["train"], "network": doc["train"]["network"], "data": doc["data"]}[where]
    target["bogus"] = 1
    with pytest.raises(StylexError, match="bogus"):
        RunConfig.from_dict(doc)


def test_damaged_config_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(StylexError, match="config.json"):
        read_run_config(tmp_path)
    with pytest.raises(StylexError, match="not a StylEx run directory"):
        read_run_config(tmp_path / "missing")


def test_resume_of_a_first_layout_run_continues(tmp_path, monkeypatch):
    """A run whose config.json is in the first layout resumes, bit-identical to an uninterrupted run,
    and its config.json is rewritten in the current layout; a setting resuming ignores is named."""
    from test_training import _assert_same_weights, _state, synthetic_spec, tiny_cfg

    import torch

    from stylex.models.classifier import ClassifierConfig, build_classifier, save_classifier
    from stylex.training.loop import train

    monkeypatch.setenv("STYLEX_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    ccfg = ClassifierConfig(num_classes=2, class_names=["a", "b"], width_mult=0.25, pretrained="none",
                            input_size=None)
    clf = tmp_path / "classifier.pt"
    save_classifier(clf, build_classifier(ccfg), ccfg, extra={})
    cfg = tiny_cfg()
    train(cfg, synthetic_spec(), clf, tmp_path / "straight", progress=False)
    old = tmp_path / "old"
    train(dataclasses.replace(cfg, kimg=0.008), synthetic_spec(), clf, old, progress=False)
    doc = json.loads((old / "config.json").read_text())
    (old / "config.json").write_text(json.dumps(as_layout_1(doc), indent=2))
    assert "network" in json.loads((old / "config.json").read_text())
    with pytest.warns(UserWarning, match=r"ignored: lr_g \(0.001"):   # named, and the stored 0.002 kept
        train(dataclasses.replace(cfg, lr_g=0.001), synthetic_spec(), None, old, resume=True, progress=False)
    _assert_same_weights(_state(tmp_path / "straight"), _state(old))
    assert json.loads((old / "config.json").read_text())["layout"] == 2
