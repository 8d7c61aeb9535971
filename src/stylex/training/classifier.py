"""Train the classifier that StylEx will explain (MobileNetV2, optionally from ImageNet weights).

Output folder::

    classifier.pt   best epoch by balanced validation accuracy (load with stylex.models.classifier.load_classifier)
    metrics.json    final and per-epoch validation metrics, train time, class names, the config

Deterministic on the CPU for a given seed: model initialisation, subsampling, shuffling, flips and class
balancing all draw from seeded generators.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset, WeightedRandomSampler

from ..atomic import write_json
from ..device import autocast, precision_dtype, resolve_device
from ..errors import StylexError
from ..models.classifier import ClassifierAdapter, ClassifierConfig, build_classifier, save_classifier

OPTIMIZERS = ("adamw", "sgd")
BALANCE = ("none", "sampler", "loss")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """Settings of ``stylex train-classifier``."""

    data: Any                              # stylex.data.DataSpec (its split and resolution are set here)
    out_dir: str                           # output folder (classifier.pt, metrics.json)
    resolution: int = 64                   # image size fed to the classifier (= the generator's resolution)
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3                       # peak learning rate (after warmup)
    optimizer: str = "adamw"               # adamw | sgd (momentum 0.9, nesterov)
    weight_decay: float = 1e-2
    warmup_fraction: float = 0.05          # linear warmup over this fraction of all steps, then cosine to 0
    max_images: int | None = None          # deterministic subsample of the training split
    pretrained: str = "auto"               # auto | none | path to torchvision MobileNetV2 weights
    width_mult: float = 1.0
    input_size: int | None = None          # resize for the network; None = train at `resolution`
    small_input_stride: bool | None = None  # stem stride 1; None = auto (< 96 px)
    balance: str = "none"                  # none | sampler (class-balanced sampling) | loss (class weights)
    hflip: bool = True                     # random horizontal flips
    noise_std: float = 0.0                 # robustness: Gaussian pixel noise, std drawn per image from [0, this]
    blur_prob: float = 0.0                 # robustness: probability of a 3x3 binomial blur per image
    seed: int = 0
    num_workers: int = 0                   # DataLoader worker processes
    precise_bn_batches: int = 32           # recompute BatchNorm statistics on this many batches before each eval
    device: str = "auto"                   # auto | cpu | cuda | cuda:N

    def validate(self) -> "ClassifierTrainConfig":
        """Check every option (no file or data access beyond an explicit weights path); returns self."""
        def bad(option: str, value: Any, expected: str) -> StylexError:
            return StylexError(f"train-classifier option {option}={value!r}: expected {expected}")

        if self.optimizer not in OPTIMIZERS:
            raise bad("optimizer", self.optimizer, " or ".join(OPTIMIZERS))
        if self.balance not in BALANCE:
            raise bad("balance", self.balance, " | ".join(BALANCE))
        if not (self.device in DEVICES or str(self.device).startswith("cuda:")):
            raise bad("device", self.device, "auto, cpu, cuda or cuda:N")
        if not (0.0 <= self.noise_std <= 1.0):
            raise bad("noise_std", self.noise_std, "a number in [0, 1] (images are in [-1, 1])")
        if not (0.0 <= self.blur_prob <= 1.0):
            raise bad("blur_prob", self.blur_prob, "a probability in [0, 1]")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise bad("epochs", self.epochs, "an integer >= 1")
        if self.batch_size < 1:
            raise bad("batch_size", self.batch_size, "an integer >= 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise bad("lr", self.lr, "a positive number")
        if self.weight_decay < 0:
            raise bad("weight_decay", self.weight_decay, "a number >= 0")
        if not 0 <= self.warmup_fraction < 1:
            raise bad("warmup_fraction", self.warmup_fraction, "a number in [0, 1)")
        if self.max_images is not None and self.max_images < 2:
            raise bad("max_images", self.max_images, "None or an integer >= 2")
        if not 16 <= self.resolution <= 1024:
            raise bad("resolution", self.resolution, "an image size in 16..1024 (32..256 for StylEx)")
        if self.input_size is not None and not 16 <= self.input_size <= 1024:
            raise bad("input_size", self.input_size, "None or an image size in 16..1024")
        if self.width_mult <= 0:
            raise bad("width_mult", self.width_mult, "a positive number")
        if self.num_workers < 0:
            raise bad("num_workers", self.num_workers, "an integer >= 0")
        if self.precise_bn_batches < 0:
            raise bad("precise_bn_batches", self.precise_bn_batches, "an integer >= 0 (0 turns it off)")
        if self.pretrained not in ("auto", "none") and not Path(self.pretrained).expanduser().is_file():
            raise bad("pretrained", self.pretrained, "auto, none, or an existing MobileNetV2 weights file")
        if str(self.device).startswith("cuda") and not torch.cuda.is_available():
            raise bad("device", self.device, "auto or cpu: CUDA is not available on this machine")
        if not self.out_dir:
            raise bad("out_dir", self.out_dir, "an output folder")
        return self


def _open_splits(cfg: ClassifierTrainConfig, progress: bool = True) -> tuple[Dataset, Dataset]:
    from ..data import open_dataset  # imported late: the data stage is only needed here

    train = open_dataset(dataclasses.replace(cfg.data, split="train", resolution=cfg.resolution), progress)
    val = open_dataset(dataclasses.replace(cfg.data, split="val", resolution=cfg.resolution), progress)
    return train, val


def _labels_of(ds: Dataset) -> np.ndarray:
    """int64 labels ``[N]`` of a dataset or a Subset of one (without decoding images)."""
    if isinstance(ds, Subset):
        return _labels_of(ds.dataset)[np.asarray(ds.indices)]
    return np.asarray(ds.labels, dtype=np.int64)


def subsample(ds: Dataset, max_images: int | None, seed: int) -> Dataset:
    """A deterministic random subset of ``max_images`` items (sorted indices), or ``ds`` itself."""
    n = len(ds)
    if max_images is None or max_images >= n:
        return ds
    idx = np.sort(np.random.default_rng(seed).choice(n, size=max_images, replace=False))
    return Subset(ds, idx.tolist())


def cosine_warmup(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear 1/warmup .. 1 over ``warmup`` steps, then cosine from 1 to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Accuracy, balanced accuracy (mean recall over classes present), per-class accuracy, confusion matrix.

    Args:
        y_true, y_pred: int ``[N]``.
        num_classes: ``K``.

    Returns:
        ``accuracy``, ``balanced_accuracy``, ``per_class_accuracy`` (``K`` values, None for absent classes),
        ``confusion`` (``K x K`` lists, rows = true class, columns = predicted).
    """
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    support = confusion.sum(1)
    per_class = [float(confusion[k, k] / support[k]) if support[k] else None for k in range(num_classes)]
    present = [a for a in per_class if a is not None]
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
        "balanced_accuracy": float(np.mean(present)) if present else float("nan"),
        "per_class_accuracy": per_class,
        "confusion": confusion.tolist(),
    }


