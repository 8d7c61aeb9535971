"""Gather a report from a trained run and the AttFind / evaluation outputs, draw it, write ``index.html``.

This is the model-facing half of the report: it loads the run, regenerates the images the figures need
(reconstructions, attribute edits, image-specific counterfactuals) and hands plain arrays to
:mod:`.figures`, :mod:`.animation` and :mod:`.html`. Inputs::

    RUN/config.json, RUN/stats.jsonl, checkpoint.pt, classifier.pt       (stylex train)
    ATTFIND/attributes.json, ATTFIND/effects.npz                         (stylex attfind, optional)
    EVAL/metrics.json                                                    (stylex evaluate, optional)

Outputs: ``OUT/index.html`` with ``OUT/figures/*.png|gif`` (GIFs of ATTFIND are copied to ``OUT/assets``),
and one animation per (attribute, image) as ``ATTFIND/gifs/attr{rank:02d}_img{j:02d}.gif``, which is what
``stylex user-study`` reads.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.tensors import to_uint8
from ..device import resolve_device
from ..errors import StylexError
from ..explain.edits import set_coordinates
from .animation import attribute_gif, attribute_gif_tiled
from .figures import (attribute_panel, attribute_title, choose_panel_images, flip_rate_curve, image_explanation,
                      read_stats, reconstruction_grid, training_curves)
from .html import AttributeEntry, FlipRateRow, ReportContent, Table, check_report_links, render_report

# Published top-10 flip rates: the replication's Table 2 and the original paper (docs/METHOD.md section 7).
REFERENCE_FLIP_RATES = Table(
    headers=("source", "Wu et al.", "AttFind on StyleGAN2", "AttFind on StylEx"),
    rows=[("replication, AFHQ 64px", "0.247 +/- 0.012", "0.391 +/- 0.022", "0.042 +/- 0.006"),
          ("replication, FFHQ age 64px", "0.253 +/- 0.015", "0.678 +/- 0.016", "0.429 +/- 0.013"),
          ("original paper, AFHQ", "0.010", "-", "0.250"),
          ("original paper, FFHQ age", "0.169", "-", "0.939")],
    caption="Published top-10 flip rates (the replication's Table 2 and the original paper), for comparison; other data sets and "
            "models, so only the order of the methods is comparable.")

METHOD_LABELS = {"attfind": "AttFind", "wu": "Wu et al.", "random": "random coordinates"}
# Training statistics shown in the summary and plotted (the rest stay in stats.jsonl).
TRAIN_KEYS = ("G_rec_l1", "G_rec_lpips", "G_rec_latent", "G_cls_kl", "class_agreement", "G_adv", "D_loss")
NUM_RECONSTRUCTIONS = 8
NUM_EXPLAINED_IMAGES = 2
ATTRS_PER_EXPLANATION = 4


@dataclass(frozen=True)
class AttFindOutputs:
    """The parts of an AttFind folder the report uses."""

    dir: Path
    meta: dict[str, Any]          # attributes.json
    attributes: list[dict]        # attributes.json "attributes", best first
    effects: Any                  # stylex.explain.EffectsResult


# ------------------------------------------------------------------------------------------ small helpers
def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"report: {msg}", file=sys.stderr, flush=True)


def _read_json(path: Path, what: str, producer: str) -> dict[str, Any]:
    from ..paths import read_json_object

    return read_json_object(path, producer)


def _command_text(cmd: Any) -> str | None:
    if not cmd:
        return None
    return shlex.join(str(c) for c in cmd) if isinstance(cmd, (list, tuple)) else str(cmd)


@torch.no_grad()
def _probs(run, images: torch.Tensor) -> np.ndarray:
    """Class probabilities ``[N, K]`` (float64)."""
    return F.softmax(run.classify(images), dim=1).double().cpu().numpy()


@torch.no_grad()
def _edit(run, latents: np.ndarray, moves: Sequence[Sequence[tuple[int, float]]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Original and edited images of each latent.

    Args:
        run: the loaded run.
        latents: ``[N, D]``.
        moves: per image, ``(coordinate k, target value)`` pairs applied together (offset = target - s_k).

    Returns:
        ``(original [N, 3, H, W], edited [N, 3, H, W])`` in [-1, 1].
    """
    lat = torch.as_tensor(np.asarray(latents), dtype=torch.float32, device=run.device)
    styles = run.styles(lat)
    flat = styles.flat()                                           # [N, S]
    return run.generate(styles), run.generate(styles, set_coordinates(flat, moves))


