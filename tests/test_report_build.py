"""`stylex report`: build the HTML report from a tiny trained run plus AttFind and evaluation outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylex.cli import main
from stylex.report import check_report_links
from stylex.report.build import build_report

NUM_IMAGES = 8


@pytest.fixture(scope="module")
def fixture_dirs(tmp_path_factory) -> dict[str, Path]:
    """A tiny run, an AttFind folder and an evaluation folder.

    The AttFind/evaluate outputs are written by hand in the docs/INTERFACES.md schema: a stand-in for the
    lead's ``stylex.explain.pipeline`` (find_attributes / evaluate_attributes) until it exists.
    """
    from stylex.data import DataSpec
    from stylex.explain import attribute_to_dict, compute_effects, save_effects, select_attributes
    from stylex.explain.baselines import random_attributes
    from stylex.models.classifier import ClassifierConfig, build_classifier, save_classifier
    from stylex.trained_run import load_run
    from stylex.training.config import resolve_config
    from stylex.training.loop import train

    root = tmp_path_factory.mktemp("report")
    mp = pytest.MonkeyPatch()
    mp.setenv("STYLEX_CACHE", str(root / "cache"))
    torch.manual_seed(0)
    clf_cfg = ClassifierConfig(num_classes=2, class_names=["a", "b"], width_mult=0.25, pretrained="none",
                               input_size=None)
    save_classifier(root / "classifier.pt", build_classifier(clf_cfg), clf_cfg,
                    extra={"val_accuracy": 0.75, "val_balanced_accuracy": 0.7, "epoch": 1,
                           "trained_by": "stylex train-classifier"})
    run_dir = root / "run"
    train(resolve_config("tiny", rec_lpips_weight=0, kimg=0.008, tick_kimg=0.008, device="cpu"),
          DataSpec(path=None, format="synthetic", resolution=32, synthetic_size=48), root / "classifier.pt", run_dir,
          progress=False, command=["stylex", "train", "--data", "synthetic", "--preset", "tiny"])

    # --- stand-in for `stylex attfind`
    run = load_run(run_dir)
    latents = run.encode(run.load_images(NUM_IMAGES, split="train"))
    # Every 8th coordinate only (the others keep effect 0): the full set takes ~30 s on a shared 2-core CPU.
    res = compute_effects(run.G, run.classifier, latents, batch_size=256, progress=False,
                          coords=np.arange(0, run.layout.num_coords, 8))
    # Tiny untrained models have tiny effects: make the base classes mixed so both branches are exercised.
    res.base_logits[: NUM_IMAGES // 2] = np.array([2.0, 0.0], np.float32)
    res.base_logits[NUM_IMAGES // 2:] = np.array([0.0, 2.0], np.float32)
    attrs = select_attributes(res.effects, res.base_logits)
    if len(attrs) < 3:  # pad with random coordinates so the report has several attributes to draw
        attrs += random_attributes(run.layout.num_coords, 2, 3 - len(attrs), seed=0)
        attrs = [type(a)(rank=i + 1, index=a.index, direction=a.direction, target_class=0, score=a.score)
                 for i, a in enumerate(attrs)]
    af_dir = root / "attfind"
    af_dir.mkdir()
    save_effects(af_dir / "effects.npz", res)
    records = [attribute_to_dict(a, run.layout, run.class_names) for a in attrs]
    (af_dir / "attributes.json").write_text(json.dumps({
        "num_style_coords": run.layout.num_coords, "layout": run.layout.as_json(), "class_names": run.class_names,
        "num_images": NUM_IMAGES, "source": "encoded", "attributes": records,
        "baselines": {"wu": records[::-1], "random": records}, "command": ["stylex", "attfind", "--run", "RUN"]}))

    # --- stand-in for `stylex evaluate`
    ev_dir = root / "eval"
    ev_dir.mkdir()
    fr = {m: {"mean": v, "std": 0.05, "n_images": 40, "curve": [v * (i + 1) / 3 for i in range(3)],
              "rates": [v - 0.05, v + 0.05]} for m, v in (("attfind", 0.6), ("wu", 0.3), ("random", 0.1))}
    gt_rows = [{"main_factor": "shape", "changes": {"shape": 0.5, "hue": 0.1}} for _ in records]
    (ev_dir / "metrics.json").write_text(json.dumps({
        "flip_rate": fr, "top_k": 3, "repeats": 2,
        "reconstruction": {"lpips": 0.3, "l1": 0.2, "class_agreement": 0.9, "prob_gap": 0.1, "n_images": 16,
                           "identity_top1": 0.05, "identity_top5": 0.2, "identity_chance": 0.0625,
                           "identity_images": 16},
        "realism": {"feature_space": "MobileNetV2-ImageNet pool (1280-d, 224 px)", "kid": 0.0123, "kid_std": 0.001,
                    "fd": 45.6, "n_samples": 32, "n_real": 32, "kid_reconstructions": 0.0045,
                    "fd_reconstructions": 12.3},
        "trust": ["the reconstructions do not identify their originals: TEST WARNING"],
        "ground_truth": {m: {"k": 3, "causal_fraction": 0.67, "causal_coverage": 0.5, "spurious_fraction": 0.0,
                             "main_factors": ["shape", "hue", "shape"]} for m in ("attfind", "wu", "random")}
        | {"probe_accuracy": {"shape": 0.95, "hue": 0.9}, "attributes": {"attfind": gt_rows},
           "single_coordinate": {"accessory": {"change": 0.0612, "index": 5, "direction": "min",
                                               "true_change": 0.8034,
                                               "spread": {"coords_for_half": 133, "num_coords": 448,
                                                          "top_share": 0.01}}}},
        "command": ["stylex", "evaluate", "--run", "RUN"]}))
    yield {"run": run_dir, "attfind": af_dir, "eval": ev_dir, "root": root, "num_attrs": len(records)}
    mp.undo()


def test_full_report(fixture_dirs, tmp_path):
    out = tmp_path / "report"
    index = build_report(fixture_dirs["run"], fixture_dirs["attfind"], fixture_dirs["eval"], out,
                         num_attributes=3, images_per_attribute=2, progress=False)
    assert index == out / "index.html" and index.is_file()
    assert check_report_links(out) == []
    page = index.read_text()
    for text in ("Reconstructions", "Attributes", "Image-specific explanations", "Flip rate", "Ground truth",
                 "0.939", "stylex evaluate --run RUN", "stylex attfind --run RUN", "stylex train --data synthetic",
                 "changes shape", "classifier accuracy (val)", "KID 0.0123", "MobileNetV2-ImageNet",
                 "for 0.05 of them", "accessory 0.06 (0.80)",
                 "accessory 133 of 448 coordinates"):
        assert text in page, text
    # the warning that the explanations are not of the reader's image comes first, before any section
    assert page.index("TEST WARNING") < page.index("<nav>") < page.index("<section")
    assert 'class="warning"' in page
    gifs = sorted((fixture_dirs["attfind"] / "gifs").glob("attr*_img*.gif"))
    assert [g.name for g in gifs][:2] == ["attr01_img00.gif", "attr01_img01.gif"]
    assert len(gifs) == min(3, fixture_dirs["num_attrs"]) * 2
    with Image.open(gifs[0]) as im:
        assert im.n_frames == 2
    assert (out / "assets" / "attr01_img00.gif").is_file()  # copied into the self-contained report
    assert (out / "figures" / "attr01_panel.png").is_file() and (out / "figures" / "attr01_tiled.gif").is_file()


def test_report_without_attfind_or_eval(fixture_dirs, tmp_path):
    out = tmp_path / "bare"
    index = build_report(fixture_dirs["run"], out_dir=out, progress=False)
    assert check_report_links(out) == []
    page = index.read_text()
    assert "stylex attfind" in page and "stylex evaluate" in page and "reconstructions.png" in page


def test_cli(fixture_dirs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)     # relative paths, as in the README (figures and GIFs were once linked wrongly)
    out = Path("cli")
    attfind = Path(os.path.relpath(fixture_dirs["attfind"], tmp_path))
    rc = main(["report", "--run", str(fixture_dirs["run"]), "--attfind", str(attfind),
               "--out", str(out), "--attributes", "1", "--images-per-attribute", "1", "--no-progress",
               "--device", "auto"])      # `auto` used to reach torch.device() and crash there
    assert rc == 0
    assert capsys.readouterr().out.strip() == str(out / "index.html")
    assert check_report_links(out) == []
    page = (out / "index.html").read_text()
    assert 'class="missing"' not in page and 'src="figures/reconstructions.png"' in page
    assert 'src="assets/attr01_img00.gif"' in page
    # the earlier report's animations are replaced, not mixed with the new ones
    assert [g.name for g in (fixture_dirs["attfind"] / "gifs").glob("*.gif")] == ["attr01_img00.gif"]


def test_cli_errors(fixture_dirs, tmp_path, capsys):
    rc = main(["report", "--run", str(fixture_dirs["run"]), "--attfind", str(tmp_path), "--out", str(tmp_path / "x"),
               "--no-progress"])
    assert rc == 2 and "stylex attfind" in capsys.readouterr().err
    rc = main(["report", "--run", str(fixture_dirs["run"]), "--out", str(tmp_path / "y"), "--device", "gpu",
               "--no-progress"])
    assert rc == 2 and "--device 'gpu' is not a device: use auto, cpu, cuda or cuda:N" in capsys.readouterr().err