@torch.no_grad()
def evaluate(adapter: ClassifierAdapter, loader: DataLoader, device: torch.device) -> dict[str, Any]:
    """Classification metrics of ``adapter`` over ``loader`` (eval mode; restores the previous mode)."""
    was_training = adapter.training
    adapter.eval()
    true, pred = [], []
    for images, labels in loader:
        with _autocast(device):
            logits = adapter(images.to(device, non_blocking=True))  # [B, K]
        pred.append(logits.argmax(1).cpu())
        true.append(torch.as_tensor(labels))
    adapter.train(was_training)
    y_true = torch.cat(true).numpy().astype(np.int64)
    y_pred = torch.cat(pred).numpy().astype(np.int64)
    return classification_metrics(y_true, y_pred, adapter.num_classes)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable, device: torch.device, max_batches: int) -> int:
    """Replace BatchNorm running statistics by their average over ``max_batches`` batches ("precise BN").

    The running averages (momentum 0.1) lag behind weights that change quickly, which matters in short
    runs: a net can fit its training set in train mode and still be at chance in eval mode. Averaging
    batch statistics with the final weights removes that lag (Wu & Johnson 2021, "Rethinking BatchNorm").

    Args:
        model: the network (its train/eval mode is restored afterwards).
        batches: yields ``(images, labels)``; only the images are used.
        device: where the model is.
        max_batches: how many batches to average (0: do nothing).

    Returns:
        The number of batches used.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not bns or max_batches <= 0:
        return 0
    was_training = model.training
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over the batches below
    model.train()
    used = 0
    for images, _ in batches:
        if used >= max_batches:
            break
        with _autocast(device):
            model(images.to(device, non_blocking=True))
        used += 1
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    model.train(was_training)
    return used


def _autocast(device: torch.device):
    # bf16 on GPUs (BatchNorm stays fp32 under autocast); plain fp32 on the CPU for determinism.
    return autocast(device, precision_dtype("auto", device))


def _random_hflip(images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip each image ``[N, 3, H, W]`` horizontally with probability 1/2."""
    flip = torch.rand(images.shape[0], generator=gen) < 0.5  # [N]
    return torch.where(flip.to(images.device).view(-1, 1, 1, 1), images.flip(3), images)


