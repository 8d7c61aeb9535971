"""``stylex evaluate``: flip rates (AttFind vs Wu vs random), reconstruction, ground-truth recovery."""

from __future__ import annotations

from . import add_parser, defaults_from
from .common import add_data_arguments, data_spec_from_args


def register(subparsers) -> None:
    p = add_parser(subparsers, "evaluate", "measure the explanations: flip rates, reconstruction, ground truth",
                   "Flip rate of the top-k attributes applied together (AttFind, Wu et al., random) on held-out "
                   "images AttFind did not use, mean +/- std over disjoint repeats; reconstruction LPIPS/L1 and "
                   "class agreement; on the synthetic world, which factor each attribute changes. "
                   "Writes OUT/metrics.json.")
    p.add_argument("--run", required=True, help="run directory from `stylex train`")
    p.add_argument("--attributes", required=True, help="output folder of `stylex attfind`")
    p.add_argument("--out", required=True, help="output folder")
    add_data_arguments(p, required=False)
    d = defaults_from("stylex.explain.pipeline:EvalConfig")
    p.add_argument("--top-k", type=int, default=d("top_k"), help="attributes applied together")
    p.add_argument("--repeats", type=int, default=d("repeats"), help="disjoint test sets")
    p.add_argument("--test-images", type=int, default=d("test_images"), help="test images over all repeats")
    p.add_argument("--recon-images", type=int, default=d("recon_images"),
                   help="held-out images for reconstruction metrics")
    p.add_argument("--identity-images", type=int, default=d("identity_images"),
                   help="M held-out images for the identity score (is the original the nearest of M to its "
                        "reconstruction?)")
    p.add_argument("--realism-images", type=int, default=d("realism_images"),
                   help="samples and held-out reals for KID / FD in MobileNetV2-ImageNet features (0: skip)")
    p.add_argument("--seed", type=int, default=d("seed"))
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=execute)


def execute(args) -> int:
    from ..device import resolve_device
    from ..explain.pipeline import METHODS, EvalConfig, evaluate_attributes, load_attributes
    from ..paths import check_output_dir
    from ..trained_run import load_run

    cfg = EvalConfig(top_k=args.top_k, repeats=args.repeats, test_images=args.test_images,
                     recon_images=args.recon_images, identity_images=args.identity_images,
                     realism_images=args.realism_images, seed=args.seed).validate()
    check_output_dir(args.out)
    load_attributes(args.attributes)  # the small input first: a damaged file fails before any model work
    run = load_run(args.run, device=resolve_device(args.device), progress=not args.no_progress)
    data = data_spec_from_args(args, resolution=run.resolution, split="val") if args.data else None
    m = evaluate_attributes(run, args.attributes, args.out, cfg, data=data, progress=not args.no_progress,
                            command=args.command_line)
    print(f"flip rate (top-{m['top_k']}, mean +/- std over {cfg.repeats} disjoint sets):")
    for name in METHODS:
        fr = m["flip_rate"].get(name)
        if fr:
            print(f"  {name:8s} {fr['mean']:.3f} +/- {fr['std']:.3f}  (n={fr['n_images']})")
        else:
            print(f"  {name:8s} -  (no {name} attributes in {args.attributes}/attributes.json; for Wu et al. this "
                  "means fewer than 2 AttFind images had p > 0.9 for a class: use more --num-images)")
    r = m["reconstruction"]
    print(f"reconstruction: LPIPS {_fmt(r['lpips'])}, L1 {r['l1']:.3f}, class agreement {r['class_agreement']:.3f} "
          f"(balanced over classes: {_fmt(r.get('balanced_agreement'))})")
    if r.get("identity_top1") is not None:
        print(f"identity: the original is the nearest of {r['identity_images']} to its reconstruction for "
              f"{r['identity_top1']:.2f} of them (top-5: {r['identity_top5']:.2f}; chance {r['identity_chance']:.2f})")
    real = m.get("realism") or {}
    if "kid" in real:
        print(f"realism ({real['feature_space']}): samples vs held-out reals KID {real['kid']:.4f} "
              f"+/- {real['kid_std']:.4f}, FD {real['fd']:.2f}; reconstructions vs originals KID "
              f"{_fmt(real.get('kid_reconstructions'), 4)}, FD {_fmt(real.get('fd_reconstructions'), 2)}")
    if r.get("accuracy_orig") is not None:
        print(f"classifier accuracy on the held-out originals {r['accuracy_orig']:.3f}, "
              f"on their reconstructions {_fmt(r.get('accuracy_recon'))}")
    gt = m.get("ground_truth")
    if gt:
        for name in METHODS:
            if name in gt:
                s = gt[name]
                print(f"ground truth {name:8s}: causal fraction {s['causal_fraction']:.2f}, "
                      f"causal coverage {s['causal_coverage']:.2f}, main factors {s['main_factors']}")
    print(f"metrics: {args.out}/metrics.json")
    return 0


def _fmt(v, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"
