"""``stylex report``: the self-contained HTML report of a run (figures, GIFs, flip rates, ground truth).

    stylex report --run DIR [--attfind DIR2] [--eval DIR3] --out DIR4 [--attributes 6]
                  [--images-per-attribute 4] [--device auto]
"""

from __future__ import annotations

from . import add_parser, defaults_from


def register(subparsers) -> None:
    p = add_parser(subparsers, "report", "write the HTML report of a run (figures, animations, metrics)",
                   "Draw reconstructions, the top AttFind attributes (panels and GIFs), image-specific "
                   "counterfactuals, flip rates and ground-truth scores into OUT/index.html, which opens from disk "
                   "without a server. The per-image GIFs are also written to ATTFIND/gifs/ for `stylex user-study`. "
                   "--attfind and --eval are optional; missing sections name the command that produces them.")
    p.add_argument("--run", required=True, help="StylEx run directory (from `stylex train`)")
    p.add_argument("--attfind", help="AttFind output folder (attributes.json, effects.npz from `stylex attfind`)")
    p.add_argument("--eval", dest="eval_dir", help="evaluation folder (metrics.json from `stylex evaluate`)")
    p.add_argument("--out", required=True, help="report folder to write (index.html, figures/, assets/)")
    d = defaults_from("stylex.report.build:build_report")
    p.add_argument("--attributes", type=int, default=d("num_attributes"), help="top attributes to draw")
    p.add_argument("--images-per-attribute", type=int, default=d("images_per_attribute"),
                   help="images per attribute panel (and GIFs)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--seed", type=int, default=d("seed"), help="seed of the reconstructed-image selection")
    p.add_argument("--no-progress", action="store_true", help="do not log the steps")
    p.set_defaults(func=execute)


def execute(args) -> int:
    from ..paths import check_output_dir
    from ..report.build import build_report

    check_output_dir(args.out)

    index = build_report(args.run, attfind_dir=args.attfind, eval_dir=args.eval_dir, out_dir=args.out,
                         num_attributes=args.attributes, images_per_attribute=args.images_per_attribute,
                         device=args.device, seed=args.seed, progress=not args.no_progress)
    print(index)
    return 0
