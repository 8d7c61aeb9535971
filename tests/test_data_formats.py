"""Loaders of every on-disk format, label pairing by name, bad input, the decode cache and the CLI."""

from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from stylex.cli import main
from stylex.data import DataSpec, inspect_dataset, open_dataset
from stylex.data import cache as cache_mod
from stylex.data import images as images_mod
from stylex.data.formats import detect_format, in_val_split
from stylex.errors import StylexError

ATTRS = ["Smiling", "Young", "Male"]


def solid(path, colour, size=(20, 24), mode="RGB"):
    """Write a solid-colour image; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).convert(mode).save(path)
    return path


def make_celeba(root, n=6, partition=False):
    """Tiny CelebA layout; image i is red if Young (+1) else blue. Attribute rows are in reverse order."""
    img = root / "img_align_celeba"
    rows = []
    for i in range(1, n + 1):
        name = f"{i:06d}.jpg"
        young = 1 if i % 3 else -1
        solid(img / name, (255, 0, 0) if young > 0 else (0, 0, 255))
        rows.append(f"{name}  {1 if i % 2 else -1} {young:2d} -1")
    text = f"{n}\n{' '.join(ATTRS)}\n" + "\n".join(reversed(rows)) + "\n"
    (root / "list_attr_celeba.txt").write_text(text)
    if partition:
        (root / "list_eval_partition.txt").write_text(
            "".join(f"{i:06d}.jpg {0 if i <= 3 else (1 if i == 4 else 2)}\n" for i in range(1, n + 1)))
    return root


def spec(path, cache, **kw):
    return DataSpec(path=str(path), cache_dir=str(cache), resolution=16, **kw)


# ----------------------------------------------------------------------------- celeba
def test_celeba_labels_by_name_and_hash_split(tmp_path):
    root = make_celeba(tmp_path / "celeba")
    assert detect_format(DataSpec(str(root))) == "celeba"
    ds = open_dataset(spec(root, tmp_path / "c", attribute="Young", split="all"))
    assert ds.class_names == ["not_Young", "Young"] and ds.format == "celeba"
    assert [p.rsplit("/", 1)[1] for p in ds.files] == [f"{i:06d}.jpg" for i in range(1, 7)]
    u8 = ds.uint8_images()
    assert u8.shape == (6, 16, 16, 3) and u8.dtype == np.uint8
    # red images are exactly the Young ones, although the attribute file lists rows in reverse
    assert ((u8[:, 8, 8, 0] > 128).astype(int) == ds.labels).all()
    assert ds.labels.tolist() == [1, 1, 0, 1, 1, 0]
    x, y = ds[2]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and y == 0
    assert -1.0 <= x.min() and x.max() <= 1.0 and x[2].mean() > 0.9   # blue channel ~ +1
    info = inspect_dataset(spec(root, tmp_path / "c", attribute="Young", split="all"))
    assert info["class_counts"] == {"not_Young": 2, "Young": 4} and info["resolution"] == "20x24"
    # hash split: disjoint, covers everything, independent of listing order
    tr = open_dataset(spec(root, tmp_path / "c", attribute="Young", split="train", val_fraction=0.5))
    va = open_dataset(spec(root, tmp_path / "c", attribute="Young", split="val", val_fraction=0.5))
    assert sorted(tr.files + va.files) == sorted(ds.files) and not set(tr.files) & set(va.files)
    assert all(in_val_split(f.rsplit("/", 1)[1], 0.5) for f in va.files)


def test_celeba_partition_file_and_unlabelled(tmp_path):
    root = make_celeba(tmp_path / "celeba", partition=True)
    tr = open_dataset(spec(root, tmp_path / "c", attribute="Smiling", split="train"))
    va = open_dataset(spec(root, tmp_path / "c", attribute="Smiling", split="val"))
    assert len(tr) == 3 and len(va) == 3   # partition 1 (val) and 2 (test) both count as val
    assert tr.labels.tolist() == [1, 0, 1]
    un = open_dataset(spec(root, tmp_path / "c", split="all"))
    assert un.class_names == [] and (un.labels == -1).all()
    assert "Young" in inspect_dataset(spec(root, tmp_path / "c"))["attributes"]


def test_celeba_unknown_attribute_lists_names(tmp_path):
    root = make_celeba(tmp_path / "celeba")
    with pytest.raises(StylexError, match="valid names are Smiling, Young, Male"):
        open_dataset(spec(root, tmp_path / "c", attribute="Old"))


def test_celeba_missing_files_are_named(tmp_path):
    root = make_celeba(tmp_path / "celeba")
    (root / "img_align_celeba" / "000002.jpg").unlink()
    with pytest.raises(StylexError, match="000002.jpg"):
        inspect_dataset(spec(root, tmp_path / "c", attribute="Young"))


# ----------------------------------------------------------------------------- folders
def test_folders_with_and_without_split(tmp_path):
    afhq = tmp_path / "afhq"
    for split, n in (("train", 3), ("val", 2)):
        for cls, colour in (("dog", (0, 255, 0)), ("cat", (255, 0, 0))):
            for i in range(n):
                solid(afhq / split / cls / f"{cls}{i}.png", colour)
    assert detect_format(DataSpec(str(afhq))) == "folders"
    tr = open_dataset(spec(afhq, tmp_path / "c", split="train"))
    assert tr.class_names == ["cat", "dog"] and len(tr) == 6 and tr.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert (tr.uint8_images()[:3, 0, 0] == [255, 0, 0]).all()
    va = inspect_dataset(spec(afhq, tmp_path / "c", split="val"))
    assert va["class_counts"] == {"cat": 2, "dog": 2}
    assert inspect_dataset(spec(afhq, tmp_path / "c", split="all"))["num_images"] == 10

    flat = tmp_path / "flat"
    for cls in ("b", "a"):
        for i in range(4):
            solid(flat / cls / f"{i}.jpg", (10, 20, 30))
    ds = open_dataset(spec(flat, tmp_path / "c", split="all"))
    assert ds.class_names == ["a", "b"] and ds.class_counts() == {"a": 4, "b": 4}


# ----------------------------------------------------------------------------- csv
def test_csv_string_and_int_labels_paired_by_name(tmp_path):
    root = tmp_path / "csvdata"
    colours = {"z.png": (255, 0, 0), "a.png": (0, 0, 255), "m.png": (255, 0, 0), "extra.png": (0, 0, 0)}
    for name, c in colours.items():
        solid(root / "imgs" / name, c)
    (root / "labels.csv").write_text("file,colour,code\nz.png,red,10\na.png,blue,9\nimgs/m.png,red,10\n")
    assert detect_format(DataSpec(str(root))) == "csv"
    with pytest.raises(StylexError, match="--attribute: colour, code"):
        open_dataset(spec(root, tmp_path / "c", split="all"))
    with pytest.raises(StylexError, match=r"'blue': 1, 'red': 2\); 1 of them label a single image"):
        open_dataset(spec(root, tmp_path / "c", split="all", attribute="colour"))
    with pytest.warns(UserWarning, match="1 image"):   # a class of one image is kept when asked for
        ds = open_dataset(spec(root, tmp_path / "c", split="all", attribute="colour", allow_singleton_classes=True))
    assert ds.class_names == ["blue", "red"]
    assert [f.rsplit("/", 1)[1] for f in ds.files] == ["a.png", "m.png", "z.png"]
    assert ds.labels.tolist() == [0, 1, 1]
    with pytest.warns(UserWarning):
        ints = open_dataset(spec(root, tmp_path / "c", split="all", attribute="code", allow_singleton_classes=True))
    assert ints.class_names == ["9", "10"] and ints.labels.tolist() == [0, 1, 1]   # numeric sort


def test_csv_missing_file_is_named(tmp_path):
    root = tmp_path / "csvdata"
    solid(root / "a.png", (1, 2, 3))
    (root / "labels.csv").write_text("file,label\na.png,x\nghost.png,y\n")
    with pytest.raises(StylexError, match="ghost.png"):
        open_dataset(spec(root, tmp_path / "c", split="all"))


# ----------------------------------------------------------------------------- images & modes
def test_unlabelled_images_and_colour_modes(tmp_path):
    root = tmp_path / "imgs"
    solid(root / "gray.png", (128, 128, 128), mode="L")
    solid(root / "pal.png", (0, 255, 0), mode="P")
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))   # fully transparent red -> white
    rgba.save(root / "rgba.png")
    solid(root / "wide.jpg", (0, 0, 200), size=(40, 10))
    assert detect_format(DataSpec(str(root))) == "images"
    ds = open_dataset(spec(root, tmp_path / "c", split="all"))
    assert ds.class_names == [] and (ds.labels == -1).all() and ds.format == "images"
    u8 = ds.uint8_images()
    names = [f.rsplit("/", 1)[1] for f in ds.files]
    px = {n: u8[i, 8, 8].tolist() for i, n in enumerate(names)}
    assert px["gray.png"] == [128, 128, 128]
    assert px["pal.png"] == [0, 255, 0]
    assert px["rgba.png"] == [255, 255, 255]                       # composited on white
    assert abs(px["wide.jpg"][2] - 200) < 8 and u8.shape[1:] == (16, 16, 3)
    assert inspect_dataset(spec(root, tmp_path / "c", split="all"))["resolution"] == "mixed"


# ----------------------------------------------------------------------------- bad input
def test_corrupt_image_error_and_skip(tmp_path):
    root = tmp_path / "bad"
    for i in range(3):
        solid(root / "cls" / f"ok{i}.jpg", (9, 9, 9))
    good = (root / "cls" / "ok0.jpg").read_bytes()
    (root / "cls" / "broken.jpg").write_bytes(good[: len(good) // 3])   # truncated JPEG
    (root / "cls" / "junk.jpg").write_bytes(b"not an image at all")
    with pytest.raises(StylexError, match=r"broken\.jpg.*--skip-bad-images"):
        open_dataset(spec(root, tmp_path / "c", split="all"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = open_dataset(spec(root, tmp_path / "c", split="all", skip_bad_images=True))
    msgs = [str(w.message) for w in caught if "unreadable" in str(w.message)]
    assert len(msgs) == 1 and "skipped 2 unreadable" in msgs[0]
    assert len(ds) == 3 and ds.uint8_images().shape[0] == 3 and all("ok" in f for f in ds.files)


def test_empty_and_missing_paths(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(StylexError, match="expected one of"):
        open_dataset(spec(tmp_path / "empty", tmp_path / "c"))
    with pytest.raises(StylexError, match="does not exist"):
        open_dataset(spec(tmp_path / "nope", tmp_path / "c"))
    with pytest.raises(StylexError, match="split"):
        open_dataset(spec(tmp_path / "empty", tmp_path / "c", split="test"))


# ----------------------------------------------------------------------------- cache
def test_cache_reused_without_decoding(tmp_path, monkeypatch):
    root = make_celeba(tmp_path / "celeba")
    s = spec(root, tmp_path / "c", attribute="Young", split="all")
    first = open_dataset(s).uint8_images().copy()
    assert len(list((tmp_path / "c").glob("*.npy"))) == 1
    assert not list((tmp_path / "c").glob(".*tmp*"))               # no temporary left behind

    def boom(*a, **k):
        raise AssertionError("decoded again")
    monkeypatch.setattr(images_mod, "decode_image", boom)
    monkeypatch.setattr(cache_mod, "decode_files", boom)
    again = open_dataset(s)
    assert isinstance(again.uint8_images(), np.memmap)
    assert np.array_equal(again.uint8_images(), first)
    clone = pickle.loads(pickle.dumps(again))                      # re-opens the memmap, no pixel copy
    assert len(pickle.dumps(again)) < first.nbytes and np.array_equal(clone.uint8_images(), first)
    # a changed file changes the key
    solid(root / "img_align_celeba" / "000001.jpg", (0, 255, 0), size=(30, 30))
    monkeypatch.undo()
    assert open_dataset(s).uint8_images()[0, 8, 8, 1] > 200


def test_pool_decoding_matches_single_process(tmp_path):
    files = [solid(tmp_path / f"{i}.png", (i * 40, 0, 255 - i * 40)) for i in range(5)]
    a = tmp_path / "a.npy"
    b = tmp_path / "b.npy"
    cache_mod.decode_files(files, 8, a, False, progress=False, workers=1)
    cache_mod.decode_files(files, 8, b, False, progress=False, workers=2)
    assert np.array_equal(np.load(a), np.load(b))


# ----------------------------------------------------------------------------- CLI
def test_cli_data_json(tmp_path, capsys, stylex_cache):
    root = make_celeba(tmp_path / "celeba")
    assert main(["data", "--data", str(root), "--attribute", "Young", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["num_images"] == 6 and info["class_counts"] == {"not_Young": 2, "Young": 4}
    assert info["split"] == "all"
    assert main(["data", "--data", "synthetic", "--synthetic-size", "200"]) == 0
    out = capsys.readouterr().out
    assert "warm_and_marked" in out and "object_hue" in out
    assert main(["data", "--data", str(root), "--attribute", "Nope"]) == 2
    assert "valid names" in capsys.readouterr().err
    assert not stylex_cache.exists()   # inspecting decodes nothing


def test_no_progress_also_silences_the_decode_bar(tmp_path, capfd, stylex_cache):
    """`--no-progress` reaches the first decode of a data set (it used to draw a bar into background logs)."""
    root = tmp_path / "afhq"
    for split, n in (("train", 4), ("val", 2)):
        for cls, colour in (("dog", (0, 255, 0)), ("cat", (255, 0, 0))):
            for i in range(n):
                solid(root / split / cls / f"{cls}{i}.png", colour)
    base = ["train-classifier", "--data", str(root), "--resolution", "16", "--epochs", "1", "--batch-size", "4",
            "--pretrained", "none", "--width-mult", "0.25", "--device", "cpu", "--workers", "0"]
    assert main(base + ["--out", str(tmp_path / "quiet"), "--no-progress"]) == 0
    assert "decoding" not in capfd.readouterr().err
    for f in stylex_cache.rglob("*"):   # decode again, this time with the bar
        if f.is_file():
            f.unlink()
    assert main(base + ["--out", str(tmp_path / "loud")]) == 0
    assert "decoding" in capfd.readouterr().err


def test_classes_keeps_a_subset_of_afhq(tmp_path, capsys, stylex_cache):
    """AFHQ has cat, dog and wild; the paper's task is cats vs dogs (--classes cat,dog)."""
    afhq = tmp_path / "afhq"
    for split in ("train", "val"):
        for cls, colour in (("cat", (255, 0, 0)), ("dog", (0, 255, 0)), ("wild", (0, 0, 255))):
            for i in range(2):
                solid(afhq / split / cls / f"{cls}{i}.png", colour)
    three = open_dataset(spec(afhq, tmp_path / "c", split="train"))
    assert three.class_names == ["cat", "dog", "wild"]
    two = open_dataset(spec(afhq, tmp_path / "c", split="train", classes="dog, cat"))
    assert two.class_names == ["cat", "dog"] and two.labels.tolist() == [0, 0, 1, 1]
    assert (two.uint8_images()[:, 0, 0, 2] == 0).all()                 # no blue (wild) image
    dw = open_dataset(spec(afhq, tmp_path / "c", split="val", classes="dog,wild"))
    assert dw.class_names == ["dog", "wild"] and dw.labels.tolist() == [0, 0, 1, 1]
    assert (dw.uint8_images()[2:, 0, 0] == [0, 0, 255]).all()
    with pytest.raises(StylexError, match="horse not among the classes .*cat, dog, wild"):
        open_dataset(spec(afhq, tmp_path / "c", classes="cat,horse"))
    with pytest.raises(StylexError, match="at least two"):
        open_dataset(spec(afhq, tmp_path / "c", classes="cat"))
    plain = tmp_path / "plain"
    solid(plain / "a.png", (1, 1, 1))
    with pytest.raises(StylexError, match="unlabelled"):
        open_dataset(spec(plain, tmp_path / "c", classes="a,b", split="all"))
    with pytest.raises(StylexError, match="synthetic"):
        open_dataset(DataSpec(path=None, format="synthetic", classes="a,b"))
    assert main(["data", "--data", str(afhq), "--classes", "cat,dog", "--split", "train", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["class_counts"] == {"cat": 2, "dog": 2}
