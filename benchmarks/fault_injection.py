"""Kill ``stylex train`` at random moments, with SIGTERM and SIGKILL, and resume it after every kill; check that
every resume loads and continues, and that the run ends bit-identical (weights, EMA, encoder, discriminator,
counters and every stats.jsonl row but its timings) to the same run trained without interruption. Also checks
once that a second ``stylex train`` on the folder of a running one is refused, naming that process.

Moments: about a quarter of the kills land in the first 1.5 s (interpreter start, imports), the rest after the
process holds the run folder, after 0-3 further stats rows and up to 0.3 s more (setup, steps, sample grids,
checkpoint writes). The run is the tiny preset on 48 synthetic images, a checkpoint every second tick, so a
SIGKILL loses up to two ticks and the resumed run must drop their rows. Prints one line per kill and a JSON
summary (``--json`` also writes it; BENCHMARKS.md, section RELIABILITY); exit code 0 when everything held.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/fault_injection.py [--kills 10] [--seed 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMING = ("img_per_s", "sec_per_kimg", "peak_mem_gb")


def train_argv(classifier: Path, kimg: float) -> list[str]:
    return ["train", "--data", "synthetic", "--synthetic-size", "48", "--classifier", str(classifier),
            "--preset", "tiny", "--kimg", f"{kimg:g}", "--tick-kimg", "0.008", "--snapshot-ticks", "2",
            "--lpips-weight", "0", "--no-progress", "--device", "cpu"]


def make_classifier(path: Path) -> Path:
    """An untrained tiny classifier at the generator's 32 px (seconds)."""
    import torch

    from stylex.models.classifier import ClassifierConfig, build_classifier, save_classifier

    torch.manual_seed(0)
    cfg = ClassifierConfig(num_classes=2, class_names=["a", "b"], width_mult=0.25, pretrained="none", resolution=32)
    save_classifier(path, build_classifier(cfg), cfg, extra={})
    return path


def rows(run: Path) -> list[dict]:
    """stats.jsonl without the timing columns (which differ between any two runs)."""
    text = (run / "stats.jsonl").read_text() if (run / "stats.jsonl").is_file() else ""
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in text.splitlines()]


def lines(run: Path) -> int:
    """Complete lines in stats.jsonl now (it may be in the middle of a write)."""
    try:
        return (run / "stats.jsonl").read_bytes().count(b"\n")
    except OSError:
        return 0


def same_weights(a: Path, b: Path) -> bool:
    import torch

    from stylex.training.checkpoint import safe_load

    x, y = safe_load(a / "checkpoint.pt"), safe_load(b / "checkpoint.pt")
    return x["counters"] == y["counters"] and all(
        x[k].keys() == y[k].keys() and all(torch.equal(x[k][n], y[k][n]) for n in x[k]) for k in ("G", "G_ema", "E", "D"))


