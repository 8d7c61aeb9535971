"""AttFind and evaluation on a trained run: what ``stylex attfind`` and ``stylex evaluate`` do.

``find_attributes`` chooses the latents (encoded images of the train split, or mapping-path samples),
computes the effects (batched, resumable), selects AttFind's attributes and the Wu et al. and random
baselines on the same latents, and writes ``attributes.json`` and ``effects.npz``.

``evaluate_attributes`` measures, on images AttFind did not use (the val split, or fresh random latents),
the flip rate of the three attribute lists (mean +/- std over disjoint repeats), reconstruction
quality, and on the synthetic world the ground-truth recovery scores; it writes ``metrics.json``.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..atomic import write_json
from ..data.tensors import images_to_tensor
from ..errors import StylexError
from ..models.lpips import LPIPS, lpips_available, upsample_for_lpips
from ..training.fidelity import heldout_order, identity_scores
from .attfind import compute_effects, load_effects, save_effects
from .baselines import random_attributes, wu_attributes
from .edits import edit_offsets
from .metrics import flip_rate_repeats, reconstruction_metrics
from .realism import FEATURE_SPACE, ImageNetFeatures, realism_metrics
from .screening import DEFAULT_MARGIN, screened_effects, verify
from .selection import (DIRECTION_NAMES, Attribute, SelectionConfig, attribute_from_dict, attribute_to_dict,
                        select_attributes)

METHODS = ("attfind", "wu", "random")
# Seed offset of the evaluation's random latents: far from any seed AttFind uses.
EVAL_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class AttFindConfig:
    """Options of ``stylex attfind``."""

    num_images: int = 250                 # N latents (the authors used 250 encoded images)
    source: str = "encoded"               # encoded (train-split images through E) | random (mapping path)
    batch_size: int = 256                 # edits per generator call
    precision: str = "fp32"               # fp32 | bf16 (autocast, CUDA or CPU)
    seed: int = 0                         # which images / latents
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    discriminator_filter: bool = False    # reject attributes whose edit the discriminator finds unrealistic
    disc_threshold: float = 0.2           # max mean |change| of D's output under a factor-2 shift
    disc_images: int = 10                 # images per attribute for that check
    screen: int = 0                       # 0: exhaustive; M > 0: gradient screening, top M columns per class
    screen_margin: float = DEFAULT_MARGIN  # also measure columns within this relative margin of the M-th
    verify: bool = False                  # with screen: also run the exhaustive search and compare
    verify_images: int = 100              # held-out images for the verification's flip rates

    def validate(self) -> "AttFindConfig":
        if self.num_images < 2:
            raise StylexError(f"--num-images {self.num_images}: AttFind needs at least 2 images")
        if self.source not in ("encoded", "random"):
            raise StylexError(f"--source {self.source!r}: use 'encoded' or 'random'")
        if self.precision not in ("fp32", "bf16"):
            raise StylexError(f"--precision {self.precision!r}: use fp32 or bf16")
        if self.batch_size < 1:
            raise StylexError(f"--batch-size {self.batch_size}: use 1 or more")
        if self.screen < 0 or not 0 <= self.screen_margin < 1:
            raise StylexError(f"--screen {self.screen} / --screen-margin {self.screen_margin}: use M >= 0 "
                              "(0 = exhaustive) and a margin in [0, 1)")
        if self.verify and (self.screen == 0 or self.verify_images < 1):
            raise StylexError("--verify compares screening with the exhaustive search: give --screen M (M >= 1) "
                              "and --verify-images >= 1")
        self.selection.validate()
        return self


@dataclass(frozen=True)
class EvalConfig:
    """Options of ``stylex evaluate``."""

    top_k: int = 10                 # attributes applied together for the flip rate
    repeats: int = 5                # disjoint test sets
    test_images: int = 250          # test images over all repeats (disjoint from AttFind's)
    recon_images: int = 200         # held-out images for the reconstruction metrics
    identity_images: int = 100      # M: identity = is the original the nearest (LPIPS) of M originals to its reconstruction
    realism_images: int = 500       # mapping-path samples and held-out reals for KID / FD (0: no realism block)
    batch_size: int = 32
    ground_truth_k: int = 10        # top attributes scored on the synthetic world
    ground_truth_images: int = 64   # images per attribute for the factor probe
    ceiling_images: int = 32        # images on which every single coordinate is edited (the ceiling)
    probe_images: int = 6000        # rendered images to train the factor probe on
    probe_epochs: int = 8
    seed: int = 0

    def validate(self) -> "EvalConfig":
        for name in ("top_k", "repeats", "test_images", "recon_images", "batch_size", "ground_truth_k",
                     "ground_truth_images", "probe_images", "probe_epochs", "ceiling_images"):
            if getattr(self, name) < 1:
                raise StylexError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.identity_images < 2 or self.realism_images < 0 or self.realism_images == 1:
            raise StylexError("--identity-images must be >= 2 and --realism-images 0 (off) or >= 2")
        if self.repeats > self.test_images:
            raise StylexError(f"--repeats {self.repeats} is more than --test-images {self.test_images}")
        return self


# ---------------------------------------------------------------------------- latents
def attfind_latents(run, cfg: AttFindConfig, data=None) -> tuple[torch.Tensor, np.ndarray]:
    """The N latents AttFind works on, and their ids (image index in the train split, or sample seed)."""
    if cfg.source == "random":
        return run.sample_latents(cfg.num_images, seed=cfg.seed, class_probs=_random_class_probs(run, cfg.num_images,
                                                                                                 cfg.seed)), \
            np.arange(cfg.num_images, dtype=np.int64)
    ds = run.dataset("train", data)
    if len(ds) < cfg.num_images:
        raise StylexError(f"--num-images {cfg.num_images}: the train split has only {len(ds)} images")
    ids = np.sort(np.random.default_rng(cfg.seed).permutation(len(ds))[:cfg.num_images])
    return _encode_ids(run, ds, ids), ids


def _random_class_probs(run, n: int, seed: int) -> torch.Tensor:
    """Class vectors for mapping-path latents: the classifier's outputs on real train images."""
    ds = run.dataset("train")
    ids = np.sort(np.random.default_rng(seed + 1).permutation(len(ds))[:n])
    if len(ids) < n:
        ids = np.resize(ids, n)
    probs = []
    for start in range(0, n, 64):
        x = _images(ds, ids[start:start + 64], run.device)
        probs.append(F.softmax(run.classify(x), 1).cpu())
    return torch.cat(probs)


