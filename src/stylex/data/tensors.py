"""Images as tensors: ``uint8`` pixels <-> float in [-1, 1], the range every network here works in."""

from __future__ import annotations

import numpy as np
import torch


def uint8_to_unit(x: torch.Tensor) -> torch.Tensor:
    """A ``uint8`` tensor (any layout) -> float in [-1, 1] (``x / 127.5 - 1``)."""
    return x.float().div(127.5).sub(1.0)


def images_to_tensor(u8: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """``uint8 [N, H, W, 3]`` -> float ``[N, 3, H, W]`` in [-1, 1] on ``device`` (converted there)."""
    x = torch.from_numpy(np.ascontiguousarray(u8)).to(device, non_blocking=True)
    return uint8_to_unit(x.permute(0, 3, 1, 2))


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``[N, 3, H, W]`` in [-1, 1] -> ``uint8 [N, H, W, 3]`` on the CPU (clamped, rounded)."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()
