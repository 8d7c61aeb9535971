"""Print the RESULTS.md tables from the runs' own files, so that every number there comes from a file.

Each ``--task LABEL=RUN[:CLASSIFIER_DIR[:EVAL_DIR[:EVAL_RANDOM_DIR]]]`` names one run folder (made by
``stylex train``: ``config.json``, ``stats.jsonl``), the classifier's training folder (its ``metrics.json``)
and the ``stylex evaluate`` folders of AttFind on encoded images (default ``RUN/eval``) and on
mapping-path latents (default ``RUN/eval-random``).

    python docs/results/results_tables.py \\
        --task "CelebA Young=runs/celeba-young32:runs/clf-young32" \\
        --task "synthetic=runs/demo-full/run:runs/demo-full/classifier:runs/demo-full/eval"

Prints three markdown tables: flip rates (the replication's Table 2 layout), reconstruction, and
classifier / training facts. A missing file leaves "-" in its cells; nothing is made up.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _flip(m: dict | None, method: str) -> str:
    v = (m or {}).get("flip_rate", {}).get(method)
    if not v:
        return "-"
    return f"{v['mean']:.3f} +/- {v['std']:.3f} (n={v['n_images']})"


def _by_class(m: dict | None, method: str, names: list[str]) -> str:
    v = (m or {}).get("flip_rate", {}).get(method) or {}
    parts = [f"{names[int(c)] if int(c) < len(names) else c}: {d['rate']:.2f} of {d['n']}"
             for c, d in sorted((v.get("by_base_class") or {}).items())]
    return "; ".join(parts) or "-"


def _f(v, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _last_stats(run: Path) -> dict:
    from stylex.report.figures import read_stats

    path = run / "stats.jsonl"
    rows = read_stats(path) if path.is_file() else []
    return rows[-1] if rows else {}


def _checkpoint_kimg(run: Path) -> float | None:
    """Training length in the checkpoint (a run stopped mid-tick is longer than its last stats row)."""
    from stylex.training.checkpoint import CHECKPOINT_NAME, safe_load

    path = run / CHECKPOINT_NAME
    return safe_load(path)["counters"]["cur_nimg"] / 1000 if path.is_file() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", action="append", required=True,
                    metavar="LABEL=RUN[:CLASSIFIER_DIR[:EVAL_DIR[:EVAL_RANDOM_DIR]]]",
                    help="a row: label (without '='), run folder, classifier training folder, evaluation folders")
    args = ap.parse_args()
    rows = []
    for spec in args.task:
        label, _, paths = spec.partition("=")
        parts = paths.split(":")
        run_dir = Path(parts[0])
        clf = parts[1] if len(parts) > 1 else ""
        ev = Path(parts[2]) if len(parts) > 2 else run_dir / "eval"
        ev_random = Path(parts[3]) if len(parts) > 3 else run_dir / "eval-random"
        cfg = _json(run_dir / "config.json") or {}
        rows.append({
            "label": label, "run": run_dir, "eval": _json(ev / "metrics.json"),
            "eval_random": _json(ev_random / "metrics.json"),
            "clf": _json(Path(clf) / "metrics.json") if clf else None, "stats": _last_stats(run_dir),
            "names": cfg.get("class_names", []), "train": cfg.get("train", {}),
        })

    print("| task | Wu et al. | AttFind on random (mapping-path) latents | AttFind on StylEx (encoded images) "
          "| random coordinates |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {_flip(r['eval'], 'wu')} | {_flip(r['eval_random'], 'attfind')} "
              f"| {_flip(r['eval'], 'attfind')} | {_flip(r['eval'], 'random')} |")

    print("\n| task | AttFind flips by the image's class | Wu et al. by class | random by class |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {_by_class(r['eval'], 'attfind', r['names'])} "
              f"| {_by_class(r['eval'], 'wu', r['names'])} | {_by_class(r['eval'], 'random', r['names'])} |")

    print("\n| task | held-out images | LPIPS | L1 | class agreement | balanced agreement "
          "| classifier accuracy: originals / reconstructions |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        rec = (r["eval"] or {}).get("reconstruction") or {}
        print(f"| {r['label']} | {rec.get('n_images', '-')} | {_f(rec.get('lpips'))} | {_f(rec.get('l1'))} "
              f"| {_f(rec.get('class_agreement'), 2)} | {_f(rec.get('balanced_agreement'), 2)} "
              f"| {_f(rec.get('accuracy_orig'))} / {_f(rec.get('accuracy_recon'))} |")

    print("\n| task | classifier val accuracy (balanced) | training paths | kimg (checkpoint) | s/kimg (last tick) "
          "| training class agreement (last tick) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        c, s = r["clf"] or {}, r["stats"]
        print(f"| {r['label']} | {_f(c.get('val_accuracy'))} ({_f(c.get('val_balanced_accuracy'))}) "
              f"| {r['train'].get('paths', '-')} | {_f(_checkpoint_kimg(r['run']), 1)} | {_f(s.get('sec_per_kimg'), 0)} "
              f"| {_f(s.get('class_agreement'), 2)} |")


if __name__ == "__main__":
    main()
