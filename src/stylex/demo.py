"""The whole pipeline on the built-in synthetic world, with no other input (``stylex demo``).

Stages (each skipped when its output already exists, so an interrupted demo continues):
  1. train a MobileNetV2 classifier on the synthetic world (label = warm object AND marked);
  2. train StylEx for it (``cpu`` preset, 32 px);
  3. AttFind + the Wu et al. and random baselines;
  4. evaluate: flip rates, reconstruction, ground-truth recovery of the known causes;
  5. the HTML report.

``DIR/metrics.json`` is the evaluation's metrics file; the report is ``DIR/report/index.html``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import StylexError


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of each stage; :data:`FULL` and :data:`QUICK` are the two settings."""

    synthetic_size: int = 4000      # images in the synthetic world (90% train, 10% val)
    clf_epochs: int = 3
    clf_width: float = 0.5          # MobileNetV2 width (trained from scratch: the world is not ImageNet)
    clf_noise_std: float = 0.2      # robustness augmentation of the classifier (`train-classifier --noise-std`)
    clf_blur_prob: float = 0.5      # (`train-classifier --blur-prob`)
    stylex_preset: str = "cpu"
    stylex_kimg: float = 30.0
    # The cpu recipe fitted to the demo's budget: 15 kimg of reconstruction first (warm-up at learning rate
    # 0.005 with Adam momentum: held-out identity 0.9), then the adversarial and KL terms ramped in at the GAN's
    # 0.002, the encoder path's adversarial and KL weights at 0.1; no augmentation (BENCHMARKS.md, "Demo").
    warmup_kimg: float = 15.0
    rampup_kimg: float = 3.0
    beta1_rec: float = 0.9
    warmup_lr: float = 0.005
    lr: float = 0.002               # the GAN phase's (G, E and D); the `cpu` preset's longer runs use 0.001
    cooldown_kimg: float = 0.0      # no encoder cool-down (the demo's numbers in BENCHMARKS.md were measured without)
    rec_l1: float = 1.0
    rec_lpips: float = 1.0
    rec_adv_scale: float = 0.1
    rec_kl_scale: float = 0.1
    augment: str = "none"
    attfind_images: int = 64
    test_images: int = 100          # held-out images for the flip rate (all repeats together)
    repeats: int = 5
    recon_images: int = 100
    realism_images: int = 200       # samples and held-out reals for KID / FD (0: none)
    probe_images: int = 4000
    probe_epochs: int = 6
    report_attributes: int = 6
    seed: int = 0                   # draws the world's images and seeds every training stage (`stylex demo --seed`)


FULL = DemoConfig()
QUICK = DemoConfig(synthetic_size=1000, clf_epochs=2, stylex_preset="tiny", stylex_kimg=0.25, warmup_kimg=0.0,
                   rampup_kimg=0.0, attfind_images=12,
                   test_images=20, repeats=2, recon_images=16, realism_images=0, probe_images=800, probe_epochs=2,
                   report_attributes=3)


