"""The user studies of the paper as static HTML pages (docs/METHOD.md section 8).

**Classification study** (``OUT/classification/index.html``): each question shows two animations of one attribute on two
different images, then two candidate animations, A and B: the same attribute on a third image, and a
different attribute. The participant picks the candidate that shows the same change (chance: 50%).
The paper reports 0.983 +/- 0.037 accuracy (age), the replication 0.918 +/- 0.038 (61 people,
18 questions: top-6 attributes x 3).

**Verbal study** (``OUT/verbal/index.html``): each attribute's animations, with a text box to describe the change.

Both pages are plain HTML + JavaScript, open from ``file://``, keep answers in the browser
(``localStorage``) and export them as CSV (``participant_id,question_id,choice,study_id`` and
``participant_id,item_id,description,study_id``); scoring refuses rows of another study. The two studies
are separate hand-out folders. The answer key is written to a separate JSON file, by default next to (not
inside) the study folder; the pages carry no attribute names, source file names or answers, and every GIF
slot of every question has its own copy under a random name (with random bytes in a GIF comment), so
that nothing links one question's files to another's. The study folder holds ``.stylex-user-study.json``,
the list of what the build wrote: a rebuild replaces those files only, and a non-empty folder without it
is refused, so a user's files are never overwritten or deleted.

Scoring: accuracy per participant is correct / answered; the summary is mean +/- std over participants with
``ddof=0`` (population std, as a plain "+/-" over the people who took part).
"""

from __future__ import annotations

import csv
import html
import json
import random
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..atomic import atomic_path, write_json, write_text
from ..errors import StylexError

KEY_FORMAT = "stylex-user-study-key/1"
MANIFEST_NAME = ".stylex-user-study.json"      # in the study folder: marks it as ours, lists what we wrote
MANIFEST_FORMAT = "stylex-user-study-folder/1"
HANDOUTS = ("classification", "verbal")        # one folder per study, each handed out on its own
PAPER_ACCURACY = (0.983, 0.037)        # Lang et al. 2021, age classifier
REPLICATION_ACCURACY = (0.918, 0.038)  # Bosch et al. 2022, 61 participants, 18 questions


@dataclass(frozen=True)
class UserStudyFiles:
    """What :func:`build_user_study` wrote."""

    classification_page: Path
    verbal_page: Path
    key_path: Path
    num_questions: int
    attributes: tuple[str, ...]
    notes: tuple[str, ...] = ()   # e.g. fewer attributes available than asked for


def default_key_path(out_dir: str | Path) -> Path:
    """``<out_dir>/../<name>.answer_key.json``: beside the study folder, so it is not shipped with the
    pages, and named after it, so that two studies in one folder never overwrite each other's key."""
    out = Path(out_dir).resolve()
    return out.parent / f"{out.name}.answer_key.json"


