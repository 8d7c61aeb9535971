"""Checkpoints: atomic writes, safe loads, and the RNG state needed for bit-identical resumes.

A checkpoint is a plain dict of state dicts, tensors and JSON-like values, saved with
:func:`torch.save` and loaded with ``torch.load(weights_only=True)``: loading never runs code.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import StylexError

CHECKPOINT_NAME = "checkpoint.pt"


def safe_load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """Load a checkpoint written by :func:`atomic_save` without unpickling arbitrary objects.

    Raises:
        StylexError: if the file is missing, corrupt, or holds anything but tensors and plain data.
    """
    path = Path(path)
    if not path.is_file():
        raise StylexError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise StylexError(
            f"cannot load checkpoint {path}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}. "
            "Only state-dict checkpoints are accepted (no pickled objects)."
        ) from None


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
