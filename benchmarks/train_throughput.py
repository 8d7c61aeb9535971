"""StylEx training throughput: images/s, sec/kimg, peak memory, FLOPs per image and utilisation.

Runs the real training step (``stylex.training.loop._train_step``: G/E phase, lazy path length,
D phase, lazy R1) on random images with randomly initialised networks and classifier (speed does
not depend on the weights). Data loading is excluded. FLOPs are counted from the operator shapes
with ``torch.utils.flop_counter.FlopCounterMode`` over whole steps (both paths; the lazy regularisers
excluded: they cannot be counted this way and add a few percent), so "utilisation" is the implied
fraction of the device's peak.

    python benchmarks/train_throughput.py --preset cpu --device cpu --breakdown
    python benchmarks/train_throughput.py --preset paper64 --device cuda --batch 64
"""

from __future__ import annotations

import argparse
import time

import torch

# Dense bf16 peak (TFLOP/s) of devices we quote utilisation for; pass --peak-tflops for others.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def build(preset: str, batch: int, device: torch.device, lpips: bool, precision: str, classifier_width: float):
    from stylex.models.classifier import ClassifierConfig, build_classifier, freeze
    from stylex.models.networks import build_networks
    from stylex.training.config import resolve_config
    from stylex.training.losses import StylexLoss
    from stylex.training.loop import make_adam

    cfg = resolve_config(preset, batch_size=batch, rec_lpips_weight=None if lpips else 0.0, precision=precision,
                         device=device.type)
    G, E, D = (m.to(device) for m in build_networks(cfg.with_classes(2).network))
    clf = build_classifier(ClassifierConfig(num_classes=2, width_mult=classifier_width, pretrained="none",
                                            resolution=cfg.network.resolution)).to(device).eval()
    freeze(clf)
    lp = None
    if cfg.losses.rec_lpips > 0:
        from stylex.models.lpips import LPIPS

        lp = LPIPS("alex").to(device)
    opts = (make_adam(G.parameters(), cfg.lr_g, (cfg.beta1, cfg.beta2), cfg.pl_interval),
            make_adam(E.parameters(), cfg.lr_e, (cfg.beta1, cfg.beta2), 0),
            make_adam(D.parameters(), cfg.lr_d, (cfg.beta1, cfg.beta2), cfg.r1_interval))
    return cfg, G, E, D, StylexLoss(G, E, D, clf, cfg.losses, lp, cfg.network.z_dim), opts