def _extreme(effects, index: int, direction: int) -> float:
    return float(effects.style_min[index] if direction == 0 else effects.style_max[index])


# ------------------------------------------------------------------------------------------ sections
def _data_summary(run) -> dict[str, Any]:
    data = run.data_spec
    summary: dict[str, Any] = {"data format": data.format}
    if data.format == "synthetic":
        summary["data"] = (f"synthetic world ({data.synthetic_size} images, seed {data.synthetic_seed}; "
                           "see docs for its factors)")
    else:
        summary["data path"] = data.path
    if data.attribute:
        summary["attribute"] = data.attribute
    summary["classes"] = ", ".join(f"{i}: {n}" for i, n in enumerate(run.class_names))
    summary["resolution"] = f"{run.resolution} px"
    extra = getattr(run.classifier, "extra", None) or {}
    if "val_accuracy" in extra:
        summary["classifier accuracy (val)"] = float(extra["val_accuracy"])
    if "val_balanced_accuracy" in extra:
        summary["classifier balanced accuracy (val)"] = float(extra["val_balanced_accuracy"])
    if "val_accuracy" not in extra:
        summary["classifier accuracy"] = "unknown (not recorded in classifier.pt; see `stylex train-classifier`)"
    if extra.get("trained_by"):
        summary["classifier"] = f"{extra['trained_by']} (best epoch {extra.get('epoch', '?')})"
    return summary


def _training_section(run, fig_dir: Path) -> tuple[dict[str, Any], str | None, str]:
    train = run.train_config
    summary: dict[str, Any] = {"preset": train.preset, "resolution": f"{run.resolution} px",
                               "kimg planned": train.kimg, "batch size": train.batch_size,
                               "training paths": train.paths}
    stats_path = run.dir / "stats.jsonl"
    rows = read_stats(stats_path) if stats_path.is_file() else []
    if not rows:
        return {k: v for k, v in summary.items() if v is not None}, None, \
            f"No training statistics ({stats_path} is missing or empty)."
    last = rows[-1]
    summary["kimg trained"] = last.get("kimg")
    summary["ticks"] = len(rows)
    losses = [k for k in TRAIN_KEYS if isinstance(last.get(k), (int, float))]
    if losses:
        summary["last tick"] = ", ".join(f"{k} {float(last[k]):.4g}" for k in losses)
    speed = [f"{float(last[k]):.3g} {unit}" for k, unit in (("img_per_s", "img/s"), ("sec_per_kimg", "s/kimg"),
                                                             ("peak_mem_gb", "GB peak memory"))
             if isinstance(last.get(k), (int, float))]
    if speed:
        summary["last tick speed"] = ", ".join(speed)
    curve: str | None = str(fig_dir / "training_curves.png")
    try:
        keys = [k for k in TRAIN_KEYS if any(isinstance(r.get(k), (int, float)) for r in rows)]
        training_curves(stats_path, curve, keys=keys or None)
    except StylexError:  # no numeric statistics yet
        curve = None
    return {k: v for k, v in summary.items() if v is not None}, curve, ""


def _reconstructions(run, fig_dir: Path, seed: int) -> tuple[str, str]:
    """Originals (val split, falling back to train) above reconstructions; returns (png, note)."""
    note = ""
    split = "val"
    available = len(run.dataset(split))
    if available == 0:
        split, available = "train", len(run.dataset("train"))
        note = "The data set has no validation images; these reconstructions are of training images. "
    n = min(NUM_RECONSTRUCTIONS, available)
    images = run.load_images(n, split=split, seed=seed)          # [n, 3, H, W]
    recon = run.reconstruct(images)
    K = run.num_classes
    target = 1 if K == 2 else 0
    png = fig_dir / "reconstructions.png"
    reconstruction_grid(to_uint8(images), to_uint8(recon), _probs(run, images), _probs(run, recon),
                        run.class_names, target, path=png, columns=min(n, 8))
    note += (f"{n} held-out images from the {split} split (top) and G(E(x), C(x)) (bottom); each tile shows the "
             f"classifier's probability of class '{run.class_names[target]}'.")
    return str(png), note