def build_user_study(attribute_gifs: dict[str, Sequence[str | Path]], out_dir: str | Path,
                     questions_per_attribute: int = 3, num_attributes: int = 6, seed: int = 0,
                     key_path: str | Path | None = None, verbal_examples: int = 3,
                     title: str = "Which animation shows the same change?") -> UserStudyFiles:
    """Write the two hand-out folders (classification and verbal study), their GIF copies and the answer key.

    Every GIF slot of every question (and of the verbal page) gets its own copy under a random name, with
    random bytes in a GIF comment, so that neither names nor file contents link one question to another;
    the two studies are separate folders, so the verbal page (grouped by attribute) gives nothing away.

    Args:
        attribute_gifs: attribute id -> animations of that attribute on different images (>= 3 each), in rank
            order (the first ``num_attributes`` are used).
        out_dir: study folder: ``classification/`` and ``verbal/`` (hand out each as it is) and
            ``.stylex-user-study.json`` (what this build wrote). Must be new, empty or an earlier
            ``stylex user-study`` output, whose listed files alone are replaced.
        questions_per_attribute: questions per attribute (the replication used 3).
        num_attributes: attributes in the study (the replication used the top 6).
        seed: seed of image choice, distractors, A/B order and question order.
        key_path: where to write the answer key (default :func:`default_key_path`); must be outside ``out_dir``.
        verbal_examples: animations shown per attribute on the verbal page.
        title: heading of the classification page.

    Returns:
        :class:`UserStudyFiles`.

    Raises:
        StylexError: fewer than 2 attributes, an attribute with fewer than 3 animations, a missing GIF, a key
            path inside ``out_dir`` or holding another file, or an ``out_dir`` holding other files or the GIFs.
    """
    out = Path(out_dir).resolve()
    key = Path(key_path).resolve() if key_path is not None else default_key_path(out)
    if key == out or out in key.parents:
        raise StylexError(f"answer key {key} is inside the study folder {out}: participants would see it; "
                          "choose a path outside it")
    if questions_per_attribute < 1 or num_attributes < 2:
        raise StylexError("the user study needs questions_per_attribute >= 1 and num_attributes >= 2")
    attrs, gifs, notes = _check_gifs(attribute_gifs, num_attributes, out)
    _check_key_path(key, out)
    previous = _previous_outputs(out)

    rng = random.Random(seed)
    questions = _make_questions(attrs, gifs, questions_per_attribute, rng)
    verbal_order = list(attrs)
    rng.shuffle(verbal_order)
    verbal = [{"attribute": a, "sources": [gifs[a][j] for j in sorted(rng.sample(range(len(gifs[a])),
                                                                               min(verbal_examples, len(gifs[a]))))]}
              for a in verbal_order]
    for q in questions:   # one fresh name per slot: no file recurs across questions
        q["files"] = {"examples": [_gif_name() for _ in q["examples"]], "candidates": {c: _gif_name() for c in "AB"}}
    for i, v in enumerate(verbal):
        v["id"], v["files"] = f"c{i + 1}", [_gif_name() for _ in v["sources"]]
    for i, q in enumerate(questions):
        q["id"] = f"q{i + 1:02d}"
    study_id = secrets.token_hex(8)   # not from the seed: two studies built alike still differ

    copies = [("classification", n, p) for q in questions for n, p in zip(q["files"]["examples"], q["examples"])]
    copies += [("classification", q["files"]["candidates"][c], q["candidates"][c]) for q in questions for c in "AB"]
    copies += [("verbal", n, p) for v in verbal for n, p in zip(v["files"], v["sources"])]
    written = [f"{h}/{n}" for h, n, _ in copies] + [f"{h}/index.html" for h in HANDOUTS]
    _remove_files(out, previous)
    write_json(out / MANIFEST_NAME, {"format": MANIFEST_FORMAT, "study_id": study_id, "answer_key": str(key),
                                     "files": written})   # first: an interrupted build can still be replaced
    for handout, name, src in copies:
        _copy_gif(src, out / handout / name)
    write_json(key, _key_document(study_id, seed, out, questions_per_attribute, attrs, questions, verbal))
    page = out / "classification" / "index.html"
    write_text(page, _classification_page(title, study_id, questions))
    verbal_page = out / "verbal" / "index.html"
    write_text(verbal_page, _verbal_page(study_id, verbal))
    return UserStudyFiles(page, verbal_page, key, len(questions), tuple(attrs), tuple(notes))


def _check_gifs(attribute_gifs, num_attributes: int, out: Path):
    """The attributes used, their animations as paths, and notes; every animation must exist outside ``out``."""
    notes = []
    attrs = list(attribute_gifs)[:num_attributes]
    if len(attrs) < num_attributes:
        notes.append(f"only {len(attrs)} attributes have animations; asked for {num_attributes}")
    if len(attrs) < 2:
        raise StylexError(f"the user study needs animations of at least 2 attributes, got {len(attrs)}")
    gifs = {a: [Path(p) for p in attribute_gifs[a]] for a in attrs}
    for a, paths in gifs.items():
        if len(paths) < 3:
            raise StylexError(f"attribute {a} has {len(paths)} animations; a question needs 3 different images")
        for p in paths:
            if not p.is_file():
                raise StylexError(f"animation {p} of attribute {a} does not exist")
            if out in p.resolve().parents:
                raise StylexError(f"animation {p} lies inside the study folder {out}: building there could "
                                  "overwrite it; choose a study folder outside the AttFind output")
    return attrs, gifs, notes


def _make_questions(attrs: list[str], gifs: dict[str, list[Path]], per_attribute: int,
                    rng: random.Random) -> list[dict]:
    """The classification questions (two examples, a correct candidate and a distractor each), shuffled."""
    questions = []
    for a in attrs:
        others = [b for b in attrs if b != a]
        for _ in range(per_attribute):
            shown = rng.sample(range(len(gifs[a])), 3)   # two examples + the correct candidate
            other = rng.choice(others)
            # The distractor shows a different attribute on an image not used in this question when possible,
            # so that image identity gives nothing away.
            free = [j for j in range(len(gifs[other])) if j not in shown] or list(range(len(gifs[other])))
            wrong = rng.choice(free)
            correct = rng.choice("AB")
            same, diff = gifs[a][shown[2]], gifs[other][wrong]
            questions.append({
                "attribute": a, "distractor_attribute": other, "correct": correct,
                "examples": [gifs[a][shown[0]], gifs[a][shown[1]]],
                "candidates": {"A": same if correct == "A" else diff, "B": diff if correct == "A" else same},
            })
    rng.shuffle(questions)
    return questions