def _images(ds, ids: np.ndarray, device) -> torch.Tensor:
    return images_to_tensor(ds.uint8_images()[np.sort(ids)], device)


def _encode_ids(run, ds, ids: np.ndarray, batch: int = 64) -> torch.Tensor:
    out = [run.encode(_images(ds, ids[s:s + batch], run.device)).cpu() for s in range(0, len(ids), batch)]
    return torch.cat(out)


# ---------------------------------------------------------------------------- attfind
def find_attributes(run, out_dir: str | Path, cfg: AttFindConfig = AttFindConfig(), data=None,
                    progress: bool = True, command: Sequence[str] | None = None) -> dict[str, Any]:
    """AttFind + baselines on a loaded run; writes ``attributes.json`` and ``effects.npz``.

    The effects computation is resumable: finished chunks are kept in ``out_dir/chunks`` and an
    interrupted run continues where it stopped.

    Returns:
        The ``attributes.json`` document.
    """
    cfg.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    latents, ids = attfind_latents(run, cfg, data)
    dtype = torch.bfloat16 if cfg.precision == "bf16" else None
    kw = dict(batch_size=cfg.batch_size, device=run.device, dtype=dtype, progress=progress, image_ids=ids)
    t0, info = time.perf_counter(), None
    if cfg.screen:
        res, info = screened_effects(run.G, run.classifier, latents, cfg.screen, margin=cfg.screen_margin,
                                     selection=cfg.selection, chunk_dir=out / "chunks-screen", **kw)
        screening = info.as_dict()
    else:
        res, screening = compute_effects(run.G, run.classifier, latents, chunk_dir=out / "chunks", **kw), \
            {"mode": "exhaustive", "top_m": 0}
    screening["effects_seconds"] = round(time.perf_counter() - t0, 2)
    save_effects(out / "effects.npz", res)
    K = res.base_logits.shape[1]
    attfind = select_attributes(res.effects, res.base_logits, cfg.selection)
    if cfg.verify:
        screening["verify"] = _verify(run, cfg, latents, attfind, info, out, kw)
    if cfg.discriminator_filter:
        attfind = discriminator_filter(run, res, attfind, cfg)
    probs = _softmax_np(res.base_logits)
    wu = wu_attributes(res.styles, probs, num_attributes=cfg.selection.num_attributes,
                       merge_two_class=cfg.selection.merge_two_class)
    rnd = random_attributes(run.layout.num_coords, K, max(1, len(attfind)), seed=cfg.seed,
                            merge_two_class=cfg.selection.merge_two_class)

    def records(attrs: list[Attribute]) -> list[dict]:
        return [attribute_to_dict(a, run.layout, run.class_names) for a in attrs]

    doc = {
        "num_style_coords": run.layout.num_coords,
        "layout": run.layout.as_json(),
        "class_names": run.class_names,
        "num_images": int(len(ids)),
        "source": cfg.source,
        "image_split": "train" if cfg.source == "encoded" else None,
        "data": None if data is None else str(data.path),   # None: the run's own data set
        "config": _jsonable(dataclasses.asdict(cfg)),
        "attributes": records(attfind),
        "baselines": {"wu": records(wu), "random": records(rnd)},
        "screening": screening,
        "command": list(command) if command else None,
    }
    write_json(out / "attributes.json", doc)
    return doc