def robustness_augment(images: torch.Tensor, gen: torch.Generator, noise_std: float,
                       blur_prob: float) -> torch.Tensor:
    """Blur some images and add pixel noise to all, so the classifier does not hang on fine, faint detail.

    A classifier trained only on clean images can be flipped by changes a person cannot see; on a
    generator's images AttFind then finds those changes instead of visible attributes. Each image
    ``[N, 3, H, W]`` (in [-1, 1]) is blurred by a 3x3 binomial filter with probability ``blur_prob``
    and gets Gaussian noise whose std is drawn uniformly from ``[0, noise_std]``. Identity when both are 0.
    """
    n = images.shape[0]
    if blur_prob > 0:
        k = torch.tensor([1.0, 2.0, 1.0], device=images.device, dtype=images.dtype)
        k2 = (k[:, None] * k[None, :] / 16.0).expand(images.shape[1], 1, 3, 3)
        blurred = F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), k2, groups=images.shape[1])
        pick = (torch.rand(n, generator=gen) < blur_prob).to(images.device).view(-1, 1, 1, 1)
        images = torch.where(pick, blurred, images)
    if noise_std > 0:
        std = (torch.rand(n, generator=gen) * noise_std).to(images.device, images.dtype).view(-1, 1, 1, 1)
        noise = torch.randn(images.shape, generator=gen).to(images.device, images.dtype)
        images = images + std * noise
    return images


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def train_classifier(cfg: ClassifierTrainConfig, progress: bool = True,
                     datasets: tuple[Dataset, Dataset] | None = None,
                     command: list[str] | None = None) -> dict[str, Any]:
    """Train a MobileNetV2 classifier and keep the best epoch by balanced validation accuracy.

    Args:
        cfg: the settings (validated before any work).
        progress: show a tqdm bar per epoch with running loss and accuracy (the one-line epoch
            summary is printed either way).
        datasets: ``(train, val)`` datasets to use instead of opening ``cfg.data`` (each with
            ``class_names``, ``labels``, ``__len__`` and ``__getitem__ -> (image [3, H, W] in [-1, 1], label)``).
        command: the command line that asked for this run, recorded in the checkpoint and ``metrics.json``.

    Returns:
        The contents of ``metrics.json``.
    """
    cfg.validate()
    device = resolve_device(cfg.device)
    out = Path(cfg.out_dir)
    train_ds, val_ds, class_names = _checked_splits(cfg, datasets, progress)
    labels = _labels_of(train_ds)
    counts = np.bincount(labels, minlength=len(class_names))  # [K]

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    clf_cfg = ClassifierConfig(num_classes=len(class_names), class_names=tuple(class_names),
                               width_mult=cfg.width_mult, input_size=cfg.input_size, resolution=cfg.resolution,
                               small_input_stride=cfg.small_input_stride, pretrained=cfg.pretrained)
    adapter = build_classifier(clf_cfg)  # warns when pretrained="auto" finds no weights
    adapter.to(device).train()
    fit = _Fit.prepare(cfg, adapter, train_ds, val_ds, labels, counts, device, progress)

    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "classifier.pt"
    history: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    t_start = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        row, val = fit.epoch(epoch)
        history.append(row)
        if best is None or val["balanced_accuracy"] > best["balanced_accuracy"]:
            best = dict(val, epoch=epoch)
            save_classifier(ckpt_path, adapter, clf_cfg, extra={
                "epoch": epoch, "val_accuracy": val["accuracy"],
                "val_balanced_accuracy": val["balanced_accuracy"], "data": _jsonable(cfg.data),
                "trained_by": "stylex train-classifier", "command": command})

    assert best is not None
    metrics = {
        "val_accuracy": best["accuracy"],
        "val_balanced_accuracy": best["balanced_accuracy"],
        "val_per_class_accuracy": best["per_class_accuracy"],
        "val_confusion": best["confusion"],
        "command": command,
        "best_epoch": best["epoch"],
        "history": history,
        "train_time_s": time.perf_counter() - t_start,
        "class_names": class_names,
        "num_train": len(train_ds),
        "num_val": len(val_ds),
        "train_class_counts": counts.tolist(),
        "pretrained": str(adapter.pretrained_path) if adapter.pretrained_path else None,
        "device": str(device),
        "checkpoint": str(ckpt_path),
        "classifier_config": _jsonable(clf_cfg),
        "config": _jsonable(cfg),
    }
    write_json(out / "metrics.json", metrics)
    return metrics


