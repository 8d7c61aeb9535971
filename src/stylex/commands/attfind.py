"""``stylex attfind``: find the StyleSpace attributes that drive the classifier (+ Wu et al. and random)."""

from __future__ import annotations

from . import add_parser, defaults_from
from .common import add_data_arguments, data_spec_from_args


def register(subparsers) -> None:
    p = add_parser(subparsers, "attfind", "run AttFind (and the Wu et al. / random baselines) on a trained run",
                   "Compute the effect of moving every StyleSpace coordinate to its min/max on the classifier "
                   "(batched, resumable), select the top attributes per class as the authors' AttFind does, and "
                   "rank the Wu et al. and random baselines on the same latents. Writes OUT/attributes.json "
                   "and OUT/effects.npz.")
    d = defaults_from("stylex.explain.pipeline:AttFindConfig")
    p.add_argument("--run", required=True, help="run directory from `stylex train`")
    p.add_argument("--out", required=True, help="output folder")
    add_data_arguments(p, required=False)
    p.add_argument("--num-images", type=int, default=d("num_images"), help="latents to search over (N)")
    p.add_argument("--source", default=d("source"), choices=["encoded", "random"],
                   help="encoded train images (StylEx) or mapping-path samples (plain StyleGAN2 style)")
    p.add_argument("--num-attributes", type=int, default=defaults_from("stylex.explain.selection:SelectionConfig")(
        "num_attributes"), help="greedy picks per target class; with two classes the two lists are merged into "
        "one list of moves towards the first class (duplicates dropped), so it holds up to twice this many")
    p.add_argument("--effect-threshold", type=float, help="default 0.2 (two classes) / 0.1 (one-vs-all)")
    p.add_argument("--batch-size", type=int, default=d("batch_size"), help="edits per generator call")
    p.add_argument("--precision", default=d("precision"), choices=["fp32", "bf16"],
                   help="bf16 autocast (GPU or CPU)")
    p.add_argument("--discriminator-filter", action="store_true",
                   help="drop attributes whose factor-2 edit the discriminator finds unrealistic")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--screen", type=int, default=d("screen"), metavar="M",
                      help="gradient screening: rank every (direction, coordinate) by a first-order estimate from "
                           "one backward pass per image and class, measure only the top M per class (plus those "
                           "within --screen-margin of the M-th); 0 = exhaustive")
    mode.add_argument("--exact", action="store_true", help="exhaustive search (the default; same as --screen 0)")
    p.add_argument("--screen-margin", type=float, default=d("screen_margin"),
                   help="with --screen: also measure columns scoring at least (1 - margin) x the M-th")
    p.add_argument("--verify", action="store_true",
                   help="with --screen: also run the exhaustive search and record the agreement (top-10 overlap, "
                        "rank correlation, flip rate of both lists) in attributes.json")
    p.add_argument("--verify-images", type=int, default=d("verify_images"),
                   help="held-out images for --verify's flip rates")
    p.add_argument("--seed", type=int, default=d("seed"))
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=execute)


def execute(args) -> int:
    from ..explain.pipeline import AttFindConfig, find_attributes
    from ..explain.selection import SelectionConfig
    from ..device import resolve_device
    from ..paths import check_output_dir
    from ..trained_run import load_run

    cfg = AttFindConfig(num_images=args.num_images, source=args.source, batch_size=args.batch_size,
                        precision=args.precision, seed=args.seed, discriminator_filter=args.discriminator_filter,
                        screen=0 if args.exact else args.screen, screen_margin=args.screen_margin,
                        verify=args.verify, verify_images=args.verify_images,
                        selection=SelectionConfig(num_attributes=args.num_attributes,
                                                  effect_threshold=args.effect_threshold)).validate()
    check_output_dir(args.out)
    run = load_run(args.run, device=resolve_device(args.device), progress=not args.no_progress)
    data = data_spec_from_args(args, resolution=run.resolution) if args.data else None
    doc = find_attributes(run, args.out, cfg, data=data, progress=not args.no_progress,
                          command=args.command_line)
    names = doc["class_names"]
    merged = len(names) == 2 and cfg.selection.merge_two_class
    kind = (f"one merged list (up to {cfg.selection.num_attributes} picks per class, each written as a move towards "
            f"'{names[0]}': a move towards '{names[1]}' is its reverse)" if merged else
            f"up to {cfg.selection.num_attributes} per target class")
    print(f"{len(doc['attributes'])} attributes, {kind}, over {doc['num_style_coords']} style coordinates "
          f"({doc['num_images']} {doc['source']} latents): {args.out}/attributes.json")
    scr = doc["screening"]
    if scr["mode"] == "screened":
        print(f"screening: top {scr['top_m']} per class -> {scr['measured_coords']} of {scr['num_style_coords']} "
              "coordinates measured exactly")
    if "verify" in scr:
        v = scr["verify"]
        print(f"verify: top-{v['k']} overlap with the exhaustive search {v['top_k_overlap']}, flip rate screened "
              f"{v['flip_rate']['screened']} / exhaustive {v['flip_rate']['exhaustive']}")
    shown = doc["attributes"][:10]
    if len(doc["attributes"]) > len(shown):
        print(f"the first {len(shown)} of {len(doc['attributes'])}:")
    for a in shown:
        print(f"  #{a['rank']:2d} {a['layer_name']:>10s} ch {a['channel']:4d} -> {a['direction']} "
              f"(towards {a['target_class']}) score {a['score']:.3f}")
    return 0
