"""`stylex demo --quick` end to end: every stage's output, the report, the summary."""

from __future__ import annotations

import json

import pytest

from stylex.cli import main


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STYLEX_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--no-progress", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert f"report: {out / 'report' / 'index.html'}" in printed
    assert "ground truth, attfind:" in printed
    assert "the most one style coordinate changes each cause" in printed and "accessory" in printed
    assert "half of each cause's own change in StyleSpace lies on: object_hue" in printed
    assert "QUICK DEMO: a smoke test" in printed and "mean nothing about the method" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["flip_rate"]) == {"attfind", "wu", "random"}
    assert {"attfind", "wu", "random"} <= set(metrics["ground_truth"])
    summary = json.loads((out / "demo_summary.json").read_text())
    assert set(summary["single_coordinate"]) == {"object_hue", "accessory"} and isinstance(summary["trust"], list)
    for f in ("classifier/classifier.pt", "run/checkpoint.pt", "attfind/attributes.json", "attfind/effects.npz",
              "eval/metrics.json", "report/index.html", "demo_summary.json"):
        assert (out / f).is_file(), f
    from stylex.report.html import check_report_links

    assert check_report_links(out / "report") == []
    html = (out / "report" / "index.html").read_text()
    for cmd in ("stylex train-classifier", "stylex train ", "stylex attfind", "stylex evaluate"):
        assert cmd in html, f"the report does not list `{cmd}`"
    # a second run finds every stage done and only rebuilds the report
    assert main(["demo", "--quick", "--out", str(out), "--device", "cpu"]) == 0
    assert printed.count("already done") == 0 and capsys.readouterr().out.count("already done") == 4
