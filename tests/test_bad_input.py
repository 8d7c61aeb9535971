"""The CLI given real mistakes (issue 17): each bad input ends in a clear one-line message and exit code, and
leaves the user's files as they were.

``CASES`` is the table: one row per defect, ``(id, make, exit code, message)``; ``make(tmp_path, request)``
prepares the mistake and returns the command line and the files that must come out untouched. The command
runs in-process (``stylex.cli.main``); an exception escaping it (a traceback for the user) fails the case.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_userstudy import make_gifs

from stylex.cli import main

CPU = ["--device", "cpu", "--no-progress"]


# ------------------------------------------------------------------------------------------ shared inputs
@pytest.fixture(scope="module")
def attfind_out(tiny_run, tmp_path_factory) -> Path:
    """``stylex attfind`` output on the tiny run (8 images), with its chunk folder."""
    out = tmp_path_factory.mktemp("attfind") / "af"
    assert main(["attfind", "--run", str(tiny_run), "--out", str(out), "--num-images", "8", *CPU]) == 0
    return out


@pytest.fixture(scope="module")
def cheap_probe(tiny_run) -> None:
    """The synthetic world's factor probe, small (as tests/test_pipeline.py trains it), so `evaluate` is cheap."""
    from stylex.explain.ground_truth import ProbeConfig, save_probe, train_probe

    path = tiny_run / "factor_probe.pt"
    if not path.is_file():
        probe, info = train_probe(32, ProbeConfig(num_images=200, epochs=1))
        save_probe(path, probe, info)


