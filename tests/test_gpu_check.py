"""benchmarks/gpu_check.py, the one command for a GPU lease, run at tiny sizes on the CPU (``--smoke``)
so that it cannot rot between leases; its time boxes and failure records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def gpu_check(tmp_path: Path, *args: str, timeout: float = 600) -> tuple[int, dict, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1",
           "STYLEX_CACHE": str(tmp_path / "cache")}
    p = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--smoke", "--out", str(tmp_path / "out"),
                        *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    path = tmp_path / "out" / "gpu_check.json"
    return p.returncode, json.loads(path.read_text()) if path.is_file() else {}, p.stdout + p.stderr


@pytest.mark.slow
def test_smoke_runs_every_part(tmp_path):
    rc, doc, log = gpu_check(tmp_path)
    assert rc == 0, log
    parts = doc["parts"]
    assert list(parts) == ["env", "throughput", "attfind", "torchrun", "throughput_compile", "train_2min",
                           "throughput_contiguous"]
    assert all(p["ok"] for p in parts.values()), log
    assert parts["throughput"]["result"]["images_per_s"] > 0 and parts["throughput"]["result"]["precision"] == "bf16"
    assert parts["throughput_compile"]["result"]["compile"] is True
    assert parts["throughput_contiguous"]["result"]["channels_last"] is False
    assert parts["attfind"]["result"]["bf16"]["projected_s_250_images"] > 0
    assert parts["torchrun"]["result"]["backend"] == "gloo" and parts["torchrun"]["result"]["all_reduce_sum"] == 4.0
    assert parts["train_2min"]["result"]["class_agreement"] is not None
    assert (tmp_path / "out" / "train_2min_samples.png").is_file()
    assert "train_2min" in log and "written:" in log


def test_failures_are_recorded_not_fatal(tmp_path):
    """A failing part is recorded with its reason and the next part still runs; exit status 1."""
    rc, doc, log = gpu_check(tmp_path, "--parts", "train_2min,env", "--data", str(tmp_path / "nowhere"))
    assert rc == 1
    assert not doc["parts"]["train_2min"]["ok"] and "nowhere" in doc["parts"]["train_2min"]["error"]
    assert doc["parts"]["env"]["ok"] and doc["parts"]["env"]["result"]["name"].startswith("CPU")


def test_time_budget_and_bad_part(tmp_path):
    rc, doc, _ = gpu_check(tmp_path, "--parts", "env", "--budget-minutes", "0.1")
    assert rc == 1 and "budget" in doc["parts"]["env"]["skipped"]
    rc, _, log = gpu_check(tmp_path, "--parts", "env,warp")
    assert rc == 2 and "warp" in log
