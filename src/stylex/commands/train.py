"""``stylex train``: train StylEx (generator + encoder + conditional discriminator) for a classifier."""

from __future__ import annotations

from . import Default, PresetDefault, add_parser
from .common import add_data_arguments, data_spec_from_args


def register(subparsers) -> None:
    p = add_parser(subparsers, "train", "train StylEx to explain a classifier",
                   "Train a StyleGAN2 generator conditioned on an encoder code and the classifier's class "
                   "probabilities, with encoder and conditional discriminator. Works on one CPU, one GPU, "
                   "or many GPUs with torchrun (same command).")
    add_data_arguments(p, required=False)
    p.add_argument("--classifier", help="classifier.pt from `stylex train-classifier` (not needed with --resume)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--preset", default=Default("stylex.training.config:TrainConfig", "preset"), choices=["tiny", "cpu", "paper64", "paper256"],
                   help="starting configuration; the options below override it")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--resume-from", metavar="CHECKPOINT",
                   help="continue from this checkpoint of the run in --out instead (implies --resume): "
                        "checkpoint.prev.pt, the one before the newest, when checkpoint.pt is damaged")
    p.add_argument("--kimg", type=float,
                   help="length in thousands of images (with --resume: the run's own, so pass it only to extend "
                        "the run)")
    p.add_argument("--batch", type=int, dest="batch_size", help="images per step over all processes")
    p.add_argument("--batch-gpu", type=int, help="images per forward pass and process (gradient accumulation)")
    p.add_argument("--resolution", type=int, help="image size (power of two, 32..256)")
    p.add_argument("--lr", type=float, help="learning rate of G, E and D")
    p.add_argument("--paths", choices=["alternate", "encoder"],
                   help="alternate encoder and mapping paths (the authors' scheme) or encoder path only")
    p.add_argument("--mapping-every", type=int, help="with --paths alternate: every N-th step is a mapping step")
    p.add_argument("--lpips-weight", type=float, help="weight of LPIPS(x, x') (0 turns the term off)")
    p.add_argument("--l1-weight", type=float, help="weight of L1(x, x') on the encoder path")
    p.add_argument("--adv-weight", type=float, help="weight of the generator's adversarial terms")
    p.add_argument("--kl-weight", type=float, help="weight of the classifier-KL terms (both paths)")
    p.add_argument("--rec-adv-scale", type=float,
                   help="the encoder path's adversarial weight relative to --adv-weight (the mapping path's is 1)")
    p.add_argument("--rec-kl-scale", type=float,
                   help="the encoder path's classifier-KL weight relative to --kl-weight")
    p.add_argument("--warmup-kimg", type=float,
                   help="encoder warm-up: the first N kimg train E and G on the reconstruction terms only")
    p.add_argument("--rampup-kimg", type=float,
                   help="after the warm-up, raise the adversarial and classifier-KL weights from 0 over N kimg")
    p.add_argument("--beta1-rec", type=float,
                   help="Adam beta1 of the encoder, and of the generator during the warm-up")
    p.add_argument("--warmup-lr", type=float,
                   help="learning rate of the generator and encoder during the warm-up (0: --lr)")
    p.add_argument("--cooldown-kimg", type=float,
                   help="encoder cool-down: the last N kimg train only the encoder, to invert the final EMA "
                        "generator (samples unchanged)")
    p.add_argument("--augment",
                   help="augmentation of what D sees: ada | fixed:P | none | auto (ada below 30k images)")
    p.add_argument("--ada-target", type=float, help="ADA's target for E[sign(D(real))]")
    p.add_argument("--fidelity-images", type=int,
                   help="held-out images whose LPIPS and identity are logged at sample ticks (0: off)")
    p.add_argument("--lpips-net", choices=["alex", "vgg"], help="LPIPS trunk of the perceptual term")
    p.add_argument("--lpips-weights", help="explicit LPIPS weight file or folder (unset: searched offline)")
    p.add_argument("--r1-gamma", type=float, help="R1 penalty weight")
    p.add_argument("--pl-weight", type=float, help="path-length regularisation weight (0 turns it off)")
    p.add_argument("--ema-kimg", type=float, help="EMA half-life in kimg")
    p.add_argument("--tick-kimg", type=float, help="kimg between progress lines / stats rows")
    p.add_argument("--snapshot-ticks", type=int, help="ticks between checkpoints")
    p.add_argument("--seed", type=int, help="seed of initialisation, data order, noise and augmentation")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"],
                   help="training arithmetic (auto: bf16 autocast on CUDA, fp32 on the CPU)")
    p.add_argument("--compile", action="store_true", default=None, help="torch.compile the networks")
    p.add_argument("--max-minutes", type=float,
                   help="stop at the first tick after this many minutes of wall time, with a checkpoint; "
                        "continue later with --resume (for machines that limit a command's time)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    for action in p._actions:                   # --help shows what each preset fills in, not "None"
        if action.default is None and action.dest in PRESET_FIELDS:
            action.default = PresetDefault(PRESET_FIELDS[action.dest])
    p.set_defaults(func=execute, option_names={a.dest: a.option_strings[0] for a in p._actions if a.option_strings})


# Options the preset fills in, by the TrainConfig attribute they set.
PRESET_FIELDS = {
    "kimg": "kimg", "batch_size": "batch_size", "batch_gpu": "batch_gpu", "resolution": "network.resolution",
    "lr": "lr_g", "paths": "paths", "mapping_every": "mapping_every", "lpips_weight": "losses.rec_lpips",
    "l1_weight": "losses.rec_l1", "adv_weight": "losses.adv", "kl_weight": "losses.cls_kl",
    "rec_adv_scale": "losses.rec_adv_scale", "rec_kl_scale": "losses.rec_kl_scale", "warmup_kimg": "warmup_kimg",
    "rampup_kimg": "rampup_kimg", "beta1_rec": "beta1_rec", "warmup_lr": "warmup_lr", "cooldown_kimg": "cooldown_kimg",
    "augment": "augment",
    "ada_target": "ada_target",
    "fidelity_images": "fidelity_images", "lpips_net": "lpips_net",
    "r1_gamma": "losses.r1_gamma", "pl_weight": "losses.pl_weight", "ema_kimg": "ema_kimg",
    "tick_kimg": "tick_kimg", "snapshot_ticks": "snapshot_ticks", "seed": "seed", "device": "device",
    "precision": "precision", "compile": "compile",
}


# What --resume may change: the run's length, this sitting's time budget, the device and the progress bar.
RESUME_OPTIONS = {"out", "resume", "resume_from", "kimg", "max_minutes", "device", "no_progress"}


def refuse_run_changes(args) -> None:
    """With --resume, name the given options that would change the run (the stored configuration is kept)."""
    from ..errors import StylexError

    changing = sorted(args.option_names[k] for k in args.explicit & set(args.option_names) - RESUME_OPTIONS)
    if changing:
        raise StylexError(f"--resume continues the run with its stored configuration, so {', '.join(changing)} "
                          "would be ignored: drop them (with --resume only --kimg, --max-minutes, --device and "
                          "--no-progress may change), or train a new run with another --out")


def execute(args) -> int:
    from ..data import DataSpec
    from ..errors import StylexError
    from ..paths import check_output_dir
    from ..training.loop import train

    args.resume = args.resume or args.resume_from is not None
    if args.resume:
        refuse_run_changes(args)     # options a resume would ignore are named first
    check_output_dir(args.out)  # before any work: a file or a read-only place fails now, not at the checkpoint
    cfg = _resumed_config(args) if args.resume else _new_config(args)   # reading config.json names any damage
    if args.data is None and not args.resume:
        raise StylexError("--data is required (a data folder, or `synthetic`)")
    if args.classifier is None and not args.resume:
        raise StylexError("--classifier is required (a classifier.pt from `stylex train-classifier`)")
    data = data_spec_from_args(args, resolution=cfg.network.resolution) if args.data else DataSpec(path=None)
    stats = train(cfg, data, args.classifier, args.out, resume=args.resume, progress=not args.no_progress,
                  command=args.command_line, max_minutes=args.max_minutes, resume_from=args.resume_from)
    print(f"run directory: {args.out}")
    if not stats:
        print("nothing to train: the run has already reached its length; raise --kimg to extend it")
    else:
        print(f"last tick: kimg {stats['kimg']:.3f}, " + ", ".join(
            f"{k}={v:.4f}" for k, v in stats.items() if k.startswith(("G_rec", "G_cls", "class_")))
        )
    return 0


def _new_config(args):
    """The configuration of a new run: the preset with the given options."""
    from ..training.config import resolve_config

    lr = args.lr
    return resolve_config(
        args.preset, kimg=args.kimg, batch_size=args.batch_size, batch_gpu=args.batch_gpu,
        resolution=args.resolution, lr_g=lr, lr_e=lr, lr_d=lr, paths=args.paths,
        mapping_every=args.mapping_every, rec_lpips_weight=args.lpips_weight, lpips_net=args.lpips_net,
        lpips_weights=args.lpips_weights, rec_l1_weight=args.l1_weight, adv_weight=args.adv_weight,
        cls_kl_weight=args.kl_weight, rec_adv_scale=args.rec_adv_scale, rec_kl_scale=args.rec_kl_scale,
        warmup_kimg=args.warmup_kimg, rampup_kimg=args.rampup_kimg, beta1_rec=args.beta1_rec, warmup_lr=args.warmup_lr,
        cooldown_kimg=args.cooldown_kimg,
        augment=args.augment, ada_target=args.ada_target,
        fidelity_images=args.fidelity_images,
        r1_gamma=args.r1_gamma, pl_weight=args.pl_weight, ema_kimg=args.ema_kimg, tick_kimg=args.tick_kimg,
        snapshot_ticks=args.snapshot_ticks, seed=args.seed, device=args.device, precision=args.precision,
        compile=args.compile,
    )


def _resumed_config(args):
    """The stored configuration of the run in --out, with the length and device given (if any)."""
    import dataclasses
    from pathlib import Path

    from ..training.config import read_run_config

    stored = read_run_config(Path(args.out)).train
    return dataclasses.replace(stored, kimg=stored.kimg if args.kimg is None else args.kimg,
                               device=stored.device if args.device is None else args.device).validate()
