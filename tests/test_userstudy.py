"""User-study kit: pages without the answer key, key/score round trip, CLI build and score."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stylex.cli import main
from stylex.errors import StylexError
from stylex.report.html import check_report_links
from stylex.report.userstudy import build_user_study, collect_descriptions, score_user_study


def make_gifs(folder: Path, num_attributes: int, per_attribute: int) -> dict[str, list[Path]]:
    """Tiny 2-frame GIFs named like the report's: gifs/attr{rank:02d}_img{j:02d}.gif."""
    out = {}
    gif_dir = folder / "gifs"
    gif_dir.mkdir(parents=True, exist_ok=True)
    for a in range(1, num_attributes + 1):
        out[f"attr{a:02d}"] = []
        for j in range(per_attribute):
            frames = [Image.new("RGB", (8, 8), (a * 20, j * 20, 0)), Image.new("RGB", (8, 8), (0, a * 20, j * 20))]
            p = gif_dir / f"attr{a:02d}_img{j:02d}.gif"
            frames[0].save(p, save_all=True, append_images=frames[1:], duration=600, loop=0)
            out[f"attr{a:02d}"].append(p)
    return out


def write_answers(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["participant_id", "question_id", "choice"])
        w.writerows(rows)
    return path


@pytest.fixture()
def study(tmp_path):
    gifs = make_gifs(tmp_path / "attfind", 7, 5)
    files = build_user_study(gifs, tmp_path / "study", questions_per_attribute=3, num_attributes=6, seed=0)
    return files, json.loads(files.key_path.read_text())


def test_build_writes_pages_and_separate_key(study, tmp_path):
    files, key = study
    assert files.key_path == (tmp_path / "study.answer_key.json").resolve()
    assert files.num_questions == 18 and len(key["questions"]) == 18
    assert files.attributes == tuple(f"attr{a:02d}" for a in range(1, 7))
    assert check_report_links(tmp_path / "study" / "classification", "index.html") == []
    assert check_report_links(tmp_path / "study" / "verbal", "index.html") == []
    assert not any("answer_key" in p.name for p in (tmp_path / "study").rglob("*"))
    for page in ("classification/index.html", "verbal/index.html"):
        text = (tmp_path / "study" / page).read_text()
        # No attribute ids, source names or answers on the pages.
        assert "attr0" not in text and "_img" not in text and "correct" not in text.lower()
        assert "answer_key" not in text
    for q in key["questions"]:
        assert q["correct"] in "AB" and q["distractor_attribute"] != q["attribute"]
        same = q["candidates"][q["correct"]]
        shown = [*q["examples"], same]
        assert len(set(shown)) == 3 and all(f"{q['attribute']}_img" in p for p in shown)
        other = q["candidates"]["B" if q["correct"] == "A" else "A"]
        assert f"{q['distractor_attribute']}_img" in other
    assert {q["correct"] for q in key["questions"]} == {"A", "B"}
    assert [v["attribute"] for v in key["verbal"]] != [] and len(key["verbal"]) == 6


def test_build_is_deterministic(tmp_path):
    gifs = make_gifs(tmp_path / "attfind", 3, 4)
    a = build_user_study(gifs, tmp_path / "s1", seed=3, key_path=tmp_path / "k1.json")
    b = build_user_study(gifs, tmp_path / "s2", seed=3, key_path=tmp_path / "k2.json")
    strip = lambda k: [{x: q[x] for x in ("attribute", "correct", "examples", "candidates")} for q in k["questions"]]
    assert strip(json.loads(a.key_path.read_text())) == strip(json.loads(b.key_path.read_text()))
    assert a.notes == ("only 3 attributes have animations; asked for 6",)


def test_perfect_and_wrong_sheets(study, tmp_path):
    files, key = study
    perfect = [("alice", q["question_id"], q["correct"]) for q in key["questions"]]
    wrong = [("bob", q["question_id"], "B" if q["correct"] == "A" else "A") for q in key["questions"]]
    res = score_user_study(files.key_path, [write_answers(tmp_path / "a.csv", perfect),
                                            write_answers(tmp_path / "b.csv", wrong)])
    assert res["participants"]["alice"] == {"accuracy": 1.0, "correct": 18, "answered": 18}
    assert res["participants"]["bob"]["accuracy"] == 0.0
    assert res["mean"] == 0.5 and res["std"] == 0.5 and res["std_ddof"] == 0  # population std of {1, 0}
    assert all(v == {"correct": 3, "answered": 6, "accuracy": 0.5} for v in res["per_attribute"].values())
    only = score_user_study(files.key_path, [tmp_path / "a.csv"])
    assert only["mean"] == 1.0 and only["std"] == 0.0 and only["n_participants"] == 1


