"""Shared test fixtures: the real-data folder (skips when absent) and a private decode cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_data_dir() -> Path:
    """``../shared/data`` relative to the repository root, or ``$STYLEX_SHARED_DATA``."""
    env = os.environ.get("STYLEX_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tests use tiny networks: one intra-op thread is faster for them, and far faster when the
    machine's two cores are shared (thread oversubscription slowed tiny convs 100x here)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def shared_data() -> Path:
    """The shared real-data folder; the test is skipped when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set STYLEX_SHARED_DATA)")
    return path


@pytest.fixture
def stylex_cache(tmp_path, monkeypatch) -> Path:
    """A fresh decode cache for one test (``$STYLEX_CACHE`` points at it)."""
    cache = tmp_path / "stylex-cache"
    monkeypatch.setenv("STYLEX_CACHE", str(cache))
    return cache


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A tiny StylEx run on the synthetic world (untrained-quality; seconds to make), shared by the
    explanation/report tests. Returns the run directory."""
    import torch

    from stylex.data import DataSpec
    from stylex.models.classifier import ClassifierConfig, build_classifier, save_classifier
    from stylex.training.config import resolve_config
    from stylex.training.loop import train

    base = tmp_path_factory.mktemp("tiny-run")
    os.environ.setdefault("STYLEX_CACHE", str(base / "cache"))
    torch.manual_seed(0)
    ccfg = ClassifierConfig(num_classes=2, class_names=["cool_or_unmarked", "warm_and_marked"], width_mult=0.25,
                            pretrained="none", input_size=None, resolution=32)
    clf = base / "classifier.pt"
    save_classifier(clf, build_classifier(ccfg), ccfg, extra={})
    cfg = resolve_config("tiny", rec_lpips_weight=0.0, kimg=0.008, tick_kimg=0.008, device="cpu")
    data = DataSpec(path=None, format="synthetic", resolution=32, synthetic_size=120, cache_dir=str(base / "cache"))
    train(cfg, data, clf, base / "run", progress=False)
    return base / "run"