def load_attfind_outputs(attfind_dir: str | Path) -> AttFindOutputs:
    """Read ``attributes.json`` and ``effects.npz`` of a ``stylex attfind`` folder.

    Args:
        attfind_dir: the folder.

    Returns:
        :class:`AttFindOutputs`.

    Raises:
        StylexError: a file is missing or malformed.
    """
    from ..explain import load_effects

    d = Path(attfind_dir)
    meta = _read_json(d / "attributes.json", "attributes.json", "stylex attfind")
    attrs = meta.get("attributes")
    if not isinstance(attrs, list):
        raise StylexError(f"{d / 'attributes.json'} has no 'attributes' list; rerun `stylex attfind`")
    return AttFindOutputs(dir=d, meta=meta, attributes=sorted(attrs, key=lambda a: int(a["rank"])),
                          effects=load_effects(d / "effects.npz"))


def _panel_images(eff, attr, count: int, threshold: float) -> np.ndarray:
    """The reference's visualisation rule on the AttFind images, restricted to images not in the target class."""
    c, d, k = attr.target_class, attr.direction, attr.index
    candidates = np.flatnonzero(eff.base_class != c)
    if len(candidates) == 0:
        candidates = np.arange(len(eff.base_class))
    chosen = candidates[choose_panel_images(eff.effects[candidates, d, k, c], eff.styles[candidates, k],
                                            _extreme(eff, k, d), threshold, count, fill=True)]
    if len(chosen) < count:  # every image of a class qualifies too, so the panel is full when possible
        rest = np.setdiff1d(np.arange(len(eff.base_class)), chosen)
        rest = rest[np.argsort(-eff.effects[rest, d, k, c], kind="stable")]
        chosen = np.concatenate([chosen, rest[: count - len(chosen)]])
    return chosen.astype(np.int64)


def _real_images(run, af: AttFindOutputs, idx: np.ndarray) -> np.ndarray | None:
    """The real (train split) images behind AttFind's encoded latents ``idx``; None for mapping-path latents."""
    if af.meta.get("source", "encoded") != "encoded" or af.meta.get("data"):   # samples, or another data set
        return None
    try:
        return np.asarray(run.dataset("train").uint8_images()[np.asarray(af.effects.image_ids)[idx]])
    except (StylexError, IndexError):   # the data moved or changed since AttFind: show the reconstructions alone
        return None


