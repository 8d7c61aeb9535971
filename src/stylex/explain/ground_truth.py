"""Ground-truth recovery on the synthetic world: which factor does an attribute's edit change?

On the synthetic world every image's generating factors are known, and the label is a known
function of a subset of them (the causal factors). To say which factor an attribute changes we
measure images, not styles: a small CNN *factor probe* is trained on freshly rendered synthetic
images to predict every factor, each as a categorical variable (continuous factors are cut into
``bins`` quantile bins). For an attribute, the probe is run on generated images before and after
the edit, and the change of factor f is the mean total-variation distance between the two predicted
distributions (a number in [0, 1], comparable across factors). The factor with the largest change is
the one the attribute "mainly changes".

Scores for a ranked list of attributes (AttFind, Wu, random):
  * ``causal_fraction``: fraction of the top-k whose main factor is causal;
  * ``causal_coverage``: fraction of the causal factors that are the main factor of some top-k attribute;
  * ``spurious_fraction``: fraction whose main factor is the spurious (correlated, non-causal) one.
This is the objective counterpart of the paper's user study.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data.tensors import images_to_tensor, uint8_to_unit
from ..errors import StylexError


@dataclass(frozen=True)
class ProbeConfig:
    """Training settings of the factor probe."""

    num_images: int = 6000      # freshly rendered training images
    bins: int = 4               # quantile bins for continuous factors
    epochs: int = 8
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 1234            # different from the world's seeds used for training data
    width: int = 32             # base channel width of the CNN


class FactorProbe(nn.Module):
    """A small CNN with one categorical head per factor. Input: images in [-1, 1]."""

    def __init__(self, factor_classes: dict[str, int], width: int = 32):
        super().__init__()
        self.factor_classes = dict(factor_classes)
        c = width
        def block(i: int, o: int, stride: int = 1) -> list[nn.Module]:
            return [nn.Conv2d(i, o, 3, padding=1, stride=stride, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

        self.trunk = nn.Sequential(
            *block(3, c), *block(c, c, 2), *block(c, 2 * c), *block(2 * c, 2 * c, 2), *block(2 * c, 4 * c),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        )
        self.heads = nn.ModuleDict({name: nn.Linear(4 * c * 16, n) for name, n in factor_classes.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per factor: ``{name: [N, classes]}``."""
        h = self.trunk(x)
        return {name: head(h) for name, head in self.heads.items()}


