"""AttFind generation step: the effect of every single-coordinate StyleSpace edit on the classifier.

``effects[n, d, k, c] = logits(G(s_n with s_k -> extreme_d))[c] - logits(G(s_n))[c]`` where the
extremes are ``style_min[k]`` (d=0) and ``style_max[k]`` (d=1) over the N images and the edit uses
shift factor 1 (docs/METHOD.md section 5). The edit is a per-sample style offset
(``generator.synthesize(styles, offsets)``), never a change of weights.

:func:`compute_effects` is the fast path: many (image, coordinate, direction) edits per generator
call, grouped by synthesis block so that the blocks before the edited one are computed once per
image (the generator's partial-recompute seam ``synthesis.block_states`` / ``synthesis.forward_from``;
full synthesis when the generator has no such seam), memory bounded by ``batch_size``, resumable
chunk by chunk. :func:`compute_effects_reference` is the brute-force oracle (one image, one
coordinate, one direction per call, full synthesis), the way the authors' notebook does it.
"""

from __future__ import annotations

import hashlib
import sys
import time
import warnings
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path
from ..device import autocast
from ..errors import StylexError

EFFECTS_KEYS = ("effects", "style_min", "style_max", "styles", "latents", "base_logits", "image_ids")


@dataclass
class EffectsResult:
    """Output of the generation step (the contents of ``effects.npz``).

    effects: ``[N, 2, S, K]`` float32 logit differences (zero for coordinates not computed).
    style_min, style_max: ``[S]`` float32. styles: ``[N, S]`` float32. latents: ``[N, D]`` float32.
    base_logits: ``[N, K]`` float32 (classifier on the unedited generated images).
    image_ids: ``[N]`` int64. coords: ``[C]`` int64, the coordinates whose effects were computed.
    """

    effects: np.ndarray
    style_min: np.ndarray
    style_max: np.ndarray
    styles: np.ndarray
    latents: np.ndarray
    base_logits: np.ndarray
    image_ids: np.ndarray
    coords: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def base_class(self) -> np.ndarray:
        """``[N]`` argmax of the classifier on the generated images."""
        return self.base_logits.argmax(axis=1)


