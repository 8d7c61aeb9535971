"""`stylex attfind` and `stylex evaluate` on a tiny run: files, schemas, disjointness, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stylex.cli import main
from stylex.errors import StylexError
from stylex.explain.pipeline import (AttFindConfig, EvalConfig, discriminator_filter, load_attributes, find_attributes,
                                    evaluate_attributes)
from stylex.trained_run import load_run

ATTR_KEYS = {"rank", "index", "layer", "layer_name", "channel", "direction", "target_class", "target_class_index",
             "score"}


@pytest.fixture(scope="module")
def attfind_dir(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("attfind")
    find_attributes(load_run(tiny_run), out, AttFindConfig(num_images=8), progress=False, command=["stylex", "x"])
    return out


def test_attributes_json_schema(attfind_dir, tiny_run):
    doc = json.loads((attfind_dir / "attributes.json").read_text())
    run = load_run(tiny_run)
    assert doc["num_style_coords"] == run.layout.num_coords
    assert sum(l["width"] for l in doc["layout"]) == doc["num_style_coords"]
    assert doc["num_images"] == 8 and doc["source"] == "encoded"
    assert doc["class_names"] == run.class_names
    for method in ("attributes",):
        for i, a in enumerate(doc[method]):
            assert ATTR_KEYS <= set(a) and a["rank"] == i + 1 and a["direction"] in ("min", "max")
            assert run.layout.to_flat(a["layer"], a["channel"]) == a["index"]
    assert len(doc["baselines"]["random"]) == max(1, len(doc["attributes"]))
    with np.load(attfind_dir / "effects.npz") as z:
        assert z["effects"].shape == (8, 2, run.layout.num_coords, 2)
        assert z["latents"].shape[0] == 8 and z["style_min"].shape == (run.layout.num_coords,)


def test_evaluate_metrics_schema(attfind_dir, tiny_run, tmp_path):
    run = load_run(tiny_run)
    cfg = EvalConfig(top_k=3, repeats=2, test_images=6, recon_images=4, ground_truth_k=2, ground_truth_images=4,
                     probe_images=200, probe_epochs=1, identity_images=4, realism_images=6)
    m = evaluate_attributes(run, attfind_dir, tmp_path, cfg, lpips=None, progress=False)
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(m))
    fr = m["flip_rate"]["attfind"]
    if fr is not None:
        assert len(fr["curve"]) == 3 and len(fr["rates"]) == 2 and fr["n_images"] == 6
        assert fr["std"] == pytest.approx(float(np.std(fr["rates"])))
    rec = m["reconstruction"]
    assert {"lpips", "l1", "class_agreement", "prob_gap", "n_images", "balanced_agreement", "agreement_by_class",
            "accuracy_orig", "accuracy_recon"} <= set(rec) and rec["n_images"] == 4
    assert sum(v["n"] for v in rec["agreement_by_class"].values()) == 4
    if rec["lpips"] is not None:      # identity needs LPIPS weights
        assert 0 <= rec["identity_top1"] <= rec["identity_top5"] <= 1 and rec["identity_images"] == 4
        assert sum(v["n"] for v in rec["identity_by_class"].values()) == 4
    real = m["realism"]
    assert real["feature_space"].startswith("MobileNetV2")
    if "unavailable" not in real:
        assert {"kid", "kid_std", "fd", "kid_reconstructions", "fd_reconstructions", "kid_by_class"} <= set(real)
        assert real["n_samples"] == 6 and real["fd"] >= 0
    assert isinstance(m["trust"], list)
    if fr is not None:
        assert sum(v["n"] for v in fr["by_base_class"].values()) == 6
    gt = m["ground_truth"]
    assert set(gt["causal_factors"]) == {"object_hue", "accessory"}
    for name in ("attfind", "random"):
        assert 0 <= gt[name]["causal_fraction"] <= 1 and len(gt["attributes"][name]) <= 2
    assert set(gt["single_coordinate"]) == {"object_hue", "accessory"}
    for c in gt["single_coordinate"].values():
        assert 0 <= c["change"] <= 1 and 0 <= c["true_change"] <= 1
        assert 1 <= c["spread"]["coords_for_half"] <= c["spread"]["num_coords"] and 0 < c["spread"]["top_share"] <= 1
        assert c["index"] < run.layout.num_coords and c["direction"] in ("min", "max", None)
    assert (tiny_run / "factor_probe.pt").is_file()


def test_cli_evaluate_says_why_a_method_has_no_rate(attfind_dir, tiny_run, tmp_path, capsys):
    """An empty Wu list (too few confident AttFind images) is reported with the reason, not dropped."""
    import shutil

    af = tmp_path / "af"
    shutil.copytree(attfind_dir, af)
    doc = json.loads((af / "attributes.json").read_text())
    doc["baselines"]["wu"] = []
    (af / "attributes.json").write_text(json.dumps(doc))
    rc = main(["evaluate", "--run", str(tiny_run), "--attributes", str(af), "--out", str(tmp_path / "e"),
               "--top-k", "2", "--repeats", "2", "--test-images", "4", "--recon-images", "4", "--no-progress",
               "--device", "cpu", "--identity-images", "4", "--realism-images", "4"])
    out = capsys.readouterr().out
    assert rc == 0 and "no wu attributes" in out and "use more --num-images" in out
    assert "balanced over classes" in out
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    if "kid" in metrics["realism"]:
        assert "realism (MobileNetV2" in out and "KID" in out
    if metrics["reconstruction"]["lpips"] is not None:
        assert "identity: the original is the nearest of 4" in out
    assert json.loads((tmp_path / "e" / "metrics.json").read_text())["flip_rate"]["wu"] is None


def test_evaluation_images_are_disjoint_from_attfind(attfind_dir, tiny_run):
    """AttFind encodes train-split images; evaluation uses the val split (a different set of files)."""
    run = load_run(tiny_run)
    train, val = run.dataset("train"), run.dataset("val")
    assert not set(train.files) & set(val.files)


def test_random_source(tiny_run, tmp_path):
    doc = find_attributes(load_run(tiny_run), tmp_path, AttFindConfig(num_images=4, source="random"), progress=False)
    assert doc["source"] == "random"


def test_bad_options_and_missing_inputs(tiny_run, tmp_path, capsys):
    with pytest.raises(StylexError, match="--num-images"):
        AttFindConfig(num_images=1).validate()
    with pytest.raises(StylexError, match="--repeats"):
        EvalConfig(repeats=9, test_images=4).validate()
    with pytest.raises(StylexError, match="stylex attfind"):
        load_attributes(tmp_path)
    assert main(["evaluate", "--run", str(tiny_run), "--attributes", str(tmp_path), "--out", str(tmp_path / "e")]) == 2
    assert "attributes.json" in capsys.readouterr().err
    assert main(["attfind", "--run", str(tmp_path), "--out", str(tmp_path / "a")]) == 2
    assert "not a StylEx run directory" in capsys.readouterr().err


def test_cli_attfind(tiny_run, tmp_path, capsys):
    rc = main(["attfind", "--run", str(tiny_run), "--out", str(tmp_path), "--num-images", "4", "--no-progress",
               "--device", "cpu"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "attributes.json" in out
    # the count says what the list is: the two-class lists merged into moves towards the first class
    assert "one merged list (up to 10 picks per class, each written as a move towards 'cool_or_unmarked'" in out
    assert json.loads((tmp_path / "attributes.json").read_text())["command"][:4] == ["stylex", "attfind", "--run",
                                                                                 str(tiny_run)]


def test_user_study_renders_animations_from_run(attfind_dir, tiny_run, tmp_path, capsys):
    """`stylex user-study --run` renders the animations when the AttFind folder has none yet."""
    import shutil

    attfind = tmp_path / "attfind"
    shutil.copytree(attfind_dir, attfind, ignore=shutil.ignore_patterns("gifs", "report"))
    rc = main(["user-study", "--attfind", str(attfind), "--out", str(tmp_path / "study"), "--run", str(tiny_run),
               "--attributes", "2", "--questions-per-attribute", "1"])
    out = capsys.readouterr()
    assert len(json.loads((attfind / "attributes.json").read_text())["attributes"]) >= 2  # fixture sanity
    assert rc == 0, out.err
    assert "classification study" in out.out
    assert (tmp_path / "study" / "classification" / "index.html").is_file()
    assert (tmp_path / "study.answer_key.json").is_file()
    assert list((attfind / "gifs").glob("attr01_img*.gif"))


def test_readme_python_api_example(tiny_run, attfind_dir):
    """The README's five lines, as written there, on a tiny run."""
    import torch

    import stylex

    run = stylex.load_run(tiny_run)
    images = run.load_images(8, split="val")
    styles = run.styles(run.encode(images))
    effects = stylex.explain.load_effects(attfind_dir / "effects.npz")
    s_min, s_max = effects.style_min, effects.style_max
    k = json.loads((attfind_dir / "attributes.json").read_text())["attributes"][0]["index"]
    offsets = stylex.explain.edit_offsets(styles.flat(), [(k, 1)], s_min, s_max)
    edited = run.generate(styles, offsets=offsets)
    assert edited.shape == images.shape
    assert torch.allclose((styles.flat() + offsets)[:, k], torch.full((8,), float(s_max[k])))
    assert not torch.equal(edited, run.generate(styles))


