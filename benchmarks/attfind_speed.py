"""AttFind speed: the notebook-style reference loop, the batched exhaustive search and gradient screening.

For each model size (``--sizes``; default the ``cpu`` preset at 32 px, S = 448, and a paper64-sized
generator at 64 px, S = 4608), builds a randomly initialised StylEx generator (speed does not depend on
training) and classifier and times, in one process on the same model and images:

- reference: :func:`stylex.explain.compute_effects_reference` (one image, one coordinate, one direction
  per generator call, full synthesis) on ``--ref-images`` images x ``--ref-coords`` coordinates;
- exhaustive: :func:`stylex.explain.compute_effects` on all coordinates, or on ``exh_coords`` coordinates
  spread over all layers when a size gives them (then extrapolated per edit, and labelled so);
- screened: :func:`stylex.explain.screening.screened_effects` with ``--screen M``, run in full.

Times are compared per image for the whole search (2 S edits); the agreement of the screened and the
exhaustive attribute lists is reported where the exhaustive search ran in full. The last two lines are
``top10_agreement: A`` (first size with a full exhaustive run) and ``speedup_vs_reference: X`` (screened vs
reference, last size).

    python benchmarks/attfind_speed.py --device cpu --threads 1
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

DEFAULT_SIZES = "cpu:32:8:all,paper64:64:3:8"


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


def _spread(S: int, n: int) -> np.ndarray:
    """``n`` coordinates spread evenly over all layers."""
    return np.unique(np.linspace(0, S - 1, min(n, S)).round().astype(np.int64))


class _Timer:
    def __init__(self, device: str):
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def __call__(self, fn):
        """``(result, seconds)`` of ``fn()``."""
        self.sync()
        t0 = time.perf_counter()
        out = fn()
        self.sync()
        return out, time.perf_counter() - t0


def bench_size(preset: str, resolution: int, num_images: int, exh_coords: int | None, args) -> dict:
    """Reference / exhaustive / screened on one model size; prints its lines and returns the figures."""
    from stylex.explain import compute_effects, compute_effects_reference, select_attributes
    from stylex.explain.screening import agreement, screen

    torch.manual_seed(0)
    G, C = build_models(preset, resolution, args.num_classes, args.classifier, args.device)
    with torch.no_grad():
        z = torch.randn(num_images, G.mapping.z_dim if hasattr(G.mapping, "z_dim") else G.z_dim, device=args.device)
        probs = torch.softmax(torch.randn(num_images, args.num_classes, device=args.device), 1)
        latents = G.condition(G.mapping(z), probs)
    S, timer = G.layout.num_coords, _Timer(args.device)
    dtype = torch.bfloat16 if args.bf16 else None
    print(f"[{preset} preset, {resolution} px, S={S}, {num_images} images, classifier={args.classifier}, "
          f"device={args.device}, threads={torch.get_num_threads()}]")
    # warm-up (kernels, allocator) outside the timings
    compute_effects(G, C, latents[:2], batch_size=args.batch_size, coords=[0, S - 1], progress=False)
    compute_effects_reference(G, C, latents[:1], coords=[S - 1])

    ref_coords = _spread(S, args.ref_coords)
    ref, t_ref = timer(lambda: compute_effects_reference(G, C, latents[:args.ref_images], coords=ref_coords))
    ref_edit = t_ref / (args.ref_images * len(ref_coords) * 2)                     # seconds per edit
    print(f"reference:  {args.ref_images * len(ref_coords) * 2} edits in {t_ref:.2f} s = {1 / ref_edit:.1f} edits/s "
          f"({args.ref_images} image(s) x {len(ref_coords)} coordinates x 2; per image extrapolated to all {S})")

    exh_c = _spread(S, exh_coords) if exh_coords else np.arange(S)
    full, t_exh = timer(lambda: compute_effects(G, C, latents, batch_size=args.batch_size, coords=exh_c,
                                                progress=False, dtype=dtype))
    exh_edit = t_exh / (num_images * len(exh_c) * 2)
    label = "all coordinates" if len(exh_c) == S else f"{len(exh_c)} coordinates, per image extrapolated to all {S}"
    print(f"exhaustive: {num_images * len(exh_c) * 2} edits in {t_exh:.2f} s = {1 / exh_edit:.1f} edits/s ({label})")
    if len(exh_c) == S:  # the reference's extremes come from its own images: compare on the same ones
        check = compute_effects(G, C, latents[:args.ref_images], batch_size=args.batch_size, coords=ref_coords,
                                progress=False, dtype=dtype)
        print(f"  max |exhaustive - reference| on the reference's edits: {np.abs(check.effects - ref.effects).max():.2e}")

    info, t_grad = timer(lambda: screen(G, C, latents, args.screen, margin=args.screen_margin))
    res, t_meas = timer(lambda: compute_effects(G, C, latents, batch_size=args.batch_size, coords=info.coords,
                                                progress=False, dtype=dtype))
    t_scr = t_grad + t_meas
    print(f"screened:   M={args.screen} margin={args.screen_margin}: gradients {t_grad:.2f} s, "
          f"{len(info.coords)} of {S} coordinates measured ({num_images * len(info.coords) * 2} edits) in "
          f"{t_meas:.2f} s; total {t_scr:.2f} s (run in full)")
    per_image = {"reference": ref_edit * 2 * S, "exhaustive": exh_edit * 2 * S, "screened": t_scr / num_images}
    print("per image, whole search: " + ", ".join(f"{k} {v:.2f} s" for k, v in per_image.items())
          + f" -> screened is {per_image['reference'] / per_image['screened']:.1f}x the reference, "
          f"{per_image['exhaustive'] / per_image['screened']:.1f}x the exhaustive search")
    out = {"S": S, "per_image": per_image, "agreement": None}
    if len(exh_c) == S:
        exact = select_attributes(full.effects, full.base_logits)
        screened = select_attributes(res.effects, res.base_logits)
        out["agreement"] = agreement(screened, exact, info, full.effects, full.base_logits)
        print("agreement (random weights): " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in out["agreement"].items()))
    return out


def _parse_sizes(text: str) -> list[tuple[str, int, int, int | None]]:
    """``preset:resolution:images:coords`` items (coords ``all`` or a count for the exhaustive timing)."""
    sizes = []
    for item in text.split(","):
        preset, res, n, coords = item.split(":")
        sizes.append((preset, int(res), int(n), None if coords == "all" else int(coords)))
    return sizes


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--sizes", default=DEFAULT_SIZES,
                   help="comma-separated preset:resolution:images:coords; coords = 'all' or how many coordinates "
                        "the exhaustive timing covers (then extrapolated)")
    p.add_argument("--num-classes", type=int, default=2)
    p.add_argument("--classifier", default="mobilenet", choices=["mobilenet", "small"])
    p.add_argument("--batch-size", type=int, default=256, help="edits per generator call (batched runs)")
    p.add_argument("--ref-images", type=int, default=1, help="images for the reference run")
    p.add_argument("--ref-coords", type=int, default=8, help="coordinates (spread over all layers) for the reference")
    p.add_argument("--screen", type=int, default=16, help="screening: candidate columns per class (M)")
    p.add_argument("--screen-margin", type=float, default=0.25)
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = [bench_size(*size, args) for size in _parse_sizes(args.sizes)]
    agree = next((r["agreement"] for r in results if r["agreement"] is not None), None)
    last = results[-1]["per_image"]
    print("(top10_agreement: top-10 overlap of screened and exhaustive lists at the first size with a full "
          "exhaustive run, random weights; speedup_vs_reference: screened vs reference at the last size)")
    print(f"top10_agreement: {agree['top_k_overlap'] if agree else 'n/a'}")
    print(f"speedup_vs_reference: {last['reference'] / last['screened']:.1f}")


if __name__ == "__main__":
    main()
