"""Data: folders of images (CelebA, FFHQ, class folders, CSV, plain images) or the synthetic world.

Everything is decoded once into a memory-mapped ``uint8 [N, H, W, 3]`` cache; ``ImageDataset`` items
are float ``[3, H, W]`` tensors in ``[-1, 1]`` made on the fly.

    >>> from stylex.data import DataSpec, open_dataset
    >>> ds = open_dataset(DataSpec("data/celeba", attribute="Young", resolution=64))
    >>> x, y = ds[0]            # [3, 64, 64] in [-1, 1], 0 = not_Young / 1 = Young
"""

from .dataset import ImageDataset, inspect_dataset, open_dataset
from .formats import DataSpec

__all__ = ["DataSpec", "ImageDataset", "inspect_dataset", "open_dataset"]
