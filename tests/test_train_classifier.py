"""train_classifier on a tiny fake data set: outputs, metrics, determinism, option validation, the command."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from stylex.errors import StylexError
from stylex.models.classifier import load_classifier
from stylex.training.classifier import (
    ClassifierTrainConfig,
    classification_metrics,
    cosine_warmup,
    robustness_augment,
    subsample,
    train_classifier,
)


class FakeImages(torch.utils.data.Dataset):
    """Colour-coded classes (red-ish vs blue-ish with noise): learnable in one epoch, flip-invariant."""

    def __init__(self, n: int, resolution: int = 32, seed: int = 0, num_classes: int = 2):
        rng = np.random.default_rng(seed)
        self.class_names = [f"c{k}" for k in range(num_classes)]
        self.labels = (np.arange(n) % num_classes).astype(np.int64)
        base = np.zeros((n, resolution, resolution, 3), np.float32)
        base[..., 0] = np.where(self.labels == 0, 200, 60)[:, None, None]
        base[..., 2] = np.where(self.labels == 0, 60, 200)[:, None, None]
        self.images = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)  # [N, H, W, 3]
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        x = torch.from_numpy(self.images[i]).permute(2, 0, 1).float() / 127.5 - 1  # [3, H, W]
        return x, int(self.labels[i])


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@dataclasses.dataclass(frozen=True)
class _Spec:  # stands in for stylex.data.DataSpec in these tests
    path: str | None = None
    format: str = "fake"


def tiny_cfg(tmp_path: Path, **kw) -> ClassifierTrainConfig:
    base = dict(data=_Spec(), out_dir=str(tmp_path / "clf"), resolution=32, epochs=1, batch_size=16, lr=3e-3,
                pretrained="none", width_mult=0.35, seed=0, device="cpu")
    base.update(kw)
    return ClassifierTrainConfig(**base)


def test_one_epoch_writes_checkpoint_and_metrics(tmp_path):
    data = (FakeImages(64), FakeImages(32, seed=1))
    m = train_classifier(tiny_cfg(tmp_path), progress=False, datasets=data)
    out = tmp_path / "clf"
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("val_accuracy", "val_balanced_accuracy", "val_per_class_accuracy", "val_confusion", "history",
                "train_time_s", "class_names", "config", "best_epoch", "checkpoint"):
        assert key in saved, key
    assert saved["class_names"] == ["c0", "c1"] and len(saved["history"]) == 1
    assert saved["config"]["optimizer"] == "adamw" and saved["config"]["data"]["format"] == "fake"
    assert np.array(saved["val_confusion"]).sum() == 32
    assert m["val_accuracy"] == saved["val_accuracy"]
    clf = load_classifier(out / "classifier.pt")
    assert clf.class_names == ["c0", "c1"] and clf.extra["epoch"] == 1
    assert clf.model.features[0][0].stride == (1, 1)  # 32 px: small-input stem
    # The saved classifier reproduces the reported validation accuracy.
    x = torch.stack([data[1][i][0] for i in range(32)])
    with torch.no_grad():
        acc = (clf(x).argmax(1).numpy() == data[1].labels).mean()
    assert acc == pytest.approx(saved["val_accuracy"])


def test_learns_and_keeps_best_epoch(tmp_path):
    data = (FakeImages(64), FakeImages(32, seed=1))
    m = train_classifier(tiny_cfg(tmp_path, epochs=3, batch_size=8, balance="loss", max_images=48),
                         progress=False, datasets=data)
    assert m["num_train"] == 48 and len(m["history"]) == 3
    best = max(h["val_balanced_accuracy"] for h in m["history"])
    assert m["val_balanced_accuracy"] == best and best >= 0.8  # measured 0.91
    assert m["history"][m["best_epoch"] - 1]["val_balanced_accuracy"] == best


def test_deterministic_on_cpu(tmp_path):
    data = (FakeImages(48), FakeImages(16, seed=1))
    a = train_classifier(tiny_cfg(tmp_path / "a", balance="sampler", optimizer="sgd"), progress=False, datasets=data)
    b = train_classifier(tiny_cfg(tmp_path / "b", balance="sampler", optimizer="sgd"), progress=False, datasets=data)
    assert a["history"][0]["train_loss"] == b["history"][0]["train_loss"]
    sa = torch.load(tmp_path / "a" / "clf" / "classifier.pt", weights_only=True)["state_dict"]
    sb = torch.load(tmp_path / "b" / "clf" / "classifier.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("option, value, match", [
    ("optimizer", "adam", "optimizer"),
    ("epochs", 0, "epochs"),
    ("batch_size", 0, "batch_size"),
    ("lr", -1.0, "lr"),
    ("balance", "oversample", "balance"),
    ("device", "tpu", "device"),
    ("max_images", 1, "max_images"),
    ("resolution", 8, "resolution"),
    ("num_workers", -1, "num_workers"),
    ("precise_bn_batches", -1, "precise_bn_batches"),
    ("pretrained", "/no/such/weights.pth", "pretrained"),
    ("noise_std", -0.1, "noise_std"),
    ("blur_prob", 1.5, "blur_prob"),
])
def test_bad_options_rejected_before_work(tmp_path, option, value, match):
    class Exploding:
        def __len__(self):
            raise AssertionError("data touched before validation")

    with pytest.raises(StylexError, match=match):
        train_classifier(tiny_cfg(tmp_path, **{option: value}), progress=False, datasets=(Exploding(), Exploding()))
    assert not (tmp_path / "clf").exists()


def test_robustness_augment():
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    x = torch.rand(6, 3, 8, 8) * 2 - 1
    assert torch.equal(robustness_augment(x, gen(), 0.0, 0.0), x)                    # identity when off
    blurred = robustness_augment(x, gen(), 0.0, 1.0)                                 # every image blurred
    assert blurred.shape == x.shape and not torch.equal(blurred, x)
    assert torch.allclose(blurred.mean((2, 3)), x.mean((2, 3)), atol=0.15)           # blur keeps the colour
    assert blurred.diff(dim=3).abs().mean() < 0.6 * x.diff(dim=3).abs().mean()       # and removes fine detail
    flat = torch.zeros(1, 3, 8, 8) + 0.3
    assert torch.allclose(robustness_augment(flat, gen(), 0.0, 1.0), flat)           # a flat image is unchanged
    noisy = robustness_augment(x, gen(), 0.5, 0.0)
    assert 0.0 < (noisy - x).std() < 0.5 and torch.equal(noisy, robustness_augment(x, gen(), 0.5, 0.0))


def test_needs_two_classes(tmp_path):
    one = FakeImages(8, num_classes=1)
    with pytest.raises(StylexError, match="at least 2 classes"):
        train_classifier(tiny_cfg(tmp_path), progress=False, datasets=(one, one))


def test_helpers():
    m = classification_metrics(np.array([0, 0, 0, 1]), np.array([0, 0, 1, 1]), 3)
    assert m["accuracy"] == 0.75 and m["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["per_class_accuracy"] == [pytest.approx(2 / 3), 1.0, None]
    assert m["confusion"] == [[2, 1, 0], [0, 1, 0], [0, 0, 0]]
    assert cosine_warmup(0, 100, 10) == pytest.approx(0.1) and cosine_warmup(10, 100, 10) == 1.0
    assert cosine_warmup(100, 100, 10) == pytest.approx(0.0)
    ds = FakeImages(20)
    a, b = subsample(ds, 5, seed=3), subsample(ds, 5, seed=3)
    assert a.indices == b.indices and len(a) == 5 and subsample(ds, None, 0) is ds


def test_command_registered_and_validates(tmp_path, capsys):
    from stylex.cli import main

    with pytest.raises(SystemExit):
        main(["train-classifier", "--help"])
    assert "--max-images" in capsys.readouterr().out
    import stylex.data

    if not hasattr(stylex.data, "DataSpec"):
        pytest.skip("stylex.data not built yet")
    code = main(["train-classifier", "--data", "synthetic", "--out", str(tmp_path / "x"), "--epochs", "0"])
    assert code == 2 and "epochs" in capsys.readouterr().err