# ------------------------------------------------------------------------------ helpers
def _device_of(module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


@contextmanager
def eval_mode(*modules):
    """Put torch modules in eval mode for the duration (batch-norm statistics and dropout must not
    depend on how edits are batched), restoring each one's mode afterwards. Non-modules are ignored."""
    mods = [m for m in modules if isinstance(m, torch.nn.Module)]
    modes = [[(sub, sub.training) for sub in m.modules()] for m in mods]
    for m in mods:
        m.eval()
    try:
        yield
    finally:
        for saved in modes:
            for sub, mode in saved:
                sub.training = mode


def _autocast(device: torch.device, dtype: torch.dtype | None):
    """bf16/fp16 autocast on the device (CUDA or CPU) when asked for; float32 (no autocast) otherwise."""
    return autocast(device, dtype, on_cpu=True)


def _check_coords(coords, S: int) -> np.ndarray:
    if coords is None:
        return np.arange(S, dtype=np.int64)
    coords = np.unique(np.asarray(coords, dtype=np.int64))
    if coords.size and (coords[0] < 0 or coords[-1] >= S):
        raise StylexError(f"AttFind coordinates out of range [0, {S}): check the --coords option")
    return coords


@torch.no_grad()
def _base_pass(generator, classifier, latents: torch.Tensor, batch_size: int, device, dtype):
    """Styles, style extremes and base logits of all images, batch by batch.

    Returns:
        ``(styles [N, S] float32 cpu, base_logits [N, K] float32 cpu)``.
    """
    flats, logits = [], []
    for i in range(0, len(latents), batch_size):
        lat = latents[i:i + batch_size].to(device)
        st = generator.styles(lat)                                      # styles stay float32
        with _autocast(device, dtype):
            logits.append(classifier(generator.synthesize(st)).float().cpu())
        flats.append(st.flat().float().cpu())
    return torch.cat(flats), torch.cat(logits)


def _result(effects, styles, latents, base_logits, image_ids, coords) -> EffectsResult:
    N = len(styles)
    ids = np.arange(N, dtype=np.int64) if image_ids is None else np.asarray(image_ids, dtype=np.int64)
    if ids.shape != (N,):
        raise StylexError(f"image_ids has {ids.shape} entries for {N} latents: give one id per latent")
    return EffectsResult(effects=effects, style_min=styles.min(0).values.numpy(),
                         style_max=styles.max(0).values.numpy(), styles=styles.numpy(),
                         latents=latents.detach().float().cpu().numpy(), base_logits=base_logits.numpy(),
                         image_ids=ids, coords=coords)


def _check_latents(latents) -> torch.Tensor:
    latents = torch.as_tensor(latents)
    if latents.ndim != 2 or len(latents) == 0:
        raise StylexError(f"AttFind latents have shape {tuple(latents.shape)}: expected [N, D] with N >= 1")
    return latents


# ----------------------------------------------------------------------- partial recompute
class _Synthesis:
    """Full synthesis, or synthesis from the input of block b with the generator's seam.

    Seam (``stylex.models.generator``): ``synthesis.block_states(styles, noise_mode)`` returns the
    ``BlockState(x, img)`` entering every block; ``synthesis.forward_from(b, x, img, styles, offsets,
    noise_mode)`` runs blocks ``b..end``; ``layout.layers[l].block_index`` is the block of conv layer l.
    Without the seam every coordinate counts as block 0 and every edit is a full synthesis.
    """

    def __init__(self, generator, use_seam: bool = True):
        self.G = generator
        synth = getattr(generator, "synthesis", None)
        layers = generator.layout.layers
        self.seam = (use_seam and synth is not None and hasattr(synth, "block_states")
                     and hasattr(synth, "forward_from") and all(hasattr(li, "block_index") for li in layers))
        S = generator.layout.num_coords
        self.block_of = np.zeros(S, dtype=np.int64)                 # [S] block of each coordinate
        if self.seam:
            for li in layers:
                self.block_of[li.start:li.start + li.width] = li.block_index

    def states(self, styles, block: int):
        """``(x, img)`` entering ``block`` for a batch of unedited styles (None without the seam)."""
        if not self.seam or block == 0:
            return None
        return tuple(self.G.synthesis.block_states(styles, noise_mode="const")[block])

    def run(self, styles, offsets, block: int, state):
        """Images ``[B, 3, H, W]`` from styles + offsets, starting at ``block`` when the seam exists."""
        if state is None:
            return self.G.synthesize(styles, offsets, noise_mode="const")
        x, img = state
        return self.G.synthesis.forward_from(block, x, img, styles, offsets, noise_mode="const")


def _index_styles(styles, idx: torch.Tensor):
    """Styles of the rows ``idx`` (any object with ``conv``/``torgb`` tensor lists, e.g. ``Styles``)."""
    return type(styles)(conv=[t[idx] for t in styles.conv], torgb=[t[idx] for t in styles.torgb])


def _index_state(state, idx: torch.Tensor):
    """Rows ``idx`` of every tensor in a block state (None stays None)."""
    if state is None:
        return None
    return tuple(None if t is None else t[idx] for t in state)


def _chunks(coords: np.ndarray, block_of: np.ndarray, chunk_coords: int) -> list[np.ndarray]:
    """Coordinates split into chunks that never cross a synthesis block."""
    out = []
    for b in np.unique(block_of[coords]):
        cs = coords[block_of[coords] == b]
        out.extend(cs[i:i + chunk_coords] for i in range(0, len(cs), chunk_coords))
    return out


def _fingerprint(latents: torch.Tensor, S: int, K: int, *modules) -> str:
    """Identity of a run for resuming: latents, sizes and a checksum of every model parameter."""
    h = hashlib.sha1(latents.detach().float().cpu().numpy().tobytes())
    h.update(f"{S},{K}".encode())
    for m in modules:
        if isinstance(m, torch.nn.Module):
            h.update(",".join(f"{float(p.detach().double().sum()):.6e}" for p in m.parameters()).encode())
    return h.hexdigest()


def _atomic_savez(path: Path, **arrays) -> None:
    with atomic_path(path, suffix=".tmp.npz") as tmp:
        np.savez(tmp, **arrays)


@torch.no_grad()
def _chunk_effects(syn: _Synthesis, classifier, styles_all, flat: torch.Tensor, base_logits: torch.Tensor,
                   smin: torch.Tensor, smax: torch.Tensor, coords: np.ndarray, block: int,
                   batch_size: int, device, dtype, bar) -> np.ndarray:
    """Effects ``[N, 2, C, K]`` of the coordinates ``coords`` (all in synthesis block ``block``).

    Images are taken in groups of ``max(1, batch_size // 2C)``; the state entering ``block`` is
    computed once per group, then the group's edits ((n, k, d), d fastest) run ``batch_size`` at a time.
    """
    N, S = flat.shape
    C, K = len(coords), base_logits.shape[1]
    out = torch.zeros(N * C * 2, K)                                   # edit e = (n * C + j) * 2 + d
    coords_t = torch.as_tensor(coords, device=device)
    group = max(1, batch_size // (2 * C))
    for g0 in range(0, N, group):
        imgs = torch.arange(g0, min(g0 + group, N), device=device)     # [G]
        st_g = _index_styles(styles_all, imgs)
        with _autocast(device, dtype):
            state_g = syn.states(st_g, block)                          # (x, img) entering block, [G, ...]
        total = len(imgs) * C * 2
        for e0 in range(0, total, batch_size):
            e = torch.arange(e0, min(e0 + batch_size, total), device=device)   # [B] local edit ids
            m, j, d = e // (2 * C), (e // 2) % C, e % 2                 # local image, coord slot, direction
            n, k = imgs[m], coords_t[j]                                 # [B] global image, coordinate
            target = torch.where(d == 1, smax[k], smin[k])               # [B]
            offsets = torch.zeros(len(e), S, device=device, dtype=flat.dtype)  # [B, S]
            offsets[torch.arange(len(e), device=device), k] = target - flat[n, k]
            state = state_g if len(imgs) == 1 else _index_state(state_g, m)  # batch 1 broadcasts
            with _autocast(device, dtype):
                img = syn.run(_index_styles(st_g, m), offsets, block, state)
                logits = classifier(img).float()
            out[g0 * C * 2 + e0:g0 * C * 2 + e0 + len(e)] = (logits - base_logits[n]).cpu()
            if bar is not None:
                bar.update(len(e))
    return out.reshape(N, C, 2, K).permute(0, 2, 1, 3).numpy()          # [N, 2, C, K]


def compute_effects(generator, classifier, latents, *, batch_size: int = 256, coords=None, device=None,
                    dtype: torch.dtype | None = None, progress: bool = True, chunk_dir=None,
                    chunk_coords: int = 256, image_ids=None, use_seam: bool = True) -> EffectsResult:
    """AttFind generation step, batched (docs/METHOD.md section 5, "Effects").

    Args:
        generator: ``Generator`` (``styles``, ``synthesize``, ``layout``; optionally the
            ``synthesis.block_states`` / ``synthesis.forward_from`` seam).
        classifier: images in [-1, 1] -> logits ``[N, K]``.
        latents: ``[N, D]`` synthesis latents (w ++ p).
        batch_size: edits per generator call (bounds memory whatever N and S).
        coords: optional subset of flat coordinates; the others keep effect 0.
        device: where to compute (default: the generator's device).
        dtype: None/float32, or torch.bfloat16 / torch.float16 for autocast (CUDA or CPU).
        progress: tqdm bar counting edits (edits/s).
        chunk_dir: optional folder; each finished chunk of coordinates is saved there
            (``chunk_XXXXX.npz``, atomic) and loaded instead of recomputed on a restart.
        chunk_coords: coordinates per chunk (chunks never cross a synthesis block).
        image_ids: optional ``[N]`` ids stored with the result (default 0..N-1).
        use_seam: False forces full synthesis for every edit (for comparison).

    Returns:
        :class:`EffectsResult`.
    """
    if batch_size < 1 or chunk_coords < 1:
        raise StylexError(f"AttFind batch_size={batch_size}, chunk_coords={chunk_coords}: use 1 or more")
    with eval_mode(generator, classifier):
        return _compute_effects(generator, classifier, latents, batch_size, coords, device, dtype, progress,
                                chunk_dir, chunk_coords, image_ids, use_seam)


def _say(line: str) -> None:
    """A line on stderr, outside any progress bar (the cost of AttFind before and while it runs)."""
    print(line, file=sys.stderr, flush=True)


def _load_chunk(path: Path, fingerprint: str, coords: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """A saved chunk's effects; None (with a warning) when the file is damaged, so that it is recomputed.

    Raises:
        StylexError: the chunk is intact but belongs to another AttFind run.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            fp, saved_coords, eff = str(z["fingerprint"]), z["coords"], z["effects"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        warnings.warn(f"AttFind chunk {path} is damaged ({type(exc).__name__}: {exc}); recomputing it")
        return None
    if fp != fingerprint or not np.array_equal(saved_coords, coords):
        raise StylexError(f"{path} belongs to another AttFind run (other latents, model or "
                          "coordinates): delete the chunk folder or pick another one")
    if eff.shape != shape:
        warnings.warn(f"AttFind chunk {path} holds effects of shape {eff.shape}, not {shape}; recomputing it")
        return None
    return eff


def _compute_effects(generator, classifier, latents, batch_size, coords, device, dtype, progress, chunk_dir,
                     chunk_coords, image_ids, use_seam) -> EffectsResult:
    latents = _check_latents(latents)
    device = torch.device(device) if device is not None else _device_of(generator)
    S = generator.layout.num_coords
    coords = _check_coords(coords, S)
    flat_cpu, base_cpu = _base_pass(generator, classifier, latents, batch_size, device, dtype)
    N, K = base_cpu.shape
    flat, base_logits = flat_cpu.to(device), base_cpu.to(device)
    smin, smax = flat.min(0).values, flat.max(0).values                  # [S]
    with torch.no_grad():
        styles_all = generator.styles(latents.to(device))                # per-layer styles of all N (fp32)
    syn = _Synthesis(generator, use_seam)
    chunks = _chunks(coords, syn.block_of, chunk_coords)
    effects = np.zeros((N, 2, S, K), dtype=np.float32)
    cdir = Path(chunk_dir) if chunk_dir is not None else None
    fp = _fingerprint(latents, S, K, generator, classifier)
    todo = []
    for i, cs in enumerate(chunks):
        path = cdir / f"chunk_{i:05d}.npz" if cdir is not None else None
        if path is not None and path.exists():
            saved = _load_chunk(path, fp, cs, (N, 2, len(cs), K))
            if saved is not None:
                effects[:, :, cs] = saved
                continue
        todo.append((i, cs, path))
    from tqdm.auto import tqdm
    total = sum(N * 2 * len(cs) for _, cs, _ in todo)
    _say(f"AttFind: {total:,} edits to compute ({N} images x 2 directions x {sum(len(cs) for _, cs, _ in todo)} "
         f"coordinates, {len(todo)} chunks; {len(chunks) - len(todo)} chunks reused); the time estimate follows "
         "the first chunk")
    bar = tqdm(total=total, unit="edit", unit_scale=True, desc="AttFind effects", disable=not progress)
    t0, done = time.perf_counter(), 0
    try:
        for j, (i, cs, path) in enumerate(todo):
            eff = _chunk_effects(syn, classifier, styles_all, flat, base_logits, smin, smax, cs,
                                 int(syn.block_of[cs[0]]), batch_size, device, dtype, bar)
            effects[:, :, cs] = eff
            if path is not None:
                _atomic_savez(path, effects=eff, coords=cs, fingerprint=np.array(fp))
            done += N * 2 * len(cs)
            if not progress or j == 0:   # a line per chunk in logs; the bar shows it otherwise
                elapsed = time.perf_counter() - t0
                _say(f"AttFind chunk {j + 1}/{len(todo)}: {done:,}/{total:,} edits in {elapsed:.0f} s "
                     f"({done / elapsed:.0f} edits/s), about {(total - done) * elapsed / done / 60:.1f} min left")
    finally:
        bar.close()
    return _result(effects, flat_cpu, latents, base_cpu, image_ids, coords)


@torch.no_grad()
def compute_effects_reference(generator, classifier, latents, *, coords=None, device=None,
                              progress: bool = False, image_ids=None) -> EffectsResult:
    """Brute-force oracle of :func:`compute_effects`: one image, one coordinate, one direction per
    generator call, full synthesis (the authors' notebook loop). Slow; for tests and benchmarks.

    Args:
        generator, classifier, latents, coords, device, image_ids: as :func:`compute_effects`.
        progress: tqdm bar over images.

    Returns:
        :class:`EffectsResult`.
    """
    with eval_mode(generator, classifier):
        return _reference(generator, classifier, latents, coords, device, progress, image_ids)


@torch.no_grad()
def _reference(generator, classifier, latents, coords, device, progress, image_ids) -> EffectsResult:
    latents = _check_latents(latents)
    device = torch.device(device) if device is not None else _device_of(generator)
    S = generator.layout.num_coords
    coords = _check_coords(coords, S)
    flats, bases = [], []
    for n in range(len(latents)):
        st = generator.styles(latents[n:n + 1].to(device))
        flats.append(st.flat().float())
        bases.append(classifier(generator.synthesize(st, noise_mode="const")).float())
    flat, base = torch.cat(flats), torch.cat(bases)                      # [N, S], [N, K]
    smin, smax = flat.min(0).values, flat.max(0).values
    N, K = base.shape
    effects = np.zeros((N, 2, S, K), dtype=np.float32)
    from tqdm.auto import tqdm
    for n in tqdm(range(N), desc="AttFind reference", disable=not progress):
        st = generator.styles(latents[n:n + 1].to(device))
        for k in coords.tolist():
            for d, target in enumerate((smin[k], smax[k])):
                offsets = torch.zeros(1, S, device=device)
                offsets[0, k] = target - flat[n, k]
                logits = classifier(generator.synthesize(st, offsets, noise_mode="const")).float()
                effects[n, d, k] = (logits[0] - base[n]).cpu().numpy()
    return _result(effects, flat.cpu(), latents, base.cpu(), image_ids, coords)


# ------------------------------------------------------------------------------ storage
def save_effects(path, result: EffectsResult) -> None:
    """Write ``effects.npz`` atomically (keys: see docs/INTERFACES.md, plus ``coords``).

    Args:
        path: destination file.
        result: the :class:`EffectsResult`.
    """
    arrays = {k: np.asarray(getattr(result, k)) for k in EFFECTS_KEYS}
    arrays["effects"] = arrays["effects"].astype(np.float32)
    _atomic_savez(Path(path), coords=np.asarray(result.coords, dtype=np.int64), **arrays)


def load_effects(path) -> EffectsResult:
    """Read an ``effects.npz`` written by :func:`save_effects` (no pickles).

    Args:
        path: the file.

    Returns:
        :class:`EffectsResult`.
    """
    path = Path(path)
    if not path.is_file():
        raise StylexError(f"effects file {path} not found: run `stylex attfind` first or fix the path")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in EFFECTS_KEYS if k not in z.files]
            if missing:
                raise StylexError(f"{path} lacks {missing}: not an AttFind effects file; recompute it")
            data = {k: z[k] for k in EFFECTS_KEYS}
            coords = z["coords"] if "coords" in z.files else np.arange(data["effects"].shape[2], dtype=np.int64)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:   # truncated or damaged
        raise StylexError(f"cannot read effects file {path} ({type(exc).__name__}: {exc}): it is damaged; "
                          "recompute it with `stylex attfind` (finished chunks are reused)") from None
    return EffectsResult(coords=coords, **data)
