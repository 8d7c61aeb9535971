"""Checks ``stylex train`` makes before it builds any network: a batch the data can fill, and whether the
classifier still works at the generator's resolution.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch

from ..data import DataSpec, open_dataset
from ..data.tensors import images_to_tensor
from ..errors import StylexError
from .checkpoint import rng_state, set_rng_state
from .config import TrainConfig

# Warn when the classifier's validation accuracy at the generator's resolution is more than this much (5
# points) below its accuracy at its own resolution: past it the run explains a noticeably weaker classifier,
# and with at most CLASSIFIER_CHECK_IMAGES paired images a drop this size is rarely sampling noise.
ACCURACY_DROP_WARN = 0.05
CLASSIFIER_CHECK_IMAGES = 512


def check_batch(cfg: TrainConfig, num_images: int, world_size: int) -> None:
    """Refuse a batch the training set cannot fill, or one the processes and passes cannot split, before any
    memory is allocated for it (a batch far beyond the data set used to grow until the kernel killed it)."""
    if cfg.batch_size > num_images:
        raise StylexError(f"--batch {cfg.batch_size} is more than the {num_images} training images: every step "
                          f"would hold each image several times (and may not fit in memory); give --batch "
                          f"{num_images} or less")
    batch_gpu = cfg.batch_per_pass(world_size)
    if cfg.batch_size % world_size or batch_gpu < 1 or (cfg.batch_size // world_size) % batch_gpu:
        raise StylexError(f"--batch {cfg.batch_size} must be divisible by the number of processes "
                          f"({world_size}) times --batch-gpu ({batch_gpu})")


def own_resolution(classifier) -> int | None:
    """The size of the images the classifier was trained on (None when unknown)."""
    config = getattr(classifier, "config", None)
    return getattr(config, "resolution", None) or getattr(classifier, "input_size", None)


def check_classifier_resolution(classifier, data: DataSpec, device: torch.device, say=None) -> dict | None:
    """Measure the classifier on validation images at its own resolution and at the generator's (``data``'s,
    resized by the data pipeline exactly as training feeds it); warn with both figures when it falls by more
    than :data:`ACCURACY_DROP_WARN`.

    Skipped (None) when the resolutions are equal or unknown, or when the data has no labelled validation
    split with the classifier's classes. Uses at most :data:`CLASSIFIER_CHECK_IMAGES` images and leaves every
    random number generator as it found it (a run's initial weights do not depend on this check).

    Returns:
        ``{"images", "own_resolution", "resolution", "accuracy_own", "accuracy"}`` or None.
    """
    own = own_resolution(classifier)
    if own is None or own == data.resolution:
        return None
    state = rng_state()
    try:
        pair = _validation_pair(classifier, data, own)
        if pair is None:
            return None
        (x_own, x_gen), labels = pair
        result = {"images": len(labels), "own_resolution": own, "resolution": data.resolution,
                  "accuracy_own": _accuracy(classifier, x_own, labels, device),
                  "accuracy": _accuracy(classifier, x_gen, labels, device)}
    finally:
        set_rng_state(state)
    _report(result, say)
    return result


def _report(r: dict, say) -> None:
    figures = (f"the classifier's accuracy on {r['images']} validation images is {r['accuracy_own']:.3f} at its "
               f"own {r['own_resolution']} px and {r['accuracy']:.3f} at the generator's {r['resolution']} px "
               "(resized as training feeds it)")
    if r["accuracy_own"] - r["accuracy"] > ACCURACY_DROP_WARN:
        warnings.warn(f"{figures}: the run would explain a weaker classifier than yours; train the classifier at "
                      f"--resolution {r['resolution']}, or StylEx at --resolution {r['own_resolution']}")
    elif say is not None:
        say(figures)


def _validation_pair(classifier, data: DataSpec, own: int):
    """``((images at own px, images at data px), classifier labels)`` of the same validation images, or None."""
    try:
        splits = [open_dataset(dataclasses.replace(data, split="val", resolution=r), progress=False)
                  for r in (own, data.resolution)]
    except StylexError:
        return None
    names = [str(c) for c in classifier.class_names]
    ds = splits[0]
    if len(ds) != len(splits[1]) or not set(ds.class_names) <= set(names):
        return None
    to_clf = np.array([names.index(str(c)) for c in ds.class_names] + [-1], dtype=np.int64)
    labels = to_clf[np.where(ds.labels >= 0, ds.labels, len(ds.class_names))]
    idx = np.flatnonzero(labels >= 0)
    idx = np.sort(np.random.default_rng(0).permutation(idx)[:CLASSIFIER_CHECK_IMAGES])
    if len(idx) == 0:
        return None
    return tuple(s.uint8_images()[idx] for s in splits), labels[idx]


@torch.no_grad()
def _accuracy(classifier, images_u8: np.ndarray, labels: np.ndarray, device: torch.device) -> float:
    correct = 0
    for i in range(0, len(labels), 64):
        logits = classifier(images_to_tensor(images_u8[i:i + 64], device))
        correct += int((logits.argmax(1).cpu().numpy() == labels[i:i + 64]).sum())
    return correct / len(labels)
