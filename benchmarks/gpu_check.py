"""One command for a GPU lease: StylEx's GPU paths measured and checked in at most 8 minutes.

Each part runs in its own process with its own time box (what is left of ``--budget-minutes`` at most);
a part that fails, hangs or runs out of time is recorded in the JSON and the next one starts. Parts:

    env                    device, torch/CUDA/NCCL versions, the device's bf16 peak, LPIPS weights found
    throughput             paper64 training images/s in bf16 (batch --batch), achieved TFLOP/s (counted FLOPs)
                           as a fraction of the device's bf16 peak, peak memory
    attfind                AttFind edits/s at 64 px (bf16 and fp32) and the projected time for 250 images
    torchrun               a one-process torchrun: an NCCL all_reduce, and `stylex train` under torchrun
    throughput_compile     the same as throughput with torch.compile (as `stylex train --compile`)
    train_2min             a quick classifier on --data (CelebA --attribute), then 2 minutes of paper64
                           training: class agreement, reconstruction L1, kimg reached, sample grid
    throughput_contiguous  throughput with contiguous (not channels_last) weights, for comparison

Writes ``OUT/gpu_check.json`` (and ``OUT/train_2min_samples.png``), prints a summary; exit status 1 when
any part failed. ``--device cpu --smoke`` runs every part at tiny sizes (the test suite does).

    python benchmarks/gpu_check.py --out gpu-check
    python benchmarks/gpu_check.py --device cpu --smoke --out /tmp/gpu-check
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PARTS = ("env", "throughput", "attfind", "torchrun", "throughput_compile", "train_2min", "throughput_contiguous")
BOX_S = {"env": 60, "throughput": 90, "attfind": 60, "torchrun": 60, "throughput_compile": 150, "train_2min": 230,
         "throughput_contiguous": 60}
MIN_BOX_S = 15                      # a part is skipped when less than this is left of the budget


# ---------------------------------------------------------------------------- the parts (child processes)
def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def part_env(a) -> dict:
    """Versions and the device."""
    import torch

    from stylex.models.lpips import lpips_available
    from train_throughput import device_peak_tflops

    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "python": sys.version.split()[0],
            "cpu_cores": os.cpu_count(), "lpips_weights": lpips_available("alex")}
    if a.device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("torch sees no CUDA device (torch.cuda.is_available() is False)")
        props = torch.cuda.get_device_properties(0)
        info.update(name=props.name, memory_gb=props.total_memory / 2**30, capability=f"{props.major}.{props.minor}",
                    bf16=torch.cuda.is_bf16_supported(), nccl=".".join(map(str, torch.cuda.nccl.version())))
    else:
        info["name"] = f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    info["peak_bf16_tflops"] = device_peak_tflops(info["name"])
    return info


def _throughput(a, compile: bool = False, channels_last: bool = True) -> dict:
    from stylex.models.lpips import lpips_available
    from train_throughput import measure

    if a.smoke:
        size = dict(preset="tiny", batch=4, steps=2, warmup=2, lpips=False, classifier_width=0.25)
    else:
        size = dict(preset="paper64", batch=a.batch, steps=16, warmup=4, lpips=lpips_available("alex"))
    return measure(device=a.device, precision="bf16", compile=compile, compile_backend=a.compile_backend,
                   channels_last=channels_last, **size)


def part_throughput(a) -> dict:
    """paper64 training speed, bf16, eager."""
    return _throughput(a)


def part_throughput_compile(a) -> dict:
    """paper64 training speed, bf16, torch.compile."""
    return _throughput(a, compile=True)


def part_throughput_contiguous(a) -> dict:
    """paper64 training speed, bf16, eager, contiguous weights."""
    return _throughput(a, channels_last=False)


def part_attfind(a) -> dict:
    """AttFind's batched effects: edits/s and the projected time for 250 images."""
    import numpy as np
    import torch

    from attfind_speed import build_models
    from stylex.explain import compute_effects

    preset, res, n, batch = ("tiny", 32, 2, 256) if a.smoke else ("paper64", 64, a.attfind_images, 1024)
    torch.manual_seed(0)
    G, C = build_models(preset, res, 2, "mobilenet", a.device)
    with torch.no_grad():
        z = torch.randn(n, G.mapping.z_dim if hasattr(G.mapping, "z_dim") else G.z_dim, device=a.device)
        latents = G.condition(G.mapping(z), torch.softmax(torch.randn(n, 2, device=a.device), 1))
    S = G.layout.num_coords
    out = {"preset": preset, "resolution": res, "num_images": n, "num_coords": S, "batch_size": batch}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", None)):
        compute_effects(G, C, latents[:1], batch_size=batch, coords=np.arange(min(S, 64)), progress=False, dtype=dtype)
        _sync(a.device)
        t = time.perf_counter()
        compute_effects(G, C, latents, batch_size=batch, progress=False, dtype=dtype)
        _sync(a.device)
        rate = n * S * 2 / (time.perf_counter() - t)
        out[name] = {"edits_per_s": rate, "projected_s_250_images": 250 * S * 2 / rate}
    return out


