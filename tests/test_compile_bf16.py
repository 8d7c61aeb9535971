"""The GPU code paths proven on the CPU (issue 16): ``--compile`` training matches eager training,
and ``--precision bf16`` runs training, AttFind and evaluation and stays close to fp32.

The compile test runs TorchDynamo and AOTAutograd (the layers where compiled training can break:
attribute access through the compiled wrapper, graph breaks, double backward of the lazy
regularisers) with the ``aot_eager`` backend, because Inductor's C++ code generation costs minutes
on a 2-core CPU; ``STYLEX_TEST_INDUCTOR=1`` also runs it with Inductor (about 1-2 min of CPU).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from stylex.cli import main
from stylex.data import DataSpec
from stylex.training.checkpoint import safe_load
from stylex.training.config import resolve_config
from stylex.training.loop import train


def spec(resolution: int = 32) -> DataSpec:
    return DataSpec(path=None, format="synthetic", resolution=resolution, cache_dir=None, synthetic_size=48)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STYLEX_CACHE", str(tmp_path / "cache"))


def save_tiny_classifier(path: Path, resolution: int = 32) -> Path:
    from stylex.models.classifier import ClassifierConfig, build_classifier, save_classifier

    torch.manual_seed(0)
    cfg = ClassifierConfig(num_classes=2, class_names=["a", "b"], width_mult=0.25, pretrained="none",
                           input_size=None, resolution=resolution)
    save_classifier(path, build_classifier(cfg), cfg, extra={})
    return path


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("clf") / "classifier.pt")


def train_rows(out: Path, classifier: Path, steps: int = 2, resolution: int = 32, **over) -> list[dict]:
    """Train the tiny preset for ``steps`` steps of 4 images (one stats row per step; step 0 runs R1
    and path length, odd steps take the mapping path) and return the stats rows."""
    cfg = resolve_config("tiny", rec_lpips_weight=0.0, kimg=0.004 * steps, tick_kimg=0.004, device="cpu",
                         r1_interval=2, pl_interval=2, resolution=resolution, **over)
    train(cfg, spec(resolution), classifier, out, progress=False)
    return [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]


def loss_terms(rows: list[dict]) -> list[dict[str, float]]:
    return [{k: v for k, v in r.items() if k.startswith(("G_", "D_"))} for r in rows]


def assert_terms_close(a: list[dict], b: list[dict], rel: float, abs_: float, what: str) -> None:
    ta, tb = loss_terms(a), loss_terms(b)
    assert [sorted(r) for r in ta] == [sorted(r) for r in tb], what
    for step, (ra, rb) in enumerate(zip(ta, tb)):
        for k in ra:
            assert rb[k] == pytest.approx(ra[k], rel=rel, abs=abs_), f"{what}: {k} at step {step}"


def generator_weights(run: Path) -> dict[str, torch.Tensor]:
    return safe_load(run / "checkpoint.pt", map_location="cpu")["G"]


def max_weight_diff(a: Path, b: Path) -> float:
    wa, wb = generator_weights(a), generator_weights(b)
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


# ---------------------------------------------------------------------------- --compile
def compiled_vs_eager(tmp_path: Path, classifier: Path, monkeypatch, backend: str, resolution: int = 32):
    """Stats rows of an eager and a compiled run (``torch.compile`` with ``backend``) and their G weights' max
    difference. Inductor's own random numbers are replaced by eager's so that the noise inputs match."""
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend=backend))
    monkeypatch.setattr(torch._inductor.config, "fallback_random", True)
    torch._dynamo.reset()
    try:
        eager = train_rows(tmp_path / "eager", classifier, resolution=resolution)
        compiled = train_rows(tmp_path / "compiled", classifier, resolution=resolution, compile=True)
    finally:
        torch._dynamo.reset()
    return eager, compiled, max_weight_diff(tmp_path / "eager", tmp_path / "compiled")


def test_compile_training_matches_eager(tmp_path, classifier_file, monkeypatch):
    """Two steps (encoder path with R1 and path length, then mapping path) through TorchDynamo and
    AOTAutograd give the eager run's loss terms and weights."""
    eager, compiled, wdiff = compiled_vs_eager(tmp_path, classifier_file, monkeypatch, "aot_eager")
    assert len(compiled) == 2 and "G_pl_penalty" in compiled[0] and "D_r1_penalty" in compiled[0]
    assert "G_adv_map" in compiled[1]
    assert_terms_close(eager, compiled, rel=1e-4, abs_=1e-6, what="--compile (aot_eager) vs eager")
    assert wdiff < 1e-4


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("STYLEX_TEST_INDUCTOR") != "1",
                    reason="Inductor compiles for 1-2 min on 2 cores; set STYLEX_TEST_INDUCTOR=1")