def _verify(run, cfg: AttFindConfig, latents, screened: list[Attribute], info, out: Path, kw: dict) -> dict:
    """``--verify``: the exhaustive search on the same latents (``effects_exhaustive.npz``) and its agreement
    with the screened list (before the discriminator filter), flip rates on held-out images."""
    test = evaluation_latents(run, {"source": cfg.source}, cfg.verify_images, cfg.seed)
    record, full, exact = verify(run.G, run.classifier, latents, screened, info, test, cfg.selection,
                                 chunk_dir=out / "chunks", **kw)
    save_effects(out / "effects_exhaustive.npz", full)
    record["exhaustive_attributes"] = [attribute_to_dict(a, run.layout, run.class_names) for a in exact]
    return record


def discriminator_filter(run, res, attributes: list[Attribute], cfg: AttFindConfig) -> list[Attribute]:
    """Drop attributes whose factor-2 shift changes D's output by more than ``cfg.disc_threshold``.

    For each attribute, up to ``cfg.disc_images`` images with the largest effect towards its target
    class are shifted by twice the distance to the target extreme (docs/METHOD.md section 5).
    """
    kept = []
    styles_all = torch.as_tensor(res.styles, device=run.device)
    latents = torch.as_tensor(res.latents, device=run.device)
    K = res.base_logits.shape[1]
    with torch.no_grad():
        for a in attributes:
            eff = res.effects[:, a.direction, a.index, a.target_class]
            n = np.argsort(-eff, kind="stable")[:cfg.disc_images]
            lat = latents[torch.as_tensor(n)]
            styles = run.G.styles(lat)
            flat = styles_all[torch.as_tensor(n)]
            offsets = edit_offsets(flat, [(a.index, a.direction)], res.style_min, res.style_max, shift=2.0)
            probs = lat[:, -K:]
            before = run.D(run.G.synthesize(styles), probs)
            after = run.D(run.G.synthesize(styles, offsets), probs)
            if float((after - before).abs().mean()) <= cfg.disc_threshold:
                kept.append(a)
    return [dataclasses.replace(a, rank=i + 1) for i, a in enumerate(kept)]