PROBE = """
import os, torch, torch.distributed as dist
dev = os.environ["GPU_CHECK_DEVICE"]
if dev == "cuda":
    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
dist.init_process_group("nccl" if dev == "cuda" else "gloo")
t = torch.full((4,), float(dist.get_rank() + 1), device=dev)
dist.all_reduce(t)
dist.barrier()
print("PROBE", dist.get_backend(), dist.get_world_size(), float(t.sum()), flush=True)
dist.destroy_process_group()
"""


def _torchrun(args: list[str], timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def _tail(text: str, n: int = 600) -> str:
    return text[-n:].strip()


def _save_tiny_classifier(path: Path, resolution: int) -> Path:
    from stylex.models.classifier import ClassifierConfig, build_classifier, save_classifier

    cfg = ClassifierConfig(num_classes=2, class_names=["a", "b"], width_mult=0.25, pretrained="none",
                           input_size=None, resolution=resolution)
    save_classifier(path, build_classifier(cfg), cfg, extra={})
    return path


def part_torchrun(a) -> dict:
    """A one-process torchrun: a process group (NCCL on CUDA, gloo on the CPU) and `stylex train` under it."""
    work = Path(a.work) / "torchrun"
    work.mkdir(parents=True, exist_ok=True)
    probe = work / "probe.py"
    probe.write_text(PROBE)
    p = _torchrun([str(probe)], timeout=a.box / 2, env={"GPU_CHECK_DEVICE": a.device})
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("PROBE ")), None)
    if p.returncode or line is None:
        raise RuntimeError(f"process-group probe failed (exit {p.returncode}): {_tail(p.stderr + p.stdout)}")
    _, backend, world, total = line.split()
    clf = _save_tiny_classifier(work / "classifier.pt", 32)
    p = _torchrun(["-m", "stylex", "train", "--data", "synthetic", "--synthetic-size", "48", "--preset", "tiny",
                   "--kimg", "0.008", "--lpips-weight", "0", "--classifier", str(clf), "--out", str(work / "run"),
                   "--device", a.device, "--no-progress"], timeout=a.box / 2)
    if p.returncode:
        raise RuntimeError(f"`stylex train` under torchrun failed (exit {p.returncode}): {_tail(p.stderr + p.stdout)}")
    return {"backend": backend, "world_size": int(world), "all_reduce_sum": float(total),
            "stylex_train_under_torchrun": "ok"}


def _stylex(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "stylex", *args], capture_output=True, text=True, timeout=timeout)
    if p.returncode:
        raise RuntimeError(f"`stylex {args[0]}` failed (exit {p.returncode}): {_tail(p.stderr + p.stdout)}")
    return p