def _checked_splits(cfg: ClassifierTrainConfig, datasets, progress: bool):
    """``(train, val, class_names)``: labelled splits of at least two classes (train subsampled if asked)."""
    train_ds, val_ds = datasets if datasets is not None else _open_splits(cfg, progress)
    class_names = [str(c) for c in getattr(train_ds, "class_names", [])]
    if len(class_names) < 2:
        raise StylexError(f"the training data ({_describe(cfg.data)}) has {len(class_names)} classes: a "
                          "classifier needs labelled images of at least 2 classes "
                          "(--attribute, class folders or a CSV)")
    if len(val_ds) == 0:
        raise StylexError(f"the validation split of {_describe(cfg.data)} is empty: add a val split or more images")
    train_ds = subsample(train_ds, cfg.max_images, cfg.seed)
    if _labels_of(train_ds).min(initial=0) < 0:
        raise StylexError(f"the training data ({_describe(cfg.data)}) has unlabelled images")
    return train_ds, val_ds, class_names


@dataclass
class _Fit:
    """The loaders, optimiser and schedule of one classifier training, and its epoch."""

    cfg: ClassifierTrainConfig
    adapter: ClassifierAdapter
    device: torch.device
    progress: bool
    train_loader: DataLoader
    val_loader: DataLoader
    bn_loader: DataLoader              # shuffled train batches for the BatchNorm recalibration
    bn_gen: torch.Generator
    class_weight: torch.Tensor | None  # balance="loss"
    opt: torch.optim.Optimizer
    sched: Any
    flip_gen: torch.Generator

    @classmethod
    def prepare(cls, cfg: ClassifierTrainConfig, adapter, train_ds, val_ds, labels: np.ndarray, counts: np.ndarray,
                device: torch.device, progress: bool) -> "_Fit":
        """Data loaders (shuffling / sampling from seeded generators), optimiser and schedule."""
        loader_gen = torch.Generator().manual_seed(cfg.seed)
        weights = 1.0 / np.maximum(counts, 1)  # [K]
        sampler = None
        if cfg.balance == "sampler":
            sampler = WeightedRandomSampler(torch.as_tensor(weights[labels], dtype=torch.double), len(labels),
                                            replacement=True, generator=loader_gen)
        common = dict(num_workers=cfg.num_workers, pin_memory=device.type == "cuda",
                      persistent_workers=cfg.num_workers > 0)
        train_loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                                  generator=loader_gen, drop_last=len(train_ds) > cfg.batch_size, **common)
        val_loader = DataLoader(val_ds, batch_size=cfg.batch_size * 2, shuffle=False, **common)
        bn_gen = torch.Generator()
        bn_loader = DataLoader(train_ds, batch_size=cfg.batch_size, shuffle=True, generator=bn_gen,
                               drop_last=len(train_ds) > cfg.batch_size, **common)
        class_weight = None
        if cfg.balance == "loss":
            class_weight = torch.as_tensor(weights / weights[counts > 0].mean(), dtype=torch.float32, device=device)
        opt, sched = _optimizer(cfg, adapter, cfg.epochs * len(train_loader))
        return cls(cfg, adapter, device, progress, train_loader, val_loader, bn_loader, bn_gen, class_weight, opt,
                   sched, torch.Generator().manual_seed(cfg.seed + 1))

    def epoch(self, epoch: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """Train one epoch, recalibrate BatchNorm, validate; returns ``(history row, validation metrics)``."""
        cfg, device = self.cfg, self.device
        t_epoch = time.perf_counter()
        loss_sum, correct, seen = 0.0, 0, 0
        bar = _progress(self.train_loader, self.progress, f"epoch {epoch}/{cfg.epochs}")
        for images, y in bar:
            images = images.to(device, non_blocking=True)                           # [B, 3, H, W]
            if cfg.hflip:
                images = _random_hflip(images, self.flip_gen)
            images = robustness_augment(images, self.flip_gen, cfg.noise_std, cfg.blur_prob)
            y = torch.as_tensor(y).to(device, non_blocking=True)                    # [B]
            with _autocast(device):
                logits = self.adapter(images)                                        # [B, K]
            loss = F.cross_entropy(logits.float(), y, weight=self.class_weight)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
            b = y.shape[0]
            loss_sum += float(loss.detach()) * b
            correct += int((logits.argmax(1) == y).sum())
            seen += b
            if self.progress:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}")
        self.bn_gen.manual_seed(cfg.seed + 1000 + epoch)
        recalibrate_batchnorm(self.adapter, self.bn_loader, device, cfg.precise_bn_batches)
        val = evaluate(self.adapter, self.val_loader, device)
        row = {"epoch": epoch, "train_loss": loss_sum / max(seen, 1), "train_accuracy": correct / max(seen, 1),
               "val_accuracy": val["accuracy"], "val_balanced_accuracy": val["balanced_accuracy"],
               "val_per_class_accuracy": val["per_class_accuracy"], "lr": self.opt.param_groups[0]["lr"],
               "seconds": time.perf_counter() - t_epoch}
        # one line per epoch even without the bar, so that logs of background runs show progress
        print(f"epoch {epoch}: train loss {row['train_loss']:.4f} acc {row['train_accuracy']:.3f} | "
              f"val acc {val['accuracy']:.4f} balanced {val['balanced_accuracy']:.4f}", flush=True)
        return row, val


def _optimizer(cfg: ClassifierTrainConfig, adapter, total_steps: int):
    """AdamW or SGD (no weight decay on BatchNorm and biases) with linear warmup and cosine decay."""
    decay = [p for n, p in adapter.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in adapter.named_parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        opt = torch.optim.AdamW(groups, lr=cfg.lr)
    else:
        opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    warmup = int(round(cfg.warmup_fraction * total_steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: cosine_warmup(s, total_steps, warmup))
    return opt, sched


def _describe(spec: Any) -> str:
    path = getattr(spec, "path", None)
    fmt = getattr(spec, "format", None)
    return f"{path or fmt or spec}"


def _progress(loader: DataLoader, enabled: bool, desc: str):
    if not enabled:
        return loader
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, leave=False, dynamic_ncols=True)