# ---------------------------------------------------------------------------- evaluate
def load_attributes(attfind_dir: str | Path) -> tuple[dict[str, Any], dict[str, list[Attribute]]]:
    """Read ``attributes.json``: the document and the attribute lists per method."""
    from ..paths import read_json_object

    path = Path(attfind_dir) / "attributes.json"
    if not path.is_file():
        raise StylexError(f"{path} not found: run `stylex attfind --run RUN --out {attfind_dir}` first")
    doc = read_json_object(path, "stylex attfind")
    try:
        lists = {"attfind": [attribute_from_dict(d) for d in doc["attributes"]]}
        for name, recs in doc.get("baselines", {}).items():
            lists[name] = [attribute_from_dict(d) for d in recs]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StylexError(f"{path} is damaged (bad or missing entry: {exc!r}); rerun `stylex attfind`") from None
    return doc, lists


def cap_top_k(cfg: EvalConfig, lists: dict[str, list[Attribute]], where: str | Path) -> EvalConfig:
    """``cfg`` with ``top_k`` at most the longest attribute list, warning when it is lowered.

    A top-k beyond the list would report a "top-k" flip rate of fewer attributes, at k generator passes.
    """
    longest = max((len(v) for v in lists.values()), default=0)
    if 0 < longest < cfg.top_k:
        warnings.warn(f"--top-k {cfg.top_k} is more than the {longest} attributes of the longest list in {where}: "
                      f"using --top-k {longest} (rerun `stylex attfind` with more --num-attributes for more)")
        return dataclasses.replace(cfg, top_k=longest)
    return cfg


def evaluation_latents(run, doc: dict[str, Any], n: int, seed: int, data=None) -> torch.Tensor:
    """Test latents disjoint from AttFind's: encoded val-split images, or fresh random latents."""
    if doc.get("source") == "random":
        s = seed + EVAL_SEED_OFFSET
        return run.sample_latents(n, seed=s, class_probs=_random_class_probs(run, n, s))
    ds = run.dataset("val", data)
    if len(ds) == 0:
        raise StylexError("the val split is empty: the flip rate needs held-out images")
    ids = np.sort(np.random.default_rng(seed).permutation(len(ds))[:n])
    if len(ids) < n:
        import warnings

        warnings.warn(f"the val split has {len(ds)} images; evaluating on all of them instead of {n}")
    return _encode_ids(run, ds, ids)