def part_train_2min(a) -> dict:
    """A quick classifier, then about 2 minutes of training; class agreement and a sample grid."""
    from stylex.models.lpips import lpips_available

    work = Path(a.work) / "train_2min"
    data = a.data or ("synthetic" if a.smoke else "../shared/data/celeba-10k")
    if data != "synthetic" and not Path(data).is_dir():
        raise RuntimeError(f"--data {data}: no such folder (the shared CelebA data; to take it to a GPU machine "
                           "copy it into the checkout, e.g. shared/data/celeba-10k, and pass that path)")
    t0 = time.time()
    if a.smoke:
        src = ["--data", data, "--synthetic-size", "48"] if data == "synthetic" else ["--data", data]
        clf_args = ["--resolution", "32", "--epochs", "1", "--width-mult", "0.25", "--pretrained", "none",
                    "--batch-size", "16"]
        train_args = ["--preset", "tiny", "--kimg", "0.016", "--max-minutes", "0.05"]
    else:
        src = ["--data", data, "--attribute", a.attribute]
        clf_args = ["--resolution", "64", "--epochs", "1", "--workers", "4"]
        train_args = ["--preset", "paper64", "--kimg", "10000", "--tick-kimg", "0.5", "--precision", "bf16",
                      "--max-minutes", str(a.train_minutes)]
    if not lpips_available("alex"):
        train_args += ["--lpips-weight", "0"]
    _stylex(["train-classifier", *src, *clf_args, "--out", str(work / "clf"), "--device", a.device, "--no-progress"],
            timeout=max(10.0, a.box - a.train_minutes * 60 - 30))
    clf_metrics = json.loads((work / "clf" / "metrics.json").read_text())
    t_clf = time.time() - t0
    _stylex(["train", *src, *train_args, "--classifier", str(work / "clf" / "classifier.pt"), "--out",
             str(work / "run"), "--device", a.device, "--no-progress"], timeout=max(10.0, a.box - t_clf - 5))
    rows = [json.loads(ln) for ln in (work / "run" / "stats.jsonl").read_text().splitlines()]
    agree = [r for r in rows if "class_agreement" in r]
    grid = work / "run" / "samples" / "latest.png"
    if grid.is_file():
        shutil.copyfile(grid, Path(a.out) / "train_2min_samples.png")
    return {"data": data, "attribute": None if a.smoke else a.attribute, "lpips": lpips_available("alex"),
            "classifier_s": t_clf, "classifier_val_balanced_accuracy": clf_metrics.get("val_balanced_accuracy"),
            "kimg": rows[-1]["kimg"], "img_per_s_last_tick": rows[-1]["img_per_s"],
            "peak_mem_gb": max(r["peak_mem_gb"] for r in rows),
            "class_agreement": agree[-1]["class_agreement"] if agree else None,
            "rec_l1": agree[-1].get("G_rec_l1") if agree else None,
            "sample_grid": "train_2min_samples.png" if grid.is_file() else None}


# ---------------------------------------------------------------------------- the driver
def run_part(name: str, a, box: float) -> dict:
    """Run one part in a child process (its own session, killed at the time box); never raises."""
    t = time.time()
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        res_path = Path(f.name)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--part", name, "--part-json", str(res_path),
           "--box", f"{box:.1f}", *a.child_args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=box)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        log, _ = proc.communicate()
        return {"ok": False, "seconds": time.time() - t, "error": f"timed out after {box:.0f} s",
                "log_tail": _tail(log or "")}
    try:
        rec = json.loads(res_path.read_text()) if res_path.stat().st_size else None
    finally:
        res_path.unlink(missing_ok=True)
    if rec is None:
        rec = {"ok": False, "error": f"the part's process exited with {proc.returncode} and no result",
               "log_tail": _tail(log or "")}
    rec["seconds"] = time.time() - t
    return rec


