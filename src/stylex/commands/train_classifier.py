"""``stylex train-classifier``: train the MobileNetV2 classifier that StylEx will explain."""

from __future__ import annotations

from . import add_parser, defaults_from
from .common import add_data_arguments, data_spec_from_args


def register(subparsers) -> None:
    p = add_parser(subparsers, "train-classifier", "train the classifier to explain (MobileNetV2)",
                   "Train a MobileNetV2 classifier on labelled images (ImageNet weights when available). "
                   "Writes OUT/classifier.pt (best epoch by balanced validation accuracy) and OUT/metrics.json.")
    d = defaults_from("stylex.training.classifier:ClassifierTrainConfig")
    add_data_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resolution", type=int, default=d("resolution"),
                   help="image size; use the resolution the StylEx generator will have")
    p.add_argument("--epochs", type=int, default=d("epochs"))
    p.add_argument("--batch-size", type=int, default=d("batch_size"))
    p.add_argument("--lr", type=float, default=d("lr"), help="peak learning rate (linear warmup, cosine decay)")
    p.add_argument("--optimizer", default=d("optimizer"), choices=["adamw", "sgd"])
    p.add_argument("--weight-decay", type=float, default=d("weight_decay"))
    p.add_argument("--max-images", type=int, help="train on a deterministic random subset of this many images")
    p.add_argument("--pretrained", default=d("pretrained"),
                   help="auto (ImageNet weights if found, else from scratch) | none | path to mobilenet_v2-*.pth")
    p.add_argument("--width-mult", type=float, default=d("width_mult"), help="MobileNetV2 width (ImageNet weights need 1.0)")
    p.add_argument("--input-size", type=int,
                   help="resize images to this size inside the classifier (default: train at --resolution)")
    p.add_argument("--stem-stride", choices=["auto", "1", "2"], default="auto",
                   help="first conv stride: 1 keeps detail in small images; auto = 1 below 96 px, else 2")
    p.add_argument("--balance", default=d("balance"), choices=["none", "sampler", "loss"],
                   help="counter class imbalance by resampling or by loss weights")
    p.add_argument("--no-flip", action="store_true", help="no random horizontal flips (e.g. for text or maps)")
    p.add_argument("--noise-std", type=float, default=d("noise_std"),
                   help="robustness: Gaussian pixel noise on training images, std drawn per image from [0, this] "
                        "(images in [-1, 1]); makes the classifier less sensitive to changes a person cannot see")
    p.add_argument("--blur-prob", type=float, default=d("blur_prob"),
                   help="robustness: probability of a 3x3 blur of each training image")
    p.add_argument("--device", default=d("device"), help="auto | cpu | cuda | cuda:N")
    p.add_argument("--workers", type=int, default=d("num_workers"), help="data loader worker processes")
    p.add_argument("--seed", type=int, default=d("seed"))
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=execute)


def execute(args) -> int:
    from ..paths import check_output_dir
    from ..training.classifier import ClassifierTrainConfig, train_classifier

    check_output_dir(args.out)  # before training, so that a bad --out never costs the trained model

    stem = {"auto": None, "1": True, "2": False}[args.stem_stride]
    cfg = ClassifierTrainConfig(
        data=data_spec_from_args(args, resolution=args.resolution), out_dir=args.out,
        resolution=args.resolution, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, weight_decay=args.weight_decay, max_images=args.max_images,
        pretrained=args.pretrained, width_mult=args.width_mult, input_size=args.input_size,
        small_input_stride=stem, balance=args.balance, hflip=not args.no_flip, seed=args.seed,
        noise_std=args.noise_std, blur_prob=args.blur_prob,
        num_workers=args.workers, device=args.device,
    ).validate()
    m = train_classifier(cfg, progress=not args.no_progress, command=args.command_line)
    print(f"classes: {', '.join(m['class_names'])} ({m['num_train']} train / {m['num_val']} val images)")
    print(f"pretrained: {m['pretrained'] or 'none (trained from scratch)'}")
    print(f"best epoch {m['best_epoch']}: val accuracy {m['val_accuracy']:.4f}, "
          f"balanced {m['val_balanced_accuracy']:.4f}, per class "
          + ", ".join(f"{n}={a:.3f}" if a is not None else f"{n}=n/a"
                      for n, a in zip(m["class_names"], m["val_per_class_accuracy"])))
    print(f"train time: {m['train_time_s']:.1f} s")
    print(f"checkpoint: {m['checkpoint']}")
    return 0