def _discretise(factors: dict[str, np.ndarray], infos: dict[str, Any], bins: int,
                edges: dict[str, np.ndarray] | None = None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Factor values -> class indices; continuous factors by quantile bin edges (computed if not given)."""
    edges = dict(edges or {})
    out = {}
    for name, values in factors.items():
        kind = getattr(infos[name], "kind", "continuous")
        values = np.asarray(values)
        if kind == "continuous":
            if name not in edges:
                edges[name] = np.quantile(values.astype(np.float64), np.linspace(0, 1, bins + 1)[1:-1])
            out[name] = np.searchsorted(edges[name], values).astype(np.int64)
        else:
            out[name] = values.astype(np.int64)
    return out, edges


def train_probe(resolution: int, cfg: ProbeConfig = ProbeConfig(), device: str | torch.device = "cpu",
                progress: bool = False) -> tuple[FactorProbe, dict[str, Any]]:
    """Render synthetic images and fit the factor probe.

    Returns:
        (probe in eval mode, info) where info has per-factor held-out accuracy and the bin edges.
    """
    from ..data import synthetic

    infos = synthetic.FACTORS
    gen = torch.Generator().manual_seed(cfg.seed)
    factors = synthetic.sample_factors(cfg.num_images, seed=cfg.seed)
    images = synthetic.render(factors, resolution)                       # uint8 [N, H, W, 3]
    labels, edges = _discretise({k: factors[k] for k in infos}, infos, cfg.bins)
    classes = {k: int(max(labels[k].max() + 1, cfg.bins if infos[k].kind == "continuous" else 2)) for k in infos}
    probe = FactorProbe(classes, cfg.width).to(device)
    opt = torch.optim.AdamW(probe.parameters(), lr=cfg.lr, weight_decay=1e-4)
    n_val = max(1, len(images) // 10)
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2)                 # uint8 [N, 3, H, W]
    y_all = {k: torch.from_numpy(v) for k, v in labels.items()}
    train_idx = torch.arange(n_val, len(images))
    steps = cfg.epochs * max(1, len(train_idx) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps)
    probe.train()
    step = 0
    for _ in range(cfg.epochs):
        perm = train_idx[torch.randperm(len(train_idx), generator=gen)]
        for b in range(0, len(perm) - cfg.batch_size + 1, cfg.batch_size):
            idx = perm[b:b + cfg.batch_size]
            x = uint8_to_unit(x_all[idx].to(device))
            out = probe(x)
            loss = sum(F.cross_entropy(out[k], y_all[k][idx].to(device)) for k in out)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step < steps - 1:
                sched.step()
            step += 1
    probe.eval()
    with torch.no_grad():
        x = uint8_to_unit(x_all[:n_val].to(device))
        out = probe(x)
        acc = {k: float((out[k].argmax(1).cpu() == y_all[k][:n_val]).float().mean()) for k in out}
    return probe, {"val_accuracy": acc, "edges": {k: v.tolist() for k, v in edges.items()},
                   "classes": classes, "config": cfg.__dict__}


@torch.no_grad()
def factor_changes(probe: FactorProbe, before: torch.Tensor, after: torch.Tensor) -> dict[str, float]:
    """Mean total-variation distance between the probe's factor distributions on two image batches."""
    pb, pa = probe(before), probe(after)
    return {k: float(0.5 * (F.softmax(pa[k], 1) - F.softmax(pb[k], 1)).abs().sum(1).mean()) for k in pb}


def attribute_factor_table(probe: FactorProbe, edit_fn: Callable[[Any], tuple[torch.Tensor, torch.Tensor]],
                           attributes: Sequence[Any]) -> list[dict[str, Any]]:
    """For each attribute, the change of every factor and the main factor.

    Args:
        probe: a trained :class:`FactorProbe`.
        edit_fn: attribute -> (images before, images after its edit), both in [-1, 1].
        attributes: the ranked attributes.
    """
    rows = []
    for attr in attributes:
        before, after = edit_fn(attr)
        changes = factor_changes(probe, before, after)
        main = max(changes, key=changes.get)
        rows.append({"main_factor": main, "changes": changes})
    return rows


@torch.no_grad()
def single_coordinate_ceiling(probe: FactorProbe, generate: Callable[[torch.Tensor | None], torch.Tensor],
                              offsets_for: Callable[[int, int], torch.Tensor], num_coords: int) -> dict[str, dict]:
    """For every factor, the largest change any one style coordinate makes when moved to its extreme.

    AttFind and Wu et al. rank single coordinates; a cause that no single coordinate changes much cannot
    appear in their lists, however well they rank. Every (coordinate, direction) is edited on the same images.

    Args:
        probe: a trained :class:`FactorProbe`.
        generate: offsets ``[N, S]`` (or None: unedited) -> images in [-1, 1].
        offsets_for: ``(k, direction)`` -> the offsets that move coordinate k to its min (0) or max (1).
        num_coords: S.

    Returns:
        ``{factor: {"change", "index", "direction"}}`` (change as in :func:`factor_changes`).
    """
    before = {k: F.softmax(v, 1) for k, v in probe(generate(None)).items()}
    best = {k: {"change": 0.0, "index": -1, "direction": -1} for k in before}
    for d in (0, 1):
        for k in range(num_coords):
            after = probe(generate(offsets_for(k, d)))
            for name, pb in before.items():
                tv = float(0.5 * (F.softmax(after[name], 1) - pb).abs().sum(1).mean())
                if tv > best[name]["change"]:
                    best[name] = {"change": tv, "index": k, "direction": d}
    return best


def _factor_flips(resolution: int, factors: Sequence[str], num_images: int, seed: int):
    """Rendered images in [-1, 1] ``[num_images, 3, R, R]``, then ``(factor, the same images with that factor
    flipped)`` for each of ``factors`` (binary or two-band factors; ``synthetic.flip_factor``)."""
    from ..data import synthetic

    base = synthetic.sample_factors(num_images, seed=seed)
    flips = ((name, images_to_tensor(synthetic.render({**base, name: synthetic.flip_factor(name, base[name])},
                                                      resolution), "cpu")) for name in factors)
    return images_to_tensor(synthetic.render(base, resolution), "cpu"), flips


@torch.no_grad()
def intervention_changes(probe: FactorProbe, reconstruct: Callable[[torch.Tensor], torch.Tensor], resolution: int,
                         factors: Sequence[str], num_images: int = 64, seed: int = 4321) -> dict[str, float]:
    """The probe's change of each factor when the factor itself is changed in rendered images and both renders
    are reconstructed by the run: what an attribute that changes only that factor would show through this
    generator (the scale against which :func:`single_coordinate_ceiling` is read).

    Args:
        probe: a trained :class:`FactorProbe`.
        reconstruct: images in [-1, 1] -> their reconstructions.
        resolution: the run's image size.
        factors: binary or two-band factors (``synthetic.flip_factor`` flips them).
        num_images: rendered images per factor.
        seed: their factors' seed.
    """
    base, flips = _factor_flips(resolution, factors, num_images, seed)
    x = reconstruct(base)
    return {name: factor_changes(probe, x, reconstruct(flipped))[name] for name, flipped in flips}


@torch.no_grad()
def style_spread(encode_styles: Callable[[torch.Tensor], torch.Tensor], style_range: torch.Tensor, resolution: int,
                 factors: Sequence[str], num_images: int = 64, seed: int = 4321) -> dict[str, dict]:
    """How many StyleSpace coordinates a factor's own change moves: why single-coordinate methods can or cannot
    name it.

    Rendered images and the same images with one factor flipped are encoded to StyleSpace; each coordinate's
    mean ``|delta s|`` is divided by its range (``style_range``: AttFind's ``s_max - s_min``, the span of its
    edits). A generator that keeps the factor in one coordinate needs 1 coordinate for half of that mass; one
    that spreads it evenly needs about half of all coordinates.

    Args:
        encode_styles: images in [-1, 1] ``[N, 3, R, R]`` -> flat styles ``[N, S]``.
        style_range: ``[S]`` positive spans of the coordinates.
        resolution: the run's image size.
        factors: binary or two-band factors.
        num_images: rendered images per factor.
        seed: their factors' seed.

    Returns:
        ``{factor: {"coords_for_half": K, "num_coords": S, "top_share": the largest coordinate's share}}``.
    """
    base, flips = _factor_flips(resolution, factors, num_images, seed)
    s0 = encode_styles(base)
    span = style_range.to(s0).clamp_min(1e-8)
    out = {}
    for name, flipped in flips:
        mass = ((encode_styles(flipped) - s0).abs() / span).mean(0).double()
        ordered = mass.sort(descending=True).values
        total = float(ordered.sum())
        share = (ordered.cumsum(0) / total) if total > 0 else torch.ones_like(ordered)
        out[name] = {"coords_for_half": int((share < 0.5).sum()) + 1, "num_coords": int(mass.numel()),
                     "top_share": float(ordered[0] / total) if total > 0 else 0.0}
    return out


def recovery_scores(rows: list[dict[str, Any]], causal: Sequence[str], spurious: Sequence[str], k: int) -> dict[str, Any]:
    """Scores of the top-``k`` rows from :func:`attribute_factor_table` (see the module docstring)."""
    top = rows[:k]
    if not top:
        return {"k": 0, "causal_fraction": 0.0, "causal_coverage": 0.0, "spurious_fraction": 0.0, "main_factors": []}
    mains = [r["main_factor"] for r in top]
    return {
        "k": len(top),
        "causal_fraction": sum(m in causal for m in mains) / len(top),
        "causal_coverage": len({m for m in mains if m in causal}) / max(1, len(causal)),
        "spurious_fraction": sum(m in spurious for m in mains) / len(top),
        "main_factors": mains,
    }


def save_probe(path: Path, probe: FactorProbe, info: dict[str, Any]) -> None:
    """Save the probe as a state dict with its description (loadable with weights_only=True)."""
    torch.save({"state_dict": probe.state_dict(), "classes": probe.factor_classes,
                "width": probe.trunk[0].out_channels, "info": info}, path)


def load_probe(path: Path, device: str | torch.device = "cpu") -> tuple[FactorProbe, dict[str, Any]]:
    """Load a probe written by :func:`save_probe`."""
    try:
        ck = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise StylexError(f"cannot load factor probe {path}: {exc}") from None
    probe = FactorProbe(ck["classes"], ck["width"]).to(device)
    probe.load_state_dict(ck["state_dict"])
    return probe.eval(), ck["info"]