def test_discriminator_filter_thresholds(attfind_dir, tiny_run):
    """Threshold inf keeps every attribute (re-ranked 1..n); threshold 0 drops any whose edit moves D at all."""
    from stylex.explain.attfind import load_effects

    run = load_run(tiny_run)
    effects = load_effects(attfind_dir / "effects.npz")
    _, lists = load_attributes(attfind_dir)
    attrs = lists["attfind"]
    keep = discriminator_filter(run, effects, attrs, AttFindConfig(disc_threshold=float("inf"), disc_images=3))
    assert [a.index for a in keep] == [a.index for a in attrs] and [a.rank for a in keep] == list(
        range(1, len(attrs) + 1))
    assert discriminator_filter(run, effects, attrs, AttFindConfig(disc_threshold=0.0, disc_images=3)) == []


def test_evaluate_on_data_with_other_classes_leaves_accuracy_out(attfind_dir, tiny_run, tmp_path, stylex_cache):
    """Three classes on disk, a two-class classifier: agreement is still measured, accuracy against the
    true labels would compare unrelated class indices and is left out with a warning."""
    from PIL import Image

    from stylex.data import DataSpec

    for split in ("train", "val"):
        for i, cls in enumerate(("cat", "dog", "wild")):
            folder = tmp_path / "animals" / split / cls
            folder.mkdir(parents=True)
            for j in range(3):
                Image.new("RGB", (32, 32), (80 * i, 40 * j, 90)).save(folder / f"{j}.png")
    run = load_run(tiny_run)
    cfg = EvalConfig(top_k=2, repeats=1, test_images=2, recon_images=4, ground_truth_k=1, realism_images=0)
    data = DataSpec(path=str(tmp_path / "animals"), resolution=32)
    with pytest.warns(UserWarning, match="not the classifier's .*accuracy against the true labels is left out"):
        m = evaluate_attributes(run, attfind_dir, tmp_path / "eval", cfg, data=data, lpips=None, progress=False)
    rec = m["reconstruction"]
    assert "class_agreement" in rec and "accuracy_orig" not in rec and rec["n_images"] == 4


