"""Checkpoints: atomic writes that keep the previous one, safe loads, and the RNG state needed for
bit-identical resumes.

A checkpoint is a plain dict of state dicts, tensors and JSON-like values, saved with
:func:`torch.save` and loaded with ``torch.load(weights_only=True)``: loading never runs code.
Writing a run's checkpoint keeps the one it replaces as ``checkpoint.prev.pt`` (the fallback when the newest
is damaged: ``stylex train --resume-from checkpoint.prev.pt``).
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_path
from ..errors import StylexError

CHECKPOINT_NAME = "checkpoint.pt"
PREVIOUS_NAME = "checkpoint.prev.pt"     # the checkpoint before the newest, kept as a fallback
DAMAGED_NAME = "checkpoint.damaged.pt"   # a damaged checkpoint.pt, set aside by --resume-from
RUN_CHECKPOINT_FORMAT = "stylex-run-checkpoint-v1"
RUN_CHECKPOINT_KEYS = ("G", "G_ema", "E", "D", "opt_G", "opt_E", "opt_D", "counters", "stream", "pl_mean", "rng")


def safe_load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint written by :func:`atomic_save` without unpickling arbitrary objects.

    Raises:
        StylexError: if the file is missing, corrupt, or holds anything but tensors and plain data.
    """
    path = Path(path)
    if not path.is_file():
        raise StylexError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():      # torch's notes on a damaged file would precede the one-line error
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise StylexError(f"checkpoint {path} {load_failure(exc)}") from None


def load_failure(exc: Exception) -> str:
    """What a failed ``torch.load(weights_only=True)`` means, for a message: refused content, or damage."""
    text = (str(exc).strip().splitlines() or [""])[0]
    if "Weights only load failed" in text:
        return ("holds objects other than tensors and plain data and was refused (loading it could run code); "
                "only state-dict checkpoints are accepted")
    return f"is damaged (truncated or corrupt: {exc.__class__.__name__}{': ' + text[:120] if text else ''})"


def load_run_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a training checkpoint of a run and check that it holds every part a resume needs.

    Raises:
        StylexError: the file is missing, damaged, refused, or not a run checkpoint (the message says which).
    """
    ck = safe_load(path, map_location)
    missing = [k for k in RUN_CHECKPOINT_KEYS if k not in ck] if isinstance(ck, dict) else ["everything"]
    if missing:
        raise StylexError(f"checkpoint {path} is damaged: it is not a stylex run checkpoint "
                          f"(missing {', '.join(missing)})")
    return ck


def save_run_checkpoint(obj: dict[str, Any], path: str | os.PathLike) -> None:
    """Write a run checkpoint atomically; the one it replaces becomes ``checkpoint.prev.pt`` beside it.

    The new file is complete on disk before the old one is rotated: the old one is hard-linked as the
    previous one (so ``path`` always names a complete checkpoint), then the new one is renamed over ``path``.
    Where hard links are not supported the old one is renamed instead (a kill in that instant leaves only
    ``checkpoint.prev.pt``, which ``--resume`` then offers).
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
        if path.is_file():
            _keep_previous(path, path.with_name(PREVIOUS_NAME))


def _keep_previous(path: Path, prev: Path) -> None:
    with atomic_path(prev) as link:
        try:
            os.link(path, link)
        except OSError:              # no hard links here (some network or FAT file systems)
            os.replace(path, link)


def rng_state() -> dict[str, Any]:
    """Capture every random number generator the training loop draws from."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": torch.from_numpy(np.frombuffer(_numpy_state_bytes(), dtype=np.uint8).copy()),
        "python": torch.tensor(_python_state_list(), dtype=torch.int64),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators captured by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    _set_numpy_state_bytes(state["numpy"].numpy().tobytes())
    _set_python_state_list(state["python"].tolist())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# numpy's and Python's generator states are converted to tensors so that weights_only loading
# accepts them.
def _numpy_state_bytes() -> bytes:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    header = np.array([pos, has_gauss], dtype=np.int64).tobytes() + np.array([cached], np.float64).tobytes()
    return header + np.asarray(keys, dtype=np.uint32).tobytes()


def _set_numpy_state_bytes(raw: bytes) -> None:
    pos, has_gauss = np.frombuffer(raw[:16], dtype=np.int64)
    cached = np.frombuffer(raw[16:24], dtype=np.float64)[0]
    keys = np.frombuffer(raw[24:], dtype=np.uint32)
    np.random.set_state(("MT19937", keys, int(pos), int(has_gauss), float(cached)))


def _python_state_list() -> list[int]:
    version, internal, gauss = random.getstate()
    return [version, 0 if gauss is None else 1, *internal]


def _set_python_state_list(values: list[int]) -> None:
    version, _, *internal = values
    random.setstate((version, tuple(internal), None))