def _key_document(study_id: str, seed: int, out: Path, per_attribute: int, attrs: list[str],
                  questions: list[dict], verbal: list[dict]) -> dict:
    """The answer key: sources, answers and the copies' names (relative to their hand-out folder)."""
    key_questions = [{
        "question_id": q["id"], "attribute": q["attribute"], "correct": q["correct"],
        "distractor_attribute": q["distractor_attribute"],
        "examples": [str(p) for p in q["examples"]],
        "candidates": {k: str(p) for k, p in q["candidates"].items()},
        "files": q["files"],
    } for q in questions]
    key_verbal = [{"item_id": v["id"], "attribute": v["attribute"], "sources": [str(p) for p in v["sources"]],
                   "files": v["files"]} for v in verbal]
    return {"format": KEY_FORMAT, "study_id": study_id, "seed": seed, "study_dir": str(out),
            "handouts": {h: str(out / h) for h in HANDOUTS},
            "questions_per_attribute": per_attribute, "attributes": attrs,
            "questions": key_questions, "verbal": key_verbal}


# ----------------------------------------------------------------------------------------------------------
# Files: never touch what a previous build did not write


def _gif_name() -> str:
    """A random file name for one GIF slot (random, not seeded: it must not be guessable from the seed)."""
    return f"gifs/{secrets.token_hex(8)}.gif"


def _copy_gif(src: Path, dst: Path) -> None:
    """Copy an animation with a random-length random GIF comment after its header, so that no two copies
    share their bytes or size (a checksum must not link two slots either)."""
    data = src.read_bytes()
    if data[:6] == b"GIF89a" and len(data) > 13:
        packed = data[10]
        start = 13 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0)   # after the global colour table
        text = secrets.token_hex(4 + secrets.randbelow(24)).encode()
        data = data[:start] + b"\x21\xfe" + bytes([len(text)]) + text + b"\x00" + data[start:]
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dst) as tmp:
        tmp.write_bytes(data)


def _check_key_path(key: Path, out: Path) -> None:
    """Refuse to overwrite a file at ``key`` that is not the answer key of a study in ``out``."""
    if not key.exists():
        return
    try:
        doc = json.loads(key.read_text())
    except (OSError, ValueError):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != KEY_FORMAT:
        raise StylexError(f"{key} exists and is not a stylex user-study answer key: nothing was changed; "
                          "choose another key path with --key")
    if doc.get("study_dir") != str(out):
        raise StylexError(f"{key} is the answer key of the study in {doc.get('study_dir')}: nothing was changed; "
                          "choose another key path with --key")


def _previous_outputs(out: Path) -> list[Path]:
    """The files an earlier build wrote into ``out`` (from its manifest).

    Raises:
        StylexError: ``out`` is a file, or a non-empty folder without a valid manifest (not ours).
    """
    if not out.exists():
        return []
    if not out.is_dir():
        raise StylexError(f"study folder {out} is a file: give a new or empty folder")
    manifest = out / MANIFEST_NAME
    if not manifest.is_file():
        if any(out.iterdir()):
            raise StylexError(f"study folder {out} is not empty and was not written by `stylex user-study` (it has "
                              f"no {MANIFEST_NAME}): nothing was changed; give a new or empty folder")
        return []
    try:
        doc = json.loads(manifest.read_text())
        files = [Path(f) for f in doc["files"]] if doc.get("format") == MANIFEST_FORMAT else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        files = None
    if files is None or any(f.is_absolute() or ".." in f.parts for f in files):
        raise StylexError(f"{manifest} is damaged: nothing was changed; give a new or empty study folder")
    return [out / f for f in files]


def _remove_files(out: Path, files: list[Path]) -> None:
    """Delete ``files`` (an earlier build's), then the hand-out folders left empty; nothing else."""
    for f in files:
        f.unlink(missing_ok=True)
    for handout in HANDOUTS:
        for folder in (out / handout / "gifs", out / handout):
            try:
                folder.rmdir()
            except OSError:   # absent, or holds files we did not write: keep them
                pass


