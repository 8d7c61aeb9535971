"""The StylEx training loop: alternating encoder/mapping paths, lazy regularisation, EMA,
ticks with stats.jsonl, sample grids, atomic checkpoints and bit-identical resume.

Entry point: :func:`train`. The run directory holds::

    config.json      resolved TrainConfig (with its NetworkConfig) + data spec + class names (RunConfig)
    classifier.pt    the frozen classifier being explained (copied in)
    checkpoint.pt    latest checkpoint (G, G_ema, E, D, optimisers, counters, RNG states)
    stats.jsonl      one JSON line per tick
    samples/         PNG grids (originals over reconstructions, random samples)
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import os
import resource
import shutil
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data import DataSpec, open_dataset
from ..data.tensors import images_to_tensor
from ..device import autocast as autocast_for
from ..device import precision_dtype, resolve_device
from ..errors import StylexError
from ..models.classifier import fold_batchnorm, freeze, load_classifier
from ..models.networks import build_networks
from . import distributed
from .augment import AdaptiveStrength, AugmentPipe, parse_augment
from .checkpoint import (CHECKPOINT_NAME, DAMAGED_NAME, PREVIOUS_NAME, RUN_CHECKPOINT_FORMAT, load_run_checkpoint, rng_state,
                         save_run_checkpoint, set_rng_state)
from .config import RUN_CONFIG_NAME, RunConfig, TrainConfig, read_run_config, write_run_config
from .fidelity import FidelityProbe, heldout_order
from .losses import StylexLoss
from .preflight import check_batch, check_classifier_resolution
from .run_dir import RunLock, remove_stale_temp_files, repair_stats, run_progress
from .samples import labelled_grid, save_grid


# ---------------------------------------------------------------------------- data stream
class BatchStream:
    """Deterministic, resumable stream of batch indices over a data set.

    Each epoch is a permutation drawn from ``seed + epoch``; the position in it is part of the
    checkpoint, so a resumed run sees exactly the batches an uninterrupted run would have.
    Every process draws the same global batch and keeps its own slice of it.
    """

    def __init__(self, num_items: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1):
        if num_items < 1:
            raise StylexError("the training data set is empty")
        self.n, self.batch, self.seed = num_items, batch_size, seed
        self.rank, self.world = rank, world_size
        self.epoch, self.pos = 0, 0
        self._perm = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def next(self) -> np.ndarray:
        """Indices of this process's share of the next global batch."""
        out = []
        need = self.batch
        while need:
            take = min(need, self.n - self.pos)
            out.append(self._perm[self.pos:self.pos + take])
            self.pos += take
            need -= take
            if self.pos == self.n:
                self.epoch, self.pos = self.epoch + 1, 0
                self._perm = self._permutation(self.epoch)
        idx = np.concatenate(out)
        per = self.batch // self.world
        return idx[self.rank * per:(self.rank + 1) * per]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])
        self._perm = self._permutation(self.epoch)


# ---------------------------------------------------------------------------- helpers
def _ramp(cfg: TrainConfig, nimg: int) -> float:
    """Scale of the adversarial and KL terms: 0 during the encoder warm-up, then linear to 1 over the ramp-up."""
    past = nimg - cfg.warmup_kimg * 1000
    if past < 0:
        return 0.0
    return 1.0 if cfg.rampup_kimg <= 0 else min(1.0, past / (cfg.rampup_kimg * 1000))


def _lazy_ratio(reg_interval: int) -> float:
    """StyleGAN2's lazy-regularisation correction N/(N+1) of lr and betas (1 without regularisation)."""
    return reg_interval / (reg_interval + 1) if reg_interval > 0 else 1.0


def _g_reg_interval(cfg: TrainConfig) -> int:
    """Steps between G's lazy regularisation (path length); 0 when it is off."""
    return cfg.pl_interval if cfg.losses.pl_weight > 0 else 0


def _d_reg_interval(cfg: TrainConfig) -> int:
    """Steps between D's lazy regularisation (R1); 0 when it is off."""
    return cfg.r1_interval if cfg.losses.r1_gamma > 0 else 0


def _set_phase(nets: "Networks", cfg: TrainConfig, warmup: bool) -> None:
    """Give G's and E's Adam the warm-up's or the GAN's settings (with :func:`make_adam`'s corrections).

    During the warm-up G uses ``beta1_rec`` and both use ``warmup_lr`` (when set); afterwards G is back at
    ``beta1`` / ``lr_g`` and E at ``lr_e`` (E always keeps ``beta1_rec``).
    """
    ratio = _lazy_ratio(_g_reg_interval(cfg))
    lr_g, lr_e = (cfg.warmup_lr, cfg.warmup_lr) if warmup and cfg.warmup_lr > 0 else (cfg.lr_g, cfg.lr_e)
    for group in nets.opt_G.param_groups:
        group["betas"] = ((cfg.beta1_rec if warmup else cfg.beta1) ** ratio, group["betas"][1])
        group["lr"] = lr_g * ratio
    for group in nets.opt_E.param_groups:
        group["lr"] = lr_e


def make_adam(params, lr: float, betas: tuple[float, float], reg_interval: int) -> torch.optim.Adam:
    """Adam with the lazy-regularisation correction of StyleGAN2 (lr and betas scaled by N/(N+1))."""
    ratio = _lazy_ratio(reg_interval)
    return torch.optim.Adam(params, lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio), eps=1e-8)