def holder_pid(run: Path) -> int | None:
    try:
        return json.loads((run / "run.lock").read_text())["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def second_train_refused(argv: list[str], run: Path, pid: int) -> bool:
    """A second `stylex train` (in this process) on the folder ``pid`` holds: refused at once, naming ``pid``."""
    from stylex.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main([*argv, "--out", str(run)])
    return rc == 2 and f"in use by another `stylex train` (process {pid}," in err.getvalue()


def started(proc: subprocess.Popen, run: Path, t_launch: float) -> bool:
    """The process holds the run folder (or, without a lock, wrote its config.json: code before issue 17)."""
    if holder_pid(run) == proc.pid:
        return True
    config = run / "config.json"
    return not (run / "run.lock").exists() and config.is_file() and config.stat().st_mtime >= t_launch


def wait_for_moment(proc: subprocess.Popen, run: Path, rng: random.Random, early: bool) -> str:
    """Wait until the chosen moment (or the process's end); a word for where the kill landed."""
    t_launch = time.time() - 0.05
    if early:
        end = time.time() + rng.uniform(0.1, 1.5)
        while proc.poll() is None and time.time() < end:
            time.sleep(0.02)
        return "start-up" if holder_pid(run) != proc.pid else "setup"
    while proc.poll() is None and not started(proc, run, t_launch):
        time.sleep(0.02)
    target, seen = rng.randint(0, 3), lines(run)
    while proc.poll() is None and lines(run) < seen + target:
        time.sleep(0.02)
    end = time.time() + rng.uniform(0.0, 0.3)
    while proc.poll() is None and time.time() < end:
        time.sleep(0.02)
    return "training" if target else "setup/training"


def one_sitting(cmd: list[str], run: Path, env: dict, sig: int | None, rng: random.Random, check_lock=None) -> dict:
    """Run ``cmd``; kill it with ``sig`` at a random moment (None: let it finish). What happened."""
    proc = subprocess.Popen([sys.executable, "-m", "stylex", *cmd], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    record = {"signal": signal.Signals(sig).name if sig else None, "resume": "--resume" in cmd}
    if sig is not None:
        record["moment"] = wait_for_moment(proc, run, rng, early=rng.random() < 0.25)
        if check_lock is not None and proc.poll() is None and holder_pid(run) == proc.pid:
            record["second_refused"] = check_lock(proc.pid)
        if proc.poll() is None:
            proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    record["rc"] = proc.returncode
    record["error"] = [line for line in err.splitlines() if "error" in line or "Traceback" in line][-3:]
    record["clean_stop"] = "interrupted at kimg" in err
    record["repaired_stats"] = "stats.jsonl: dropped" in err
    record["started_again"] = "starts again from the beginning" in err
    return record


def checkpoint_kimg(run: Path) -> float | None:
    from stylex.training.checkpoint import safe_load

    if not (run / "checkpoint.pt").is_file():
        return None
    return safe_load(run / "checkpoint.pt")["counters"]["cur_nimg"] / 1000


def chain(work: Path, kills: int, seed: int, env: dict, resume_needs: str = "config.json") -> dict:
    """The killed-and-resumed run against the uninterrupted one."""
    import torch

    from stylex.cli import main

    torch.set_num_threads(1)
    rng = random.Random(seed)
    kimg = 0.024 * kills              # at least twice what the killed sittings train, so the kills land inside it
    argv = train_argv(make_classifier(work / "classifier.pt"), kimg)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--out", str(work / "straight")]) == 0
    signals = [signal.SIGTERM, signal.SIGKILL] * (kills // 2) + [signal.SIGKILL] * (kills % 2)
    rng.shuffle(signals)
    run, records = work / "chain", []
    check = lambda pid: second_train_refused(argv, run, pid)   # noqa: E731
    for sig in [*signals, None]:
        resume = (run / resume_needs).is_file()
        cmd = ["train", "--resume", "--out", str(run), "--no-progress", "--device", "cpu"] if resume \
            else [*argv, "--out", str(run)]
        rec = one_sitting(cmd, run, env, sig, rng, check if not any("second_refused" in r for r in records) else None)
        rec["checkpoint_kimg"] = checkpoint_kimg(run)         # loads (or there is none yet)
        records.append(rec)
        print(json.dumps(rec), flush=True)
    return summarise(records, work / "straight", run)


def summarise(records: list[dict], straight: Path, run: Path) -> dict:
    """Counts of what held (BENCHMARKS.md)."""
    killed, final = records[:-1], records[-1]
    ok_rc = {signal.SIGTERM.name: {130, -signal.SIGTERM}, signal.SIGKILL.name: {-signal.SIGKILL}}
    resumed = [r for r in records if r["resume"]]
    done = [r["checkpoint_kimg"] for r in records if r["checkpoint_kimg"] is not None]
    summary = {
        "kills": len(killed),
        "sigterm": sum(r["signal"] == "SIGTERM" for r in killed),
        "sigkill": sum(r["signal"] == "SIGKILL" for r in killed),
        "sigterm_clean_stops": sum(r["signal"] == "SIGTERM" and r["clean_stop"] for r in killed),
        "kills_ended_as_expected": sum(r["rc"] in ok_rc[r["signal"]] and not r["error"] for r in killed),
        "resumes": len(resumed),
        "resumes_without_error": sum(not r["error"] for r in resumed),
        "resumes_that_repaired_stats": sum(r["repaired_stats"] for r in resumed),
        "resumes_without_checkpoint_started_again": sum(r["started_again"] for r in resumed),
        "checkpoint_never_went_back": all(b >= a for a, b in zip(done, done[1:])),
        "final_rc": final["rc"],
        "second_train_refused": any(r.get("second_refused") for r in records),
        "bit_identical": final["rc"] == 0 and same_weights(straight, run),
        "stats_identical": rows(straight) == rows(run),
        "files_left_behind": sorted(p.name for p in run.iterdir() if p.name.startswith(".") or p.name == "run.lock"),
    }
    summary["passed"] = (summary["kills_ended_as_expected"] == summary["kills"]
                         and summary["resumes_without_error"] == summary["resumes"]
                         and summary["checkpoint_never_went_back"] and summary["second_train_refused"]
                         and summary["bit_identical"] and summary["stats_identical"]
                         and not summary["files_left_behind"])
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kills", type=int, default=10, help="signals sent (half SIGTERM, half SIGKILL)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the moments and the order of the signals")
    ap.add_argument("--work", help="scratch folder (default: a new temporary one, removed at the end)")
    ap.add_argument("--json", help="also write the summary here")
    ap.add_argument("--resume-needs", default="config.json",
                    help="resume when this file is in the run folder, else start afresh (checkpoint.pt: how code "
                         "before issue 17 had to be driven, since it could not resume a run without checkpoint)")
    args = ap.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="stylex-faults-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STYLEX_CACHE": str(work / "cache"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    os.environ["STYLEX_CACHE"] = env["STYLEX_CACHE"]
    try:
        t0 = time.time()
        summary = chain(work, args.kills, args.seed, env, args.resume_needs)
        summary["seconds"] = round(time.time() - t0, 1)
        print(json.dumps(summary))
        if args.json:
            Path(args.json).write_text(json.dumps(summary, indent=2))
        return 0 if summary["passed"] else 1
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