def test_compile_inductor_training_matches_eager(tmp_path, monkeypatch):
    """The same with Inductor (generated C++), at 8 px to keep the compilation short."""
    clf = save_tiny_classifier(tmp_path / "classifier.pt", resolution=8)
    eager, compiled, wdiff = compiled_vs_eager(tmp_path, clf, monkeypatch, "inductor", resolution=8)
    assert_terms_close(eager, compiled, rel=1e-2, abs_=1e-4, what="--compile (inductor) vs eager")
    assert wdiff < 1e-3


# ---------------------------------------------------------------------------- bf16
def test_bf16_training_close_to_fp32(tmp_path, classifier_file):
    """bf16 autocast takes effect on the CPU when asked for, and its loss terms stay within a few per cent of
    fp32's over four steps; the CPU default (``auto``) is fp32."""
    auto = train_rows(tmp_path / "auto", classifier_file, steps=4)
    bf16 = train_rows(tmp_path / "bf16", classifier_file, steps=4, precision="bf16")
    fp32 = train_rows(tmp_path / "fp32", classifier_file, steps=1, precision="fp32")
    assert loss_terms(fp32) == loss_terms(auto[:1])                   # auto on the CPU is plain fp32
    assert loss_terms(bf16) != loss_terms(auto)                       # bf16 changed the arithmetic ...
    assert_terms_close(auto, bf16, rel=0.05, abs_=0.02, what="bf16 vs fp32")   # ... but little


def small_classifier() -> torch.nn.Module:
    """A random conv net whose logits respond to the image (an untrained MobileNetV2's barely do)."""
    torch.manual_seed(1)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 2)).eval()


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (no ties in float data)."""
    return float(np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1])


def test_bf16_attfind_effects_agree_with_fp32():
    """AttFind's effects under bf16 autocast on the CPU: not bit-equal to fp32 (autocast took effect), but
    the top coordinates keep their sign and rank."""
    from stylex.explain import compute_effects
    from stylex.models.networks import build_networks

    torch.manual_seed(0)
    G = build_networks(resolve_config("tiny").with_classes(2).network)[0].eval()
    C = small_classifier()
    with torch.no_grad():
        latents = G.condition(G.mapping(torch.randn(4, 32)), torch.softmax(torch.randn(4, 2), 1))
    fp32, bf16 = (compute_effects(G, C, latents, dtype=d, progress=False).effects for d in (None, torch.bfloat16))
    assert not np.array_equal(fp32, bf16)
    score = {name: (e[..., 1] - e[..., 0]).mean(0).ravel() for name, e in (("fp32", fp32), ("bf16", bf16))}
    top = np.argsort(-np.abs(score["fp32"]))[:10]
    top_bf16 = np.argsort(-np.abs(score["bf16"]))[:10]
    assert np.array_equal(np.sign(score["fp32"][top]), np.sign(score["bf16"][top]))
    assert len(set(top) & set(top_bf16)) >= 8
    assert rank_correlation(score["fp32"], score["bf16"]) > 0.95


def test_bf16_cli_train_attfind_evaluate(tmp_path, classifier_file, capsys):
    """`--precision bf16` through the command line on the CPU: train and AttFind; then evaluate their output."""
    from stylex.explain.pipeline import EvalConfig, evaluate_attributes
    from stylex.trained_run import load_run

    run, af = tmp_path / "run", tmp_path / "af"
    assert main(["train", "--data", "synthetic", "--synthetic-size", "48", "--classifier", str(classifier_file),
                 "--out", str(run), "--preset", "tiny", "--kimg", "0.008", "--lpips-weight", "0", "--device", "cpu",
                 "--precision", "bf16", "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["train"]["precision"] == "bf16"
    assert main(["attfind", "--run", str(run), "--out", str(af), "--num-images", "4", "--precision", "bf16",
                 "--no-progress", "--device", "cpu"]) == 0
    assert json.loads((af / "attributes.json").read_text())["config"]["precision"] == "bf16"
    capsys.readouterr()
    # evaluate has no precision of its own; through the API to keep the synthetic world's factor probe small
    cfg = EvalConfig(top_k=2, repeats=2, test_images=4, recon_images=4, ground_truth_k=2, ground_truth_images=4,
                     probe_images=200, probe_epochs=1, realism_images=0)
    metrics = evaluate_attributes(load_run(run, progress=False), af, tmp_path / "ev", cfg, lpips=None, progress=False)
    assert np.isfinite(metrics["reconstruction"]["l1"]) and "ground_truth" in metrics