def make_optimizers(cfg: TrainConfig, G: torch.nn.Module, E: torch.nn.Module,
                    D: torch.nn.Module) -> tuple[torch.optim.Adam, torch.optim.Adam, torch.optim.Adam]:
    """The Adam optimisers of G, E and D as training starts them.

    G and D use ``cfg.beta1``, E always ``beta1_rec``; G and D carry their lazy-regularisation corrections.
    During the warm-up the loop gives G and E the warm-up's settings (:func:`_set_phase`).
    """
    betas = (cfg.beta1, cfg.beta2)
    return (make_adam(G.parameters(), cfg.lr_g, betas, _g_reg_interval(cfg)),
            make_adam(E.parameters(), cfg.lr_e, (cfg.beta1_rec, cfg.beta2), 0),
            make_adam(D.parameters(), cfg.lr_d, betas, _d_reg_interval(cfg)))


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, beta: float) -> None:
    """``G_ema = lerp(G, G_ema, beta)`` for parameters; buffers are copied."""
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def peak_memory_gb(device: torch.device) -> float:
    """Peak memory of this process: GPU allocations on CUDA, resident set size on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss_kb / 2**20 if sys.platform != "darwin" else rss_kb / 2**30


@dataclass
class Counters:
    """Progress counters saved in every checkpoint."""

    cur_nimg: int = 0
    step: int = 0
    tick: int = 0
    nonfinite_streak: int = 0
    nonfinite_total: int = 0


# ---------------------------------------------------------------------------- training
def train(cfg: TrainConfig, data: DataSpec, classifier_path: str | Path | None, out_dir: str | Path,
          resume: bool = False, progress: bool = True, command: list[str] | None = None,
          max_minutes: float | None = None, resume_from: str | Path | None = None) -> dict[str, Any]:
    """Train StylEx and return the last tick's statistics.

    Args:
        cfg: the resolved training configuration (see :mod:`stylex.training.config`).
        data: the real images (labels are not used: the classifier supplies the class vector).
        classifier_path: the classifier to explain (``classifier.pt`` from ``stylex train-classifier``).
            May be None when resuming (the run's own copy is used).
        out_dir: the run directory. It is locked for the life of the call: a second process training
            into it is refused (:class:`~stylex.training.run_dir.RunLock`). A new run (no ``resume``) is
            refused in a folder that already holds a run's checkpoints, statistics or samples.
        resume: continue from ``out_dir/checkpoint.pt``; the stored configuration is used, except
            ``kimg`` (which may be raised to extend the run) and ``device``; other differences in ``cfg``
            are named in a warning. A run that stopped before its first checkpoint starts again from the
            beginning. ``stats.jsonl`` is repaired first (a torn last line, rows after the checkpoint).
        progress: show a progress bar.
        command: the command line, recorded in ``config.json``.
        max_minutes: wall-clock budget of this call (setup included): at the first tick boundary after
            it, write a checkpoint and return (``stopped_early`` is then true in the returned statistics);
            ``--resume`` continues. For machines that limit how long one command may run. Not stored in
            the run's configuration: it belongs to this sitting only.
        resume_from: resume from this checkpoint of the run instead of ``checkpoint.pt`` (a bare name is
            looked up in ``out_dir``): ``checkpoint.prev.pt`` when ``checkpoint.pt`` is damaged. Implies
            ``resume``.

    SIGTERM or SIGINT (Ctrl-C) stops at the end of the step in progress, with a checkpoint (a resume then
    continues bit-identically) and ``KeyboardInterrupt``; a second one stops at once without a checkpoint.
    """
    t_call = time.time()
    if max_minutes is not None and max_minutes <= 0:
        raise StylexError(f"--max-minutes {max_minutes}: give a positive number of minutes")
    out = Path(out_dir)
    info = distributed.init_distributed("cuda" if cfg.device.startswith("cuda") or
                                        (cfg.device == "auto" and torch.cuda.is_available()) else "cpu")
    with RunLock(out, command) if info.is_main else contextlib.nullcontext():
        start = _settings(cfg, data, out, resume or resume_from is not None, resume_from)
        cfg = start.cfg
        device = resolve_device(cfg.device, info.local_rank)
        torch.manual_seed(cfg.seed + info.rank)
        np.random.seed(cfg.seed + info.rank)
        classifier, classifier_path = _frozen_classifier(out, classifier_path, start.resumed, device)
        cfg = cfg.with_classes(int(classifier.num_classes))
        data = dataclasses.replace(start.data, resolution=cfg.network.resolution)
        dataset = open_dataset(data, progress=progress and info.is_main)
        check_batch(cfg, len(dataset), info.world_size)      # before any network or batch is allocated
        if info.is_main:
            check_classifier_resolution(classifier, data, device, say=print if progress else None)
            _prepare_run_dir(out, classifier_path, RunConfig(cfg, data, tuple(classifier.class_names),
                                                             start.command if start.resumed else command), start)
        session = TrainingSession.start(cfg, info, device, out, classifier, dataset, data,
                                        show=progress and info.is_main)
        if start.checkpoint is not None:
            session.restore(start.checkpoint)
        else:
            session.broadcast()
        return session.loop(progress and info.is_main, max_minutes, t_call)


@dataclass
class _Start:
    """Where a call of :func:`train` starts: configuration, data, and the checkpoint it resumes from."""

    cfg: TrainConfig
    data: DataSpec
    resumed: bool
    command: list[str] | None = None      # the run's recorded command (resume)
    checkpoint: dict[str, Any] | None = None
    source: Path | None = None            # the checkpoint's file


def _settings(cfg: TrainConfig, data: DataSpec, out: Path, resume: bool, resume_from) -> _Start:
    """The configuration, data, recorded command and checkpoint this call trains with (the stored ones on
    resume). Everything is read and checked here, before anything in ``out`` is written."""
    if not resume:
        found = run_progress(out)
        if found:
            raise StylexError(_holds_a_run(out, found))
        return _Start(cfg, data, resumed=False)
    source = _checkpoint_to_resume(out, resume_from)
    stored = read_run_config(out)
    ck = _load_for_resume(out, source) if source is not None else None
    _warn_ignored_on_resume(cfg, stored.train)
    cfg = dataclasses.replace(stored.train, kimg=cfg.kimg, device=cfg.device).validate()
    return _Start(cfg, stored.data, True, stored.command, ck, source)


def _holds_a_run(out: Path, found: list[str]) -> str:
    if CHECKPOINT_NAME in found or PREVIOUS_NAME in found:
        return (f"{out} already holds a run ({', '.join(found)}): pass --resume to continue it, or choose "
                "another --out")
    again = "pass --resume to start it again with its stored configuration, " \
        if (out / RUN_CONFIG_NAME).is_file() else ""
    return (f"{out} holds a run that stopped before its first checkpoint ({', '.join(found)}): {again}choose "
            "another --out, or delete the folder")


def _checkpoint_to_resume(out: Path, resume_from) -> Path | None:
    """The checkpoint file a resume loads; None for a run that stopped before its first checkpoint."""
    ckpt, prev = out / CHECKPOINT_NAME, out / PREVIOUS_NAME
    if resume_from is not None:
        return _chosen_checkpoint(out, Path(resume_from))
    if ckpt.is_file():
        return ckpt
    if prev.is_file():
        raise StylexError(f"--resume: {ckpt} is missing but the previous checkpoint {prev} is kept: continue from "
                          f"it with `stylex train --out {out} --resume-from {PREVIOUS_NAME}`")
    if (out / RUN_CONFIG_NAME).is_file():
        warnings.warn(f"{out} has no checkpoint yet (the run stopped before its first one): it starts again from "
                      "the beginning with its stored configuration")
        return None
    raise StylexError(f"--resume: no checkpoint in {out}; start without --resume")


def _chosen_checkpoint(out: Path, given: Path) -> Path:
    """``--resume-from``: a checkpoint of this run, used when ``checkpoint.pt`` is damaged or missing."""
    path = out / given if len(given.parts) == 1 and not given.is_absolute() else given
    if not path.is_file() or path.resolve().parent != out.resolve():
        raise StylexError(f"--resume-from {given}: no such checkpoint in {out} (give a file of the run folder, "
                          f"e.g. {PREVIOUS_NAME})")
    ckpt = out / CHECKPOINT_NAME
    if path.resolve() != ckpt.resolve() and ckpt.is_file() and _loads(ckpt):
        raise StylexError(f"--resume-from {given}: {ckpt} loads, so continue with --resume; --resume-from is for "
                          "a damaged or missing checkpoint.pt")
    return path


def _loads(path: Path) -> dict[str, Any] | None:
    try:
        return load_run_checkpoint(path)
    except StylexError:
        return None


def _load_for_resume(out: Path, path: Path) -> dict[str, Any]:
    """The checkpoint at ``path``; when it cannot be loaded, the message offers the previous one by name."""
    try:
        return load_run_checkpoint(path)
    except StylexError as exc:
        prev = out / PREVIOUS_NAME
        if path.name != CHECKPOINT_NAME or not prev.is_file():
            hint = "No earlier checkpoint is kept: train the run again with another --out"
        elif (ck := _loads(prev)) is None:
            hint = f"The previous checkpoint {prev} is damaged too: train the run again with another --out"
        else:
            hint = (f"The previous checkpoint {prev} (kimg {ck['counters']['cur_nimg'] / 1000:g}) loads: continue "
                    f"from it with `stylex train --out {out} --resume-from {PREVIOUS_NAME}`")
        raise StylexError(f"{exc}; nothing in {out} was changed. {hint}") from None


def _frozen_classifier(out: Path, classifier_path, resume: bool, device: torch.device):
    """The classifier to explain (the run's own copy when resuming), frozen with BatchNorm folded."""
    own_clf = out / "classifier.pt"
    if classifier_path is None or resume:
        classifier_path = own_clf if own_clf.is_file() else classifier_path
    if classifier_path is None:
        raise StylexError("--classifier is required (a classifier.pt from `stylex train-classifier`)")
    classifier = fold_batchnorm(freeze(load_classifier(classifier_path, device=device)))
    return classifier.to(memory_format=torch.channels_last), classifier_path  # NHWC convs: faster (BENCHMARKS.md)


def _prepare_run_dir(out: Path, classifier_path, config: RunConfig, start: _Start) -> None:
    """Create the run directory with its copy of the classifier and its ``config.json``; on resume, repair
    ``stats.jsonl`` to the checkpoint and set a damaged ``checkpoint.pt`` aside (``--resume-from``).

    On resume this records the (possibly extended) length, and a first-layout config.json becomes
    the current layout. Temporary files a killed run left behind are removed.
    """
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out)
    own_clf = out / "classifier.pt"
    if Path(classifier_path).resolve() != own_clf.resolve():
        shutil.copyfile(classifier_path, own_clf)
    write_run_config(out, config)
    if not start.resumed:
        return
    ckpt = out / CHECKPOINT_NAME
    if start.source is not None and start.source.name != CHECKPOINT_NAME and ckpt.is_file():
        os.replace(ckpt, out / DAMAGED_NAME)
        warnings.warn(f"{ckpt} could not be loaded: kept as {DAMAGED_NAME}; continuing from {start.source.name}")
    dropped = repair_stats(out, start.checkpoint["counters"]["step"] if start.checkpoint else 0)
    if dropped:
        warnings.warn(f"{out / 'stats.jsonl'}: dropped " + "; ".join(dropped))


@dataclass
class Networks:
    """The trained networks and their optimisers."""

    G: torch.nn.Module
    G_ema: torch.nn.Module
    E: torch.nn.Module
    D: torch.nn.Module
    opt_G: torch.optim.Optimizer
    opt_E: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer

    @classmethod
    def build(cls, cfg: TrainConfig, device: torch.device) -> "Networks":
        """Freshly initialised G, E, D (and G_ema = G) with their Adam optimisers."""
        G, E, D = (m.to(device, memory_format=torch.channels_last) for m in build_networks(cfg.network))
        G_ema = copy.deepcopy(G).eval().requires_grad_(False)
        return cls(G, G_ema, E, D, *make_optimizers(cfg, G, E, D))

    def modules(self) -> dict[str, Any]:
        """Everything with a state dict, by checkpoint key."""
        return {k: getattr(self, k) for k in ("G", "G_ema", "E", "D", "opt_G", "opt_E", "opt_D")}


@dataclass
class StepContext:
    """What one optimiser step needs besides the batch."""

    cfg: TrainConfig
    nets: Networks
    loss: StylexLoss
    autocast: Any                   # context manager (bf16 autocast or none)
    info: distributed.DistInfo
    batch_gpu: int                  # images per forward pass
    cooldown_loss: StylexLoss | None = None   # the encoder cool-down's terms, against the frozen G_ema


def _stylex_loss(cfg: TrainConfig, nets: Networks, classifier, lpips, augment) -> StylexLoss:
    """The loss phases over the (optionally compiled) networks, with LPIPS when its weight is positive and
    the augmentation of what D sees."""
    # compiled wrappers forward attribute reads (G.mapping, G.condition) to the module; the lazy
    # regularisers need double backward, which compiled graphs lack: they run the eager G and D
    G_fwd, E_fwd, D_fwd = (torch.compile(m, dynamic=False) if cfg.compile else m for m in (nets.G, nets.E, nets.D))
    return StylexLoss(G_fwd, E_fwd, D_fwd, classifier, cfg.losses, lpips if cfg.losses.rec_lpips > 0 else None,
                      cfg.network.z_dim, augment=augment, eager=(nets.G, nets.D))


def _cooldown_loss(cfg: TrainConfig, nets: Networks, loss: StylexLoss) -> StylexLoss | None:
    """The encoder cool-down's loss: the encoder path against the EMA generator, without the adversarial term
    and with the KL term at full weight (None when the run has no cool-down)."""
    if cfg.cooldown_kimg <= 0:
        return None
    cool = StylexLoss(nets.G_ema, nets.E, nets.D, loss.C, dataclasses.replace(cfg.losses, adv=0.0), loss.lpips,
                      cfg.network.z_dim)
    cool.ramp = 1.0
    return cool


def _in_cooldown(cfg: TrainConfig, nimg: int) -> bool:
    """Whether a step at ``nimg`` images belongs to the encoder cool-down (the run's last ``cooldown_kimg``)."""
    return cfg.cooldown_kimg > 0 and nimg >= (cfg.kimg - cfg.cooldown_kimg) * 1000


def _load_lpips(cfg: TrainConfig, device: torch.device):
    """LPIPS for the reconstruction term and the fidelity rows; None when neither needs it or no weights exist."""
    from ..models.lpips import LPIPS, lpips_available  # deferred: only runs that use LPIPS need the weights

    if cfg.losses.rec_lpips > 0:
        return LPIPS(net=cfg.lpips_net, weights=cfg.lpips_weights).to(device, memory_format=torch.channels_last)
    explicit = cfg.lpips_weights if cfg.lpips_net == "alex" else None
    if cfg.fidelity_images and lpips_available("alex", explicit):
        return LPIPS(net="alex", weights=explicit).to(device, memory_format=torch.channels_last)
    return None


def _augmentation(cfg: TrainConfig, num_images: int, device: torch.device, say=None):
    """The augmentation pipe for D (None for ``none``) and ADA's controller (None unless adaptive)."""
    spec = parse_augment(cfg.augment, num_images)
    if say is not None:
        what = {"ada": f"ADA (target r_t {cfg.ada_target:g})", "fixed": f"fixed p = {spec.p:g}", "none": "none"}
        say(f"augmentation of what the discriminator sees: {what[spec.mode]} ({num_images} training images)")
    if spec.mode == "none":
        return None, None
    pipe = AugmentPipe(spec.p).to(device)
    ada = AdaptiveStrength(pipe, cfg.ada_target, cfg.ada_interval, cfg.ada_kimg) if spec.adaptive else None
    return pipe, ada


def _fidelity_probe(cfg: TrainConfig, data: DataSpec, lpips, device: torch.device) -> FidelityProbe | None:
    """Fixed held-out (val split) images for the fidelity rows of stats.jsonl; None when off or impossible."""
    if not cfg.fidelity_images or lpips is None:
        return None
    try:
        val = open_dataset(dataclasses.replace(data, split="val"), progress=False)
    except StylexError:
        return None
    if len(val) < 2:
        return None
    idx = np.sort(heldout_order(len(val))[:cfg.fidelity_images])
    return FidelityProbe(images_to_tensor(val.uint8_images()[idx], device), lpips)


class TrainingSession:
    """One call of :func:`train`: the state the steps, ticks and checkpoints share."""

    def __init__(self, ctx: StepContext, out: Path, device: torch.device, classifier, dataset):
        cfg, info = ctx.cfg, ctx.info
        self.ctx, self.cfg, self.info, self.nets = ctx, cfg, info, ctx.nets
        self.out, self.ckpt_path, self.device = out, out / CHECKPOINT_NAME, device
        self.classifier, self.class_names = classifier, list(classifier.class_names)
        self.images_u8 = dataset.uint8_images()  # [N, H, W, 3] uint8, memory-mapped
        self.stream = BatchStream(len(dataset), cfg.batch_size, cfg.seed, info.rank, info.world_size)
        self.counters = Counters()
        self.total_nimg = int(round(cfg.kimg * 1000))
        self.tick_nimg = max(1, int(round(cfg.tick_kimg * 1000)))
        # Fixed images and latents for sample grids (the same in every tick and after resume).
        sample_gen = torch.Generator().manual_seed(cfg.seed + 12345)
        self.sample_idx = torch.randperm(len(dataset), generator=sample_gen)[:cfg.num_samples].sort().values.numpy()
        self.sample_z = torch.randn([cfg.num_samples, cfg.network.z_dim], generator=sample_gen)
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.augment: AugmentPipe | None = None      # what D sees (ADA), set by start()
        self.ada: AdaptiveStrength | None = None
        self.probe: FidelityProbe | None = None      # held-out fidelity rows (main process)
        self.tick_start_nimg = 0                     # where the tick in progress began (restored on resume)
        self.saved_nimg = -1                         # cur_nimg of the last checkpoint this call wrote

    @classmethod
    def start(cls, cfg: TrainConfig, info, device: torch.device, out: Path, classifier, dataset,
              data: DataSpec, show: bool = False):
        """Build the networks, optimisers and loss (in the order that fixes the initial weights)."""
        nets = Networks.build(cfg, device)
        lpips = _load_lpips(cfg, device)
        augment, ada = _augmentation(cfg, len(dataset), device, say=print if show else None)
        loss = _stylex_loss(cfg, nets, classifier, lpips, augment)
        batch_gpu = cfg.batch_per_pass(info.world_size)
        session = cls(StepContext(cfg, nets, loss, None, info, batch_gpu, _cooldown_loss(cfg, nets, loss)), out,
                      device, classifier, dataset)
        session.augment, session.ada = augment, ada
        session.probe = _fidelity_probe(cfg, data, lpips, device) if info.is_main else None
        return session

    def restore(self, ck: dict[str, Any]) -> None:
        """Continue from a checkpoint: weights, optimisers, counters, data position, RNG states."""
        for key, module in self.nets.modules().items():
            module.load_state_dict(ck[key])
        self.counters = Counters(**ck["counters"])
        self.stream.load_state_dict(ck["stream"])
        self.ctx.loss.pl_mean = ck["pl_mean"].to(self.device)
        if self.augment is not None and "augment" in ck:  # runs from before augmentation start at p = 0
            self.augment.p.copy_(ck["augment"]["p"])
            if self.ada is not None:
                self.ada.load_state_dict(ck["augment"]["ada"])
        rng = ck["rng"]
        set_rng_state(rng[min(self.info.rank, len(rng) - 1)] if isinstance(rng, list) else rng)
        tick = ck.get("tick", {})                    # older checkpoints were always written at a tick's end
        self.tick_start_nimg = int(tick.get("start_nimg", self.counters.cur_nimg))
        self.sums, self.counts = dict(tick.get("sums", {})), dict(tick.get("counts", {}))

    def broadcast(self) -> None:
        """A new run: every process starts from rank 0's weights; G_ema = G."""
        for m in (self.nets.G, self.nets.E, self.nets.D):
            distributed.broadcast_module(m, self.info)
        self.nets.G_ema.load_state_dict(self.nets.G.state_dict())

    def checkpoint(self) -> None:
        """Write ``checkpoint.pt`` atomically (main process), after checking the processes agree."""
        nets, info = self.nets, self.info
        states = [rng_state()]
        if info.world_size > 1:
            gathered: list[Any] = [None] * info.world_size
            torch.distributed.all_gather_object(gathered, (states[0], _weights_checksum(nets.G, nets.E, nets.D)))
            states = [g[0] for g in gathered]
            sums = [g[1] for g in gathered]
            if any(s != sums[0] for s in sums):  # gradient averaging failed: the processes drifted apart
                raise StylexError(f"processes hold different weights (checksums {sums}); this is a bug, please report it")
        if info.is_main:
            save_run_checkpoint({
                "format": RUN_CHECKPOINT_FORMAT,
                **{key: module.state_dict() for key, module in nets.modules().items()},
                "counters": dataclasses.asdict(self.counters), "stream": self.stream.state_dict(),
                "pl_mean": self.ctx.loss.pl_mean.detach().cpu(), "rng": states,
                **({"augment": {"p": self.augment.p.detach().cpu(), "ada": self.ada.state_dict() if self.ada else {}}}
                   if self.augment is not None else {}),
                # the tick in progress (a checkpoint after a signal falls inside one): its rows stay as uninterrupted
                "tick": {"start_nimg": self.tick_start_nimg, "sums": dict(self.sums), "counts": dict(self.counts)},
                "config": json.dumps(self.cfg.to_json_dict()),
            }, self.ckpt_path)
        self.saved_nimg = self.counters.cur_nimg
        distributed.barrier(info)

    def loop(self, show: bool, max_minutes: float | None, t_call: float) -> dict[str, Any]:
        """Step until the run's length (or the time budget, or a signal); returns the last tick's statistics."""
        cfg, info, device = self.cfg, self.info, self.device
        self.ctx.autocast = autocast_for(device, precision_dtype(cfg.precision, device), on_cpu=True)
        tb = _tensorboard(self.out) if info.is_main else None
        bar = tqdm(total=self.total_nimg, initial=self.counters.cur_nimg, unit="img", desc="stylex train",
                   disable=not show, dynamic_ncols=True)
        self.clock = (self.counters.cur_nimg, time.time())     # img/s of a tick count this call's images only
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        last: dict[str, Any] = {}
        stop = StopOnSignal()
        try:
            with stop:
                while self.counters.cur_nimg < self.total_nimg:
                    self.step()
                    bar.update(cfg.batch_size)
                    done = self.counters.cur_nimg >= self.total_nimg
                    if self.counters.cur_nimg - self.tick_start_nimg >= self.tick_nimg or done:
                        last = self.end_tick(done, tb, bar)
                        if not done and self.out_of_time(max_minutes, t_call, last, bar):
                            break
                        self.clock = (self.counters.cur_nimg, time.time())
                        if device.type == "cuda":
                            torch.cuda.reset_peak_memory_stats(device)
                    if not done and distributed.any_process(stop.signum is not None, info, device):
                        self.stop_at_step_end(stop.signum, bar)
        except KeyboardInterrupt as exc:
            if info.is_main and not isinstance(exc, Stopped):
                print(f"stopped at once (kimg {self.counters.cur_nimg / 1000:.3f}) without writing a checkpoint: "
                      f"the last one written, if any, stays in {self.ckpt_path}", file=sys.stderr)
            raise
        finally:
            bar.close()
            if tb is not None:
                tb.close()
        return last

    def stop_at_step_end(self, signum: int | None, bar) -> None:
        """After a signal, at a step boundary: write the checkpoint (unless just written, or while steps are
        failing), say how to continue, and raise :class:`Stopped`."""
        bar.close()
        saved = self.counters.nonfinite_streak == 0
        if saved and self.saved_nimg != self.counters.cur_nimg:
            self.checkpoint()
        if self.info.is_main:
            what = (f"checkpoint written to {self.ckpt_path}" if saved else
                    f"no checkpoint while steps are failing: {self.ckpt_path} is the last good one")
            print(f"interrupted at kimg {self.counters.cur_nimg / 1000:.3f} ({signal.Signals(signum).name}), at the end "
                  f"of a step: "
                  f"{what}; continue with `stylex train --out {self.out} --resume`", file=sys.stderr)
        raise Stopped(f"signal {signum}")

    def step(self) -> None:
        """One optimiser step on the next batch, the EMA update and the counters."""
        cfg, counters = self.cfg, self.counters
        idx = self.stream.next()
        real_all = images_to_tensor(self.images_u8[np.sort(idx)][np.argsort(np.argsort(idx))], self.device)
        warmup = counters.cur_nimg < cfg.warmup_kimg * 1000
        cooldown = _in_cooldown(cfg, counters.cur_nimg)
        self.ctx.loss.ramp = _ramp(cfg, counters.cur_nimg)
        _set_phase(self.ctx.nets, cfg, warmup)
        terms = _cooldown_step(self.ctx, real_all) if cooldown else _train_step(self.ctx, counters.step, real_all,
                                                                                   warmup=warmup)
        if self.ada is not None and terms is not None and "D_real_sign" in terms:
            self.ada.step(distributed.mean_over_processes(terms["D_real_sign"], self.info), cfg.batch_size)
        if terms is None:
            counters.nonfinite_streak += 1
            counters.nonfinite_total += 1
            warnings.warn(f"non-finite loss or gradient at kimg {counters.cur_nimg / 1000:.3f}: step skipped "
                          f"({counters.nonfinite_streak} in a row)")
            if counters.nonfinite_streak >= cfg.max_nonfinite:
                raise StylexError(
                    f"{counters.nonfinite_streak} non-finite steps in a row: training diverged. The last good "
                    f"checkpoint is {self.ckpt_path}; lower the learning rates or raise --r1-gamma, then --resume.")
        else:
            counters.nonfinite_streak = 0
            for k, v in terms.items():
                self.sums[k] = self.sums.get(k, 0.0) + float(v)
                self.counts[k] = self.counts.get(k, 0) + 1
        counters.cur_nimg += cfg.batch_size
        counters.step += 1
        if terms is not None and not cooldown:  # EMA (half-life in images, with ramp-up); skipped steps and
            # the cool-down (G frozen, E fitted to G_ema) leave it alone
            ema_nimg = cfg.ema_kimg * 1000
            if cfg.ema_rampup > 0:
                ema_nimg = min(ema_nimg, counters.cur_nimg * cfg.ema_rampup)
            update_ema(self.nets.G_ema, self.nets.G, 0.5 ** (cfg.batch_size / max(ema_nimg, 1e-8)))

    def end_tick(self, done: bool, tb, bar) -> dict[str, Any]:
        """Log the tick's statistics, draw samples and checkpoint on schedule; returns the statistics."""
        cfg, counters = self.cfg, self.counters
        counters.tick += 1
        elapsed = time.time() - self.clock[1]
        nimg = counters.cur_nimg - self.clock[0]
        last = {"tick": counters.tick, "kimg": counters.cur_nimg / 1000, "step": counters.step,
                "img_per_s": nimg / max(elapsed, 1e-9), "sec_per_kimg": elapsed / max(nimg, 1) * 1000,
                "peak_mem_gb": peak_memory_gb(self.device), "nonfinite_total": counters.nonfinite_total}
        last.update({k: self.sums[k] / self.counts[k] for k in sorted(self.sums)})
        if self.augment is not None:
            last["augment_p"] = float(self.augment.p)
            if self.ada is not None and math.isfinite(self.ada.last_rt):
                last["ada_rt"] = self.ada.last_rt
        if self.info.is_main:
            sample_tick = counters.tick % cfg.sample_ticks == 0 or done
            if sample_tick and self.probe is not None:
                last.update(self.probe(self.nets.G_ema, self.nets.E, self.classifier))
            _log_tick(self.out, last, tb, bar)
            if sample_tick:
                _save_samples(self.out, counters.cur_nimg, self.images_u8[self.sample_idx], self.sample_z,
                              self.nets.G_ema, self.nets.E, self.classifier, self.class_names, self.device)
        # no checkpoint while steps are failing: the last good one stays on disk
        self.sums, self.counts, self.tick_start_nimg = {}, {}, counters.cur_nimg   # the next tick starts here
        if (counters.tick % cfg.snapshot_ticks == 0 or done) and counters.nonfinite_streak == 0:
            self.checkpoint()
        return last

    def out_of_time(self, max_minutes: float | None, t_call: float, last: dict[str, Any], bar) -> bool:
        """At a tick past the time budget: checkpoint (if not just done), mark ``last``, say how to go on."""
        if max_minutes is None or not distributed.any_process(time.time() - t_call >= max_minutes * 60,
                                                               self.info, self.device):
            return False
        if self.saved_nimg != self.counters.cur_nimg and self.counters.nonfinite_streak == 0:
            self.checkpoint()
        last["stopped_early"] = True
        if self.info.is_main:
            bar.close()
            print(f"time budget of {max_minutes:g} min reached at kimg {self.counters.cur_nimg / 1000:.3f}: "
                  f"checkpoint written to {self.ckpt_path}; continue with `stylex train --out {self.out} --resume`",
                  file=sys.stderr)
        return True


def _warn_ignored_on_resume(given: TrainConfig, stored: TrainConfig) -> None:
    """Name the settings of ``given`` that resuming ignores (all but kimg and device; the class count
    comes from the classifier)."""
    def flat(cfg: TrainConfig) -> dict[str, Any]:
        d = cfg.to_json_dict()
        net, losses = d.pop("network"), d.pop("losses")
        net.pop("num_classes")
        return {**d, **net, **{f"{k}_weight": v for k, v in losses.items()}}

    old, new = flat(stored), flat(given)
    ignored = [f"{k} ({new[k]!r}; the run has {old[k]!r})" for k in old
               if k not in ("kimg", "device") and new[k] != old[k]]
    if ignored:
        warnings.warn("resuming keeps the run's stored configuration; ignored: " + ", ".join(ignored))


class Stopped(KeyboardInterrupt):
    """Training stopped at a step boundary after SIGTERM or SIGINT, with its checkpoint written."""


class StopOnSignal:
    """While entered: SIGTERM (``kill``, job schedulers) and SIGINT (Ctrl-C) record the signal in ``signum``
    instead of stopping the process, so the loop can finish its step and checkpoint at a step boundary (a
    checkpoint written mid-step made resumes differ). A second signal raises ``KeyboardInterrupt`` at once.

    Only possible in the main thread; elsewhere the handlers are left alone.
    """

    def __init__(self):
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def _handler(self, signum, frame) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt(f"signal {signum} (a second one)")
        self.signum = signum

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}