def make_demo(out_dir: str | Path, quick: bool = False, device: str = "auto", progress: bool = True,
              seed: int = 0) -> dict[str, Any]:
    """Run every stage of the demo and return a summary (paths, timings, key numbers).

    Args:
        out_dir: the demo folder (created; re-running continues where it stopped).
        quick: the small setting (a few minutes on 2 CPU cores) used by the tests.
        device: auto | cpu | cuda.
        progress: progress bars and stage lines.
        seed: draws the synthetic world's images and seeds the classifier's and StylEx's training.
    """
    from .data import DataSpec
    from .explain.pipeline import AttFindConfig, EvalConfig, find_attributes, evaluate_attributes
    from .report.build import build_report
    from .trained_run import load_run
    from .training.config import resolve_config
    from .device import resolve_device
    from .training.loop import train

    cfg = dataclasses.replace(QUICK if quick else FULL, seed=seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = str(resolve_device(device))  # configs take the name ("cpu", "cuda:0")
    data = DataSpec(path=None, format="synthetic", resolution=32, synthetic_size=cfg.synthetic_size,
                    synthetic_seed=cfg.seed)
    timings: dict[str, float] = {}
    say = print if progress else (lambda *a, **k: None)
    paths = {k: out / k for k in ("classifier", "run", "attfind", "eval", "report")}

    def stage(name: str, done: bool, fn) -> None:
        if done:
            say(f"[demo] {name}: already done, skipped")
            return
        say(f"[demo] {name} ...")
        t = time.time()
        fn()
        timings[name] = round(time.time() - t, 1)
        say(f"[demo] {name}: {timings[name]:.0f} s")

    clf_file = paths["classifier"] / "classifier.pt"
    stage("classifier", (paths["classifier"] / "metrics.json").is_file(),
          lambda: _train_classifier(cfg, data, paths["classifier"], device, progress))
    overrides = _stylex_overrides(cfg)
    tcfg = resolve_config(cfg.stylex_preset, device=device, **{k: v for k, (_, v) in overrides.items()})
    run_done = (paths["run"] / "stats.jsonl").is_file() and _trained_kimg(paths["run"]) >= tcfg.kimg - 1e-9
    stage("StylEx training", run_done, lambda: train(
        tcfg, data, clf_file, paths["run"], resume=(paths["run"] / "checkpoint.pt").is_file(), progress=progress,
        command=["stylex", "train", "--data", "synthetic", "--synthetic-size", str(cfg.synthetic_size),
                 "--synthetic-seed", str(cfg.seed), "--classifier", str(clf_file), "--out", str(paths["run"]),
                 "--preset", cfg.stylex_preset, *[x for flag, v in dict(overrides.values()).items()
                                                  for x in (flag, str(v))]]))
    run = load_run(paths["run"], device=device, progress=progress)
    stage("AttFind", (paths["attfind"] / "attributes.json").is_file(), lambda: find_attributes(
        run, paths["attfind"], AttFindConfig(num_images=cfg.attfind_images), progress=progress,
        command=["stylex", "attfind", "--run", str(paths["run"]), "--out", str(paths["attfind"]),
                 "--num-images", str(cfg.attfind_images)]))
    ecfg = EvalConfig(test_images=cfg.test_images, repeats=cfg.repeats, recon_images=cfg.recon_images,
                      identity_images=min(100, cfg.recon_images), realism_images=cfg.realism_images,
                      probe_images=cfg.probe_images, probe_epochs=cfg.probe_epochs)
    stage("evaluation", (paths["eval"] / "metrics.json").is_file(), lambda: evaluate_attributes(
        run, paths["attfind"], paths["eval"], ecfg, progress=progress,
        command=["stylex", "evaluate", "--run", str(paths["run"]), "--attributes", str(paths["attfind"]),
                 "--out", str(paths["eval"]), "--test-images", str(cfg.test_images), "--repeats", str(cfg.repeats),
                 "--recon-images", str(cfg.recon_images), "--realism-images", str(cfg.realism_images)]))
    shutil.copyfile(paths["eval"] / "metrics.json", out / "metrics.json")
    index = paths["report"] / "index.html"
    stage("report", False, lambda: build_report(paths["run"], paths["attfind"], paths["eval"], paths["report"],
                                                num_attributes=cfg.report_attributes, device=device,
                                                progress=progress))
    summary = _summary(out, index, paths["classifier"], cfg, quick, timings)
    (out / "demo_summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _train_classifier(cfg: DemoConfig, data, folder: Path, device: str, progress: bool) -> None:
    """The demo's classifier: a half-width MobileNetV2 trained from scratch on the synthetic world."""
    from .training.classifier import ClassifierTrainConfig, train_classifier

    train_classifier(
        ClassifierTrainConfig(data=data, out_dir=str(folder), resolution=32, epochs=cfg.clf_epochs,
                              width_mult=cfg.clf_width, pretrained="none", lr=3e-3, device=device, seed=cfg.seed,
                              noise_std=cfg.clf_noise_std, blur_prob=cfg.clf_blur_prob),
        progress=progress,
        command=["stylex", "train-classifier", "--data", "synthetic", "--synthetic-size", str(cfg.synthetic_size),
                 "--synthetic-seed", str(cfg.seed), "--out", str(folder), "--resolution", "32", "--epochs",
                 str(cfg.clf_epochs), "--width-mult", str(cfg.clf_width), "--pretrained", "none", "--lr", "0.003",
                 "--seed", str(cfg.seed), "--noise-std", str(cfg.clf_noise_std), "--blur-prob",
                 str(cfg.clf_blur_prob)])


def _stylex_overrides(cfg: DemoConfig) -> dict[str, tuple[str, Any]]:
    """The demo's StylEx options over its preset: ``resolve_config`` keyword -> (``stylex train`` option, value)."""
    return {"kimg": ("--kimg", cfg.stylex_kimg), "warmup_kimg": ("--warmup-kimg", cfg.warmup_kimg),
            "rampup_kimg": ("--rampup-kimg", cfg.rampup_kimg), "beta1_rec": ("--beta1-rec", cfg.beta1_rec),
            "warmup_lr": ("--warmup-lr", cfg.warmup_lr), "lr_g": ("--lr", cfg.lr), "lr_e": ("--lr", cfg.lr),
            "lr_d": ("--lr", cfg.lr), "cooldown_kimg": ("--cooldown-kimg", cfg.cooldown_kimg),
            "rec_l1": ("--l1-weight", cfg.rec_l1), "rec_lpips": ("--lpips-weight", cfg.rec_lpips),
            "rec_adv_scale": ("--rec-adv-scale", cfg.rec_adv_scale),
            "rec_kl_scale": ("--rec-kl-scale", cfg.rec_kl_scale),
            "augment": ("--augment", cfg.augment), "seed": ("--seed", cfg.seed)}


def _summary(out: Path, index: Path, classifier_dir: Path, cfg: DemoConfig, quick: bool,
             timings: dict[str, float]) -> dict[str, Any]:
    """``demo_summary.json``: paths, timings and the key numbers of the finished demo."""
    metrics = json.loads((out / "metrics.json").read_text())
    return {"report": str(index), "metrics": str(out / "metrics.json"), "timings_s": timings,
            "config": dataclasses.asdict(cfg), "quick": quick,
            "classifier_val_balanced_accuracy": json.loads(
                (classifier_dir / "metrics.json").read_text()).get("val_balanced_accuracy"),
            "flip_rate": {k: (v or {}).get("mean") for k, v in metrics["flip_rate"].items()},
            "ground_truth": {k: metrics["ground_truth"][k] for k in ("attfind", "wu", "random")
                             if k in metrics.get("ground_truth", {})},
            "single_coordinate": metrics.get("ground_truth", {}).get("single_coordinate", {}),
            "trust": metrics.get("trust", [])}


def _trained_kimg(run_dir: Path) -> float:
    lines = (run_dir / "stats.jsonl").read_text().splitlines()
    if not lines:
        return 0.0
    try:
        return float(json.loads(lines[-1])["kimg"])
    except (ValueError, KeyError) as exc:
        raise StylexError(f"{run_dir / 'stats.jsonl'} is damaged ({exc}); delete {run_dir} to retrain") from None
