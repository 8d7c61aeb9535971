"""A procedural "synthetic world" with known causes: the demo data and the ground truth for AttFind.

Each image shows one object (circle, square or triangle) on a plain, softly shaded background. Every
image is drawn from independent latent factors (recorded per image); the class label is a fixed
function of exactly two of them (:data:`CAUSAL_FACTORS`): the object's colour is warm **and** the
object carries a mark (a white dot in a black ring at its centre). A third factor, the background
brightness, agrees with the label in 75% of images without being a cause (:data:`SPURIOUS_FACTORS`);
the rest are irrelevant. See ``docs/SYNTHETIC.md`` for the full table.

Rendering is vectorised numpy, deterministic, at any resolution, antialiased by drawing at 2-4x the
size and box-averaging down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASS_NAMES = ["cool_or_unmarked", "warm_and_marked"]   # label 0, label 1
RENDER_VERSION = 1          # bump when the drawing changes: part of the cache key
SPURIOUS_AGREEMENT = 0.75   # P(background is light == label) in the sampled world
SHAPES = ("circle", "square", "triangle")

# Sampling bands. The label only asks which half of the hue circle the object is in (warm: red,
# orange, yellow, magenta-red; cool: green, cyan, blue, violet); hues are drawn well inside each half
# so that no image sits on the boundary.
WARM_BAND = (-0.06, 0.11)       # hue (mod 1): magenta-red .. orange-yellow
COOL_BAND = (0.45, 0.68)        # hue: cyan .. blue
P_WARM = 0.7
P_ACCESSORY = 0.7
DARK_BAND = (0.12, 0.38)        # background brightness (HSV value)
LIGHT_BAND = (0.62, 0.88)


@dataclass(frozen=True)
class FactorInfo:
    """What one latent factor is and how it relates to the label."""

    description: str
    kind: str                                  # continuous | binary | categorical
    causal: bool = False                       # the label is a function of the causal factors only
    spurious: bool = False                     # correlated with the label in the sampled data, not a cause
    values: tuple | None = None                # binary / categorical values (index -> meaning)
    range: tuple[float, float] | None = None   # continuous: the sampled range(s) outer bounds


FACTORS: dict[str, FactorInfo] = {
    "object_hue": FactorInfo(
        "hue of the object (0..1 around the colour circle); warm if in [0.75, 1) or [0, 0.25), sampled from "
        f"the warm band {WARM_BAND} (mod 1, p={P_WARM}) or the cool band {COOL_BAND}",
        "continuous", causal=True, range=(0.0, 1.0)),
    "accessory": FactorInfo(
        "a mark on the object's centre: white dot in a black ring (1) or none (0), p=" + str(P_ACCESSORY),
        "binary", causal=True, values=(0, 1)),
    "background_brightness": FactorInfo(
        f"background brightness (HSV value): dark band {DARK_BAND} or light band {LIGHT_BAND}; light agrees "
        f"with label 1 in {SPURIOUS_AGREEMENT:.0%} of images",
        "continuous", spurious=True, range=(DARK_BAND[0], LIGHT_BAND[1])),
    "object_size": FactorInfo("object radius as a fraction of the image side", "continuous", range=(0.17, 0.28)),
    "shape": FactorInfo("object shape: 0 circle, 1 square, 2 triangle", "categorical", values=(0, 1, 2)),
    "position_x": FactorInfo("object centre, horizontal, fraction of the width", "continuous", range=(0.33, 0.67)),
    "position_y": FactorInfo("object centre, vertical, fraction of the height", "continuous", range=(0.33, 0.67)),
    "background_hue": FactorInfo("hue of the (weakly saturated) background", "continuous", range=(0.0, 1.0)),
    "stripes": FactorInfo("dark diagonal stripes on the object (1) or plain (0), p=0.5", "binary", values=(0, 1)),
}
CAUSAL_FACTORS = [k for k, v in FACTORS.items() if v.causal]        # ["object_hue", "accessory"]
SPURIOUS_FACTORS = [k for k, v in FACTORS.items() if v.spurious]    # ["background_brightness"]


# ----------------------------------------------------------------------------- factors and label
def is_warm(hue) -> np.ndarray:
    """True where the hue lies in the warm half of the colour circle, ``[0.75, 1) U [0, 0.25)``."""
    return ((np.asarray(hue) + 0.25) % 1.0) < 0.5


def is_light(brightness) -> np.ndarray:
    """True where the background is light (brightness >= 0.5)."""
    return np.asarray(brightness) >= 0.5


def label_rule(factors: dict) -> np.ndarray | int:
    """The class label: 1 (``warm_and_marked``) iff the object is warm **and** carries the mark.

    Args:
        factors: factor name -> values ``[N]`` (or scalars for one image); only the causal factors are read.

    Returns:
        int64 ``[N]`` labels, or an ``int`` when the factors are scalars.
    """
    warm = is_warm(factors["object_hue"])
    marked = np.asarray(factors["accessory"]).astype(bool)
    labels = (warm & marked).astype(np.int64)
    return int(labels) if labels.ndim == 0 else labels


def _band(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    return rng.uniform(lo, hi, n)


def sample_factors(n: int, seed: int, spurious_agreement: float = SPURIOUS_AGREEMENT) -> dict[str, np.ndarray]:
    """Draw the factors of ``n`` images, deterministically from ``seed``.

    Args:
        n: number of images.
        seed: random seed; the same seed always gives the same factors.
        spurious_agreement: P(light background == label); 0.5 makes the background independent.

    Returns:
        factor name -> ``[n]`` array (float32 for continuous factors, int64 otherwise).
    """
    rng = np.random.default_rng(seed)
    warm = rng.random(n) < P_WARM
    hue = np.where(warm, _band(rng, n, *WARM_BAND) % 1.0, _band(rng, n, *COOL_BAND))
    f = {
        "object_hue": hue,
        "accessory": (rng.random(n) < P_ACCESSORY).astype(np.int64),
        "object_size": _band(rng, n, *FACTORS["object_size"].range),
        "shape": rng.integers(0, len(SHAPES), n),
        "position_x": _band(rng, n, *FACTORS["position_x"].range),
        "position_y": _band(rng, n, *FACTORS["position_y"].range),
        "background_hue": rng.random(n),
        "stripes": (rng.random(n) < 0.5).astype(np.int64),
    }
    labels = label_rule(f)
    light = np.where(rng.random(n) < spurious_agreement, labels == 1, labels == 0)
    f["background_brightness"] = np.where(light, _band(rng, n, *LIGHT_BAND), _band(rng, n, *DARK_BAND))
    out = {}
    for name in FACTORS:   # fixed key order
        v = f[name]
        out[name] = v.astype(np.float32) if FACTORS[name].kind == "continuous" else v.astype(np.int64)
    return out


def _map_band(x: np.ndarray, src: tuple[float, float], dst: tuple[float, float]) -> np.ndarray:
    t = np.clip((x - src[0]) / (src[1] - src[0]), 0.0, 1.0)
    return dst[0] + t * (dst[1] - dst[0])


def flip_factor(name: str, values) -> np.ndarray:
    """The "opposite" value of a binary or two-band factor, keeping the position inside the band.

    ``object_hue``: warm <-> cool; ``background_brightness``: dark <-> light; binary: 0 <-> 1.

    Args:
        name: factor name.
        values: current values (array or scalar).

    Returns:
        Flipped values, same shape and dtype.
    """
    v = np.asarray(values)
    if name == "object_hue":
        unwrapped = np.where(v > 0.5, v - 1.0, v)   # warm band is continuous across 0
        out = np.where(is_warm(v), _map_band(unwrapped, WARM_BAND, COOL_BAND),
                       _map_band(v, COOL_BAND, WARM_BAND) % 1.0)
    elif name == "background_brightness":
        out = np.where(is_light(v), _map_band(v, LIGHT_BAND, DARK_BAND), _map_band(v, DARK_BAND, LIGHT_BAND))
    elif FACTORS.get(name) is not None and FACTORS[name].kind == "binary":
        out = 1 - v
    else:
        raise ValueError(f"factor {name!r} has no flip (only binary factors, object_hue, background_brightness)")
    return out.astype(v.dtype)


# ----------------------------------------------------------------------------- rendering
def _hsv_to_rgb(h: np.ndarray, s: float | np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB for ``[N]`` arrays; returns ``[N, 3]`` float32 in [0, 1]."""
    h = (np.asarray(h, np.float32) % 1.0) * 6.0
    s = np.broadcast_to(np.asarray(s, np.float32), h.shape)
    v = np.broadcast_to(np.asarray(v, np.float32), h.shape)
    i = np.floor(h).astype(np.int64) % 6
    f = h - np.floor(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack([np.stack(c, -1) for c in
                      [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]], 0)  # [6, N, 3]
    return table[i, np.arange(len(h))].astype(np.float32)


def default_supersample(resolution: int) -> int:
    """Drawing scale used for antialiasing: 4x up to 32 px, 3x up to 64 px, 2x above."""
    return 4 if resolution <= 32 else 3 if resolution <= 64 else 2


def _shape_mask(shape: int, dx: np.ndarray, dy: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Inside-the-object mask ``[m, S, S]`` for objects of one shape (``dx [m,1,S]``, ``dy [m,S,1]``, ``r [m,1,1]``)."""
    if shape == 0:                                                  # circle of radius r
        return dx * dx + dy * dy <= r * r
    if shape == 1:                                                  # square of half-side 0.85 r
        return np.maximum(np.abs(dx), np.abs(dy)) <= 0.85 * r
    # Equilateral triangle pointing up (image y grows downwards), circumradius 1.15 r, inradius 0.575 r:
    # inside iff the projection on each outward edge normal (minus a vertex direction) is <= the inradius.
    inside = None
    for vx, vy in ((0.0, -1.0), (0.8660254, 0.5), (-0.8660254, 0.5)):
        half = -(dx * vx + dy * vy) <= 0.575 * r
        inside = half if inside is None else inside & half
    return inside


def _box_down(mask: np.ndarray, resolution: int, ss: int) -> np.ndarray:
    """Coverage of a supersampled mask ``[n, S, S]`` -> ``[n, R, R]`` float32 in [0, 1]."""
    n = mask.shape[0]
    counts = mask.reshape(n, resolution, ss, resolution, ss).sum(axis=(2, 4), dtype=np.uint16)
    return counts.astype(np.float32) / (ss * ss)


def _render_chunk(f: dict[str, np.ndarray], resolution: int, ss: int) -> np.ndarray:
    """Render ``n`` images (factors as ``[n]`` arrays) -> uint8 ``[n, R, R, 3]``.

    Each image is a stack of flat-coloured regions (background, plain object, striped part, black ring,
    white dot). Their masks are drawn at ``ss`` x the resolution and box-averaged into coverages, then
    the colours are mixed at the output resolution; for flat colours this equals box-filtering the
    supersampled picture, at a third of the cost.
    """
    n, side = len(f["object_hue"]), resolution * ss
    grid = (np.arange(side, dtype=np.float32) + 0.5) / side                   # [S] pixel centres
    col = lambda a: np.asarray(a, np.float32)[:, None, None]                   # noqa: E731  [n] -> [n,1,1]
    dx = grid[None, None, :] - col(f["position_x"])                            # [n, 1, S]
    dy = grid[None, :, None] - col(f["position_y"])                            # [n, S, 1]
    r = col(f["object_size"])                                                  # [n, 1, 1]
    shape = np.asarray(f["shape"])

    inside = np.empty((n, side, side), dtype=bool)                             # [n, S, S]
    for k in range(len(SHAPES)):
        sel = np.nonzero(shape == k)[0]
        if len(sel):
            inside[sel] = _shape_mask(k, dx[sel], dy[sel], r[sel])
    d2 = dx * dx + dy * dy                                                     # [n, S, S]
    marked = (np.asarray(f["accessory"]) == 1)[:, None, None]
    dot = marked & (d2 <= (0.34 * r) ** 2)                                     # white dot
    ring = marked & (d2 <= (0.52 * r) ** 2)                                    # black ring (incl. dot)
    body = inside & ~ring
    striped = (np.asarray(f["stripes"]) == 1)[:, None, None] & ((((dx + dy) / (0.8 * r)) % 1.0) < 0.5)
    dark = body & striped

    c_dot, c_ring = _box_down(dot, resolution, ss), _box_down(ring, resolution, ss)       # [n, R, R]
    c_body, c_dark = _box_down(body, resolution, ss), _box_down(dark, resolution, ss)
    c_ring = c_ring - c_dot
    c_bg = 1.0 - c_ring - c_dot - c_body
    obj_rgb = _hsv_to_rgb(f["object_hue"], 0.85, np.full(n, 0.95, np.float32))[:, None, None, :]   # [n,1,1,3]
    bg_rgb = _hsv_to_rgb(f["background_hue"], 0.3, f["background_brightness"])[:, None, None, :]
    out_grid = (np.arange(resolution, dtype=np.float32) + 0.5) / resolution
    bg = np.clip(bg_rgb * (1.08 - 0.16 * out_grid)[None, :, None, None], 0.0, 1.0)  # soft light from above
    img = (c_bg[..., None] * bg + (c_body - 0.55 * c_dark)[..., None] * obj_rgb
           + c_ring[..., None] * 0.05 + c_dot[..., None] * 1.0)                     # [n, R, R, 3]
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def render(factors: dict, resolution: int, supersample: int | None = None, out: np.ndarray | None = None,
           chunk: int | None = None) -> np.ndarray:
    """Render images from factors.

    Args:
        factors: factor name -> ``[N]`` values (batched), or scalars for one image.
        resolution: output side length in pixels.
        supersample: drawing scale for antialiasing (default :func:`default_supersample`).
        out: optional ``uint8 [N, R, R, 3]`` array (e.g. a memmap) to fill in place.
        chunk: images drawn at once (default: about 4M supersampled pixels per chunk).

    Returns:
        uint8 ``[N, R, R, 3]`` (or ``[R, R, 3]`` for scalar factors).
    """
    single = np.ndim(factors["object_hue"]) == 0
    f = {k: np.atleast_1d(np.asarray(factors[k])) for k in FACTORS}
    n = len(f["object_hue"])
    ss = supersample or default_supersample(resolution)
    chunk = chunk or max(1, (1 << 22) // (resolution * ss) ** 2)
    if out is None:
        out = np.empty((n, resolution, resolution, 3), np.uint8)
    for s in range(0, n, chunk):
        out[s:s + chunk] = _render_chunk({k: v[s:s + chunk] for k, v in f.items()}, resolution, ss)
    return out[0] if single else out


def factors_of(factors: dict[str, np.ndarray], index: int) -> dict[str, np.ndarray]:
    """The factors of one image as scalars."""
    return {k: np.asarray(v)[index] for k, v in factors.items()}


def render_with(factors: dict[str, np.ndarray], index: int, resolution: int = 32, **changes) -> np.ndarray:
    """Re-render image ``index`` with some factors changed, e.g. ``render_with(f, 3, 32, accessory=0)``.

    Returns:
        uint8 ``[R, R, 3]``.
    """
    unknown = set(changes) - set(FACTORS)
    if unknown:
        raise ValueError(f"unknown factor(s) {sorted(unknown)}; factors are {list(FACTORS)}")
    one = factors_of(factors, index)
    one.update({k: np.asarray(v) for k, v in changes.items()})
    return render(one, resolution)


# ----------------------------------------------------------------------------- the world
class SyntheticWorld:
    """``size`` images' factors and labels for one seed, with deterministic train/val slices.

    The val split is the last ``round(size * val_fraction)`` images, train the rest (disjoint).
    """

    def __init__(self, seed: int = 0, size: int = 4000, spurious_agreement: float = SPURIOUS_AGREEMENT):
        if size < 2:
            raise ValueError("the synthetic world needs at least 2 images")
        self.seed, self.size, self.spurious_agreement = seed, size, spurious_agreement
        self.factors = sample_factors(size, seed, spurious_agreement)   # name -> [size]
        self.labels = label_rule(self.factors)                          # int64 [size]
        self.class_names = list(CLASS_NAMES)

    def split_slice(self, split: str, val_fraction: float = 0.1) -> slice:
        """Index range of ``split`` (train|val|all)."""
        n_val = min(self.size - 1, max(1, int(round(self.size * val_fraction)))) if val_fraction > 0 else 0
        return {"train": slice(0, self.size - n_val), "val": slice(self.size - n_val, self.size),
                "all": slice(0, self.size)}[split]

    def render(self, resolution: int, indices=None, out: np.ndarray | None = None) -> np.ndarray:
        """uint8 ``[M, R, R, 3]`` images of ``indices`` (default all)."""
        f = self.factors if indices is None else {k: v[indices] for k, v in self.factors.items()}
        return render(f, resolution, out=out)
