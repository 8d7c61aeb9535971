"""Screening vs exhaustive AttFind on an existing exhaustive run, for several M, without recomputing it.

Reads an exhaustive ``effects.npz`` (``stylex attfind`` without ``--screen``, or ``effects_exhaustive.npz``
from ``--verify``), runs only the screening's gradient pass on the same latents, and for each M selects on
the exhaustive effects restricted to the coordinates screening would measure (the exact effects a screened
run computes, up to float rounding). Reports per M: coordinates measured, top-10 overlap, the fraction of
the exhaustive top-10 that was measured, rank correlation, and the top-10 flip rate of both lists on
held-out images; ``pass`` is the issue's criterion (overlap >= 0.9 and flip rates within 0.03).

    python benchmarks/screening_agreement.py --run RUN --effects ATTFIND/effects.npz --screen 8,16,32,64
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="run directory from `stylex train`")
    p.add_argument("--effects", required=True, help="exhaustive effects.npz (all coordinates)")
    p.add_argument("--screen", default="8,16,32,64", help="comma-separated M values")
    p.add_argument("--margin", type=float, default=0.25)
    p.add_argument("--test-images", type=int, default=100, help="held-out images for the flip rates")
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    from stylex.explain.attfind import load_effects
    from stylex.explain.metrics import flip_rate
    from stylex.explain.pipeline import evaluation_latents
    from stylex.explain.screening import agreement, candidates, screening_scores
    from stylex.explain.selection import select_attributes
    from stylex.trained_run import load_run

    run = load_run(args.run, device=args.device, progress=False)
    full = load_effects(args.effects)
    S = full.effects.shape[2]
    if len(full.coords) != S:
        raise SystemExit(f"{args.effects} measured {len(full.coords)} of {S} coordinates: give an exhaustive run")
    doc_path = Path(args.effects).parent / "attributes.json"
    source = json.loads(doc_path.read_text()).get("source", "encoded") if doc_path.is_file() else "encoded"
    test = evaluation_latents(run, {"source": source}, args.test_images, 0)
    latents = torch.as_tensor(full.latents)
    est, scores = screening_scores(run.G, run.classifier, latents, device=args.device)
    exact = select_attributes(full.effects, full.base_logits)

    def rate(attrs):
        return flip_rate(run.G, run.classifier, test, attrs, args.top_k, full.style_min, full.style_max,
                         device=args.device).rate if attrs else float("nan")

    r_exact = rate(exact)
    print(f"run {args.run}: N={len(latents)} S={S}, exhaustive top-{args.top_k} flip rate {r_exact:.3f} "
          f"on {len(test)} held-out images ({source})")
    print("M | measured coords | fraction | top-10 overlap | exact top-10 measured | rank corr (measured/all) "
          "| flip screened | |diff| | pass")
    for m in [int(x) for x in args.screen.split(",")]:
        info = candidates(est, scores, m, args.margin)
        eff = np.zeros_like(full.effects)
        eff[:, :, info.coords] = full.effects[:, :, info.coords]
        screened = select_attributes(eff, full.base_logits)
        a = agreement(screened, exact, info, full.effects, full.base_logits, k=args.top_k)
        r = rate(screened)
        ok = (a["top_k_overlap"] or 0) >= 0.9 and abs(r - r_exact) <= 0.03
        rho = "/".join("n/a" if v is None else f"{v:.2f}" for v in (a["rank_correlation_measured"],
                                                                   a["rank_correlation_all"]))
        print(f"{m} | {len(info.coords)} | {len(info.coords) / S:.3f} | {a['top_k_overlap']} | "
              f"{a['exact_top_k_measured']} | {rho} | {r:.3f} | {abs(r - r_exact):.3f} | {'yes' if ok else 'no'}")


if __name__ == "__main__":
    main()