def test_trust_warnings_name_generic_reconstructions_and_disagreement():
    from stylex.explain.pipeline import trust_warnings

    assert trust_warnings({"identity_top1": 0.9, "identity_images": 100, "balanced_agreement": 0.97}) == []
    generic = trust_warnings({"identity_top1": 0.05, "identity_images": 100, "balanced_agreement": 0.97})
    assert len(generic) == 1 and "do not identify their originals" in generic[0] and "5%" in generic[0]
    both = trust_warnings({"identity_top1": 0.05, "identity_images": 100, "balanced_agreement": 0.6})
    assert len(both) == 2 and "disagrees" in both[1]


def test_data_paths_are_stored_absolute(tmp_path, monkeypatch):
    """A run records where its data is from any working directory (report/evaluate run elsewhere)."""
    import argparse

    from stylex.commands.common import add_data_arguments, data_spec_from_args

    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "labels.csv").write_text("file,age\n")
    monkeypatch.chdir(tmp_path)
    p = argparse.ArgumentParser()
    add_data_arguments(p)
    args = p.parse_args(["--data", "faces", "--csv-file", "faces/labels.csv", "--filename-column", "file"])
    spec = data_spec_from_args(args, resolution=32)
    assert spec.path == str(tmp_path / "faces") and spec.csv_file == str(tmp_path / "faces" / "labels.csv")
    assert spec.filename_column == "file"


def test_a_moved_data_set_is_named_with_what_to_do(tiny_run, tmp_path):
    import dataclasses

    run = load_run(tiny_run)
    run.config = dataclasses.replace(run.config, data=dataclasses.replace(run.config.data, format="images",
                                                                           path=str(tmp_path / "gone")))
    with pytest.raises(StylexError, match="is not there: move it back or edit that path"):
        run.dataset("val")
