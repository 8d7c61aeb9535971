"""StylEx training throughput: images/s, sec/kimg, peak memory, FLOPs per image and utilisation.

Runs the real training step (``stylex.training.loop._train_step``: G/E phase, lazy path length,
D phase, lazy R1) on random images with randomly initialised networks and classifier (speed does
not depend on the weights). Data loading is excluded. FLOPs are counted from the operator shapes
with ``torch.utils.flop_counter.FlopCounterMode`` over whole steps (both paths; the lazy regularisers
excluded: they cannot be counted this way and add a few percent), so "utilisation" is the implied
fraction of the device's peak.

    python benchmarks/train_throughput.py --preset cpu --device cpu --breakdown
    python benchmarks/train_throughput.py --preset paper64 --device cuda --batch 64 --precision bf16 --compile
"""

from __future__ import annotations

import argparse
import time

import torch

# Dense bf16 tensor-core peak (TFLOP/s) of devices we quote utilisation for (vendor data sheets, SXM
# parts unless named); pass --peak-tflops for others. Matched against the device name, longest key first.
PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "GH200": 989.0, "A100": 312.0, "A10": 125.0,
               "L40S": 362.0, "L40": 181.0, "L4": 121.0, "RTX 4090": 165.0, "RTX 3090": 71.0}


def device_peak_tflops(name: str) -> float | None:
    """The table's bf16 peak for a device name (``torch.cuda.get_device_name``), or None."""
    return next((PEAK_TFLOPS[k] for k in sorted(PEAK_TFLOPS, key=len, reverse=True) if k in name), None)


def build(preset: str, batch: int, device: torch.device, lpips: bool, precision: str, classifier_width: float,
          compile: bool = False, compile_backend: str = "inductor", channels_last: bool = True):
    """Config, networks, loss (compiled when asked) and optimisers of a training step on random weights."""
    from stylex.models.classifier import ClassifierConfig, build_classifier, freeze
    from stylex.models.networks import build_networks
    from stylex.training.config import resolve_config
    from stylex.training.losses import StylexLoss
    from stylex.training.loop import make_optimizers

    cfg = resolve_config(preset, batch_size=batch, rec_lpips_weight=None if lpips else 0.0, precision=precision,
                         device=device.type)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    G, E, D = (m.to(device, memory_format=fmt) for m in build_networks(cfg.with_classes(2).network))
    clf = build_classifier(ClassifierConfig(num_classes=2, width_mult=classifier_width, pretrained="none",
                                            resolution=cfg.network.resolution)).to(device, memory_format=fmt).eval()
    freeze(clf)
    lp = None
    if cfg.losses.rec_lpips > 0:
        from stylex.models.lpips import LPIPS

        lp = LPIPS("alex").to(device, memory_format=fmt)
    opts = make_optimizers(cfg, G, E, D)
    run = [torch.compile(m, dynamic=False, backend=compile_backend) if compile else m for m in (G, E, D)]
    loss = StylexLoss(*run, clf, cfg.losses, lp, cfg.network.z_dim, eager=(G, D))
    return cfg, G, E, D, loss, opts


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


