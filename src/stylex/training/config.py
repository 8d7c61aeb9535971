"""Typed configuration of a StylEx training run, and the named presets.

A run is fully described by a :class:`TrainConfig` (its networks by ``TrainConfig.network``, a
:class:`stylex.models.config.NetworkConfig`). A run directory's ``config.json`` is a :class:`RunConfig`:
the training configuration, the data, the classifier's class names and the command, each value stored
once; :func:`read_run_config` also reads the layout written before version 2 (see
:func:`RunConfig.from_dict`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .. import __version__
from ..atomic import write_json
from ..data.formats import DataSpec
from ..errors import StylexError
from ..models.config import NetworkConfig
from ..paths import check_run_config
from .augment import parse_augment


@dataclass(frozen=True)
class LossWeights:
    """Weights of the named loss terms (docs/METHOD.md section 3)."""

    adv: float = 1.0           # non-saturating logistic adversarial loss (G side)
    rec_l1: float = 0.1        # L1(x, x') on the encoder path (the authors' 0.1, reported by the replication)
    rec_lpips: float = 0.1     # LPIPS(x, x') on the encoder path (the authors' 0.1; 0 disables the term)
    rec_latent: float = 0.1    # L1(E(x'), E(x)); not reported: 0.1, the same scale as the image terms
    cls_kl: float = 1.0        # KL(C(x) || C(x')) (and KL(p || C(G(z, p))) on the mapping path)
    rec_adv_scale: float = 1.0  # the encoder path's adversarial weight is adv * this (the mapping path's: adv)
    rec_kl_scale: float = 1.0   # the encoder path's KL weight is cls_kl * this (the mapping path's: cls_kl)
    r1_gamma: float = 1.0      # R1 penalty on reals (gamma; applied lazily every r1_interval steps)
    pl_weight: float = 2.0     # path-length regularisation (applied lazily every pl_interval steps)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a StylEx training run.

    Sizes are counted in images (kimg = 1000 images), as in StyleGAN2, so that schedules do not
    depend on the batch size.
    """

    preset: str = "cpu"
    # --- networks (num_classes is filled in from the classifier when training starts) ---
    network: NetworkConfig = field(default_factory=NetworkConfig)
    # --- optimisation ---
    batch_size: int = 16            # images per optimiser step, over all processes
    batch_gpu: int = 0              # images per forward pass and process (0: batch_size / world_size)
    kimg: float = 50.0              # length of the run in thousands of real images shown
    lr_g: float = 0.002             # generator (mapping + synthesis) learning rate
    lr_e: float = 0.002             # encoder learning rate
    lr_d: float = 0.002             # discriminator learning rate
    beta1: float = 0.0
    beta2: float = 0.99
    r1_interval: int = 16           # lazy R1: every N steps (0 disables R1)
    pl_interval: int = 4            # lazy path-length: every N steps (0 disables it)
    pl_decay: float = 0.01          # EMA decay of the path-length mean
    pl_batch_shrink: int = 2        # path-length reg runs on batch / this
    ema_kimg: float = 10.0          # half-life of the EMA generator, in kimg
    ema_rampup: float = 0.05        # EMA half-life ramp-up as a fraction of images seen (0: none)
    # --- StylEx specifics ---
    paths: str = "alternate"        # "alternate": encoder path and mapping path take turns; "encoder": encoder only
    mapping_every: int = 2          # with paths=alternate, every N-th step is a mapping-path step (2: 1:1)
    warmup_kimg: float = 0.0        # encoder warm-up: the first N kimg train E and G on the reconstruction terms
                                    # only (no classifier KL, no adversarial term, no mapping path, D idle)
    rampup_kimg: float = 0.0        # after the warm-up, the adversarial and KL weights rise linearly from 0 over N kimg
    beta1_rec: float = 0.0          # Adam beta1 of the encoder, and of G during the warm-up (reconstruction is not
                                    # adversarial: momentum helps it; G's beta1 is `beta1` once D comes in)
    warmup_lr: float = 0.0          # learning rate of G and E during the warm-up (0: lr_g / lr_e); a plain
                                    # reconstruction objective tolerates a larger step than the GAN that follows
    cooldown_kimg: float = 0.0      # encoder cool-down: the last N kimg train E alone to invert the finished EMA
                                    # generator (reconstruction and KL terms; G, G_ema and D frozen): samples are
                                    # unchanged, reconstructions become the final generator's best
    augment: str = "auto"           # what D sees: ada | fixed:P | none | auto (ada below 30k training images)
    ada_target: float = 0.6         # ADA's target for E[sign(D(real))]
    ada_kimg: float = 100.0         # ADA speed: p can move by 1 over this many kimg
    ada_interval: int = 4           # steps between adjustments of p
    losses: LossWeights = field(default_factory=LossWeights)
    lpips_net: str = "alex"         # LPIPS trunk: alex | vgg
    lpips_weights: str | None = None  # explicit LPIPS weight file/folder (default: searched)
    # --- bookkeeping ---
    tick_kimg: float = 1.0          # progress line + stats.jsonl row every N kimg
    snapshot_ticks: int = 5         # checkpoint every N ticks (and at the end, and on Ctrl-C)
    sample_ticks: int = 5           # sample grids every N ticks
    num_samples: int = 8            # images in each sample grid row
    fidelity_images: int = 100      # held-out images whose fidelity (LPIPS, identity) is logged at sample ticks (0: off)
    max_nonfinite: int = 20         # stop after this many non-finite steps in a row
    seed: int = 0
    device: str = "auto"            # auto | cpu | cuda | cuda:N
    precision: str = "auto"         # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp32
    compile: bool = False           # torch.compile the networks

    # ------------------------------------------------------------------ validation
    def batch_per_pass(self, world_size: int) -> int:
        """Images per forward pass and process: ``batch_gpu``, or the batch split over the processes."""
        return self.batch_gpu or self.batch_size // world_size

    def validate(self) -> "TrainConfig":
        """Reject out-of-range or unknown settings with a message naming the option."""

        def bad(option: str, why: str) -> StylexError:
            return StylexError(f"invalid training option {option}: {why}")

        r = self.network.resolution
        if r < 8 or r > 1024 or r & (r - 1):
            raise bad("--resolution", f"{r} is not a power of two between 32 and 256")
        for name in ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max"):
            if getattr(self.network, name) < 1:
                raise bad(f"{name}", f"must be >= 1, got {getattr(self.network, name)}")
        if self.batch_size < 1:
            raise bad("batch_size", f"must be >= 1, got {self.batch_size}")
        if self.kimg <= 0:
            raise bad("--kimg", f"must be > 0, got {self.kimg}")
        for name in ("lr_g", "lr_e", "lr_d"):
            if not 0 < getattr(self, name) < 1:
                raise bad(name, f"learning rate must be in (0, 1), got {getattr(self, name)}")
        if self.paths not in ("alternate", "encoder"):
            raise bad("--paths", f"must be 'alternate' or 'encoder', got {self.paths!r}")
        if self.warmup_kimg < 0:
            raise bad("--warmup-kimg", f"must be >= 0, got {self.warmup_kimg}")
        if self.rampup_kimg < 0:
            raise bad("--rampup-kimg", f"must be >= 0, got {self.rampup_kimg}")
        if not (0 <= self.cooldown_kimg < self.kimg or self.cooldown_kimg == 0):
            raise bad("--cooldown-kimg", f"must be >= 0 and below --kimg ({self.kimg:g}), got {self.cooldown_kimg}")
        if not (self.warmup_lr >= 0 and math.isfinite(self.warmup_lr)):
            raise bad("--warmup-lr", f"must be a number >= 0 (0: --lr), got {self.warmup_lr}")
        if not 0 <= self.beta1_rec < 1:
            raise bad("--beta1-rec", f"must be in [0, 1), got {self.beta1_rec}")
        parse_augment(self.augment)
        if not -1 < self.ada_target < 1 or self.ada_kimg <= 0 or self.ada_interval < 1:
            raise bad("--ada-target/ada_kimg/ada_interval", "need -1 < target < 1, ada_kimg > 0, interval >= 1")
        if self.mapping_every < 2:
            raise bad("--mapping-every", "must be >= 2 (every N-th step takes the mapping path)")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise bad("--precision", f"must be auto, bf16 or fp32, got {self.precision!r}")
        if self.lpips_net not in ("alex", "vgg"):
            raise bad("--lpips-net", f"must be alex or vgg, got {self.lpips_net!r}")
        if self.batch_gpu < 0 or (self.batch_gpu and self.batch_size % self.batch_gpu):
            raise bad("--batch-gpu", f"{self.batch_gpu} must divide --batch {self.batch_size}")
        if self.fidelity_images < 0 or self.fidelity_images == 1:
            raise bad("--fidelity-images", "must be 0 (off) or at least 2")
        if self.tick_kimg <= 0 or self.snapshot_ticks < 1 or self.sample_ticks < 1:
            raise bad("tick_kimg/snapshot_ticks/sample_ticks", "must be positive")
        if self.ema_kimg < 0 or self.ema_rampup < 0:
            raise bad("--ema-kimg", "must be >= 0")
        if self.r1_interval < 0 or self.pl_interval < 0:
            raise bad("r1_interval/pl_interval", "must be >= 0")
        for f in fields(self.losses):
            if getattr(self.losses, f.name) < 0:
                raise bad(f"--{f.name.replace('_', '-')}-weight", "loss weights must be >= 0")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise bad("--device", f"must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        return self

    # ------------------------------------------------------------------ (de)serialisation
    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the content of ``config.json``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Rebuild from :meth:`to_json_dict` output; unknown keys are an error."""
        d = dict(d)
        d.setdefault("augment", "none")   # runs written before augmentation existed trained without it
        losses = LossWeights(**_known(LossWeights, d.pop("losses", {}), "loss weights"))
        network = NetworkConfig.from_dict(d.pop("network", {}))
        return cls(losses=losses, network=network, **_known(cls, d, "training options"))

    def with_classes(self, num_classes: int) -> "TrainConfig":
        """This configuration with the classifier's class count in the network configuration."""
        return replace(self, network=replace(self.network, num_classes=num_classes))


def _known(cls, d: dict[str, Any], what: str) -> dict[str, Any]:
    """``d`` when every key is a field of the dataclass ``cls``; else a :class:`StylexError`."""
    unknown = sorted(set(d) - {f.name for f in fields(cls)})
    if unknown:
        raise StylexError(f"unknown {what} in config: {', '.join(unknown)}")
    return d


PRESETS: dict[str, TrainConfig] = {
    # Seconds on a CPU: for tests and smoke runs only.
    "tiny": TrainConfig(
        preset="tiny", network=NetworkConfig(resolution=32, z_dim=32, w_dim=32, mapping_layers=2,
                                             channel_base=512, channel_max=32), batch_size=4, kimg=0.032, lr_g=0.002, lr_e=0.002,
        lr_d=0.002, ema_kimg=0.01, ema_rampup=0.0, tick_kimg=0.016, snapshot_ticks=1,
        sample_ticks=1, num_samples=4,
    ),
    # A useful CPU run at 32 px (minutes to an hour on 2 cores): 64 channels at every resolution
    # (S = 448 style coordinates); about 15 GFLOP per training image at 128 channels was too slow here.
    "cpu": TrainConfig(
        preset="cpu", network=NetworkConfig(resolution=32, z_dim=128, w_dim=128, mapping_layers=4,
                                            channel_base=2048, channel_max=64), batch_size=16, kimg=80.0, lr_g=0.001,
        lr_e=0.001, lr_d=0.001, ema_kimg=1.0, ema_rampup=0.05, tick_kimg=1.0,
        snapshot_ticks=2, sample_ticks=2,
        # Recipe v5 (RESULTS.md, "Recipe v5"). Reconstruction first: 35 kimg of encoder warm-up on the
        # reconstruction terms alone (no D: faster per image; Adam with momentum, beta1 0.9, for E and G, at
        # lr 0.005), then the adversarial and classifier-KL terms ramped in over 5 kimg at a gentle GAN lr of 0.001
        # (CelebA Young identity 0.70 against 0.67 at 0.002, same wall time), the encoder path's adversarial weight
        # at a tenth of the mapping path's; L1 and LPIPS at weight 1; the last 5 kimg an encoder cool-down (E alone
        # inverts the final EMA generator: identity 0.71 -> 0.77). 80 kimg: 45 min on 2 shared cores.
        # ADA adapts quickly enough for a run of tens of kimg.
        warmup_kimg=35.0, rampup_kimg=5.0, beta1_rec=0.9, warmup_lr=0.005, cooldown_kimg=5.0, ada_kimg=20.0,
        # no path-length regularisation at 32 px, as NVlabs' 32 px (CIFAR) setting; it also costs time
        losses=LossWeights(rec_l1=1.0, rec_lpips=1.0, rec_adv_scale=0.1, pl_weight=0.0),
    ),
    # The replication's 64 px setting with the full-width StyleGAN2 networks; the replication
    # used batch 4 and lr 2e-4 for 220k steps (880 kimg); batch 32 with lr 2e-3 is the GPU
    # setting (the authors' learning rate).
    "paper64": TrainConfig(
        preset="paper64", network=NetworkConfig(resolution=64), batch_size=32, kimg=880.0, lr_g=0.002, lr_e=0.002,
        lr_d=0.002, ema_kimg=10.0, tick_kimg=4.0, snapshot_ticks=10, sample_ticks=10,
    ),
    # The authors' 256 px setting: batch 16, 250k iterations (4000 kimg), lr 2e-3.
    "paper256": TrainConfig(
        preset="paper256", network=NetworkConfig(resolution=256), batch_size=16, kimg=4000.0, lr_g=0.002, lr_e=0.002,
        lr_d=0.002, ema_kimg=10.0, tick_kimg=4.0, snapshot_ticks=25, sample_ticks=25,
        r1_interval=16, losses=LossWeights(r1_gamma=1.0),
    ),
}


def resolve_config(preset: str, **overrides: Any) -> TrainConfig:
    """Start from a preset and apply overrides (``None`` values are ignored), then validate.

    Loss weights may be overridden with keys ``<term>_weight`` (e.g. ``rec_lpips_weight=0``)
    or ``r1_gamma``; network sizes with their :class:`NetworkConfig` names (e.g. ``resolution=64``).
    """
    if preset not in PRESETS:
        raise StylexError(f"unknown --preset {preset!r}; choose one of {', '.join(PRESETS)}")
    cfg = PRESETS[preset]
    loss_over = {}
    for f in fields(LossWeights):
        for key in (f"{f.name}_weight", f.name):
            if key in overrides:
                value = overrides.pop(key)
                if value is not None:
                    loss_over[f.name] = float(value)
    net_over = {f.name: overrides.pop(f.name) for f in fields(NetworkConfig) if f.name in overrides}
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(k for k in overrides if k not in known)
    if unknown:
        raise StylexError(f"unknown training options: {', '.join(unknown)}")
    clean = {k: v for k, v in overrides.items() if v is not None}
    network = replace(cfg.network, **{k: v for k, v in net_over.items() if v is not None})
    cfg = replace(cfg, losses=replace(cfg.losses, **loss_over), network=network, **clean)
    return cfg.validate()


# ---------------------------------------------------------------------------- the run's config.json
RUN_CONFIG_NAME = "config.json"
RUN_CONFIG_LAYOUT = 2     # 1 (implicit): network sizes in "train" and again in a top-level "network"


@dataclass(frozen=True)
class RunConfig:
    """What ``config.json`` of a run directory holds: enough to rebuild the networks and the data.

    Stored once each: the class count is ``len(class_names)`` and the data's resolution is the
    network's, so neither is written again.
    """

    train: TrainConfig                    # network.num_classes == len(class_names)
    data: DataSpec                        # resolution == train.network.resolution
    class_names: tuple[str, ...]
    command: list[str] | None = None      # the command line that made the run
    stylex_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (``layout`` 2)."""
        train = self.train.to_json_dict()
        del train["network"]["num_classes"]
        data = dataclasses.asdict(self.data)
        del data["resolution"]
        return {"layout": RUN_CONFIG_LAYOUT, "stylex_version": self.stylex_version, "train": train, "data": data,
                "class_names": list(self.class_names), "command": self.command}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> "RunConfig":
        """Read a ``config.json`` document; unknown keys are an error.

        Documents of the first layout (no ``layout`` key: the network sizes in ``train`` and a
        full copy in ``network``) are converted first, so runs trained before it still load.
        """
        doc = dict(doc)
        if "layout" not in doc:
            doc = convert_layout_1(doc)
        if doc.pop("layout") != RUN_CONFIG_LAYOUT:
            raise StylexError(f"config.json layout is not {RUN_CONFIG_LAYOUT}: written by a newer stylex?")
        _known(cls, doc, "entries")
        class_names = tuple(doc["class_names"])
        train = dict(doc["train"])
        train["network"] = {**train.get("network", {}), "num_classes": len(class_names)}
        cfg = TrainConfig.from_json_dict(train)
        data = DataSpec(**_known(DataSpec, doc["data"], "data options"), resolution=cfg.network.resolution)
        return cls(train=cfg, data=data, class_names=class_names, command=doc.get("command"),
                   stylex_version=doc.get("stylex_version", "unknown"))


def convert_layout_1(doc: dict[str, Any]) -> dict[str, Any]:
    """A first-layout ``config.json`` document in layout 2 (values unchanged, each stored once)."""
    doc = dict(doc)
    network = dict(doc.pop("network"))
    train = {k: v for k, v in doc["train"].items() if k not in network}
    network.pop("num_classes", None)
    train["network"] = network
    data = {k: v for k, v in doc["data"].items() if k != "resolution"}
    return {**doc, "layout": RUN_CONFIG_LAYOUT, "train": train, "data": data}


def write_run_config(run_dir: Path, config: RunConfig) -> None:
    """Write ``run_dir/config.json``."""
    write_json(run_dir / RUN_CONFIG_NAME, config.to_dict())


def read_run_config(run_dir: str | Path) -> RunConfig:
    """Read ``run_dir/config.json`` (either layout)."""
    path = Path(run_dir) / RUN_CONFIG_NAME
    doc = check_run_config(run_dir)   # missing, not JSON, or a wrong outline: named, never a traceback
    try:
        return RunConfig.from_dict(doc)
    except (KeyError, TypeError, AttributeError) as exc:
        raise StylexError(f"{path} is not a StylEx run configuration ({exc!r}); the run directory is damaged") \
            from None