def _attribute_entries(run, af: AttFindOutputs, fig_dir: Path, num_attributes: int, images_per_attribute: int,
                       gt_rows: list[dict] | None, progress: bool) -> list[AttributeEntry]:
    from ..explain import SelectionConfig, attribute_from_dict

    eff = af.effects
    K = eff.effects.shape[3]
    threshold = SelectionConfig().threshold_for(K)
    gif_dir = af.dir.resolve() / "gifs"   # absolute: a relative path would be read against the report folder
    gif_dir.mkdir(parents=True, exist_ok=True)
    for old in gif_dir.glob("attr*_img*.gif"):  # stale animations of an earlier report would mislead the study
        old.unlink()
    entries = []
    for i, a in enumerate(af.attributes[:num_attributes]):
        attr = attribute_from_dict(a)
        layer, channel = run.layout.to_layer(attr.index)
        lname, channel = a.get("layer_name") or run.layout.layers[layer].name, int(a.get("channel", channel))
        _log(progress, f"attribute {i + 1}/{min(num_attributes, len(af.attributes))}")
        idx = _panel_images(eff, attr, images_per_attribute, threshold)
        target = _extreme(eff, attr.index, attr.direction)
        orig, edit = _edit(run, eff.latents[idx], [[(attr.index, target)]] * len(idx))
        po, pe = _probs(run, orig), _probs(run, edit)
        o8, e8 = to_uint8(orig), to_uint8(edit)
        cname = run.class_names[attr.target_class]
        main = None
        if gt_rows is not None and i < len(gt_rows) and gt_rows[i].get("main_factor"):
            main = str(gt_rows[i]["main_factor"])
        title = attribute_title(attr.rank, lname, channel, attr.direction_name, cname, label=f"changes {main}" if main else None)
        stem = f"attr{attr.rank:02d}"
        panel = fig_dir / f"{stem}_panel.png"
        reals = _real_images(run, af, idx)
        attribute_panel(title, o8, e8, po, pe, run.class_names, attr.target_class, path=panel,
                        pairs_per_row=min(4, len(idx)), reals=reals,
                        base_label="reconstruction" if reals is not None else "sample")
        gifs = [attribute_gif(o8[j], e8[j], po[j, attr.target_class], pe[j, attr.target_class], cname,
                              gif_dir / f"{stem}_img{j:02d}.gif") for j in range(len(idx))]
        tiled = attribute_gif_tiled(o8, e8, po[:, attr.target_class], pe[:, attr.target_class], cname,
                                    fig_dir / f"{stem}_tiled.gif", columns=min(4, len(idx)))
        moved = pe[:, attr.target_class] - po[:, attr.target_class]
        n_other = int((eff.base_class[idx] != attr.target_class).sum())
        desc = (f"Style coordinate {attr.index} (layer {lname}, channel {channel}) set to its "
                f"{attr.direction_name}imum over the AttFind images ({target:.3f}). Shown on {len(idx)} AttFind "
                f"images ({n_other} not already classified as '{cname}'): those where the edit raises the "
                f"'{cname}' logit by more than {threshold:g}, farthest from the extreme first; p({cname}) changes "
                f"by {moved.mean():+.3f} on average.")
        if main:
            changes = gt_rows[i].get("changes") or {}
            top = sorted(changes.items(), key=lambda kv: -float(kv[1]))[:3]
            desc += (f" Ground-truth factor probe: mainly changes '{main}'"
                     + (" (change per factor: " + ", ".join(f"{f} {float(v):.2f}" for f, v in top) + ")"
                        if top else "") + ".")
        label = f"{lname} channel {channel} -> {attr.direction_name}" + (f" (changes {main})" if main else "")
        entries.append(AttributeEntry(rank=attr.rank, label=label, description=desc, panel=str(panel),
                                      gifs=[str(tiled)] + [str(g) for g in gifs], score=attr.score,
                                      target_class=cname))
    return entries


def _explained_images(eff, count: int) -> list[int]:
    """One AttFind image per base class (lowest index), up to ``count``: deterministic, not cherry-picked."""
    picked: list[int] = []
    for c in range(eff.effects.shape[3]):
        rows = np.flatnonzero(eff.base_class == c)
        if len(rows) and len(picked) < count:
            picked.append(int(rows[0]))
    return picked


def _image_explanations(run, af: AttFindOutputs, fig_dir: Path, k: int) -> list[tuple[str, str]]:
    from ..explain import select_for_image

    eff = af.effects
    out = []
    for n in _explained_images(eff, NUM_EXPLAINED_IMAGES):
        base = int(eff.base_class[n])
        others = [c for c in np.argsort(-eff.base_logits[n]) if c != base]
        if not others:
            continue
        target = int(others[0])
        attrs = select_for_image(eff.effects[n], target, k)
        if not attrs:
            continue
        moves = [(a.index, _extreme(eff, a.index, a.direction)) for a in attrs]
        combined: dict[int, float] = {}
        for kk, v in moves:
            combined.setdefault(kk, v)  # the same coordinate twice (both directions): keep the stronger one
        lat = np.repeat(eff.latents[n:n + 1], len(moves) + 1, axis=0)
        orig, edit = _edit(run, lat, [[m] for m in moves] + [list(combined.items())])
        po, pe = _probs(run, orig[:1]), _probs(run, edit)
        labels = [f"{run.layout.layers[run.layout.to_layer(a.index)[0]].name} "
                  f"c{run.layout.to_layer(a.index)[1]} -> {a.direction_name}" for a in attrs]
        png = fig_dir / f"explain_img{n:03d}.png"
        cname = run.class_names[target]
        image_explanation(to_uint8(orig[:1])[0], to_uint8(edit[:-1]), to_uint8(edit[-1:])[0], po[0], pe[:-1],
                          pe[-1], labels, run.class_names, target, path=png)
        after = int(np.argmax(pe[-1]))
        verdict = (f"after the combined edit the classifier says '{run.class_names[after]}' "
                   f"(p={pe[-1, after]:.2f})")
        out.append((str(png), f"AttFind image {n} (base class '{run.class_names[base]}'): its own top-{len(attrs)} "
                              f"style moves towards '{cname}' (the greedy step on this image's effects), each alone "
                              f"and all together; {verdict}."))
    return out