def summary_line(name: str, rec: dict) -> str:
    """One line per part for the terminal."""
    head = f"{name:22s} {'ok ' if rec.get('ok') else 'FAIL'} {rec.get('seconds', 0):6.1f} s  "
    if not rec.get("ok"):
        return head + str(rec.get("error") or rec.get("skipped"))
    r = rec["result"]
    if name.startswith("throughput"):
        util = f", {100 * r['utilisation']:.1f}% of {r['peak_bf16_tflops']:.0f}" if r.get("utilisation") else ""
        return head + (f"{r['preset']} {r['precision']} batch {r['batch']}: {r['images_per_s']:.1f} img/s, "
                       f"{r['achieved_tflops']:.3f} TFLOP/s{util}, peak {r['peak_mem_gb']:.2f} GB, "
                       f"warm-up {r['warmup_s']:.0f} s")
    if name == "attfind":
        return head + (f"{r['resolution']} px, S={r['num_coords']}: bf16 {r['bf16']['edits_per_s']:.0f} edits/s "
                       f"(250 images: {r['bf16']['projected_s_250_images']:.0f} s), fp32 "
                       f"{r['fp32']['edits_per_s']:.0f} edits/s ({r['fp32']['projected_s_250_images']:.0f} s)")
    if name == "train_2min":
        return head + (f"{r['kimg']:.3g} kimg, class agreement {r['class_agreement']}, rec L1 {r['rec_l1']}, "
                       f"classifier bal. acc. {r['classifier_val_balanced_accuracy']}, grid {r['sample_grid']}")
    return head + json.dumps(r)[:160]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--smoke", action="store_true", help="tiny sizes (seconds on a CPU): checks that every part runs")
    p.add_argument("--out", default="gpu-check", help="folder for gpu_check.json and the sample grid")
    p.add_argument("--work", help="folder for intermediate runs (default: a temporary folder, removed at the end)")
    p.add_argument("--budget-minutes", type=float, default=8.0, help="wall-clock budget of all parts together")
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {', '.join(PARTS)}")
    p.add_argument("--data", help="train_2min data (default: ../shared/data/celeba-10k; synthetic with --smoke)")
    p.add_argument("--attribute", default="Young", help="train_2min CelebA attribute")
    p.add_argument("--train-minutes", type=float, default=2.0, help="train_2min training time")
    p.add_argument("--batch", type=int, default=64, help="throughput batch (paper64)")
    p.add_argument("--attfind-images", type=int, default=16, help="images of the timed AttFind run")
    p.add_argument("--compile-backend", help="torch.compile backend (default inductor; aot_eager with --smoke)")
    p.add_argument("--part", help=argparse.SUPPRESS)
    p.add_argument("--part-json", help=argparse.SUPPRESS)
    p.add_argument("--box", type=float, default=0.0, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.compile_backend = a.compile_backend or ("aot_eager" if a.smoke else "inductor")
    return a


def child(a) -> None:
    """Run the part ``a.part`` and write ``{"ok", "result" | "error"}`` to ``a.part_json``."""
    sys.path.insert(0, str(HERE))
    try:
        rec = {"ok": True, "result": globals()[f"part_{a.part}"](a)}
    except BaseException as exc:  # noqa: BLE001 - every failure is a result to record
        import traceback

        rec = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": _tail(traceback.format_exc(), 2000)}
    Path(a.part_json).write_text(json.dumps(rec, default=str))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    a = parse_args(argv)
    if a.part:
        child(a)
        return 0
    parts = [s.strip() for s in a.parts.split(",") if s.strip()]
    unknown = [s for s in parts if s not in PARTS]
    if unknown:
        print(f"gpu_check: unknown --parts {', '.join(unknown)}; choose from {', '.join(PARTS)}", file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="gpu-check-"))
    a.child_args = [*argv, "--work", str(work), "--out", str(out), "--compile-backend", a.compile_backend]
    deadline = time.time() + a.budget_minutes * 60
    doc = {"command": ["python", "benchmarks/gpu_check.py", *argv], "device": a.device, "smoke": a.smoke,
           "budget_minutes": a.budget_minutes, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "parts": {}}
    try:
        for name in parts:
            left = deadline - time.time()
            if left < MIN_BOX_S:
                rec = {"ok": False, "skipped": f"time budget spent ({left:.0f} s left)", "seconds": 0.0}
            else:
                rec = run_part(name, a, min(BOX_S[name], left))
            doc["parts"][name] = rec
            print(summary_line(name, rec), flush=True)
            doc["total_seconds"] = a.budget_minutes * 60 - (deadline - time.time())
            (out / "gpu_check.json").write_text(json.dumps(doc, indent=1, default=str))
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    print(f"written: {out / 'gpu_check.json'}")
    return 0 if all(r.get("ok") for r in doc["parts"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
