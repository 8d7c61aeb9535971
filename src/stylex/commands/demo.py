"""``stylex demo``: the whole pipeline on the built-in synthetic world, ending with the report."""

from __future__ import annotations

from . import add_parser


def register(subparsers) -> None:
    p = add_parser(subparsers, "demo", "run the whole pipeline on the built-in synthetic world",
                   "Train a classifier and StylEx on the synthetic world (whose label has two known causes), run "
                   "AttFind and the evaluation, and write the HTML report. Re-running continues where it stopped.")
    p.add_argument("--out", default="demo-out", help="output folder")
    p.add_argument("--quick", action="store_true", help="a small version (about 3 minutes on 2 CPU cores)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--seed", type=int, default=0,
                   help="draws the synthetic world's images and seeds every training stage (default: 0)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=execute)


def execute(args) -> int:
    from ..demo import make_demo
    from ..paths import check_output_dir

    check_output_dir(args.out)

    s = make_demo(args.out, quick=args.quick, device=args.device, progress=not args.no_progress,
                  seed=args.seed)
    print()
    if args.quick:
        print("QUICK DEMO: a smoke test that every stage of the pipeline runs (a 0.25 kimg generator); its numbers "
              "below mean nothing about the method. Run `stylex demo` for the real result.")
    print(f"classifier balanced accuracy (val): {s['classifier_val_balanced_accuracy']:.3f}")
    print("flip rate (top-10): " + ", ".join(
        f"{k} {v:.3f}" for k, v in s["flip_rate"].items() if v is not None))
    for name, gt in s["ground_truth"].items():
        print(f"ground truth, {name}: {gt['causal_fraction']:.2f} of the top-{gt['k']} attributes change a true "
              f"cause; causes covered {gt['causal_coverage']:.2f}")
    if s.get("single_coordinate"):
        print("the most one style coordinate changes each cause (the cause itself, reconstructed): " + ", ".join(
            f"{f} {c['change']:.2f} ({c['true_change']:.2f})" for f, c in s["single_coordinate"].items()))
        print("half of each cause's own change in StyleSpace lies on: " + ", ".join(
            f"{f} {c['spread']['coords_for_half']} of {c['spread']['num_coords']} coordinates"
            for f, c in s["single_coordinate"].items() if "spread" in c))
    print(f"report: {s['report']}")
    return 0