def _flip_rate_content(metrics: dict, fig_dir: Path) -> tuple[list[FlipRateRow], str | None, str]:
    fr = metrics.get("flip_rate") or {}
    rows, curves = [], {}
    for key in ("attfind", "wu", "random"):
        m = fr.get(key)
        if not isinstance(m, dict) or "mean" not in m:
            continue
        name = METHOD_LABELS[key]
        rows.append(FlipRateRow(name, float(m["mean"]), float(m.get("std", 0.0)), int(m.get("n_images", 0))))
        if m.get("curve"):
            curves[name] = (np.asarray(m["curve"], dtype=np.float64), None)
    curve = None
    if curves:
        curve = fig_dir / "flip_rate_curve.png"
        flip_rate_curve(curves, curve)
    top_k, repeats = metrics.get("top_k", "?"), metrics.get("repeats", "?")
    caption = (f"Top-{top_k} attributes applied together, each to the extreme leading away from the image's base "
               f"class; flip = the argmax class changes. Mean +/- std over {repeats} disjoint test sets (not the "
               "AttFind images); n = test images in all sets together.")
    return rows, (str(curve) if curve else None), caption


def _ground_truth_table(gt: dict) -> Table | None:
    rows = []
    for key in ("attfind", "wu", "random"):
        m = gt.get(key)
        if isinstance(m, dict) and "causal_fraction" in m:
            rows.append((METHOD_LABELS[key], int(m.get("k", 0)), float(m["causal_fraction"]),
                         float(m.get("causal_coverage", float("nan"))), float(m.get("spurious_fraction", float("nan"))),
                         ", ".join(map(str, m.get("main_factors", [])))))
    if not rows:
        return None
    probe = gt.get("probe_accuracy")
    cap = ("Which synthetic factor each top-k attribute mainly changes, measured by a factor probe on the edited "
           "images. causal fraction: share of attributes whose main factor is causal for the label; coverage: "
           "share of causal factors found; spurious: share that change the spuriously correlated factor.")
    if isinstance(probe, dict) and probe:
        cap += " Probe accuracy: " + ", ".join(f"{f} {float(a):.2f}" for f, a in probe.items()) + "."
    elif isinstance(probe, (int, float)):
        cap += f" Probe accuracy: {float(probe):.2f}."
    ceiling = gt.get("single_coordinate")
    if isinstance(ceiling, dict) and ceiling:
        cap += (" The most any one style coordinate changes each cause (the ceiling of every single-coordinate "
                "method), and in brackets the change of the cause itself through this generator: " + ", ".join(
                    f"{f} {float(c['change']):.2f} ({float(c['true_change']):.2f})" for f, c in ceiling.items()) + ".")
        spread = {f: c["spread"] for f, c in ceiling.items() if isinstance(c.get("spread"), dict)}
        if spread:
            cap += (" Half of each cause's own change in StyleSpace lies on: " + ", ".join(
                f"{f} {int(v['coords_for_half'])} of {int(v['num_coords'])} coordinates" for f, v in spread.items())
                + " (1 would be one coordinate per cause).")
    return Table(("method", "k", "causal fraction", "causal coverage", "spurious fraction", "main factors"), rows, cap)