def copy_of(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def evaluate_argv(tiny_run: Path, attfind: Path, out: Path, top_k: int = 2) -> list[str]:
    return ["evaluate", "--run", str(tiny_run), "--attributes", str(attfind), "--out", str(out), "--top-k",
            str(top_k), "--repeats", "1", "--test-images", "4", "--recon-images", "4", *CPU]


def solid_png(path: Path, colour) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


# ------------------------------------------------------------------------------------------ the mistakes
def d1_out_holds_user_files(tmp, request):
    """Defect 1: --out is a folder of the user's (a gifs/ and an index.html not written by us)."""
    make_gifs(tmp / "af", 3, 4)
    (tmp / "s" / "gifs").mkdir(parents=True)
    (tmp / "s" / "gifs" / "holiday.gif").write_bytes(b"x")
    (tmp / "s" / "index.html").write_text("my page")
    return ["user-study", "--attfind", str(tmp / "af"), "--out", str(tmp / "s")], [tmp / "s", tmp / "af"]


def d1_out_is_attfind(tmp, request):
    """Defect 1: --out equal to --attfind (it used to delete the animations it was about to copy)."""
    make_gifs(tmp / "af", 3, 4)
    return ["user-study", "--attfind", str(tmp / "af"), "--out", str(tmp / "af")], [tmp / "af"]


def d3_run_folder_in_use(tmp, request):
    """Defect 3: a second `stylex train` on a run folder another process holds (both used to write into it)."""
    from stylex.training.run_dir import RunLock

    run = copy_of(request.getfixturevalue("tiny_run"), tmp / "run")
    holder = RunLock(run, ["stylex", "train", "--out", str(run)]).__enter__()
    request.addfinalizer(holder.__exit__)
    return ["train", "--resume", "--out", str(run), "--kimg", "0.016", *CPU], [run]


def d5_batch_beyond_the_data(tmp, request):
    """Defect 5: --batch larger than the training set (100000 on 360 images grew until the kernel killed it)."""
    clf = request.getfixturevalue("tiny_run") / "classifier.pt"
    return ["train", "--data", "synthetic", "--synthetic-size", "40", "--classifier", str(clf), "--out",
            str(tmp / "r"), "--preset", "tiny", "--batch", "64", "--kimg", "0.064", "--lpips-weight", "0", *CPU], [tmp]


def d12_fresh_start_over_a_dead_run(tmp, request):
    """Defect 12: a new run in a folder whose run died before its first checkpoint kept the old stats rows."""
    run = copy_of(request.getfixturevalue("tiny_run"), tmp / "run")
    (run / "checkpoint.pt").unlink()
    return ["train", "--data", "synthetic", "--synthetic-size", "120", "--classifier", str(run / "classifier.pt"),
            "--out", str(run), "--preset", "tiny", "--kimg", "0.008", "--lpips-weight", "0", *CPU], [run]


def _resume_with_stats(tmp, request, tail: str) -> list[str]:
    run = copy_of(request.getfixturevalue("tiny_run"), tmp / "run")
    with open(run / "stats.jsonl", "a") as f:
        f.write(tail)
    return ["train", "--resume", "--out", str(run), "--kimg", "0.016", *CPU]


def d12_resume_after_a_torn_line(tmp, request):
    """Defect 12: --resume after a kill mid-write merged the next row into the torn last line."""
    return _resume_with_stats(tmp, request, '{"tick": 2, "kimg": 0.0'), []


def d12_resume_after_rows_past_the_checkpoint(tmp, request):
    """Defect 12: rows logged after the last checkpoint stayed, and the resumed run logged those ticks again."""
    return _resume_with_stats(tmp, request, json.dumps({"tick": 2, "kimg": 0.016, "step": 4}) + "\n"), []


def _damaged_checkpoint(tmp, request, keep_previous: bool) -> list[str]:
    run = copy_of(request.getfixturevalue("tiny_run"), tmp / "run")
    (run / "factor_probe.pt").unlink(missing_ok=True)
    if keep_previous:
        shutil.copyfile(run / "checkpoint.pt", run / "checkpoint.prev.pt")
    truncate(run / "checkpoint.pt")
    return ["train", "--resume", "--out", str(run), "--kimg", "0.016", *CPU], [run]


def d13_damaged_checkpoint(tmp, request):
    """Defect 13: a truncated checkpoint.pt: the message blamed pickling, and config.json's kimg was rewritten."""
    return _damaged_checkpoint(tmp, request, keep_previous=True)


def d13_damaged_checkpoint_without_fallback(tmp, request):
    """Defect 13: ... and without a previous checkpoint to fall back on."""
    return _damaged_checkpoint(tmp, request, keep_previous=False)


def d6_top_k_beyond_lists(tmp, request):
    """Defect 6: --top-k 15 with 2 attributes per list (capped, said aloud; metrics.json says top_k 2)."""
    request.getfixturevalue("cheap_probe")
    tiny_run = request.getfixturevalue("tiny_run")
    af = copy_of(request.getfixturevalue("attfind_out"), tmp / "af")
    doc = json.loads((af / "attributes.json").read_text())
    two = [dict(a, rank=i + 1) for i, a in enumerate((doc["attributes"] + doc["baselines"]["random"])[:2])]
    doc["attributes"], doc["baselines"] = two, {"wu": two, "random": two}
    (af / "attributes.json").write_text(json.dumps(doc))
    return evaluate_argv(tiny_run, af, tmp / "e", top_k=15), [af]


def d8_classifier_out_is_a_file(tmp, request):
    """Defect 8: train-classifier --out FILE failed only after training."""
    (tmp / "taken").write_text("not a folder")
    return ["train-classifier", "--data", "synthetic", "--synthetic-size", "40", "--out", str(tmp / "taken"),
            "--epochs", "1", "--batch-size", "8", "--width-mult", "0.25", "--pretrained", "none",
            "--resolution", "32", *CPU], [tmp / "taken"]


def d8_attfind_out_below_a_file(tmp, request):
    """Defect 8: attfind --out below a file (cannot be created): a traceback after the run was loaded."""
    (tmp / "taken").write_text("not a folder")
    return ["attfind", "--run", str(request.getfixturevalue("tiny_run")), "--out", str(tmp / "taken" / "af"),
            "--num-images", "2", *CPU], [tmp / "taken"]


def d8_report_out_read_only(tmp, request):
    """Defect 8: --out in a folder the user may not write (root may write anywhere: skipped as root)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    (tmp / "ro").mkdir()
    (tmp / "ro").chmod(0o500)
    request.addfinalizer(lambda: (tmp / "ro").chmod(0o700))
    return ["report", "--run", str(request.getfixturevalue("tiny_run")), "--out", str(tmp / "ro" / "rep"),
            *CPU], [tmp / "ro"]


def _damaged_run(tmp, request) -> Path:
    run = copy_of(request.getfixturevalue("tiny_run"), tmp / "run")
    (run / "factor_probe.pt").unlink(missing_ok=True)
    truncate(run / "config.json")
    return run


def d9_attfind_bad_config(tmp, request):
    """Defect 9: a truncated config.json crashed attfind."""
    run = _damaged_run(tmp, request)
    return ["attfind", "--run", str(run), "--out", str(tmp / "af"), "--num-images", "2", *CPU], [run]


def d9_evaluate_bad_config(tmp, request):
    """Defect 9: ... and evaluate."""
    run = _damaged_run(tmp, request)
    af = copy_of(request.getfixturevalue("attfind_out"), tmp / "af")
    return evaluate_argv(run, af, tmp / "e"), [run, af]


def d9_report_bad_config(tmp, request):
    """Defect 9: ... and report."""
    run = _damaged_run(tmp, request)
    return ["report", "--run", str(run), "--out", str(tmp / "rep"), *CPU], [run]


def d9_resume_bad_config(tmp, request):
    """Defect 9: ... and train --resume (which must not rewrite it either)."""
    run = _damaged_run(tmp, request)
    return ["train", "--resume", "--out", str(run), *CPU], [run]


def d10_truncated_effects(tmp, request):
    """Defect 10: a truncated effects.npz gave BadZipFile without the file's name."""
    af = copy_of(request.getfixturevalue("attfind_out"), tmp / "af")
    truncate(af / "effects.npz")
    return evaluate_argv(request.getfixturevalue("tiny_run"), af, tmp / "e"), [af]


def d10_invalid_attributes(tmp, request):
    """Defect 10: an invalid attributes.json crashed evaluate."""
    af = copy_of(request.getfixturevalue("attfind_out"), tmp / "af")
    truncate(af / "attributes.json")
    return evaluate_argv(request.getfixturevalue("tiny_run"), af, tmp / "e"), [af]


def d10_truncated_chunk(tmp, request):
    """Defect 10: a damaged AttFind chunk is recomputed (with a warning), not a BadZipFile."""
    af = copy_of(request.getfixturevalue("attfind_out"), tmp / "af")
    truncate(sorted((af / "chunks").glob("chunk_*.npz"))[0])
    (af / "effects.npz").unlink()
    return ["attfind", "--run", str(request.getfixturevalue("tiny_run")), "--out", str(af), "--num-images", "8",
            *CPU], []


def d11_csv_typo_label(tmp, request):
    """Defect 11: 'one' in a 0/1 column silently became a third class of one image."""
    rows = [(f"{i}.png", str(i % 2)) for i in range(8)] + [("8.png", "one")]
    for name, _ in rows:
        solid_png(tmp / "data" / name, (10, 20, 30))
    with open(tmp / "data" / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("file", "label"), *rows])
    return ["data", "--data", str(tmp / "data")], [tmp / "data"]