def test_random_sheets_score_near_chance(tmp_path):
    gifs = make_gifs(tmp_path / "attfind", 8, 4)
    files = build_user_study(gifs, tmp_path / "study", questions_per_attribute=25, num_attributes=8, seed=1)
    key = json.loads(files.key_path.read_text())
    rng = np.random.default_rng(0)
    rows = [(f"p{i}", q["question_id"], rng.choice(["A", "B"])) for i in range(20) for q in key["questions"]]
    res = score_user_study(files.key_path, [write_answers(tmp_path / "r.csv", rows)])
    assert res["num_questions"] == 200 and res["n_participants"] == 20
    assert abs(res["mean"] - 0.5) < 0.05  # 4000 answers: std of the mean ~0.008
    assert 0.0 < res["std"] < 0.1


def test_unanswered_duplicates_and_errors(study, tmp_path):
    files, key = study
    q1, q2 = key["questions"][0], key["questions"][1]
    wrong1 = "B" if q1["correct"] == "A" else "A"
    rows = [("p", q1["question_id"], wrong1), ("p", q1["question_id"], q1["correct"].lower()),
            ("p", q2["question_id"], "")]
    res = score_user_study(files.key_path, [write_answers(tmp_path / "d.csv", rows)])
    assert res["participants"]["p"] == {"accuracy": 1.0, "correct": 1, "answered": 1}
    with pytest.raises(StylexError, match="must be A or B"):
        score_user_study(files.key_path, [write_answers(tmp_path / "e.csv", [("p", q1["question_id"], "C")])])
    with pytest.raises(StylexError, match="not in the answer key"):
        score_user_study(files.key_path, [write_answers(tmp_path / "f.csv", [("p", "q99", "A")])])
    bad = tmp_path / "g.csv"
    bad.write_text("who,what\n1,2\n")
    with pytest.raises(StylexError, match="lacks the column"):
        score_user_study(files.key_path, [bad])
    with pytest.raises(StylexError, match="answer key not found"):
        score_user_study(tmp_path / "nokey.json", [bad])


def test_build_errors(tmp_path):
    gifs = make_gifs(tmp_path / "attfind", 2, 3)
    with pytest.raises(StylexError, match="inside the study folder"):
        build_user_study(gifs, tmp_path / "s", key_path=tmp_path / "s" / "key.json")
    with pytest.raises(StylexError, match="3 different images"):
        build_user_study({"a": gifs["attr01"][:2], "b": gifs["attr02"]}, tmp_path / "s")
    with pytest.raises(StylexError, match="at least 2 attributes"):
        build_user_study({"a": gifs["attr01"]}, tmp_path / "s")


def test_verbal_descriptions(study, tmp_path):
    files, key = study
    path = tmp_path / "v.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["participant_id", "item_id", "description"])
        w.writerow(["p", key["verbal"][0]["item_id"], 'ears get "pointy", larger'])
        w.writerow(["p", key["verbal"][1]["item_id"], ""])
    got = collect_descriptions(files.key_path, [path])
    assert got[key["verbal"][0]["attribute"]] == ['ears get "pointy", larger']
    assert got[key["verbal"][1]["attribute"]] == []


def test_cli_build_and_score(tmp_path, capsys):
    make_gifs(tmp_path / "attfind", 6, 4)
    assert main(["user-study", "--attfind", str(tmp_path / "attfind"), "--out", str(tmp_path / "study")]) == 0
    key = json.loads((tmp_path / "study.answer_key.json").read_text())
    assert len(key["questions"]) == 18
    # a second study beside the first gets its own key (the first one's key used to be overwritten)
    assert main(["user-study", "--attfind", str(tmp_path / "attfind"), "--out", str(tmp_path / "study2"),
                 "--seed", "1"]) == 0
    assert json.loads((tmp_path / "study.answer_key.json").read_text()) == key
    assert (tmp_path / "study2.answer_key.json").is_file()
    answers = write_answers(tmp_path / "a.csv", [("x", q["question_id"], q["correct"]) for q in key["questions"]])
    capsys.readouterr()
    assert main(["user-study", "score", "--key", str(tmp_path / "study.answer_key.json"), "--answers", str(answers),
                 "--json", str(tmp_path / "scores.json")]) == 0
    out = capsys.readouterr().out
    assert "accuracy 1.000 +/- 0.000 over 1 participant" in out
    assert "0.983 +/- 0.037" in out and "0.918 +/- 0.038" in out and "attr06: 1.000 (3/3)" in out
    assert json.loads((tmp_path / "scores.json").read_text())["mean"] == 1.0


def test_cli_missing_gifs_says_what_to_do(tmp_path, capsys):
    (tmp_path / "attfind").mkdir()
    assert main(["user-study", "--attfind", str(tmp_path / "attfind"), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert "stylex report" in err and "--run" in err
    assert main(["user-study", "score", "--key", "k.json"]) == 2
