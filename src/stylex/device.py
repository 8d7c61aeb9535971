"""Where the networks run: the ``--device`` rule and the mixed-precision (autocast) rule, in one place.

Used by training, inference (:mod:`stylex.trained_run`), AttFind and the report alike.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from .errors import StylexError


def resolve_device(name: str | torch.device, local_rank: int = 0) -> torch.device:
    """The device for ``--device``: ``auto`` -> this process's GPU when there is one, else the CPU.

    Args:
        name: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        local_rank: the GPU of this process when ``name`` names no index (``torchrun``'s LOCAL_RANK).

    Raises:
        StylexError: not a device, or a CUDA device was asked for on a machine without one.
    """
    if str(name) == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise StylexError(f"--device {name!r} is not a device: use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise StylexError(f"--device {name} was asked for but no CUDA GPU is available; use --device cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def precision_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a ``--precision`` setting: ``auto`` is bf16 on CUDA and none (fp32) on the CPU."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    return torch.bfloat16 if precision == "bf16" else None


def autocast(device: torch.device, dtype: torch.dtype | None, on_cpu: bool = False):
    """Autocast to ``dtype`` (None or float32: none) on CUDA; on the CPU only when ``on_cpu``.

    Only ``stylex train --precision bf16`` autocasts on the CPU (``on_cpu=True``); inference keeps
    float32 there.
    """
    if dtype is None or dtype == torch.float32 or (device.type != "cuda" and not on_cpu):
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