def d14_answers_of_another_study(tmp, request):
    """Defect 14: user-study score accepted answers exported from another study."""
    make_gifs(tmp / "af", 3, 4)
    for name in ("s1", "s2"):
        assert main(["user-study", "--attfind", str(tmp / "af"), "--out", str(tmp / name)]) == 0
    other = json.loads((tmp / "s2.answer_key.json").read_text())
    with open(tmp / "answers.csv", "w", newline="") as f:
        csv.writer(f).writerows([("participant_id", "question_id", "choice", "study_id"),
                                 *[("p", q["question_id"], q["correct"], other["study_id"])
                                   for q in other["questions"]]])
    return ["user-study", "score", "--key", str(tmp / "s1.answer_key.json"), "--answers", str(tmp / "answers.csv"),
            "--json", str(tmp / "scores.json")], [tmp / "answers.csv"]


def d15_celeba_without_header(tmp, request):
    """Defect 15: a CelebA attribute file without its names line: 'valid names are -1, 1, ...'."""
    names = []
    for i in range(1, 5):
        names.append(f"{i:06d}.jpg")
        solid_png(tmp / "celeba" / "img_align_celeba" / names[-1], (i * 40, 0, 0))
    rows = "".join(f"{n} {1 if i % 2 else -1} -1\n" for i, n in enumerate(names))
    (tmp / "celeba" / "list_attr_celeba.txt").write_text(f"{len(names)}\n{rows}")
    return ["data", "--data", str(tmp / "celeba"), "--attribute", "Young"], [tmp / "celeba"]


