"""The real data sets in ../shared/data (skipped when absent)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stylex.cli import main
from stylex.data import DataSpec, inspect_dataset
from stylex.data.formats import resolve_listing
from stylex.data.images import decode_image

pytestmark = pytest.mark.real_data


def test_celeba_young_counts(shared_data, capsys, stylex_cache):
    root = shared_data / "celeba-10k"
    if not root.is_dir():
        pytest.skip("celeba-10k not present")
    assert main(["data", "--data", str(root), "--attribute", "Young", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "celeba" and info["num_images"] == 10000 and info["split"] == "all"
    assert info["class_counts"] == {"not_Young": 2229, "Young": 7771}
    assert info["resolution"] == "89x109"
    listing = resolve_listing(DataSpec(str(root), attribute="Young", split="train"))
    assert 8700 < len(listing.files) < 9300                          # ~10% hash-split val
    img = decode_image(listing.files[0], 64)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8 and img.std() > 10


def test_catsdogs_counts(shared_data, stylex_cache):
    root = shared_data / "catsdogs-5k"
    if not root.is_dir():
        pytest.skip("catsdogs-5k not present")
    tr = inspect_dataset(DataSpec(str(root), split="train"))
    assert tr["format"] == "folders" and tr["class_counts"] == {"cat": 2000, "dog": 2000}
    va = resolve_listing(DataSpec(str(root), split="val"))
    assert np.bincount(va.labels).tolist() == [500, 500]
    assert decode_image(va.files[-1], 32).shape == (32, 32, 3)
