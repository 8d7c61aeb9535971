"""Faults injected into `stylex train` (issue 17): benchmarks/fault_injection.py kills a tiny run ten times at
random moments, half with SIGTERM and half with SIGKILL, resuming it after each; every kill must end as its
signal should, every resume must load and continue, a second `stylex train` on the running folder must be
refused naming the holder, and the run must end bit-identical (weights and stats rows) to an uninterrupted one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_killed_and_resumed_run_ends_as_an_uninterrupted_one(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fault_injection.py"), "--kills", "10", "--seed",
                        "1", "--work", str(tmp_path / "w"), "--json", str(tmp_path / "s.json")],
                       capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    log = p.stdout[-4000:] + p.stderr[-4000:]
    s = json.loads((tmp_path / "s.json").read_text())
    assert (s["kills"], s["sigterm"], s["sigkill"]) == (10, 5, 5), log
    assert s["kills_ended_as_expected"] == 10 and s["resumes_without_error"] == s["resumes"] >= 9, log
    assert s["checkpoint_never_went_back"] and s["second_train_refused"], log
    assert s["final_rc"] == 0 and s["bit_identical"] and s["stats_identical"], log
    assert s["files_left_behind"] == [], log          # no lock file, no half-written checkpoint
    assert s["passed"] and p.returncode == 0, log