CASES = [
    ("d1-out-holds-user-files", d1_out_holds_user_files, 2, "not written by `stylex user-study`"),
    ("d1-out-is-attfind", d1_out_is_attfind, 2, "is inside --attfind"),
    ("d3-run-folder-in-use", d3_run_folder_in_use, 2, "is in use by another `stylex train` (process"),
    ("d5-batch-beyond-the-data", d5_batch_beyond_the_data, 2, "--batch 64 is more than the 36 training images"),
    ("d6-top-k-beyond-lists", d6_top_k_beyond_lists, 0, "--top-k 15 is more than the 2 attributes"),
    ("d8-classifier-out-is-a-file", d8_classifier_out_is_a_file, 2, "is a file, not a folder"),
    ("d8-attfind-out-below-a-file", d8_attfind_out_below_a_file, 2, "cannot write there"),
    ("d8-report-out-read-only", d8_report_out_read_only, 2, "cannot write there"),
    ("d9-attfind-bad-config", d9_attfind_bad_config, 2, "config.json is not valid JSON"),
    ("d9-evaluate-bad-config", d9_evaluate_bad_config, 2, "config.json is not valid JSON"),
    ("d9-report-bad-config", d9_report_bad_config, 2, "config.json is not valid JSON"),
    ("d9-resume-bad-config", d9_resume_bad_config, 2, "config.json is not valid JSON"),
    ("d10-truncated-effects", d10_truncated_effects, 2, "effects.npz (BadZipFile"),
    ("d10-invalid-attributes", d10_invalid_attributes, 2, "attributes.json is not valid JSON"),
    ("d10-truncated-chunk", d10_truncated_chunk, 0, "is damaged (BadZipFile"),
    ("d11-csv-typo-label", d11_csv_typo_label, 2, "'0': 4, '1': 4, 'one': 1"),
    ("d12-fresh-start-over-a-dead-run", d12_fresh_start_over_a_dead_run, 2,
     "holds a run that stopped before its first checkpoint (stats.jsonl, samples/): pass --resume"),
    ("d12-resume-after-a-torn-line", d12_resume_after_a_torn_line, 0, "dropped a torn last line"),
    ("d12-resume-after-rows-past-the-checkpoint", d12_resume_after_rows_past_the_checkpoint, 0,
     "dropped 1 row(s) logged after the checkpoint (step 2)"),
    ("d13-damaged-checkpoint", d13_damaged_checkpoint, 2,
     "checkpoint.pt is damaged (truncated or corrupt"),
    ("d13-damaged-checkpoint-without-fallback", d13_damaged_checkpoint_without_fallback, 2,
     "No earlier checkpoint is kept"),
    ("d14-answers-of-another-study", d14_answers_of_another_study, 2, "score them with their own study's key"),
    ("d15-celeba-without-header", d15_celeba_without_header, 2, "header line of attribute names is missing"),
]