def _attfind_sections(run, af: AttFindOutputs | None, fig_dir: Path, num_attributes: int,
                      images_per_attribute: int, gt_rows: list[dict] | None, progress: bool, notes: dict[str, str],
                      commands: list[str]) -> tuple[list[AttributeEntry], list[tuple[str, str]]]:
    """The attribute panels and image-specific explanations (notes and commands are filled in)."""
    attributes: list[AttributeEntry] = []
    explanations: list[tuple[str, str]] = []
    if af is not None:
        eff = af.effects
        if eff.latents.shape[0] == 0:
            raise StylexError(f"{af.dir / 'effects.npz'} holds no images; rerun `stylex attfind`")
        if eff.styles.shape[1] != run.layout.num_coords or eff.effects.shape[3] != run.num_classes:
            raise StylexError(f"{af.dir / 'effects.npz'} has {eff.styles.shape[1]} style coordinates and "
                              f"{eff.effects.shape[3]} classes but run {run.dir} has {run.layout.num_coords} and "
                              f"{run.num_classes}: it belongs to another run; pass the matching --attfind folder")
        attributes = _attribute_entries(run, af, fig_dir, num_attributes, images_per_attribute, gt_rows, progress)
        _log(progress, "image-specific explanations")
        explanations = _image_explanations(run, af, fig_dir, min(ATTRS_PER_EXPLANATION, num_attributes))
        source = af.meta.get("source", "?")
        notes["attributes"] = (
            f"Top {len(attributes)} of {len(af.attributes)} AttFind attributes, found on "
            f"{af.meta.get('num_images', '?')} {source} images. Each is one StyleSpace coordinate (layer, channel) moved to its minimum or maximum; "
            "the panel shows original/edited pairs with the target-class probability, the first animation tiles "
            f"them, the others are one image each (also in {af.dir / 'gifs'} for `stylex user-study`).")
        if not attributes:
            notes["attributes"] = f"{af.dir / 'attributes.json'} lists no attributes (AttFind found no effect)."
        notes["explanations"] = ("Per-image counterfactuals: the greedy AttFind step on a single image's own "
                                 "effects (not the global list).")
        if not explanations:
            notes["explanations"] += " No image had a style move with a positive effect on another class."
        cmd = _command_text(af.meta.get("command"))
        if cmd:
            commands.append(cmd)
    else:
        notes["attributes"] = ("No AttFind output given: run `stylex attfind --run RUN --out ATTFIND_DIR`, then "
                               "`stylex report ... --attfind ATTFIND_DIR`.")

    return attributes, explanations


def _metric_sections(metrics: dict[str, Any] | None, eval_dir, fig_dir: Path, gt: dict, train_summary: dict,
                     notes: dict[str, str], commands: list[str]):
    """Flip-rate rows, curve and caption, and the ground-truth table (notes, commands and the training
    summary's reconstruction line are filled in)."""
    flip_rows: list[FlipRateRow] = []
    flip_curve, flip_caption, gt_table = None, "", None
    if metrics is not None:
        flip_rows, flip_curve, flip_caption = _flip_rate_content(metrics, fig_dir)
        if not flip_rows:
            notes["flip-rate"] = f"{Path(eval_dir) / 'metrics.json'} holds no flip rates."
        gt_table = _ground_truth_table(gt) if gt else None
        rec = metrics.get("reconstruction") or {}
        if rec:
            train_summary["reconstruction (eval)"] = ", ".join(
                f"{k} {float(v):.3f}" for k, v in rec.items()
                if k not in ("n_images", "identity_images") and isinstance(v, (int, float))
            ) + (f" on {rec['n_images']} images" if "n_images" in rec else "")
            if rec.get("identity_top1") is not None:
                train_summary["identity (eval)"] = (
                    f"the original is the nearest (LPIPS) of {rec['identity_images']} held-out originals to its "
                    f"reconstruction for {rec['identity_top1']:.2f} of them, among the 5 nearest for "
                    f"{rec['identity_top5']:.2f} (chance {rec['identity_chance']:.2f})")
        real = metrics.get("realism") or {}
        if "kid" in real:
            train_summary[f"realism (eval, {real['feature_space']})"] = (
                f"KID {real['kid']:.4f} +/- {real['kid_std']:.4f} and FD {real['fd']:.2f}: {real['n_samples']} "
                f"mapping-path samples vs {real['n_real']} held-out reals; reconstructions vs their originals: "
                f"KID {real.get('kid_reconstructions', float('nan')):.4f}, "
                f"FD {real.get('fd_reconstructions', float('nan')):.2f}")
        cmd = _command_text(metrics.get("command"))
        if cmd:
            commands.append(cmd)
    else:
        notes["flip-rate"] = ("No evaluation given: run `stylex evaluate --run RUN --attributes ATTFIND_DIR --out "
                              "EVAL_DIR`, then `stylex report ... --eval EVAL_DIR`.")
    return flip_rows, flip_curve, flip_caption, gt_table


