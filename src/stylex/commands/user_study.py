"""``stylex user-study``: build the static user-study pages from AttFind animations, or score the answers.

    stylex user-study --attfind DIR2 --out DIR5 [--questions-per-attribute 3] [--attributes 6] [--seed 0]
    stylex user-study score --key KEY --answers CSV [CSV ...]
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from . import add_parser, defaults_from

GIF_PATTERN = re.compile(r"^attr(\d+)_img(\d+)\.gif$")


def register(subparsers) -> None:
    p = add_parser(subparsers, "user-study", "build or score the user study (static HTML pages)",
                   "`stylex user-study --attfind DIR --out OUT` writes the classification study (OUT/classification/) "
                   "and the verbal study (OUT/verbal/), two separate hand-out folders, from the attribute animations "
                   "DIR/gifs/attrNN_imgMM.gif, and the answer key beside OUT. OUT must be new, empty or an earlier "
                   "user-study output (only the files that build wrote are replaced). `stylex user-study score --key KEY --answers CSV...` "
                   "scores the CSV files that participants exported.")
    p.add_argument("action", nargs="?", default="build", choices=["build", "score"],
                   help="build the pages (default) or score answers")
    b = p.add_argument_group("build")
    b.add_argument("--attfind", help="AttFind output folder holding gifs/attr{rank:02d}_img{j:02d}.gif")
    b.add_argument("--out", help="study folder to write (give its classification/ and verbal/ folders to "
                                 "participants)")
    d = defaults_from("stylex.report.userstudy:build_user_study")
    b.add_argument("--questions-per-attribute", type=int, default=d("questions_per_attribute"),
                   help="questions per attribute")
    b.add_argument("--attributes", type=int, default=d("num_attributes"), help="top attributes to include")
    b.add_argument("--seed", type=int, default=d("seed"), help="seed of image, distractor and order choices")
    b.add_argument("--run", help="StylEx run directory: render the animations (with `stylex report` into "
                                 "ATTFIND/report) when ATTFIND/gifs has none")
    s = p.add_argument_group("score")
    s.add_argument("--key", help="answer key JSON (build: where to write it, default OUT/../OUTNAME.answer_key.json; "
                                 "score: the key to read)")
    s.add_argument("--answers", nargs="+", help="CSV files exported from the study page")
    s.add_argument("--json", help="score: also write the scores to this JSON file")
    p.set_defaults(func=execute)


def find_attribute_gifs(attfind_dir: str | Path) -> dict[str, list[Path]]:
    """``attr{rank:02d}`` -> its animations, from ``<attfind_dir>/gifs/attr{rank:02d}_img{j:02d}.gif``, by rank."""
    found: dict[int, list[tuple[int, Path]]] = {}
    gif_dir = Path(attfind_dir) / "gifs"
    if gif_dir.is_dir():
        for f in gif_dir.iterdir():
            m = GIF_PATTERN.match(f.name)
            if m and f.is_file():
                found.setdefault(int(m.group(1)), []).append((int(m.group(2)), f))
    return {f"attr{rank:02d}": [f for _, f in sorted(found[rank])] for rank in sorted(found)}


def execute(args) -> int:
    return _score(args) if args.action == "score" else _build(args)


def _build(args) -> int:
    from ..errors import StylexError
    from ..paths import check_output_dir, check_output_file
    from ..report.userstudy import build_user_study

    if not args.attfind or not args.out:
        raise StylexError("`stylex user-study` needs --attfind DIR (AttFind output) and --out DIR (study folder); "
                          "to score answers use `stylex user-study score --key KEY --answers CSV ...`")
    if not Path(args.attfind).is_dir():
        raise StylexError(f"--attfind {args.attfind} is not a folder (the output of `stylex attfind`)")
    _check_out_outside_attfind(Path(args.out), Path(args.attfind))
    check_output_dir(args.out)
    if args.key:
        check_output_file(args.key, "--key")
    gifs = find_attribute_gifs(args.attfind)
    if not gifs and args.run:
        from ..report.build import build_report

        # the report renders one animation per (attribute, image) into ATTFIND/gifs
        build_report(args.run, args.attfind, None, Path(args.attfind) / "report", num_attributes=args.attributes,
                     progress=False)
        gifs = find_attribute_gifs(args.attfind)
    if not gifs:
        where = Path(args.attfind) / "gifs"
        raise StylexError(f"no attribute animations in {where} (expected attrNN_imgMM.gif): run `stylex report` "
                          "first, or pass --run RUN_DIR so they can be rendered")
    files = build_user_study(gifs, args.out, questions_per_attribute=args.questions_per_attribute,
                             num_attributes=args.attributes, seed=args.seed, key_path=args.key)
    for note in files.notes:
        print(f"note: {note}")
    print(f"classification study: {files.classification_page} ({files.num_questions} questions, "
          f"attributes {', '.join(files.attributes)})")
    print(f"verbal study:         {files.verbal_page} (a separate hand-out)")
    print(f"answer key:           {files.key_path} (keep it away from participants)")
    print(f"score with: stylex user-study score --key {files.key_path} --answers answers_*.csv")
    return 0


def _check_out_outside_attfind(out: Path, attfind: Path) -> None:
    """Refuse a study folder that is, or lies inside, the AttFind output: building it would touch its inputs."""
    from ..errors import StylexError

    o, a = out.resolve(), attfind.resolve()
    if o == a or a in o.parents:
        raise StylexError(f"--out {out} is inside --attfind {attfind}: the study would be written among its own "
                          "inputs; give a folder outside the AttFind output")


def _score(args) -> int:
    from ..atomic import write_text
    from ..errors import StylexError
    from ..paths import check_output_file
    from ..report.userstudy import PAPER_ACCURACY, REPLICATION_ACCURACY, score_user_study

    if not args.key or not args.answers:
        raise StylexError("`stylex user-study score` needs --key KEY and --answers CSV [CSV ...]")
    if args.json:
        check_output_file(args.json, "--json")
    res = score_user_study(args.key, args.answers)
    print(f"accuracy {res['mean']:.3f} +/- {res['std']:.3f} over {res['n_participants']} participant(s), "
          f"{res['num_questions']} questions (std over participants, ddof=0; chance 0.5)")
    for pid, p in sorted(res["participants"].items()):
        print(f"  participant {pid}: {p['accuracy']:.3f} ({p['correct']}/{p['answered']})")
    print("per attribute (pooled over participants):")
    for attr, a in res["per_attribute"].items():
        acc = f"{a['accuracy']:.3f}" if a["answered"] else "  -  "
        print(f"  {attr}: {acc} ({a['correct']}/{a['answered']})")
    print(f"reference: paper {PAPER_ACCURACY[0]:.3f} +/- {PAPER_ACCURACY[1]:.3f} (age); "
          f"replication {REPLICATION_ACCURACY[0]:.3f} +/- {REPLICATION_ACCURACY[1]:.3f} "
          "(61 people, 18 questions)")
    if args.json:
        write_text(args.json, json.dumps(res, indent=2) + "\n")
        print(f"scores written to {args.json}")
    return 0
