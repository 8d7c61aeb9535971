"""Shared test fixtures: the real-data folder (skips when absent) and a private decode cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_data_dir() -> Path:
    """``../shared/data`` relative to the repository root, or ``$STYLEX_SHARED_DATA``."""
    env = os.environ.get("STYLEX_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