def network_costs(cfg, G, E, D, loss, batch: int, device: torch.device) -> dict[str, tuple[float, float]]:
    """GFLOP per image of each network called alone: ``{name: (forward, forward + backward)}``.

    Backward is taken with respect to the parameters and the input (the classifier's and LPIPS's
    parameters are frozen, so theirs is input-only, as in training). With the number of calls per
    step (see the printed note) this says where a training step's arithmetic goes.
    """
    from torch.utils.flop_counter import FlopCounterMode

    def count(fn) -> float:
        counter = FlopCounterMode(display=False)
        with counter:
            fn()
        return counter.get_total_flops() / batch / 1e9

    res = cfg.network.resolution
    lat = torch.randn(batch, cfg.network.w_dim + 2, device=device, requires_grad=True)
    x = (torch.rand(batch, 3, res, res, device=device) * 2 - 1).requires_grad_(True)
    probs = torch.full((batch, 2), 0.5, device=device)
    calls = {"G (synthesis)": lambda: G(lat), "E": lambda: E(x), "D": lambda: D(x, probs),
             "classifier": lambda: loss.C(x)}
    if loss.lpips is not None:
        calls["LPIPS"] = lambda: loss._lpips(x, x.detach())
    for net in (G, E, D):                       # the training loop toggles these; count with parameter grads
        net.requires_grad_(True)
    out = {name: (count(fn), count(lambda: fn().float().sum().backward())) for name, fn in calls.items()}
    for net in (G, E, D):
        net.zero_grad(set_to_none=True)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cpu", choices=["tiny", "cpu", "paper64", "paper256"])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch", type=int, default=None, help="images per step (default: the preset's)")
    p.add_argument("--steps", type=int, default=16, help="timed steps (a multiple of 16 covers every lazy reg)")
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"])
    p.add_argument("--no-lpips", action="store_true", help="without the LPIPS term")
    p.add_argument("--classifier-width", type=float, default=1.0, help="MobileNetV2 width of the classifier")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--peak-tflops", type=float, default=None, help="device peak for the utilisation figure")
    p.add_argument("--breakdown", action="store_true",
                   help="also print each network's GFLOP/image alone (where a step's arithmetic goes)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from stylex.training.distributed import DistInfo
    from stylex.device import autocast as autocast_for
    from stylex.device import precision_dtype
    from stylex.training.loop import Networks, StepContext, _train_step

    device = torch.device(args.device)
    torch.manual_seed(0)
    from stylex.training.config import PRESETS

    batch = args.batch or PRESETS[args.preset].batch_size
    cfg, G, E, D, loss, (opt_G, opt_E, opt_D) = build(args.preset, batch, device, not args.no_lpips,
                                                      args.precision, args.classifier_width)
    real = torch.rand(batch, 3, cfg.network.resolution, cfg.network.resolution, device=device) * 2 - 1
    autocast = autocast_for(device, precision_dtype(cfg.precision, device), on_cpu=True)
    nets = Networks(G, G, E, D, opt_G, opt_E, opt_D)     # G_ema is not used by a step
    ctx = StepContext(cfg, nets, loss, autocast, DistInfo(), batch)

    def step(i: int) -> None:
        _train_step(ctx, i, real)

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    for i in range(args.warmup):
        step(i)
    sync()
    from torch.utils.flop_counter import FlopCounterMode

    # FlopCounterMode cannot follow autograd.grad (R1, path length): count one mapping-path step (1) and
    # one encoder-path step (2), neither of which runs a regulariser; the lazy regularisers add a few %.
    counter = FlopCounterMode(display=False)
    with counter:
        for i in (1, 2):
            step(i)
    flops_per_image = counter.get_total_flops() / (2 * batch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync()
    t = time.perf_counter()
    for i in range(args.steps):
        step(i)
    sync()
    elapsed = time.perf_counter() - t
    img_s = args.steps * batch / elapsed
    if device.type == "cuda":
        peak_mem = torch.cuda.max_memory_allocated(device) / 2**30
        name = torch.cuda.get_device_name(device)
    else:
        import resource

        peak_mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        name = f"CPU, {torch.get_num_threads()} threads"
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    from stylex.models.networks import count_flops_per_image

    macs = count_flops_per_image(cfg.with_classes(2).network)
    print(f"device: {name}; preset {args.preset} ({cfg.network.resolution} px), batch {batch}, "
          f"precision {args.precision}, lpips {'off' if args.no_lpips else 'on'}")
    print(f"forward GMAC/image: G {macs['G'] / 1e9:.3f}, E {macs['E'] / 1e9:.3f}, D {macs['D'] / 1e9:.3f}")
    print(f"training GFLOP/image (counted, both paths, without lazy reg): {flops_per_image / 1e9:.2f}")
    print(f"images/s: {img_s:.1f}")
    print(f"sec/kimg: {1000 / img_s:.1f}")
    print(f"peak memory GB: {peak_mem:.2f}")
    if args.breakdown:
        print("GFLOP/image of each network alone (forward | forward + backward); per step the encoder path calls "
              "E twice (real, and fake for the latent loss), G once, D three times (fake for G; fake and real "
              "for D), the classifier twice (real: no grad; fake), LPIPS once; the mapping path drops E and LPIPS")
        for name, (fwd, both) in network_costs(cfg, G, E, D, loss, batch, device).items():
            print(f"  {name:14s} {fwd:7.3f} | {both:7.3f}")
    achieved = img_s * flops_per_image / 1e12
    util = f", utilisation {100 * achieved / peak:.1f}% of {peak:.0f} TFLOP/s" if peak else ""
    print(f"achieved TFLOP/s: {achieved:.3f}{util}")


if __name__ == "__main__":
    main()