# ------------------------------------------------------------------------------------------ main entry
def build_report(run_dir: str | Path, attfind_dir: str | Path | None = None, eval_dir: str | Path | None = None,
                 out_dir: str | Path = "report", num_attributes: int = 6, images_per_attribute: int = 4,
                 device: str = "cpu", seed: int = 0, progress: bool = True) -> Path:
    """Build the HTML report of a StylEx run (figures, GIFs, tables) and return ``OUT/index.html``.

    Args:
        run_dir: the ``stylex train`` run directory.
        attfind_dir: the ``stylex attfind`` output (attributes.json, effects.npz); None leaves the attribute
            sections as a pointer to the command. Its ``gifs/attrNN_imgMM.gif`` are (re)written.
        eval_dir: the ``stylex evaluate`` output (metrics.json); None leaves the metric sections as a pointer.
        out_dir: report folder (created).
        num_attributes: top attributes to draw.
        images_per_attribute: images (original/edited pairs and GIFs) per attribute.
        device: where the generator and classifier run (``auto``: the GPU when there is one).
        seed: selection of the reconstructed images.
        progress: log the steps to stderr.

    Returns:
        Path of the written ``index.html``; every image it references exists inside ``out_dir``.

    Raises:
        StylexError: a missing/malformed input, or bad counts.
    """
    from ..trained_run import load_run

    if num_attributes < 1 or images_per_attribute < 1:
        raise StylexError(f"--attributes {num_attributes} / --images-per-attribute {images_per_attribute}: use 1 "
                          "or more")
    out = Path(out_dir)
    fig_dir = out.resolve() / "figures"   # absolute: the page links figures relative to `out`, not to the cwd
    fig_dir.mkdir(parents=True, exist_ok=True)
    # Read the small inputs first, so a wrong path fails before any model work.
    af = load_attfind_outputs(attfind_dir) if attfind_dir is not None else None
    metrics: dict[str, Any] | None = None
    if eval_dir is not None:
        metrics = _read_json(Path(eval_dir) / "metrics.json", "metrics.json", "stylex evaluate")
    _log(progress, f"loading run {run_dir}")
    run = load_run(run_dir, device=resolve_device(str(device)), progress=progress)
    notes: dict[str, str] = {}
    clf_command = (getattr(run.classifier, "extra", None) or {}).get("command")
    commands = [c for c in [_command_text(clf_command), _command_text(run.config.command)] if c]

    summary = _data_summary(run)
    _log(progress, "training curves")
    train_summary, train_curve, notes["training"] = _training_section(run, fig_dir)
    _log(progress, "reconstructions")
    recon_png, notes["reconstructions"] = _reconstructions(run, fig_dir, seed)

    gt = (metrics or {}).get("ground_truth") or {}
    gt_rows = ((gt.get("attributes") or {}).get("attfind")) if gt else None

    attributes, explanations = _attfind_sections(run, af, fig_dir, num_attributes, images_per_attribute, gt_rows,
                                                 progress, notes, commands)
    flip_rows, flip_curve, flip_caption, gt_table = _metric_sections(metrics, eval_dir, fig_dir, gt, train_summary,
                                                                     notes, commands)

    data = run.data_spec
    joiner = " vs " if run.num_classes <= 3 else ", "
    title = f"StylEx explanation of a classifier: {joiner.join(run.class_names)}"
    subtitle = (f"Run folder {run.dir.resolve().name}: {data.format} data"
                + (f" ({data.attribute})" if data.attribute else "") + f", {run.resolution} px")
    content = ReportContent(
        title=title, subtitle=subtitle, summary=summary, training_summary=train_summary, training_curve=train_curve,
        reconstructions=recon_png, attributes=attributes, image_explanations=explanations, flip_rates=flip_rows,
        flip_rate_curve=flip_curve, flip_rate_caption=flip_caption,
        flip_rate_reference=REFERENCE_FLIP_RATES if flip_rows else None, ground_truth=gt_table,
        section_notes={k: v for k, v in notes.items() if v}, commands=commands,
        warnings=list((metrics or {}).get("trust", [])))
    index = render_report(content, out)
    problems = check_report_links(out)
    assert problems == [], f"report {index} has broken links: {problems}"
    _log(progress, f"written {index}")
    return index
