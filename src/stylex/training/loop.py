"""The StylEx training loop: alternating encoder/mapping paths, lazy regularisation, EMA,
ticks with stats.jsonl, sample grids, atomic checkpoints and bit-identical resume.

Entry point: :func:`train`. The run directory holds::

    config.json      resolved TrainConfig + data spec + class names (+ network config)
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
import resource
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .. import __version__
from ..atomic import torch_save as atomic_save
from ..atomic import write_json
from ..data import DataSpec, open_dataset
from ..errors import StylexError
from ..models.classifier import fold_batchnorm, freeze, load_classifier
from ..models.networks import NetworkConfig, build_networks
from . import distributed
from .checkpoint import CHECKPOINT_NAME, rng_state, safe_load, set_rng_state
from .config import TrainConfig
from .losses import StylexLoss
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


def images_to_tensor(u8: np.ndarray, device: torch.device) -> torch.Tensor:
    """``uint8 [N, H, W, 3]`` -> float ``[N, 3, H, W]`` in [-1, 1] on ``device`` (converted there)."""
    x = torch.from_numpy(np.ascontiguousarray(u8)).to(device, non_blocking=True)
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


# ---------------------------------------------------------------------------- helpers
def make_adam(params, lr: float, betas: tuple[float, float], reg_interval: int) -> torch.optim.Adam:
    """Adam with the lazy-regularisation correction of StyleGAN2 (lr and betas scaled by N/(N+1))."""
    ratio = reg_interval / (reg_interval + 1) if reg_interval > 0 else 1.0
    return torch.optim.Adam(params, lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio), eps=1e-8)


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


# ---------------------------------------------------------------------------- the run directory
def write_run_config(out: Path, cfg: TrainConfig, data: DataSpec, class_names: list[str],
                     net_cfg: NetworkConfig, command: list[str] | None) -> None:
    """Write ``config.json``: everything needed to rebuild the networks and the data."""
    doc = {
        "stylex_version": __version__,
        "train": cfg.to_json_dict(),
        "data": dataclasses.asdict(data),
        "class_names": list(class_names),
        "network": dataclasses.asdict(net_cfg),
        "command": command,
    }
    write_json(out / "config.json", doc)


def read_run_config(out: Path) -> dict[str, Any]:
    """Read ``config.json`` of a run directory."""
    path = out / "config.json"
    if not path.is_file():
        raise StylexError(f"{out} is not a StylEx run directory (no config.json); train one with `stylex train`")
    return json.loads(path.read_text())


# ---------------------------------------------------------------------------- training
def train(cfg: TrainConfig, data: DataSpec, classifier_path: str | Path | None, out_dir: str | Path,
          resume: bool = False, progress: bool = True, command: list[str] | None = None,
          max_minutes: float | None = None) -> dict[str, Any]:
    """Train StylEx and return the last tick's statistics.

    Args:
        cfg: the resolved training configuration (see :mod:`stylex.training.config`).
        data: the real images (labels are not used: the classifier supplies the class vector).
        classifier_path: the classifier to explain (``classifier.pt`` from ``stylex train-classifier``).
            May be None when resuming (the run's own copy is used).
        out_dir: the run directory.
        resume: continue from ``out_dir/checkpoint.pt``; the stored configuration is used, except
            ``kimg`` which may be raised to extend the run.
        progress: show a progress bar.
        command: the command line, recorded in ``config.json``.
        max_minutes: wall-clock budget of this call (setup included): at the first tick boundary after
            it, write a checkpoint and return (``stopped_early`` is then true in the returned statistics);
            ``--resume`` continues. For machines that limit how long one command may run. Not stored in
            the run's configuration: it belongs to this sitting only.
    """
    t_call = time.time()
    if max_minutes is not None and max_minutes <= 0:
        raise StylexError(f"--max-minutes {max_minutes}: give a positive number of minutes")
    out = Path(out_dir)
    ckpt_path = out / CHECKPOINT_NAME
    info = distributed.init_distributed("cuda" if cfg.device.startswith("cuda") or
                                        (cfg.device == "auto" and torch.cuda.is_available()) else "cpu")
    if resume:
        if not ckpt_path.is_file():
            raise StylexError(f"--resume: no checkpoint in {out}; start without --resume")
        stored = read_run_config(out)
        cfg = dataclasses.replace(TrainConfig.from_json_dict(stored["train"]), kimg=cfg.kimg).validate()
        data = DataSpec(**stored["data"])
    elif ckpt_path.is_file():
        raise StylexError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
    cfg.validate()
    device = distributed.resolve_device(cfg.device, info)
    torch.manual_seed(cfg.seed + info.rank)
    np.random.seed(cfg.seed + info.rank)

    # --- classifier (frozen) and data
    own_clf = out / "classifier.pt"
    if classifier_path is None or resume:
        classifier_path = own_clf if own_clf.is_file() else classifier_path
    if classifier_path is None:
        raise StylexError("--classifier is required (a classifier.pt from `stylex train-classifier`)")
    classifier = fold_batchnorm(freeze(load_classifier(classifier_path, device=device)))  # frozen: fold BN
    classifier = classifier.to(memory_format=torch.channels_last)  # NHWC convs: faster (BENCHMARKS.md)
    class_names = list(classifier.class_names)
    num_classes = int(classifier.num_classes)
    data = dataclasses.replace(data, resolution=cfg.resolution)
    dataset = open_dataset(data, progress=progress and info.is_main)
    images_u8 = dataset.uint8_images()  # [N, H, W, 3] uint8, memory-mapped

    net_cfg = NetworkConfig(**cfg.network_kwargs(num_classes))
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        if Path(classifier_path).resolve() != own_clf.resolve():
            shutil.copyfile(classifier_path, own_clf)
        if not resume:
            write_run_config(out, cfg, data, class_names, net_cfg, command)
        else:  # record the (possibly extended) length
            write_run_config(out, cfg, data, class_names, net_cfg, read_run_config(out).get("command"))

    # --- networks and optimisers
    G, E, D = build_networks(net_cfg)
    G, E, D = (m.to(device, memory_format=torch.channels_last) for m in (G, E, D))
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    betas = (cfg.beta1, cfg.beta2)
    opt_G = make_adam(G.parameters(), cfg.lr_g, betas, cfg.pl_interval if cfg.losses.pl_weight > 0 else 0)
    opt_E = make_adam(E.parameters(), cfg.lr_e, betas, 0)
    opt_D = make_adam(D.parameters(), cfg.lr_d, betas, cfg.r1_interval if cfg.losses.r1_gamma > 0 else 0)

    lpips = None
    if cfg.losses.rec_lpips > 0:
        from ..models.lpips import LPIPS  # deferred: only runs that use the term need the weights

        lpips = LPIPS(net=cfg.lpips_net, weights=cfg.lpips_weights).to(device, memory_format=torch.channels_last)
    # compiled wrappers forward attribute reads (G.mapping, G.condition) to the module; the lazy
    # regularisers need double backward, which compiled graphs lack: they run the eager G and D
    run_G, run_E, run_D = (torch.compile(m, dynamic=False) if cfg.compile else m for m in (G, E, D))
    loss = StylexLoss(run_G, run_E, run_D, classifier, cfg.losses, lpips, cfg.z_dim, eager=(G, D))

    stream = BatchStream(len(dataset), cfg.batch_size, cfg.seed, info.rank, info.world_size)
    counters = Counters()
    if resume:
        ck = safe_load(ckpt_path, map_location=device)
        for module, key in ((G, "G"), (G_ema, "G_ema"), (E, "E"), (D, "D")):
            module.load_state_dict(ck[key])
        for opt, key in ((opt_G, "opt_G"), (opt_E, "opt_E"), (opt_D, "opt_D")):
            opt.load_state_dict(ck[key])
        counters = Counters(**ck["counters"])
        stream.load_state_dict(ck["stream"])
        loss.pl_mean = ck["pl_mean"].to(device)
        set_rng_state(ck["rng"][min(info.rank, len(ck["rng"]) - 1)] if isinstance(ck["rng"], list) else ck["rng"])
    else:
        for m in (G, E, D):
            distributed.broadcast_module(m, info)
        G_ema.load_state_dict(G.state_dict())

    batch_gpu = cfg.batch_gpu or cfg.batch_size // info.world_size
    if cfg.batch_size % info.world_size or (cfg.batch_size // info.world_size) % batch_gpu:
        raise StylexError(f"--batch {cfg.batch_size} must be divisible by the number of processes "
                          f"({info.world_size}) times --batch-gpu ({batch_gpu})")
    autocast = _autocast(cfg, device)
    total_nimg = int(round(cfg.kimg * 1000))
    tick_nimg = max(1, int(round(cfg.tick_kimg * 1000)))

    # Fixed images and latents for sample grids (the same in every tick and after resume).
    sample_gen = torch.Generator().manual_seed(cfg.seed + 12345)
    sample_idx = torch.randperm(len(dataset), generator=sample_gen)[:cfg.num_samples].sort().values.numpy()
    sample_z = torch.randn([cfg.num_samples, cfg.z_dim], generator=sample_gen)

    def checkpoint() -> None:
        states = [rng_state()]
        if info.world_size > 1:
            gathered: list[Any] = [None] * info.world_size
            torch.distributed.all_gather_object(gathered, (states[0], _weights_checksum(G, E, D)))
            states = [g[0] for g in gathered]
            sums = [g[1] for g in gathered]
            if any(s != sums[0] for s in sums):  # gradient averaging failed: the processes drifted apart
                raise StylexError(f"processes hold different weights (checksums {sums}); this is a bug, please report it")
        if info.is_main:
            atomic_save({
                "format": "stylex-run-checkpoint-v1",
                "G": G.state_dict(), "G_ema": G_ema.state_dict(), "E": E.state_dict(), "D": D.state_dict(),
                "opt_G": opt_G.state_dict(), "opt_E": opt_E.state_dict(), "opt_D": opt_D.state_dict(),
                "counters": dataclasses.asdict(counters), "stream": stream.state_dict(),
                "pl_mean": loss.pl_mean.detach().cpu(), "rng": states,
                "config": json.dumps(cfg.to_json_dict()),
            }, ckpt_path)
        distributed.barrier(info)

    tb = _tensorboard(out) if info.is_main else None
    bar = tqdm(total=total_nimg, initial=counters.cur_nimg, unit="img", desc="stylex train",
               disable=not (progress and info.is_main), dynamic_ncols=True)
    tick_start_nimg, tick_start_time = counters.cur_nimg, time.time()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    last: dict[str, Any] = {}
    restore_sigterm = _sigterm_as_interrupt()
    try:
        while counters.cur_nimg < total_nimg:
            idx = stream.next()
            real_all = images_to_tensor(images_u8[np.sort(idx)][np.argsort(np.argsort(idx))], device)
            terms = _train_step(cfg, counters.step, real_all, batch_gpu, loss, G, E, D, opt_G, opt_E, opt_D,
                                autocast, info)
            if terms is None:
                counters.nonfinite_streak += 1
                counters.nonfinite_total += 1
                warnings.warn(f"non-finite loss or gradient at kimg {counters.cur_nimg / 1000:.3f}: step skipped "
                              f"({counters.nonfinite_streak} in a row)")
                if counters.nonfinite_streak >= cfg.max_nonfinite:
                    raise StylexError(
                        f"{counters.nonfinite_streak} non-finite steps in a row: training diverged. The last good "
                        f"checkpoint is {ckpt_path}; lower the learning rates or raise --r1-gamma, then --resume.")
            else:
                counters.nonfinite_streak = 0
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                    counts[k] = counts.get(k, 0) + 1
            counters.cur_nimg += cfg.batch_size
            counters.step += 1
            if terms is not None:  # EMA (half-life in images, with ramp-up); skipped steps leave it alone
                ema_nimg = cfg.ema_kimg * 1000
                if cfg.ema_rampup > 0:
                    ema_nimg = min(ema_nimg, counters.cur_nimg * cfg.ema_rampup)
                update_ema(G_ema, G, 0.5 ** (cfg.batch_size / max(ema_nimg, 1e-8)))
            bar.update(cfg.batch_size)

            done = counters.cur_nimg >= total_nimg
            if counters.cur_nimg - tick_start_nimg >= tick_nimg or done:
                counters.tick += 1
                elapsed = time.time() - tick_start_time
                nimg = counters.cur_nimg - tick_start_nimg
                last = {"tick": counters.tick, "kimg": counters.cur_nimg / 1000, "step": counters.step,
                        "img_per_s": nimg / max(elapsed, 1e-9), "sec_per_kimg": elapsed / max(nimg, 1) * 1000,
                        "peak_mem_gb": peak_memory_gb(device), "nonfinite_total": counters.nonfinite_total}
                last.update({k: sums[k] / counts[k] for k in sorted(sums)})
                sums, counts = {}, {}
                if info.is_main:
                    _log_tick(out, last, tb, bar)
                    if counters.tick % cfg.sample_ticks == 0 or done:
                        _save_samples(out, counters.cur_nimg, images_u8[sample_idx], sample_z, G_ema, E,
                                      classifier, class_names, device)
                # no checkpoint while steps are failing: the last good one stays on disk
                snapshot = counters.tick % cfg.snapshot_ticks == 0 or done
                if snapshot and counters.nonfinite_streak == 0:
                    checkpoint()
                if max_minutes is not None and not done and distributed.any_process(
                        time.time() - t_call >= max_minutes * 60, info, device):
                    if not snapshot and counters.nonfinite_streak == 0:
                        checkpoint()
                    last["stopped_early"] = True
                    if info.is_main:
                        bar.close()
                        print(f"time budget of {max_minutes:g} min reached at kimg {counters.cur_nimg / 1000:.3f}: "
                              f"checkpoint written to {ckpt_path}; continue with `stylex train --out {out} --resume`",
                              file=sys.stderr)
                    break
                tick_start_nimg, tick_start_time = counters.cur_nimg, time.time()
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
    except KeyboardInterrupt:
        bar.close()
        if counters.nonfinite_streak == 0:
            if info.is_main:
                print(f"interrupted at kimg {counters.cur_nimg / 1000:.3f}: writing {ckpt_path}", file=sys.stderr)
            checkpoint()
        raise
    finally:
        restore_sigterm()
        bar.close()
        if tb is not None:
            tb.close()
    return last


def _sigterm_as_interrupt():
    """Treat SIGTERM (``kill``, job schedulers) like Ctrl-C: checkpoint, then stop. Returns the undo.

    Only possible in the main thread; elsewhere nothing changes.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _train_step(cfg: TrainConfig, step: int, real_all: torch.Tensor, batch_gpu: int, loss: StylexLoss,
                G, E, D, opt_G, opt_E, opt_D, autocast, info) -> dict[str, torch.Tensor] | None:
    """One optimiser step of every phase. Returns the logged terms, or None if it was skipped."""
    terms: dict[str, torch.Tensor] = {}
    chunks = real_all.split(batch_gpu)
    accum = len(chunks)
    mapping_step = cfg.paths == "alternate" and step % cfg.mapping_every == cfg.mapping_every - 1
    finite = True

    def add(new: dict[str, torch.Tensor]) -> None:
        for k, v in new.items():
            terms[k] = terms.get(k, 0) + v.detach().float() / accum

    # ---- G main (encoder path or mapping path)
    probs_all = [loss.class_probs(x) for x in chunks]
    fakes = []
    G.requires_grad_(True); E.requires_grad_(not mapping_step); D.requires_grad_(False)
    opt_G.zero_grad(set_to_none=True); opt_E.zero_grad(set_to_none=True)
    for real, probs in zip(chunks, probs_all):
        with autocast:
            res = loss.generator_mapping_path(probs) if mapping_step else loss.generator_encoder_path(real, probs)
        (res.loss / accum).backward()
        add(res.terms)
        if res.agreement is not None:
            add({"class_agreement": res.agreement.mean()})
        fakes.append((res.fake.detach(), res.fake_probs))
    finite &= distributed.average_gradients(list(G.parameters()), info)
    if not mapping_step:
        finite &= distributed.average_gradients(list(E.parameters()), info)
    finite &= all(bool(torch.isfinite(v)) for v in terms.values())
    if not finite:
        return _skip(opt_G, opt_E, opt_D)
    opt_G.step()
    if not mapping_step:
        opt_E.step()
    E.requires_grad_(False)

    # ---- G reg: lazy path length
    if cfg.pl_interval and cfg.losses.pl_weight > 0 and step % cfg.pl_interval == 0:
        opt_G.zero_grad(set_to_none=True)
        for probs in probs_all:
            n = max(1, probs.shape[0] // cfg.pl_batch_shrink)
            res = loss.generator_path_length(probs[:n], cfg.pl_interval, cfg.pl_decay)
            (res.loss / accum).backward()
            add(res.terms)
        if not distributed.average_gradients(list(G.parameters()), info):
            return _skip(opt_G, opt_E, opt_D)
        opt_G.step()
    G.requires_grad_(False)

    # ---- D main + lazy R1
    D.requires_grad_(True)
    opt_D.zero_grad(set_to_none=True)
    for real, probs, (fake, fake_probs) in zip(chunks, probs_all, fakes):
        with autocast:
            res = loss.discriminator_main(real, probs, fake, fake_probs)
        (res.loss / accum).backward()
        add(res.terms)
    if cfg.r1_interval and cfg.losses.r1_gamma > 0 and step % cfg.r1_interval == 0:
        for real, probs in zip(chunks, probs_all):
            res = loss.discriminator_r1(real, probs, cfg.r1_interval)
            (res.loss / accum).backward()
            add(res.terms)
    if not distributed.average_gradients(list(D.parameters()), info):
        return _skip(opt_G, opt_E, opt_D)
    opt_D.step()
    D.requires_grad_(False)
    if mapping_step:
        terms["mapping_path"] = torch.ones([])
    return terms


def _weights_checksum(*modules: torch.nn.Module) -> float:
    """Sum of all parameters in float64: equal on every process while they stay in sync."""
    return float(sum(p.detach().double().sum() for m in modules for p in m.parameters()))


def _skip(*opts) -> None:
    for opt in opts:
        opt.zero_grad(set_to_none=True)
    return None


def _autocast(cfg: TrainConfig, device: torch.device):
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


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
