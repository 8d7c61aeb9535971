"""The FFHQ layout: official image folders (one resolution chosen, never both), official split,
ffhq-features-dataset JSON and FFHQ-Aging CSV labels, and the errors a user meets."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from stylex.cli import main
from stylex.data import DataSpec, inspect_dataset, open_dataset
from stylex.data.formats import detect_format
from stylex.errors import StylexError

TRAIN = [0, 1, 2, 3, 4, 1001]
VAL = [60000, 60001, 69999]
AGES = {0: 25.0, 1: 41.0, 2: 29.9, 3: 70.0, 4: None, 1001: 12.0, 60000: 30.0, 60001: 18.0, 69999: 55.0}
GENDER = {n: ("male" if n % 2 else "female") for n in AGES}


def _png(path, colour, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)


def make_ffhq(root, numbers=TRAIN + VAL, thumbnails=True, big=True, labels="json"):
    """Official FFHQ layout: red 128 px thumbnails and green 'full size' images (small here), in
    folders of a thousand; labels as DCGM JSON files (image 4: no face found) or FFHQ-Aging CSV."""
    for n in numbers:
        sub = f"{n // 1000 * 1000:05d}/{n:05d}.png"
        if thumbnails:
            _png(root / "thumbnails128x128" / sub, (255, 0, 0), 12)
        if big:
            _png(root / "images1024x1024" / sub, (0, 255, 0), 24)
    if labels == "json":
        folder = root / "ffhq-features-dataset" / "json"
        folder.mkdir(parents=True)
        for n in numbers:
            age = AGES[n]
            faces = [] if age is None else [{"faceId": "x", "faceAttributes": {
                "age": age, "gender": GENDER[n], "glasses": "ReadingGlasses" if n == 3 else "NoGlasses"}}]
            (folder / f"{n:05d}.json").write_text(json.dumps(faces))
    elif labels == "aging":
        groups = {0: "20-29", 1: "40-49", 2: "20-29", 3: "70-120", 1001: "10-14", 60000: "30-39",
                  60001: "15-19", 69999: "50-69"}                           # 4: no row
        rows = ["image_number,age_group,age_group_confidence,gender,gender_confidence,glasses"]
        rows += [f"{n},{g},0.9,{GENDER[n]},0.99,{'Normal' if n == 3 else 'None'}" for n, g in groups.items()]
        (root / "ffhq_aging_labels.csv").write_text("\n".join(rows) + "\n")
    return root


def spec(root, cache, **kw):
    kw.setdefault("resolution", 16)
    return DataSpec(path=str(root), cache_dir=str(cache), **kw)


def numbers_of(ds) -> list[int]:
    return [int(f.rsplit("/", 1)[1][:5]) for f in ds.files]


def test_official_layout_json_labels_and_split(tmp_path):
    root = make_ffhq(tmp_path / "ffhq")
    assert detect_format(DataSpec(str(root))) == "ffhq"
    with pytest.warns(UserWarning, match="1 FFHQ image"):          # image 4: empty JSON, no face
        tr = open_dataset(spec(root, tmp_path / "c", attribute="age<30", split="train"))
    assert tr.format == "ffhq" and tr.class_names == ["age_30_plus", "age_under_30"]
    assert numbers_of(tr) == [0, 1, 2, 3, 1001]
    assert tr.labels.tolist() == [1, 0, 1, 0, 1]
    assert (tr.uint8_images()[:, 8, 8] == [255, 0, 0]).all()        # 16 px: the thumbnails
    with pytest.warns(UserWarning):
        va = open_dataset(spec(root, tmp_path / "c", attribute="age<30", split="val"))
    assert numbers_of(va) == VAL and va.labels.tolist() == [0, 1, 0]  # age 30.0 is not under 30
    with pytest.warns(UserWarning):
        info = inspect_dataset(spec(root, tmp_path / "c", attribute="gender", split="all"))
    assert info["class_counts"] == {"female": 3, "male": 5} and info["split_source"] == "all images"
    with pytest.warns(UserWarning):
        g = open_dataset(spec(root, tmp_path / "c", attribute="glasses", split="train"))
    assert g.class_names == ["no_glasses", "glasses"] and g.labels.tolist() == [0, 0, 0, 1, 0]


def test_resolution_picks_one_image_folder_and_no_attribute_is_unlabelled(tmp_path):
    root = make_ffhq(tmp_path / "ffhq")
    big = open_dataset(spec(root, tmp_path / "c", resolution=256, split="all"))
    assert len(big) == len(AGES) and (big.labels == -1).all() and big.class_names == []
    assert "images1024x1024" in big.files[0]
    assert (big.uint8_images()[:, 100, 100] == [0, 255, 0]).all()
    thumbs = make_ffhq(tmp_path / "thumbs", big=False, labels=None)
    with pytest.warns(UserWarning, match="128 px thumbnails, upsampled to 256 px"):
        assert len(open_dataset(spec(thumbs, tmp_path / "c", resolution=256, split="all"))) == len(AGES)
    only_big = make_ffhq(tmp_path / "only-big", thumbnails=False, labels=None)
    _png(only_big / "images1024x1024" / "cover.png", (0, 0, 0), 8)
    with pytest.warns(UserWarning, match="1 image file.* not named by an FFHQ number .*cover.png"):
        assert len(open_dataset(spec(only_big, tmp_path / "c", split="all"))) == len(AGES)


def test_aging_csv_labels(tmp_path):
    root = make_ffhq(tmp_path / "ffhq", big=False, labels="aging")
    assert detect_format(DataSpec(str(root))) == "ffhq"      # not mistaken for a plain CSV data set
    with pytest.warns(UserWarning, match="no face record"):
        ds = open_dataset(spec(root, tmp_path / "c", attribute="age<30", split="all"))
    assert numbers_of(ds) == [0, 1, 2, 3, 1001] + VAL
    assert ds.labels.tolist() == [1, 0, 1, 0, 1, 0, 1, 0]
    with pytest.warns(UserWarning):
        g = open_dataset(spec(root, tmp_path / "c", attribute="glasses", split="all"))
    assert g.labels.tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
    with pytest.raises(StylexError, match="group boundary: 3, 7, 10, 15, 20, 30"):
        open_dataset(spec(root, tmp_path / "c", attribute="age<33", split="all"))


def test_subset_on_one_side_of_the_official_split_gets_the_hash_split(tmp_path):
    root = make_ffhq(tmp_path / "ffhq", numbers=list(range(40)), big=False, labels=None)
    tr = open_dataset(spec(root, tmp_path / "c", split="train", val_fraction=0.3))
    va = open_dataset(spec(root, tmp_path / "c", split="val", val_fraction=0.3))
    assert len(va) > 0 and len(tr) > 0 and sorted(numbers_of(tr) + numbers_of(va)) == list(range(40))
    assert "hash of file names" in inspect_dataset(spec(root, tmp_path / "c", split="val",
                                                        val_fraction=0.3))["split_source"]


def test_errors_name_the_option_or_file(tmp_path, capsys):
    root = make_ffhq(tmp_path / "ffhq", labels=None)
    with pytest.raises(StylexError, match="needs FFHQ labels"):
        open_dataset(spec(root, tmp_path / "c", attribute="age<30"))
    labelled = make_ffhq(tmp_path / "labelled")
    for bad in ("Young", "age<0", "age>30"):
        with pytest.raises(StylexError, match="--attribute"):
            open_dataset(spec(labelled, tmp_path / "c", attribute=bad))
    (labelled / "ffhq-features-dataset" / "json" / "00000.json").write_text('[{"faceId": "x"}]')
    with pytest.raises(StylexError, match="00000.json is not an ffhq-features-dataset record"):
        open_dataset(spec(labelled, tmp_path / "c", attribute="age<30"))
    flat = tmp_path / "flat"
    _png(flat / "a" / "00007.png", (1, 2, 3), 8)
    _png(flat / "b" / "00007.jpg", (1, 2, 3), 8)
    with pytest.raises(StylexError, match="00007 is in .* twice"):
        open_dataset(spec(flat, tmp_path / "c", format="ffhq", split="all"))
    assert main(["data", "--data", str(root), "--attribute", "gender"]) == 2
    assert "needs FFHQ labels" in capsys.readouterr().err


def test_cli_prints_the_skip_warning_as_one_plain_line(tmp_path, capsys, stylex_cache):
    root = make_ffhq(tmp_path / "ffhq")
    assert main(["data", "--data", str(root), "--attribute", "age<30", "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["class_counts"] == {"age_30_plus": 4, "age_under_30": 4}
    assert "stylex data: warning: 1 FFHQ image(s) have no face record" in out.err
    assert "UserWarning" not in out.err and "formats.py" not in out.err


def test_real_json_record_shape_is_read(tmp_path):
    """A record as the DCGM repository stores it (extra keys, nested landmarks, float age)."""
    root = tmp_path / "ffhq"
    _png(root / "thumbnails128x128" / "00000" / "00042.png", (9, 9, 9), 12)
    rec = [{"faceId": "3b0e", "faceRectangle": {"top": 1, "left": 2, "width": 3, "height": 4},
            "faceLandmarks": {"pupilLeft": {"x": 1.0, "y": 2.0}},
            "faceAttributes": {"smile": 0.9, "gender": "Female", "age": 4.0, "glasses": "NoGlasses",
                               "emotion": {"happiness": 0.9}}}]
    (root / "json").mkdir(parents=True)
    (root / "json" / "00042.json").write_text(json.dumps(rec))
    ds = open_dataset(spec(root, tmp_path / "c", attribute="age<10", split="all"))
    assert ds.labels.tolist() == [1] and np.asarray(ds.uint8_images()).shape == (1, 16, 16, 3)
    assert open_dataset(spec(root, tmp_path / "c", attribute="gender", split="all")).labels.tolist() == [0]


def test_a_class_folder_named_json_is_not_ffhq(tmp_path):
    root = tmp_path / "classes"
    for cls in ("json", "other"):
        _png(root / cls / "00001.png", (5, 5, 5), 8)
    assert detect_format(DataSpec(str(root))) == "folders"
