"""``stylex attfind``: find the StyleSpace attributes that drive the classifier (+ Wu et al. and random)."""

from __future__ import annotations

from . import add_parser
from .common import add_data_arguments, data_spec_from_args


def register(subparsers) -> None:
    p = add_parser(subparsers, "attfind", "run AttFind (and the Wu et al. / random baselines) on a trained run",
                   "Compute the effect of moving every StyleSpace coordinate to its min/max on the classifier "
                   "(batched, resumable), select the top attributes per class as the authors' AttFind does, and "
                   "rank the Wu et al. and random baselines on the same latents. Writes OUT/attributes.json "
                   "and OUT/effects.npz.")
    p.add_argument("--run", required=True, help="run directory from `stylex train`")
    p.add_argument("--out", required=True, help="output folder")
    add_data_arguments(p, required=False)
    p.add_argument("--num-images", type=int, default=250, help="latents to search over (N)")
    p.add_argument("--source", default="encoded", choices=["encoded", "random"],
                   help="encoded train images (StylEx) or mapping-path samples (plain StyleGAN2 style)")
    p.add_argument("--num-attributes", type=int, default=10, help="greedy picks per class")
    p.add_argument("--effect-threshold", type=float, help="default 0.2 (two classes) / 0.1 (one-vs-all)")
    p.add_argument("--batch-size", type=int, default=256, help="edits per generator call")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16 autocast on CUDA")
    p.add_argument("--discriminator-filter", action="store_true",
                   help="drop attributes whose factor-2 edit the discriminator finds unrealistic")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..explain.pipeline import AttFindConfig, run_attfind
    from ..explain.selection import SelectionConfig
    from ..paths import check_output_dir
    from ..run import load_run
    from ..training.distributed import resolve_device

    cfg = AttFindConfig(num_images=args.num_images, source=args.source, batch_size=args.batch_size,
                        precision=args.precision, seed=args.seed, discriminator_filter=args.discriminator_filter,
                        selection=SelectionConfig(num_attributes=args.num_attributes,
                                                  effect_threshold=args.effect_threshold)).validate()
    check_output_dir(args.out)
    run_ = load_run(args.run, device=resolve_device(args.device), progress=not args.no_progress)
    data = data_spec_from_args(args, resolution=run_.resolution) if args.data else None
    doc = run_attfind(run_, args.out, cfg, data=data, progress=not args.no_progress,
                      command=args.command_line)
    print(f"{len(doc['attributes'])} attributes over {doc['num_style_coords']} style coordinates "
          f"({doc['num_images']} {doc['source']} latents): {args.out}/attributes.json")
    for a in doc["attributes"][:10]:
        print(f"  #{a['rank']:2d} {a['layer_name']:>10s} ch {a['channel']:4d} -> {a['direction']} "
              f"(towards {a['target_class']}) score {a['score']:.3f}")
    return 0