def evaluate_attributes(run, attfind_dir: str | Path, out_dir: str | Path, cfg: EvalConfig = EvalConfig(),
                        data=None, lpips=None, progress: bool = True,
                        command: Sequence[str] | None = None) -> dict[str, Any]:
    """Flip rates (AttFind / Wu / random), reconstruction and ground-truth scores; writes ``metrics.json``.

    Args:
        run: a loaded :class:`stylex.trained_run.Run`.
        attfind_dir: output of :func:`find_attributes`.
        out_dir: where ``metrics.json`` goes.
        cfg: evaluation options.
        data: optional other data spec (default: the run's).
        lpips: optional LPIPS module for the reconstruction metric (default: AlexNet LPIPS if found).
        progress: print what is being measured.
        command: the command line, recorded in the file.
    """
    cfg.validate()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    doc, lists = load_attributes(attfind_dir)
    effects = load_effects(Path(attfind_dir) / "effects.npz")
    requested, cfg = cfg.top_k, cap_top_k(cfg, lists, Path(attfind_dir) / "attributes.json")
    say = print if progress else (lambda *a, **k: None)
    metrics: dict[str, Any] = {"top_k": cfg.top_k, "top_k_requested": requested, "repeats": cfg.repeats, "source": doc.get("source"),
                               "config": dataclasses.asdict(cfg), "flip_rate": {}}
    test_latents = evaluation_latents(run, doc, cfg.test_images, cfg.seed, data)
    repeats = min(cfg.repeats, len(test_latents))
    for name in METHODS:
        attrs = lists.get(name, [])
        if not attrs:
            metrics["flip_rate"][name] = None
            continue
        say(f"flip rate: {name} (top-{cfg.top_k}, {repeats} x {len(test_latents) // repeats} images)")
        summary = flip_rate_repeats(run.G, run.classifier, test_latents, attrs, cfg.top_k, effects.style_min,
                                    effects.style_max, num_repeats=repeats, batch_size=cfg.batch_size,
                                    device=run.device)
        metrics["flip_rate"][name] = summary.as_dict()
    say("reconstruction metrics (LPIPS, identity)")
    metrics["reconstruction"], pairs = _reconstruction(run, cfg, data, lpips)
    if cfg.realism_images:
        say(f"realism: KID and FD of {cfg.realism_images} samples and of the reconstructions ({FEATURE_SPACE})")
        metrics["realism"] = _realism(run, cfg, data, pairs)
    metrics["trust"] = trust_warnings(metrics["reconstruction"])
    if run.data_spec.format == "synthetic" and (data is None or data.format == "synthetic"):
        say("ground-truth recovery (synthetic world)")
        metrics["ground_truth"] = _ground_truth(run, lists, effects, cfg, test_latents)
        metrics["trust"] += ceiling_warnings(metrics["ground_truth"].get("single_coordinate", {}))
    for line in metrics["trust"]:
        warnings.warn(line, UserWarning, stacklevel=2)
    metrics["command"] = list(command) if command else None
    write_json(out / "metrics.json", metrics)
    return metrics


def _reconstruction(run, cfg: EvalConfig, data, lpips) -> tuple[dict[str, Any], tuple[torch.Tensor, torch.Tensor]]:
    """Reconstruction metrics on held-out images, and the (originals, reconstructions) they were measured on."""
    ds = run.dataset("val", data)
    # The fixed held-out order of training's fidelity rows: the identity score below (on its first
    # identity_images) is measured on the images `stylex train` logged it on.
    order = heldout_order(len(ds))
    ids = np.sort(order[:cfg.recon_images])
    if lpips is None:
        lpips = LPIPS("alex").to(run.device) if lpips_available("alex") else None
    lp = None
    if lpips is not None:
        def lpips_at_64(x, y):  # LPIPS's AlexNet taps need >= 64 px (as in training)
            return lpips(*upsample_for_lpips(x, y))

        lp = lpips_at_64
    parts: dict[str, list] = {"x": [], "r": [], "lo": [], "lr": []}
    for s in range(0, len(ids), cfg.batch_size):
        x = _images(ds, ids[s:s + cfg.batch_size], run.device)
        r = run.reconstruct(x)
        parts["x"].append(x)
        parts["r"].append(r)
        parts["lo"].append(run.classify(x))
        parts["lr"].append(run.classify(r))
    cat = {k: torch.cat(v) for k, v in parts.items()}
    same_classes = list(ds.class_names) == run.class_names
    if ds.class_names and not same_classes:
        warnings.warn(f"the evaluation data's classes ({', '.join(ds.class_names)}) are not the classifier's "
                      f"({', '.join(run.class_names)}): accuracy against the true labels is left out (--classes "
                      "selects a subset of a data set's classes)", UserWarning, stacklevel=2)
    res = reconstruction_metrics(cat["x"], cat["r"], cat["lo"], cat["lr"], lpips_fn=lp, batch_size=cfg.batch_size,
                                 labels=torch.as_tensor(ds.labels[ids]) if same_classes else None)
    res["n_images"] = int(len(ids))
    m = min(cfg.identity_images, len(ids))
    if lpips is not None and m >= 2:
        sel = torch.from_numpy(np.isin(ids, order[:m])).to(cat["r"].device)
        dist = lpips.pairwise(*upsample_for_lpips(cat["r"][sel], cat["x"][sel]), cfg.batch_size)
        res.update(identity_scores(dist, cat["lo"][sel].argmax(1).cpu().numpy(), run.num_classes))
        res["identity_images"] = m
    return res, (cat["x"], cat["r"])