# ----------------------------------------------------------------------------------------------------------
# Pages

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; max-width: 980px;
       margin: 0 auto; padding: 1.5em; color: #1b1b1b; line-height: 1.45; }
.q { border: 1px solid #dcdcdc; border-radius: 6px; padding: 0.6em 1em 1em; margin: 1.2em 0; }
.q h2 { font-size: 1.1em; margin: 0.2em 0 0.6em; }
.row { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.row img { border: 1px solid #dcdcdc; display: block; }
.label { color: #555; font-size: 0.9em; margin: 0.8em 0 0.3em; }
.cand { border: 2px solid transparent; border-radius: 6px; padding: 6px; cursor: pointer; }
.cand:has(input:checked) { border-color: #0a58a8; background: #eef5fc; }
.cand span { display: block; text-align: center; font-weight: 600; margin-top: 4px; }
.bar { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #dcdcdc; padding: 0.6em 0; z-index: 1;
       display: flex; flex-wrap: wrap; gap: 0.6em; align-items: center; }
button { font-size: 1em; padding: 0.3em 0.9em; cursor: pointer; }
textarea { width: 100%; min-height: 3.5em; font: inherit; }
"""

_COMMON_JS = """
var STORE = "stylex-user-study:" + STUDY + ":" + PAGE;
function load() { try { return JSON.parse(localStorage.getItem(STORE)) || {}; } catch (e) { return {}; } }
function save(state) { try { localStorage.setItem(STORE, JSON.stringify(state)); } catch (e) {} }
var state = load();
function pid() {
  var box = document.getElementById("pid");
  if (!box.value.trim()) { box.value = "p" + Math.random().toString(36).slice(2, 10); }
  state.participant = box.value.trim(); save(state); return state.participant;
}
function csvCell(v) { v = String(v); return /[",\\n\\r]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
function download(name, text) {
  var a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], {type: "text/csv"}));
  a.download = name; document.body.appendChild(a); a.click(); a.remove();
}
document.getElementById("pid").value = state.participant || "";
document.getElementById("pid").addEventListener("change", function () { pid(); });
"""

_CLASSIFICATION_JS = """
var answers = state.answers || (state.answers = {});
function progress() {
  document.getElementById("progress").textContent = Object.keys(answers).length + " / " + QUESTIONS.length + " answered";
}
document.querySelectorAll("input[type=radio]").forEach(function (r) {
  if (answers[r.name] === r.value) { r.checked = true; }
  r.addEventListener("change", function () { answers[r.name] = r.value; save(state); progress(); });
});
progress();
document.getElementById("export").addEventListener("click", function () {
  var p = pid(), lines = ["participant_id,question_id,choice,study_id"];
  QUESTIONS.forEach(function (q) { lines.push([csvCell(p), q, answers[q] || "", STUDY].join(",")); });
  download("answers_" + p.replace(/[^A-Za-z0-9_-]/g, "_") + ".csv", lines.join("\\n") + "\\n");
});
document.getElementById("clear").addEventListener("click", function () {
  if (!confirm("Clear all answers on this page?")) { return; }
  state.answers = answers = {}; save(state);
  document.querySelectorAll("input[type=radio]").forEach(function (r) { r.checked = false; }); progress();
});
"""

_VERBAL_JS = """
var texts = state.texts || (state.texts = {});
function progress() {
  var n = ITEMS.filter(function (i) { return (texts[i] || "").trim(); }).length;
  document.getElementById("progress").textContent = n + " / " + ITEMS.length + " described";
}
document.querySelectorAll("textarea").forEach(function (t) {
  t.value = texts[t.name] || "";
  t.addEventListener("input", function () { texts[t.name] = t.value; save(state); progress(); });
});
progress();
document.getElementById("export").addEventListener("click", function () {
  var p = pid(), lines = ["participant_id,item_id,description,study_id"];
  ITEMS.forEach(function (i) { lines.push([csvCell(p), i, csvCell(texts[i] || ""), STUDY].join(",")); });
  download("descriptions_" + p.replace(/[^A-Za-z0-9_-]/g, "_") + ".csv", lines.join("\\n") + "\\n");
});
document.getElementById("clear").addEventListener("click", function () {
  if (!confirm("Clear all descriptions on this page?")) { return; }
  state.texts = texts = {}; save(state);
  document.querySelectorAll("textarea").forEach(function (t) { t.value = ""; }); progress();
});
"""


def _page(title: str, intro: str, body: str, script: str, study_id: str) -> str:
    e = html.escape
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{e(title)}</title><style>{_CSS}</style></head>\n<body><h1>{e(title)}</h1>{intro}"
            "<div class=\"bar\"><label>Participant ID <input id=\"pid\" size=\"16\"></label>"
            "<button id=\"export\" type=\"button\">Export CSV</button>"
            "<button id=\"clear\" type=\"button\">Clear</button><span id=\"progress\"></span></div>\n"
            f"{body}\n<p class=\"label\">study {e(study_id)}</p><script>{script}</script></body></html>\n")


def _classification_page(title: str, study_id: str, questions: list[dict]) -> str:
    e = html.escape
    intro = ("<p>Each question shows two animations in which <b>the same change</b> is applied to two different "
             "images. Below them are two more animations, <b>A</b> and <b>B</b>. Pick the one that shows the same "
             "change as the first two. There is no time limit; answers are kept in this browser. When you are "
             "done, enter your participant ID and press <b>Export CSV</b>, then send the downloaded file.</p>")
    blocks = []
    for n, q in enumerate(questions):
        qid = q["id"]
        ex = "".join(f'<img src="{e(name)}" alt="example {i + 1}">' for i, name in enumerate(q["files"]["examples"]))
        cands = "".join(
            f'<label class="cand"><img src="{e(q["files"]["candidates"][c])}" alt="candidate {c}">'
            f'<span><input type="radio" name="{qid}" value="{c}"> {c}</span></label>' for c in "AB")
        blocks.append(f'<div class="q" id="{qid}"><h2>Question {n + 1} of {len(questions)}</h2>'
                      f'<div class="label">The same change on two images:</div><div class="row">{ex}</div>'
                      f'<div class="label">Which of these shows that change?</div><div class="row">{cands}</div></div>')
    ids = json.dumps([q["id"] for q in questions])
    script = f"var STUDY = {json.dumps(study_id)}, PAGE = \"classification\", QUESTIONS = {ids};" \
             + _COMMON_JS + _CLASSIFICATION_JS
    return _page(title, intro, "".join(blocks), script, study_id)


def _verbal_page(study_id: str, verbal: list[dict]) -> str:
    e = html.escape
    intro = ("<p>Each group of animations shows one change applied to several images. Describe the change in a "
             "few words (for example: <i>the ears become pointed</i>). When you are done, enter your participant "
             "ID and press <b>Export CSV</b>, then send the downloaded file.</p>")
    blocks = []
    for n, v in enumerate(verbal):
        imgs = "".join(f'<img src="{e(name)}" alt="change {n + 1}, image {i + 1}">'
                       for i, name in enumerate(v["files"]))
        blocks.append(f'<div class="q" id="{v["id"]}"><h2>Change {n + 1} of {len(verbal)}</h2>'
                      f'<div class="row">{imgs}</div><div class="label">What changes?</div>'
                      f'<textarea name="{v["id"]}" aria-label="description of change {n + 1}"></textarea></div>')
    ids = json.dumps([v["id"] for v in verbal])
    script = f"var STUDY = {json.dumps(study_id)}, PAGE = \"verbal\", ITEMS = {ids};" + _COMMON_JS + _VERBAL_JS
    return _page("Describe each change", intro, "".join(blocks), script, study_id)


# ----------------------------------------------------------------------------------------------------------
# Scoring


def load_key(key_path: str | Path) -> dict:
    """Read and check an answer key written by :func:`build_user_study`."""
    path = Path(key_path)
    if not path.is_file():
        raise StylexError(f"answer key not found: {path} (written by `stylex user-study` next to the study folder)")
    try:
        key = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise StylexError(f"answer key {path} is not valid JSON: {exc}") from None
    if not isinstance(key, dict) or key.get("format") != KEY_FORMAT:
        raise StylexError(f"{path} is not a stylex user-study answer key (format {KEY_FORMAT})")
    return key


def _read_rows(path: Path, columns: tuple[str, str, str], key: dict,
               key_path: str | Path) -> list[tuple[int, dict[str, str]]]:
    """The rows of an exported CSV as ``(line, row)``; every row must carry the key's study id.

    Raises:
        StylexError: missing file or columns, or a row of another study (its ``study_id`` differs from the key's).
    """
    if not path.is_file():
        raise StylexError(f"answer file not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise StylexError(f"{path} lacks the column(s) {', '.join(missing)}: expected a CSV exported from the "
                              f"study page with header {','.join(columns)},study_id")
        rows = [(i + 2, row) for i, row in enumerate(reader)]
    if "study_id" not in (reader.fieldnames or []):
        warnings.warn(f"{path} has no study_id column (exported by an older stylex?): cannot check that it "
                      f"answers the study of {key_path}")
        return rows
    for line, row in rows:
        sid = (row["study_id"] or "").strip()
        if sid != key.get("study_id"):
            raise StylexError(f"{path}:{line}: answers of study {sid or '(none)'}, but {key_path} is the key of "
                              f"study {key.get('study_id')}: score them with their own study's key")
    return rows


def score_user_study(key_path: str | Path, answer_csv_paths: Sequence[str | Path]) -> dict:
    """Score classification-study answers against the key.

    Rows with an empty choice are unanswered and not counted; when a participant answered a question twice
    the later row wins. Accuracy per participant = correct / answered.

    Args:
        key_path: the answer key JSON.
        answer_csv_paths: CSV files exported from ``index.html`` (one or more participants each).

    Returns:
        ``{"participants": {id: {"accuracy", "correct", "answered"}}, "n_participants", "num_questions",
        "mean", "std" (over participants, ddof=0), "std_ddof": 0, "per_attribute": {attr: {"accuracy",
        "correct", "answered"}} (pooled over participants), "chance": 0.5}``.

    Raises:
        StylexError: unreadable key or CSV, a question not in the key, a choice other than A/B, no answers.
    """
    key = load_key(key_path)
    truth = {q["question_id"]: (q["attribute"], q["correct"]) for q in key["questions"]}
    answers: dict[str, dict[str, str]] = {}
    for path in map(Path, answer_csv_paths):
        for line, row in _read_rows(path, ("participant_id", "question_id", "choice"), key, key_path):
            choice = (row["choice"] or "").strip().upper()
            pid, qid = (row["participant_id"] or "").strip(), (row["question_id"] or "").strip()
            if not choice:
                continue
            if qid not in truth:
                raise StylexError(f"{path}:{line}: question {qid!r} is not in the answer key {key_path} "
                                  "(answers from a different study?)")
            if choice not in ("A", "B"):
                raise StylexError(f"{path}:{line}: choice {row['choice']!r} must be A or B")
            answers.setdefault(pid or "(no id)", {})[qid] = choice
    if not answers:
        raise StylexError(f"no answers in {', '.join(map(str, answer_csv_paths))}")
    participants = {}
    per_attr = {a: {"correct": 0, "answered": 0} for a in key["attributes"]}
    for pid, given in answers.items():
        correct = 0
        for qid, choice in given.items():
            attr, right = truth[qid]
            hit = int(choice == right)
            correct += hit
            per_attr.setdefault(attr, {"correct": 0, "answered": 0})
            per_attr[attr]["correct"] += hit
            per_attr[attr]["answered"] += 1
        participants[pid] = {"accuracy": correct / len(given), "correct": correct, "answered": len(given)}
    acc = np.array([p["accuracy"] for p in participants.values()], dtype=np.float64)
    for v in per_attr.values():
        v["accuracy"] = v["correct"] / v["answered"] if v["answered"] else float("nan")
    return {
        "participants": participants, "n_participants": len(participants), "num_questions": len(truth),
        "mean": float(acc.mean()), "std": float(acc.std(ddof=0)), "std_ddof": 0,
        "per_attribute": per_attr, "chance": 0.5,
    }


def collect_descriptions(key_path: str | Path, verbal_csv_paths: Sequence[str | Path]) -> dict[str, list[str]]:
    """Verbal-study answers grouped by attribute: attribute id -> non-empty descriptions.

    Args:
        key_path: the answer key JSON (maps the page's item ids to attributes).
        verbal_csv_paths: CSV files exported from ``verbal.html``.
    """
    key = load_key(key_path)
    items = {v["item_id"]: v["attribute"] for v in key.get("verbal", [])}
    out: dict[str, list[str]] = {a: [] for a in key["attributes"]}
    for path in map(Path, verbal_csv_paths):
        for line, row in _read_rows(path, ("participant_id", "item_id", "description"), key, key_path):
            item = (row["item_id"] or "").strip()
            if item not in items:
                raise StylexError(f"{path}:{line}: item {item!r} is not in the answer key {key_path}")
            text = (row["description"] or "").strip()
            if text:
                out.setdefault(items[item], []).append(text)
    return out