def measure(preset: str = "cpu", device: str = "cpu", batch: int | None = None, steps: int = 16, warmup: int = 4,
            precision: str = "auto", lpips: bool = True, classifier_width: float = 1.0, compile: bool = False,
            compile_backend: str = "inductor", channels_last: bool = True, peak_tflops: float | None = None,
            breakdown: bool = False) -> dict:
    """Time ``steps`` training steps after ``warmup`` (compilation happens there) and count their FLOPs.

    Returns a JSON-ready dict: images/s, sec/kimg, peak memory (GPU allocations, or the process's RSS on
    the CPU), training GFLOP per image (counted over one mapping-path and one encoder-path step of the
    eager networks), the analytic forward GMAC of G/E/D (``count_flops_per_image``), achieved TFLOP/s and
    its fraction of the device's bf16 peak when known.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from stylex.models.networks import count_flops_per_image
    from stylex.training.config import PRESETS
    from stylex.training.distributed import DistInfo
    from stylex.data.tensors import images_to_tensor
    from stylex.device import autocast as autocast_for
    from stylex.device import precision_dtype
    from stylex.training.loop import Networks, StepContext, _train_step

    dev = torch.device(device)
    torch.manual_seed(0)
    batch = batch or PRESETS[preset].batch_size
    cfg, G, E, D, loss, (opt_G, opt_E, opt_D) = build(preset, batch, dev, lpips, precision, classifier_width,
                                                      compile, compile_backend, channels_last)
    # random images through the training loop's own conversion (uint8 NHWC -> float NCHW view, as in training)
    u8 = torch.randint(0, 256, (batch, cfg.network.resolution, cfg.network.resolution, 3), dtype=torch.uint8).numpy()
    real = images_to_tensor(u8, dev)
    autocast = autocast_for(dev, precision_dtype(cfg.precision, dev), on_cpu=True)
    nets = Networks(G, G, E, D, opt_G, opt_E, opt_D)     # G_ema is not used by a step

    def step(i: int, use=loss) -> None:
        _train_step(StepContext(cfg, nets, use, autocast, DistInfo(), batch), i, real)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    t = time.perf_counter()
    for i in range(warmup):
        step(i)
    sync()
    warmup_s = time.perf_counter() - t
    # FlopCounterMode cannot follow autograd.grad (R1, path length) nor look into compiled graphs: count one
    # mapping-path step (1) and one encoder-path step (2) of the eager networks; the lazy regs add a few %.
    counter = FlopCounterMode(display=False)
    eager = loss if not compile else type(loss)(G, E, D, loss.C, loss.w, loss.lpips, loss.z_dim)
    with counter:
        for i in (1, 2):
            step(i, eager)
    flops_per_image = counter.get_total_flops() / (2 * batch)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    sync()
    t = time.perf_counter()
    for i in range(steps):
        step(i)
    sync()
    img_s = steps * batch / (time.perf_counter() - t)
    if dev.type == "cuda":
        peak_mem = torch.cuda.max_memory_allocated(dev) / 2**30
        name = torch.cuda.get_device_name(dev)
    else:
        import resource

        peak_mem = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        name = f"CPU, {torch.get_num_threads()} threads"
    peak = peak_tflops or device_peak_tflops(name)
    macs = count_flops_per_image(cfg.with_classes(2).network)
    achieved = img_s * flops_per_image / 1e12
    out = {"device": name, "preset": preset, "resolution": cfg.network.resolution, "batch": batch, "precision": precision,
           "compile": compile, "compile_backend": compile_backend if compile else None,
           "channels_last": channels_last, "lpips": lpips, "steps": steps, "warmup_s": warmup_s,
           "images_per_s": img_s, "sec_per_kimg": 1000 / img_s, "peak_mem_gb": peak_mem,
           "forward_gmac_per_image": {k: macs[k] / 1e9 for k in ("G", "E", "D")},
           "train_gflop_per_image": flops_per_image / 1e9, "achieved_tflops": achieved,
           "peak_bf16_tflops": peak, "utilisation": achieved / peak if peak else None}
    if breakdown:
        out["network_gflop_per_image"] = network_costs(cfg, G, E, D, eager, batch, dev)
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
    p.add_argument("--compile", action="store_true", help="torch.compile G, E and D (as `stylex train --compile`)")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend (with --compile)")
    p.add_argument("--memory-format", default="channels_last", choices=["channels_last", "contiguous"],
                   help="layout of the networks' weights (training uses channels_last)")
    p.add_argument("--breakdown", action="store_true",
                   help="also print each network's GFLOP/image alone (where a step's arithmetic goes)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    r = measure(args.preset, args.device, args.batch, args.steps, args.warmup, args.precision, not args.no_lpips,
                args.classifier_width, args.compile, args.compile_backend, args.memory_format == "channels_last",
                args.peak_tflops, args.breakdown)
    macs = r["forward_gmac_per_image"]
    print(f"device: {r['device']}; preset {args.preset} ({r['resolution']} px), batch {r['batch']}, "
          f"precision {args.precision}, lpips {'off' if args.no_lpips else 'on'}, compile {args.compile}, "
          f"{args.memory_format}")
    print(f"forward GMAC/image: G {macs['G']:.3f}, E {macs['E']:.3f}, D {macs['D']:.3f}")
    print(f"training GFLOP/image (counted, both paths, without lazy reg): {r['train_gflop_per_image']:.2f}")
    print(f"images/s: {r['images_per_s']:.1f}")
    print(f"sec/kimg: {r['sec_per_kimg']:.1f}")
    print(f"peak memory GB: {r['peak_mem_gb']:.2f}")
    if args.breakdown:
        print("GFLOP/image of each network alone (forward | forward + backward); per step the encoder path calls "
              "E twice (real, and fake for the latent loss), G once, D three times (fake for G; fake and real "
              "for D), the classifier twice (real: no grad; fake), LPIPS once; the mapping path drops E and LPIPS")
        for name, (fwd, both) in r["network_gflop_per_image"].items():
            print(f"  {name:14s} {fwd:7.3f} | {both:7.3f}")
    peak = r["peak_bf16_tflops"]
    util = f", utilisation {100 * r['utilisation']:.1f}% of {peak:.0f} TFLOP/s" if peak else ""
    print(f"achieved TFLOP/s: {r['achieved_tflops']:.3f}{util}")


if __name__ == "__main__":
    main()