def _realism(run, cfg: EvalConfig, data, pairs: tuple[torch.Tensor, torch.Tensor]) -> dict[str, Any]:
    """KID / FD of mapping-path samples against held-out reals, and of reconstructions against their originals."""
    ds = run.dataset("val", data)
    ids = np.sort(np.random.default_rng(cfg.seed + 11).permutation(len(ds))[:cfg.realism_images])
    reals, real_classes = [], []
    for s in range(0, len(ids), cfg.batch_size):
        x = _images(ds, ids[s:s + cfg.batch_size], run.device)
        reals.append(x)
        real_classes.append(run.classify(x).argmax(1).cpu())
    n = cfg.realism_images
    sample_classes = np.arange(n) % run.num_classes
    latents = run.sample_latents(n, seed=cfg.seed + EVAL_SEED_OFFSET + 17)   # one-hot classes in turn
    samples = torch.cat([run.generate(run.styles(latents[s:s + cfg.batch_size]))
                         for s in range(0, n, cfg.batch_size)])
    try:
        features = ImageNetFeatures(run.device, batch_size=cfg.batch_size)
    except StylexError as e:
        warnings.warn(f"realism metrics left out: {e}", UserWarning, stacklevel=2)
        return {"feature_space": FEATURE_SPACE, "unavailable": str(e)}
    return realism_metrics(features, torch.cat(reals), samples,
                           originals=pairs[0], recon=pairs[1], real_classes=torch.cat(real_classes).numpy(),
                           sample_classes=sample_classes, num_classes=run.num_classes, seed=cfg.seed)


# Below these, an explanation edits a reconstruction that is not the reader's image (or the classifier's view of it).
TRUST_MIN_IDENTITY = 0.5
TRUST_MIN_AGREEMENT = 0.9


def trust_warnings(reconstruction: dict[str, Any]) -> list[str]:
    """Plain-language warnings when the reconstructions do not stand for their originals."""
    out = []
    top1 = reconstruction.get("identity_top1")
    if top1 is not None and top1 < TRUST_MIN_IDENTITY:
        m = reconstruction.get("identity_images", 0)
        out.append(f"the reconstructions do not identify their originals: for only {top1:.0%} of {m} held-out images "
                   f"is the original the nearest of the {m} to its own reconstruction (chance {1 / max(m, 1):.0%}); "
                   "explanations show what the classifier thinks of a generic image, not of the reader's image. "
                   "Train longer or with a stronger reconstruction recipe.")
    agree = reconstruction.get("balanced_agreement")
    if agree is not None and agree < TRUST_MIN_AGREEMENT:
        out.append(f"the classifier disagrees with itself on many reconstructions (class agreement balanced over "
                   f"classes {agree:.2f}): an attribute's effect may be an effect of the reconstruction, not of the image")
    return out


