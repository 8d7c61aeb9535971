"""The CLI given real mistakes, as separate processes (the way a user meets them): bad folders, damaged files,
wrong options. A case passes when the exit code is the expected one, no traceback is printed, a refusal is one
``stylex CMD: error: ...`` line, and the files named as untouched kept their bytes. Prints one row per case and
``passed: P / N`` last (BENCHMARKS.md, section RELIABILITY).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bad_inputs.py [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CPU = ["--device", "cpu", "--no-progress"]


def stylex(*argv, timeout: float | None = None) -> subprocess.CompletedProcess:
    """``python -m stylex ARGV``; past ``timeout`` seconds it is killed and reported with exit code None."""
    cmd = [sys.executable, "-m", "stylex", *map(str, argv)]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, None, "", f"(still running after {timeout} s: killed)")


def digest(paths) -> dict[str, str]:
    out = {}
    for root in map(Path, paths):
        for f in sorted([root] if not root.is_dir() else root.rglob("*")):
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else "dir"
    return out


def truncate(path: Path, keep: float = 0.5) -> None:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])


def gifs(folder: Path, attrs: int = 3, per: int = 4) -> Path:
    from PIL import Image

    (folder / "gifs").mkdir(parents=True, exist_ok=True)
    for a in range(1, attrs + 1):
        for j in range(per):
            frames = [Image.new("RGB", (8, 8), (a * 40, j * 40, 0)), Image.new("RGB", (8, 8), (0, a * 40, j * 40))]
            frames[0].save(folder / "gifs" / f"attr{a:02d}_img{j:02d}.gif", save_all=True, append_images=frames[1:])
    return folder


def images_with_csv(folder: Path, labels: list[str]) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(len(labels)):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(folder / f"{i}.png")
    with open(folder / "labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("file", "label"), *[(f"{i}.png", v) for i, v in enumerate(labels)]])
    return folder


def celeba(folder: Path, header: str) -> Path:
    from PIL import Image

    (folder / "img_align_celeba").mkdir(parents=True)
    rows = ""
    for i in range(1, 5):
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(folder / "img_align_celeba" / f"{i:06d}.jpg")
        rows += f"{i:06d}.jpg {1 if i % 2 else -1} -1\n"
    (folder / "list_attr_celeba.txt").write_text(header + rows)
    return folder


def make_run(w: Path) -> tuple[Path, Path]:
    """A tiny trained run and its AttFind output, made with the CLI."""
    syn = ["--data", "synthetic", "--synthetic-size", "120"]
    steps = [["train-classifier", *syn, "--resolution", "32", "--epochs", "1", "--width-mult", "0.25",
              "--pretrained", "none", "--out", w / "clf", *CPU],
             ["train", *syn, "--classifier", w / "clf" / "classifier.pt", "--out", w / "run", "--preset", "tiny",
              "--kimg", "0.008", "--tick-kimg", "0.008", "--lpips-weight", "0", *CPU],
             ["attfind", "--run", w / "run", "--out", w / "af", "--num-images", "8", *CPU]]
    for argv in steps:
        r = stylex(*argv)
        if r.returncode:
            sys.exit(f"setup failed: {argv[0]}: {r.stderr[-2000:]}")
    from stylex.explain.ground_truth import ProbeConfig, save_probe, train_probe

    save_probe(w / "run" / "factor_probe.pt", *train_probe(32, ProbeConfig(num_images=200, epochs=1)))  # cheap
    return w / "run", w / "af"


def cases(w: Path, run: Path, af: Path):
    """(name, argv, expected exit code, untouched paths[, what stderr must say]); each case prepares its inputs
    under ``w/name``."""
    def fresh(name: str) -> Path:
        d = w / name
        d.mkdir()
        return d

    def copy(src: Path, dst: Path) -> Path:
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("factor_probe.pt"))
        return dst

    ev = ["--top-k", "2", "--repeats", "1", "--test-images", "4", "--recon-images", "4", *CPU]
    d = fresh("c01")
    gifs(d / "af"); (d / "s" / "gifs").mkdir(parents=True); (d / "s" / "gifs" / "holiday.gif").write_text("x")
    yield "user-study --out holding the user's gifs/ and index.html", \
        ["user-study", "--attfind", d / "af", "--out", d / "s"], 2, [d / "s", d / "af"]
    d = fresh("c02"); gifs(d / "af")
    yield "user-study --out equal to --attfind", ["user-study", "--attfind", d / "af", "--out", d / "af"], 2, [d / "af"]
    d = fresh("c03"); gifs(d / "af")
    yield "user-study --out inside --attfind", ["user-study", "--attfind", d / "af", "--out", d / "af" / "s"], 2, \
        [d / "af"]
    d = fresh("c04"); gifs(d / "data" / "af")
    yield "user-study --out a parent of --attfind", ["user-study", "--attfind", d / "data" / "af", "--out", d / "data"], \
        2, [d / "data"]
    d = fresh("c05"); gifs(d / "af"); (d / "key.json").write_text("my notes")
    yield "user-study --key onto a file that is no answer key", \
        ["user-study", "--attfind", d / "af", "--out", d / "s", "--key", d / "key.json"], 2, [d / "key.json"]
    d = fresh("c06"); gifs(d / "af"); (d / "s").mkdir(); (d / "s" / ".stylex-user-study.json").write_text("{")
    (d / "s" / "keep.txt").write_text("mine")
    yield "user-study --out with a damaged manifest", ["user-study", "--attfind", d / "af", "--out", d / "s"], 2, [d / "s"]
    d = fresh("c07"); gifs(d / "af")
    for s in ("s1", "s2"):
        stylex("user-study", "--attfind", d / "af", "--out", d / s)
    key2 = json.loads((d / "s2.answer_key.json").read_text())
    with open(d / "answers.csv", "w", newline="") as f:
        csv.writer(f).writerows([("participant_id", "question_id", "choice", "study_id"),
                                 *[("p", q["question_id"], q["correct"], key2["study_id"]) for q in key2["questions"]]])
    yield "user-study score with answers of another study", \
        ["user-study", "score", "--key", d / "s1.answer_key.json", "--answers", d / "answers.csv"], 2, [d]
    (d / "dir.json").mkdir()
    yield "user-study score --json onto a folder", \
        ["user-study", "score", "--key", d / "s2.answer_key.json", "--answers", d / "answers.csv", "--json",
         d / "dir.json"], 2, [d / "dir.json"]
    d = fresh("c08"); (d / "f").write_text("x")
    yield "evaluate --top-k 100000 (capped, warned)", ["evaluate", "--run", run, "--attributes", af, "--out",
                                                      d / "e", "--top-k", "100000", *ev[2:]], 0, [af]
    for cmd, argv in [("train-classifier", ["train-classifier", "--data", "synthetic", "--synthetic-size", "40",
                                            "--epochs", "1", "--width-mult", "0.25", "--pretrained", "none",
                                            "--resolution", "32", *CPU]),
                      ("train", ["train", "--data", "synthetic", "--classifier", run / "classifier.pt", "--preset",
                                 "tiny", "--kimg", "0.004", *CPU]),
                      ("attfind", ["attfind", "--run", run, "--num-images", "2", *CPU]),
                      ("evaluate", ["evaluate", "--run", run, "--attributes", af, *ev]),
                      ("report", ["report", "--run", run, *CPU]),
                      ("demo", ["demo", "--quick", *CPU]),
                      ("user-study", ["user-study", "--attfind", w / "c02" / "af"])]:
        yield f"{cmd} --out a file", [*argv, "--out", d / "f"], 2, [d / "f"]
        yield f"{cmd} --out below a file", [*argv, "--out", d / "f" / "sub"], 2, [d / "f"]
        yield f"{cmd} --out on a read-only file system (/sys)", [*argv, "--out", "/sys/stylex-out"], 2, []
    for i, (what, text) in enumerate([("truncated", None), ("empty", ""), ("a JSON list", "[]"),
                                      ("without 'train'", '{"data": {}}')]):
        d = fresh(f"c09-{i}")
        r = copy(run, d / "run")
        (r / "config.json").write_text(text) if text is not None else truncate(r / "config.json")
        for cmd, argv in [("attfind", ["attfind", "--run", r, "--out", d / "af", "--num-images", "2", *CPU]),
                          ("evaluate", ["evaluate", "--run", r, "--attributes", af, "--out", d / "e", *ev]),
                          ("report", ["report", "--run", r, "--out", d / "rep", *CPU]),
                          ("train --resume", ["train", "--resume", "--out", r, *CPU])]:
            yield f"{cmd} with a config.json {what}", argv, 2, [r]
    for what, damage in [("truncated", truncate), ("empty", lambda p: p.write_bytes(b""))]:
        d = fresh(f"c10-{what}")
        a = copy(af, d / "af")
        damage(a / "effects.npz")
        yield f"evaluate with an effects.npz {what}", ["evaluate", "--run", run, "--attributes", a, "--out", d / "e",
                                                       *ev], 2, [a]
        yield f"report with an effects.npz {what}", ["report", "--run", run, "--attfind", a, "--out", d / "r", *CPU], \
            2, [a]
        a2 = copy(af, d / "af2")
        damage(a2 / "attributes.json")
        yield f"evaluate with an attributes.json {what}", ["evaluate", "--run", run, "--attributes", a2, "--out",
                                                           d / "e2", *ev], 2, [a2]
        a3 = copy(af, d / "af3")
        damage(sorted((a3 / "chunks").glob("chunk_*.npz"))[0])
        (a3 / "effects.npz").unlink()
        yield f"attfind rerun over an AttFind chunk {what} (recomputed)", \
            ["attfind", "--run", run, "--out", a3, "--num-images", "8", *CPU], 0, []
    d = fresh("c11")
    yield "CSV label 'one' in a 0/1 column", ["data", "--data", images_with_csv(d / "a", ["0", "1"] * 4 + ["one"])], \
        2, [d / "a"]
    yield "CSV label '1.0' in a 0/1 column", ["data", "--data", images_with_csv(d / "b", ["0", "1"] * 4 + ["1.0"])], \
        2, [d / "b"]
    yield "CSV label 'one', kept with --allow-singleton-classes", \
        ["data", "--data", d / "a", "--allow-singleton-classes"], 0, [d / "a"]
    yield from train_cases(w, run, copy, fresh)
    d = fresh("c15")
    yield "CelebA attribute file without its names line", \
        ["data", "--data", celeba(d / "a", "4\n"), "--attribute", "Young"], 2, []
    yield "CelebA attribute file without its count line", \
        ["data", "--data", celeba(d / "b", "Male Young\n"), "--attribute", "Young"], 2, []
    yield "CelebA attribute file without both header lines", \
        ["data", "--data", celeba(d / "c", ""), "--attribute", "Young"], 2, []


def hold(run: Path) -> subprocess.Popen:
    """Another process holding the run folder, as a running `stylex train` does (until killed)."""
    code = ("import sys, time; from stylex.training.run_dir import RunLock; "
            "RunLock(sys.argv[1], ['stylex', 'train', '--out', sys.argv[1]]).__enter__(); print('held', flush=True); "
            "time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run)], stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    return proc


def train_cases(w: Path, run: Path, copy, fresh):
    """Mistakes and damage around `stylex train` run folders (defects 3, 5, 12, 13)."""
    syn = ["train", "--data", "synthetic", "--synthetic-size", "120", "--classifier", run / "classifier.pt", "--preset", "tiny",
           "--kimg", "0.008", "--lpips-weight", "0", *CPU]
    d = fresh("c03-train")
    r = copy(run, d / "run")
    holder = hold(r)
    yield "train --resume on a folder another process trains in", \
        ["train", "--resume", "--out", r, "--kimg", "0.016", *CPU], 2, [r], f"(process {holder.pid},"
    yield "train (new run) on a folder another process trains in", [*syn, "--out", r], 2, [r], "is in use by"
    holder.kill()
    holder.wait()
    yield "train --batch 100000 on 360 images", ["train", "--data", "synthetic", "--synthetic-size", "360",
                                                  "--classifier", run / "classifier.pt", "--out", d / "big", "--preset",
                                                  "tiny", "--batch", "100000", *CPU], 2, [d], "--batch 100000"
    d = fresh("c12")
    r = copy(run, d / "dead")
    (r / "checkpoint.pt").unlink()
    yield "train (new run) over a run that died before its first checkpoint", [*syn, "--out", r], 2, [r], "--resume"
    yield "train --resume of a run that died before its first checkpoint (trained again)", \
        ["train", "--resume", "--out", r, *CPU], 0, [], "starts again from the beginning"
    yield "train (new run) over a finished run", [*syn, "--out", run], 2, [run], "already holds a run"
    for what, tail, said in [("a torn last line", '{"tick": 2, "kimg', "torn last line"),
                             ("a row after the checkpoint", '{"tick": 2, "kimg": 0.016, "step": 4}\n', "after the checkpoint"),
                             ("a line that is not JSON", "not json\n", "not statistics rows")]:
        r = copy(run, d / what.replace(" ", "-"))
        with open(r / "stats.jsonl", "a") as f:
            f.write(tail)
        yield f"train --resume with {what} in stats.jsonl (repaired)", \
            ["train", "--resume", "--out", r, "--kimg", "0.016", *CPU], 0, [], said
    d = fresh("c13")
    for what, damage in [("truncated", truncate), ("empty", lambda p: p.write_bytes(b"")),
                         ("not a checkpoint", lambda p: p.write_bytes(b"\x80\x04K\x01."))]:
        r = copy(run, d / what.replace(" ", "-"))
        shutil.copyfile(r / "checkpoint.pt", r / "checkpoint.prev.pt")
        damage(r / "checkpoint.pt")
        yield f"train --resume with a checkpoint.pt {what}", ["train", "--resume", "--out", r, "--kimg", "0.016", *CPU], \
            2, [r], "--resume-from checkpoint.prev.pt`"
    yield "train --resume-from checkpoint.prev.pt after that (continues)", \
        ["train", "--out", r, "--resume-from", "checkpoint.prev.pt", "--kimg", "0.016", *CPU], 0, [], "checkpoint.damaged.pt"
    r = copy(run, d / "no-prev")
    truncate(r / "checkpoint.pt")
    yield "train --resume with a truncated checkpoint.pt and no previous one", \
        ["train", "--resume", "--out", r, *CPU], 2, [r], "No earlier checkpoint is kept"
    yield "train --resume-from a checkpoint that does not exist", \
        ["train", "--out", r, "--resume-from", "checkpoint.old.pt", *CPU], 2, [r], "no such checkpoint"
    r = copy(run, d / "sound")
    shutil.copyfile(r / "checkpoint.pt", r / "checkpoint.prev.pt")
    yield "train --resume-from checkpoint.prev.pt when checkpoint.pt loads", \
        ["train", "--out", r, "--resume-from", "checkpoint.prev.pt", *CPU], 2, [r], "loads, so continue with --resume"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", help="scratch folder (default: a new temporary one, removed at the end)")
    ap.add_argument("--case-timeout", type=float, default=300, help="seconds one case may run (then it fails)")
    args = ap.parse_args()
    w = Path(args.work or tempfile.mkdtemp(prefix="stylex-bad-"))
    try:
        run, af = make_run(w)
        passed = total = 0
        for name, argv, code, untouched, *must_say in cases(w, run, af):
            before = digest(untouched)
            r = stylex(*argv, timeout=args.case_timeout)
            lines = r.stderr.strip().splitlines()
            ok = (r.returncode == code and "Traceback" not in r.stderr and digest(untouched) == before
                  and all(text in r.stderr for text in must_say)
                  and (code == 0 or (len(lines) == 1 and lines[0].startswith(f"stylex {argv[0]}: error:"))))
            passed, total = passed + ok, total + 1
            said = lines[-1] if lines else ""
            print(f"{'PASS' if ok else 'FAIL'} | {name} | exit {r.returncode} | {said[:160]}", flush=True)
        print(f"passed: {passed} / {total}")
        return 0 if passed == total else 1
    finally:
        if not args.work:
            shutil.rmtree(w, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