def _train_step(ctx: StepContext, step: int, real_all: torch.Tensor,
                warmup: bool = False) -> dict[str, torch.Tensor] | None:
    """One optimiser step of every phase. Returns the logged terms, or None if it was skipped.

    ``warmup``: the encoder warm-up, an encoder-path step on the reconstruction terms alone (``loss.ramp``
    is 0), with neither path-length regularisation nor a discriminator update.
    """
    cfg, nets = ctx.cfg, ctx.nets
    chunks = real_all.split(ctx.batch_gpu)
    terms = _Terms(len(chunks))
    mapping_step = (not warmup and cfg.paths == "alternate"
                    and step % cfg.mapping_every == cfg.mapping_every - 1)
    probs_all = [ctx.loss.class_probs(x) for x in chunks]
    fakes = _generator_phase(ctx, chunks, probs_all, mapping_step, terms)
    if fakes is None:
        return _skip(nets.opt_G, nets.opt_E, nets.opt_D)
    if warmup:
        nets.G.requires_grad_(False)
        terms.values["warmup"] = torch.ones([])
        return terms.values
    if _g_reg_interval(cfg) and step % cfg.pl_interval == 0:
        if not _path_length_phase(ctx, probs_all, terms):
            return _skip(nets.opt_G, nets.opt_E, nets.opt_D)
    nets.G.requires_grad_(False)
    if not _discriminator_phase(ctx, step, chunks, probs_all, fakes, terms):
        return _skip(nets.opt_G, nets.opt_E, nets.opt_D)
    if mapping_step:
        terms.values["mapping_path"] = torch.ones([])
    return terms.values