def _ground_truth(run, lists: dict[str, list[Attribute]], effects, cfg: EvalConfig,
                  test_latents: torch.Tensor) -> dict[str, Any]:
    from ..data import synthetic
    from .ground_truth import attribute_factor_table, load_probe, recovery_scores, save_probe, train_probe

    probe_path = run.dir / "factor_probe.pt"
    if probe_path.is_file():
        probe, info = load_probe(probe_path, run.device)
    else:
        from .ground_truth import ProbeConfig

        probe, info = train_probe(run.resolution, ProbeConfig(num_images=cfg.probe_images, epochs=cfg.probe_epochs),
                                  device=run.device)
        save_probe(probe_path, probe, info)
    lat = test_latents[:cfg.ground_truth_images].to(run.device)
    styles = run.G.styles(lat)
    flat = styles.flat()
    with torch.no_grad():
        before = run.G.synthesize(styles)

    def edit(a: Attribute):
        offsets = edit_offsets(flat, [(a.index, a.direction)], effects.style_min, effects.style_max)
        with torch.no_grad():
            return before, run.G.synthesize(styles, offsets)

    out: dict[str, Any] = {"probe_accuracy": info["val_accuracy"], "k": cfg.ground_truth_k,
                           "causal_factors": list(synthetic.CAUSAL_FACTORS),
                           "spurious_factors": list(synthetic.SPURIOUS_FACTORS), "attributes": {}}
    for name in METHODS:
        attrs = lists.get(name, [])[:cfg.ground_truth_k]
        rows = attribute_factor_table(probe, edit, attrs)
        out["attributes"][name] = rows
        out[name] = recovery_scores(rows, synthetic.CAUSAL_FACTORS, synthetic.SPURIOUS_FACTORS, cfg.ground_truth_k)
    out["single_coordinate"] = _ceiling(run, probe, effects, lat[:cfg.ceiling_images])
    return out


def _ceiling(run, probe, effects, lat: torch.Tensor) -> dict[str, dict]:
    """Per causal factor: the largest change one style coordinate makes (moved to its AttFind extreme, on ``lat``),
    next to the change of the factor itself through the same generator, and how many coordinates that change of
    the factor spreads over in StyleSpace (docs/METHOD.md section 9)."""
    from ..data import synthetic
    from .ground_truth import intervention_changes, single_coordinate_ceiling, style_spread

    styles = run.styles(lat)
    flat = styles.flat()
    best = single_coordinate_ceiling(
        probe, lambda offsets: run.generate(styles, offsets),
        lambda k, d: edit_offsets(flat, [(k, d)], effects.style_min, effects.style_max), run.layout.num_coords)
    true = intervention_changes(probe, run.reconstruct, run.resolution, synthetic.CAUSAL_FACTORS)
    spread = style_spread(lambda x: run.styles(run.encode(x)).flat(),
                          torch.as_tensor(effects.style_max - effects.style_min), run.resolution,
                          synthetic.CAUSAL_FACTORS)
    return {f: {**best[f], "direction": DIRECTION_NAMES[best[f]["direction"]] if best[f]["index"] >= 0 else None,
                "true_change": true[f], "spread": spread[f]} for f in synthetic.CAUSAL_FACTORS}


CEILING_MIN_SHARE = 0.5


def ceiling_warnings(ceiling: dict[str, dict]) -> list[str]:
    """Plain-language warnings for causes that no single style coordinate carries (see :func:`_ceiling`)."""
    out = []
    for factor, c in ceiling.items():
        if c["change"] < CEILING_MIN_SHARE * c["true_change"]:
            out.append(f"no single StyleSpace coordinate of this generator changes the cause '{factor}' much: the "
                       f"best one changes it by {c['change']:.2f} (factor probe), where changing '{factor}' in the "
                       f"image itself and reconstructing it changes it by {c['true_change']:.2f}. AttFind and Wu et "
                       "al. rank single coordinates, so neither can name this cause here; the generator spreads it "
                       f"over many coordinates{_spread_words(c.get('spread'))} (docs/METHOD.md section 9).")
    return out


def _spread_words(spread: dict | None) -> str:
    if not spread:
        return ""
    return (f" (half of the cause's own change in StyleSpace lies on {spread['coords_for_half']} of the "
            f"{spread['num_coords']} coordinates)")


# ---------------------------------------------------------------------------- helpers
def _softmax_np(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _jsonable(d: Any) -> Any:
    return json.loads(json.dumps(d, default=str))