def snapshot(paths: list[Path]) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``paths`` (a folder's listing included)."""
    out = {}
    for root in paths:
        for f in sorted([root] if root.is_file() else root.rglob("*")):
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else "dir"
    return out


@pytest.mark.parametrize("make, code, message", [pytest.param(m, c, s, id=i) for i, m, c, s in CASES])
def test_bad_input_is_named_and_touches_nothing(make, code, message, tmp_path, request, capsys):
    argv, untouched = make(tmp_path, request)
    before = snapshot(untouched)
    capsys.readouterr()
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == code, err
    assert message in err, err
    if code:
        assert len(err.strip().splitlines()) == 1 and err.startswith(f"stylex {argv[0]}: error: "), err
    assert snapshot(untouched) == before


# ------------------------------------------------------------------------------------------ follow-ups
def test_truncated_chunk_is_recomputed_exactly(attfind_out, tiny_run, tmp_path):
    """Defect 10: the recomputed chunk gives the effects of the undamaged run."""
    af = copy_of(attfind_out, tmp_path / "af")
    truncate(sorted((af / "chunks").glob("chunk_*.npz"))[0])
    assert main(["attfind", "--run", str(tiny_run), "--out", str(af), "--num-images", "8", *CPU]) == 0
    with np.load(attfind_out / "effects.npz") as a, np.load(af / "effects.npz") as b:
        np.testing.assert_array_equal(a["effects"], b["effects"])


def test_top_k_cap_is_recorded(tmp_path, request):
    """Defect 6: metrics.json says which top-k was measured and which was asked for."""
    argv, _ = d6_top_k_beyond_lists(tmp_path, request)
    assert main(argv) == 0
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert (m["top_k"], m["top_k_requested"], len(m["flip_rate"]["attfind"]["curve"])) == (2, 15, 2)


def test_singleton_classes_when_asked(tmp_path, capsys):
    """Defect 11: --allow-singleton-classes keeps the third class (and `data` shows its count)."""
    d11_csv_typo_label(tmp_path, None)
    assert main(["data", "--data", str(tmp_path / "data"), "--allow-singleton-classes", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["class_counts"] == {"0": 4, "1": 4, "one": 1}


def test_study_rebuild_replaces_only_its_own_files(tmp_path):
    """Defect 1: a rebuild into an earlier study folder replaces what that build wrote and keeps the rest."""
    make_gifs(tmp_path / "af", 3, 4)
    argv = ["user-study", "--attfind", str(tmp_path / "af"), "--out", str(tmp_path / "s")]
    assert main(argv) == 0
    first = set(snapshot([tmp_path / "s"]))
    (tmp_path / "s" / "notes.txt").write_text("mine")
    (tmp_path / "s" / "classification" / "gifs" / "mine.gif").write_bytes(b"mine")
    assert main([*argv, "--seed", "1"]) == 0
    now = set(snapshot([tmp_path / "s"]))
    mine = {str(tmp_path / "s" / "notes.txt"), str(tmp_path / "s" / "classification" / "gifs" / "mine.gif")}
    assert mine <= now and (tmp_path / "s" / "notes.txt").read_text() == "mine"
    gifs = lambda names: {n for n in names if n.endswith(".gif")} - mine
    assert gifs(first) and not gifs(first) & gifs(now)   # the old copies are gone, new ones in their place


def test_hand_outs_do_not_link_questions(tmp_path):
    """Defect 2: every GIF slot has its own file (name and bytes), the studies are separate folders, and the key
    lies outside both; the copies are still the same animations."""
    make_gifs(tmp_path / "af", 6, 4)
    assert main(["user-study", "--attfind", str(tmp_path / "af"), "--out", str(tmp_path / "s")]) == 0
    key = json.loads((tmp_path / "s.answer_key.json").read_text())
    cls, verbal = tmp_path / "s" / "classification", tmp_path / "s" / "verbal"
    slots = [n for q in key["questions"] for n in [*q["files"]["examples"], *q["files"]["candidates"].values()]]
    assert len(slots) == 4 * 18 == len(set(slots))
    files = sorted((cls / "gifs").iterdir()) + sorted((verbal / "gifs").iterdir())
    assert len(files) == len(slots) + sum(len(v["files"]) for v in key["verbal"])
    assert len({hashlib.sha256(f.read_bytes()).hexdigest() for f in files}) == len(files)
    assert sorted(p.name for p in cls.iterdir()) == ["gifs", "index.html"]
    assert sorted(p.name for p in verbal.iterdir()) == ["gifs", "index.html"]
    q = key["questions"][0]
    copy, source = Image.open(cls / q["files"]["examples"][0]), Image.open(q["examples"][0])
    assert copy.n_frames == source.n_frames == 2
    assert np.array_equal(np.asarray(copy.convert("RGB")), np.asarray(source.convert("RGB")))


def test_resume_repairs_stats_to_the_checkpoint(tmp_path, request):
    """Defect 12: after the repairs every line is a row, each tick once, in order (torn line and late row gone);
    the half-written checkpoint a killed run left is removed, another command's temporary file is not."""
    argv = _resume_with_stats(tmp_path, request, json.dumps({"tick": 2, "kimg": 0.016, "step": 4}) + '\n{"tick": 3')
    run = tmp_path / "run"
    stale, other = run / f".checkpoint.pt.{'a' * 32}.tmp", run / f".factor_probe.pt.{'b' * 32}.tmp"
    stale.write_bytes(b"half")
    other.write_bytes(b"in use")
    assert main(argv) == 0
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [(r["tick"], r["step"]) for r in rows] == [(1, 2), (2, 4)] and "G_rec_l1" in rows[1]
    assert not stale.exists() and other.exists()


def test_resume_of_a_run_without_checkpoint_starts_it_again(tmp_path, request, capsys):
    """Defect 12: the way on for a run that died before its first checkpoint: --resume trains it from the start
    with its stored configuration, and its old rows are dropped."""
    d12_fresh_start_over_a_dead_run(tmp_path, request)
    run = tmp_path / "run"
    assert main(["train", "--resume", "--out", str(run), *CPU]) == 0
    assert "starts again from the beginning" in capsys.readouterr().err
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2]
    from stylex.training.checkpoint import safe_load

    ours, theirs = safe_load(run / "checkpoint.pt"), safe_load(request.getfixturevalue("tiny_run") / "checkpoint.pt")
    assert all(torch.equal(ours["G"][k], theirs["G"][k]) for k in theirs["G"])   # the same run, trained again


def test_damaged_checkpoint_falls_back_to_the_previous(tmp_path, request, capsys):
    """Defect 13: the refusal names the damage (not pickling) and the fallback; the offered command continues the
    run from checkpoint.prev.pt, and the damaged file is kept aside."""
    argv, _ = d13_damaged_checkpoint(tmp_path, request)
    run = tmp_path / "run"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is damaged" in err and "pickl" not in err and "nothing in" in err
    assert f"`stylex train --out {run} --resume-from checkpoint.prev.pt`" in err
    assert main(["train", "--out", str(run), "--resume-from", "checkpoint.prev.pt", "--kimg", "0.016", *CPU]) == 0
    assert "kept as checkpoint.damaged.pt" in capsys.readouterr().err
    from stylex.training.checkpoint import safe_load

    assert safe_load(run / "checkpoint.pt")["counters"]["cur_nimg"] == 16
    assert safe_load(run / "checkpoint.prev.pt")["counters"]["cur_nimg"] == 8
    assert (run / "checkpoint.damaged.pt").is_file()


class _Memorizer(torch.nn.Module):
    """A 'classifier' that knows the validation images at 64 px exactly and nothing else: right on them, wrong
    on anything else (such as the same images at 32 px, resized back to 64): its accuracy falls with resolution."""

    def __init__(self, images: torch.Tensor, labels: np.ndarray):
        super().__init__()
        self.register_buffer("memory", images.flatten(1))
        self.register_buffer("labels", torch.as_tensor(labels))

    def forward(self, x):
        dist, nearest = torch.cdist(x.flatten(1).float(), self.memory).min(1)
        label = self.labels[nearest]
        pred = torch.where(dist < 1e-3, label, 1 - label)
        return torch.nn.functional.one_hot(pred, 2).float() * 10 + 0 * x.mean((1, 2, 3))[:, None]


def test_classifier_weaker_at_the_generators_resolution_is_warned(tmp_path, monkeypatch, capsys):
    """Defect 4: a 64 px classifier explained at 32 px: the start of training says both accuracies."""
    from stylex.data import DataSpec, open_dataset
    from stylex.data.tensors import images_to_tensor
    from stylex.models.classifier import ClassifierAdapter, ClassifierConfig
    from stylex.training import loop

    val = open_dataset(DataSpec(path=None, format="synthetic", resolution=64, synthetic_size=120, split="val"),
                       progress=False)
    adapter = ClassifierAdapter(_Memorizer(images_to_tensor(np.array(val.uint8_images()), "cpu"), val.labels), 64,
                                (0.5,) * 3, (0.5,) * 3, 2, val.class_names)
    adapter.config = ClassifierConfig(num_classes=2, class_names=val.class_names, resolution=64, pretrained="none")
    monkeypatch.setattr(loop, "load_classifier", lambda path, device: adapter.to(device).eval())
    (tmp_path / "clf.pt").write_bytes(b"stand-in")
    assert main(["train", "--data", "synthetic", "--synthetic-size", "120", "--classifier", str(tmp_path / "clf.pt"),
                 "--out", str(tmp_path / "r"), "--preset", "tiny", "--kimg", "0.004", "--lpips-weight", "0", *CPU]) == 0
    err = capsys.readouterr().err
    assert f"accuracy on {len(val)} validation images is 1.000 at its own 64 px and 0.000 at the generator's 32 px" \
        in err, err
