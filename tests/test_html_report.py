"""The HTML report: self-contained, every link resolves, text escaped; checked in headless Chromium when present."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from stylex.report.animation import attribute_gif
from stylex.report.figures import FigureStyle, attribute_panel, flip_rate_curve, reconstruction_grid
from stylex.report.html import (AttributeEntry, FlipRateRow, ReportContent, Table, check_report_links,
                                render_report)
from stylex.report.userstudy import build_user_study, score_user_study

STYLE = FigureStyle(tile=64)
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed "
                                    "(CI installs it: apt-get install -y chromium)")


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


def make_content(tmp_path: Path, out: Path) -> ReportContent:
    """A report whose images live partly inside ``out`` and partly elsewhere (copied into assets/)."""
    p = np.random.default_rng(0).dirichlet([1, 1], size=4)
    reconstruction_grid(images(4), images(4, 1), p, p[:, ::-1], ["cat", "dog"], "dog", path=out / "recon.png",
                        style=STYLE)
    elsewhere = tmp_path / "elsewhere"
    attribute_panel("Attribute #1", images(2), images(2, 2), p[:2], p[:2, ::-1], ["cat", "dog"], 0,
                    path=elsewhere / "panel.png", style=STYLE)
    attribute_panel("Attribute #2", images(2), images(2, 3), p[:2], p[:2, ::-1], ["cat", "dog"], 0,
                    path=elsewhere / "other" / "panel.png", style=STYLE)  # same name: must not collide
    gifs = [attribute_gif(images(1, j)[0], images(1, j + 9)[0], 0.2, 0.8, "cat", out / "gifs" / f"attr01_img{j:02d}.gif",
                          style=STYLE) for j in range(2)]
    flip_rate_curve({"AttFind": ([0.1, 0.3], [0.01, 0.02]), "random": ([0.0, 0.01], [0.0, 0.01])},
                    out / "flip rate.png", size_inches=(4, 3), dpi=60)
    return ReportContent(
        title="StylEx report <cats & dogs>",
        subtitle="run 'x' \"quoted\"",
        summary={"data set": "catsdogs-5k", "classifier": "MobileNetV2 <w=0.5>", "accuracy": 0.91234},
        training_summary={"kimg": 12.5},
        training_curve=str(out / "missing_curve.png"),  # absent: shown as a note, not a broken link
        reconstructions="recon.png",
        attributes=[
            AttributeEntry(rank=2, label="b8.conv1 channel 3 -> min", panel=str(elsewhere / "other" / "panel.png"),
                           score=0.5, target_class="dog"),
            AttributeEntry(rank=1, label="<b>bold</b> label", description="ears & <eyes>",
                           panel=str(elsewhere / "panel.png"), gifs=[str(g) for g in gifs], score=1.25,
                           target_class="cat"),
        ],
        flip_rates=[FlipRateRow("AttFind", 0.391, 0.022, 250), FlipRateRow("Wu et al.", 0.247, 0.012, 250)],
        flip_rate_curve=str(out / "flip rate.png"),
        flip_rate_caption="top-10 attributes together; mean +/- std over 3 disjoint sets",
        ground_truth=Table(("factor", "found"), [("ears", 1), ("<colour>", 0.5)], caption="synthetic world"),
        commands=["stylex train --data synthetic --out 'run dir' && echo <done>"],
        notes=["Flip rates on images disjoint from AttFind's."],
    )


def test_report_links_resolve_and_text_is_escaped(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    index = render_report(make_content(tmp_path, out), out)
    assert index == out / "index.html"
    assert check_report_links(out) == []
    page = index.read_text()
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "&lt;cats &amp; dogs&gt;" in page and "echo &lt;done&gt;" in page and "&lt;colour&gt;" in page
    assert "http://" not in page and "https://" not in page and "file:" not in page
    assert str(tmp_path) not in page  # no absolute paths
    srcs = re.findall(r'src="([^"]+)"', page)
    assert "recon.png" in srcs and "flip%20rate.png" in srcs and "gifs/attr01_img00.gif" in srcs
    assert {"assets/panel.png", "assets/panel_1.png"} <= set(srcs)
    assert "missing image: missing_curve.png" in page
    assert page.index('id="attr-1"') < page.index('id="attr-2"')  # sorted by rank
    assert "0.391" in page and "0.022" in page and "0.9123" in page and "12.5<" in page and "disjoint sets" in page


def test_check_report_links_finds_problems(tmp_path):
    (tmp_path / "ok.png").write_bytes(b"x")
    (tmp_path / "index.html").write_text(
        '<a href="#top">a</a><img src="ok.png"><img src="gone.png"><img src="http://example.com/x.png">'
        '<img src="/etc/x.png"><a href="../outside.html">o</a><img src="data:image/png;base64,AAAA">')
    assert check_report_links(tmp_path) == ["gone.png", "http://example.com/x.png (external)",
                                            "/etc/x.png (absolute path)", "../outside.html (outside the report folder)"]


def chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}",
           "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def broken_images(page: Path, tmp_path: Path) -> str | None:
    dom = chromium(["--dump-dom", page.resolve().as_uri()], tmp_path).stdout
    m = re.search(r'data-broken-images="(\d+)"', dom)
    return m.group(1) if m else None


@needs_chromium
def test_report_in_headless_chromium(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    index = render_report(make_content(tmp_path, out), out)
    shot = tmp_path / "shot.png"
    chromium([f"--screenshot={shot}", "--window-size=1200,2000", index.resolve().as_uri()], tmp_path)
    assert shot.is_file() and shot.stat().st_size > 10_000
    assert broken_images(index, tmp_path) == "0"
    # The check itself works: a page with a missing image reports one broken image.
    (out / "recon.png").unlink()
    assert broken_images(index, tmp_path) == "1"


@needs_chromium
def test_user_study_pages_run_in_headless_chromium(tmp_path):
    gifs = {f"a{a}": [attribute_gif(images(1, j)[0], images(1, j + a)[0], 0.1, 0.9, "x",
                                    tmp_path / f"a{a}_{j}.gif", style=STYLE) for j in range(3)] for a in range(2)}
    files = build_user_study(gifs, tmp_path / "study", questions_per_attribute=2, num_attributes=2)
    # The inline scripts ran without error if they filled in the progress counters.
    dom = chromium(["--dump-dom", files.classification_page.as_uri()], tmp_path).stdout
    assert "0 / 4 answered" in dom
    dom = chromium(["--dump-dom", files.verbal_page.as_uri()], tmp_path).stdout
    assert "0 / 2 described" in dom
    # Answer one question and export, with the download replaced by a DOM attribute; then score the CSV.
    probe = files.classification_page.with_name("probe.html")
    probe.write_text(files.classification_page.read_text().replace("</body>", """<script>
window.download = function (name, text) { document.body.dataset.csv = text; };
document.getElementById("pid").value = "tester, 1";
var r = document.querySelector('input[name="q01"][value="B"]'); r.checked = true;
r.dispatchEvent(new Event("change"));
document.getElementById("export").click();
</script></body>"""))
    dom = chromium(["--dump-dom", probe.as_uri()], tmp_path).stdout
    m = re.search(r'data-csv="([^"]*)"', dom)
    assert m, dom[-500:]
    lines = html.unescape(m.group(1)).strip().splitlines()
    key = json.loads(files.key_path.read_text())
    assert lines[0] == "participant_id,question_id,choice,study_id" and lines[1] == f'"tester, 1",q01,B,{key["study_id"]}'
    assert len(lines) == 5  # one row per question, unanswered ones with an empty choice
    answers = tmp_path / "answers.csv"
    answers.write_text("\n".join(lines) + "\n")
    res = score_user_study(files.key_path, [answers])
    assert res["participants"]["tester, 1"]["answered"] == 1
