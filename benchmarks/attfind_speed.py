"""AttFind effects speed: batched ``compute_effects`` versus the brute-force oracle.

Builds a randomly initialised StylEx generator (speed does not depend on training) and classifier,
runs :func:`stylex.explain.compute_effects_reference` (one image, one coordinate, one direction per
generator call, full synthesis) on a subset of coordinates and :func:`stylex.explain.compute_effects`
on the same model and images, checks that they agree, and prints edits/s of each. The last line is
``speedup_vs_reference: X``.

    python benchmarks/attfind_speed.py --device cpu --resolution 32 --num-images 8 --preset tiny
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def build_models(preset: str, resolution: int, num_classes: int, classifier: str, device: str):
    """Random-weight generator (from a training preset) and classifier."""
    from stylex.models.networks import build_networks
    from stylex.training.config import resolve_config

    cfg = resolve_config(preset, resolution=resolution)
    G, _, _ = build_networks(cfg.with_classes(num_classes).network)
    if classifier == "mobilenet":
        from stylex.models.classifier import ClassifierConfig, build_classifier, fold_batchnorm, freeze
        C = build_classifier(ClassifierConfig(num_classes=num_classes, width_mult=0.25, pretrained="none",
                                              resolution=resolution))
        C = fold_batchnorm(freeze(C))  # as stylex.trained_run.load_run does for inference
    else:  # a small conv net: isolates the generator's share of the cost
        C = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, stride=2, padding=1), torch.nn.LeakyReLU(0.2),
                                torch.nn.Conv2d(16, 32, 3, stride=2, padding=1), torch.nn.LeakyReLU(0.2),
                                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, num_classes))
    return G.to(device).eval(), C.to(device).eval()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--num-images", type=int, default=8, help="images for the batched run")
    p.add_argument("--preset", default="tiny", help="training preset whose network sizes are used")
    p.add_argument("--num-classes", type=int, default=2)
    p.add_argument("--classifier", default="mobilenet", choices=["mobilenet", "small"])
    p.add_argument("--batch-size", type=int, default=256, help="edits per generator call (batched run)")
    p.add_argument("--ref-images", type=int, default=2, help="images for the reference run")
    p.add_argument("--ref-coords", type=int, default=64, help="coordinates (spread over all layers) for the reference")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from stylex.explain import compute_effects, compute_effects_reference

    torch.manual_seed(0)
    G, C = build_models(args.preset, args.resolution, args.num_classes, args.classifier, args.device)
    with torch.no_grad():
        z = torch.randn(args.num_images, G.mapping.z_dim if hasattr(G.mapping, "z_dim") else G.z_dim,
                        device=args.device)
        probs = torch.softmax(torch.randn(args.num_images, args.num_classes, device=args.device), 1)
        latents = G.condition(G.mapping(z), probs)
    S = G.layout.num_coords
    coords = np.unique(np.linspace(0, S - 1, min(args.ref_coords, S)).round().astype(np.int64))
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    print(f"model: preset={args.preset} resolution={args.resolution} S={S} layers={len(G.layout.layers)} "
          f"classifier={args.classifier} device={args.device} threads={torch.get_num_threads()}")

    # warm-up (kernels, allocator) outside the timings
    compute_effects(G, C, latents[:2], batch_size=args.batch_size, coords=coords[:4], progress=False)
    compute_effects_reference(G, C, latents[:1], coords=coords[:1])

    sync(); t0 = time.perf_counter()
    ref = compute_effects_reference(G, C, latents[:args.ref_images], coords=coords)
    sync(); t_ref = time.perf_counter() - t0
    ref_edits = args.ref_images * len(coords) * 2
    ref_rate = ref_edits / t_ref
    print(f"reference: {ref_edits} edits in {t_ref:.2f} s = {ref_rate:.1f} edits/s")

    dtype = torch.bfloat16 if args.bf16 else None
    sync(); t0 = time.perf_counter()
    compute_effects(G, C, latents, batch_size=args.batch_size, progress=False, dtype=dtype)
    sync(); t_fast = time.perf_counter() - t0
    fast_edits = args.num_images * S * 2
    fast_rate = fast_edits / t_fast
    print(f"batched:   {fast_edits} edits in {t_fast:.2f} s = {fast_rate:.1f} edits/s "
          f"(batch_size={args.batch_size}, all {S} coordinates, {args.num_images} images)")
    # same images -> same style extremes: the check runs the batched path on the reference's images
    check = compute_effects(G, C, latents[:args.ref_images], batch_size=args.batch_size, coords=coords,
                            progress=False, dtype=dtype)
    err = float(np.abs(check.effects - ref.effects).max())
    print(f"max |batched - reference| on the reference's edits: {err:.2e} "
          f"(max |effect| {float(np.abs(ref.effects).max()):.2e})")
    print(f"speedup_vs_reference: {fast_rate / ref_rate:.1f}")


if __name__ == "__main__":
    main()