def _cooldown_step(ctx: StepContext, real_all: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """One step of the encoder cool-down: E alone learns to invert the frozen EMA generator (the one that
    reconstructs and explains afterwards), on the encoder path's reconstruction and KL terms. None if skipped."""
    nets, loss = ctx.nets, ctx.cooldown_loss
    chunks = real_all.split(ctx.batch_gpu)
    terms = _Terms(len(chunks))
    nets.G.requires_grad_(False); nets.D.requires_grad_(False); nets.E.requires_grad_(True)
    nets.opt_E.zero_grad(set_to_none=True)
    for real in chunks:
        with ctx.autocast:
            res = loss.generator_encoder_path(real, loss.class_probs(real))
        terms.backward(res)
        terms.add({"class_agreement": res.agreement.mean()})
    finite = distributed.average_gradients(list(nets.E.parameters()), ctx.info)
    nets.E.requires_grad_(False)
    if not (finite and all(bool(torch.isfinite(v)) for v in terms.values.values())):
        return _skip(nets.opt_E)
    nets.opt_E.step()
    terms.values["cooldown"] = torch.ones([])
    return terms.values


class _Terms:
    """The logged loss terms of one step, averaged over its micro-batches."""

    def __init__(self, accum: int):
        self.accum = accum
        self.values: dict[str, torch.Tensor] = {}

    def add(self, new: dict[str, torch.Tensor]) -> None:
        for k, v in new.items():
            self.values[k] = self.values.get(k, 0) + v.detach().float() / self.accum

    def backward(self, res) -> None:
        """Back-propagate a phase result (scaled for accumulation) and log its terms."""
        (res.loss / self.accum).backward()
        self.add(res.terms)


def _generator_phase(ctx: StepContext, chunks, probs_all, mapping_step: bool, terms: _Terms):
    """G main (encoder path or mapping path) and its optimiser steps; the detached fakes, or None if skipped."""
    nets, loss, info = ctx.nets, ctx.loss, ctx.info
    fakes = []
    nets.G.requires_grad_(True); nets.E.requires_grad_(not mapping_step); nets.D.requires_grad_(False)
    nets.opt_G.zero_grad(set_to_none=True); nets.opt_E.zero_grad(set_to_none=True)
    for real, probs in zip(chunks, probs_all):
        with ctx.autocast:
            res = loss.generator_mapping_path(probs) if mapping_step else loss.generator_encoder_path(real, probs)
        terms.backward(res)
        if res.agreement is not None:
            terms.add({"class_agreement": res.agreement.mean()})
        fakes.append((res.fake.detach(), res.fake_probs))
    finite = distributed.average_gradients(list(nets.G.parameters()), info)
    if not mapping_step:
        finite &= distributed.average_gradients(list(nets.E.parameters()), info)
    finite &= all(bool(torch.isfinite(v)) for v in terms.values.values())
    if not finite:
        return None
    nets.opt_G.step()
    if not mapping_step:
        nets.opt_E.step()
    nets.E.requires_grad_(False)
    return fakes


def _path_length_phase(ctx: StepContext, probs_all, terms: _Terms) -> bool:
    """G reg: lazy path length. False if the step must be skipped."""
    cfg, nets = ctx.cfg, ctx.nets
    nets.opt_G.zero_grad(set_to_none=True)
    for probs in probs_all:
        n = max(1, probs.shape[0] // cfg.pl_batch_shrink)
        terms.backward(ctx.loss.generator_path_length(probs[:n], cfg.pl_interval, cfg.pl_decay))
    if not distributed.average_gradients(list(nets.G.parameters()), ctx.info):
        return False
    nets.opt_G.step()
    return True


def _discriminator_phase(ctx: StepContext, step: int, chunks, probs_all, fakes, terms: _Terms) -> bool:
    """D main + lazy R1. False if the step must be skipped."""
    cfg, nets, loss = ctx.cfg, ctx.nets, ctx.loss
    nets.D.requires_grad_(True)
    nets.opt_D.zero_grad(set_to_none=True)
    for real, probs, (fake, fake_probs) in zip(chunks, probs_all, fakes):
        with ctx.autocast:
            res = loss.discriminator_main(real, probs, fake, fake_probs)
        terms.backward(res)
    if _d_reg_interval(cfg) and step % cfg.r1_interval == 0:
        for real, probs in zip(chunks, probs_all):
            terms.backward(loss.discriminator_r1(real, probs, cfg.r1_interval))
    if not distributed.average_gradients(list(nets.D.parameters()), ctx.info):
        return False
    nets.opt_D.step()
    nets.D.requires_grad_(False)
    return True


def _weights_checksum(*modules: torch.nn.Module) -> float:
    """Sum of all parameters in float64: equal on every process while they stay in sync."""
    return float(sum(p.detach().double().sum() for m in modules for p in m.parameters()))


def _skip(*opts) -> None:
    for opt in opts:
        opt.zero_grad(set_to_none=True)
    return None


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is an optional dependency
        return None
    return SummaryWriter(str(out / "tensorboard"))


def _log_tick(out: Path, stats: dict[str, Any], tb, bar) -> None:
    with open(out / "stats.jsonl", "a") as f:
        f.write(json.dumps(stats) + "\n")
    keys = [k for k in ("G_rec_l1", "G_rec_lpips", "G_cls_kl", "class_agreement", "D_loss") if k in stats]
    msg = " ".join(f"{k}={stats[k]:.3f}" for k in keys)
    bar.write(f"tick {stats['tick']:4d} kimg {stats['kimg']:8.3f} {stats['sec_per_kimg']:7.1f} s/kimg "
              f"{stats['img_per_s']:7.1f} img/s mem {stats['peak_mem_gb']:.2f}GB {msg}")
    if tb is not None:
        for k, v in stats.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                tb.add_scalar(k, v, global_step=int(stats["kimg"] * 1000))
        tb.flush()


@torch.no_grad()
def _save_samples(out: Path, cur_nimg: int, sample_u8: np.ndarray, sample_z: torch.Tensor, G_ema, E,
                  classifier, class_names: list[str], device: torch.device) -> None:
    """Originals over their reconstructions, and random samples, with class probabilities."""
    real = images_to_tensor(sample_u8, device)
    p_real = F.softmax(classifier(real).float(), 1)
    recon = G_ema(G_ema.condition(E(real), p_real), noise_mode="const")
    p_recon = F.softmax(classifier(recon).float(), 1)
    w = G_ema.mapping(sample_z.to(device))
    onehot = F.one_hot(torch.arange(len(sample_z), device=device) % len(class_names), len(class_names)).float()
    rand = G_ema(G_ema.condition(w, onehot), noise_mode="const")
    p_rand = F.softmax(classifier(rand).float(), 1)
    grid = labelled_grid([real, recon, rand], [p_real, p_recon, p_rand], class_names,
                         ["original", "reconstr.", "random"])
    save_grid(grid, out / "samples" / f"samples-{cur_nimg // 1000:06d}k{cur_nimg % 1000:03d}.png")
    save_grid(grid, out / "samples" / "latest.png")
