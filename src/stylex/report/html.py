"""A self-contained HTML report: one ``index.html`` with inline CSS, relative image links only.

The page opens from ``file://`` without a server or network: no external fonts, scripts or styles. Image
paths in :class:`ReportContent` may be relative to the output folder (used as they are), absolute inside it
(made relative) or absolute elsewhere (copied into ``<out_dir>/assets/``). An image that does not exist is
shown as a "missing image" note rather than a broken link. All text is HTML-escaped.

A tiny inline script counts images that failed to load and stores the count in
``document.body.dataset.brokenImages`` (read by the headless-browser test and visible in dev tools).
"""

from __future__ import annotations

import html
import shutil
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote, unquote, urlsplit


@dataclass(frozen=True)
class AttributeEntry:
    """One discovered attribute as shown in the report."""

    rank: int                          # 1 = strongest
    label: str                         # short name, e.g. "b16.conv0 channel 45 -> max"
    description: str = ""              # free text (what changes, how it was found)
    panel: str | None = None           # attribute panel PNG
    gifs: Sequence[str] = ()           # animations (original <-> edited)
    score: float | None = None         # AttFind score
    target_class: str = ""             # class the edit moves towards


@dataclass(frozen=True)
class FlipRateRow:
    """Flip rate of one method (top-k attributes applied together)."""

    method: str
    mean: float
    std: float
    n: int                             # images tested (per run, or in total; say which in the notes)


@dataclass(frozen=True)
class Table:
    """A generic table (e.g. ground-truth scores on the synthetic world)."""

    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""


@dataclass(frozen=True)
class ReportContent:
    """Everything :func:`render_report` puts on the page; empty sections are left out."""

    title: str
    subtitle: str = ""
    summary: dict[str, Any] = field(default_factory=dict)           # data set and classifier: name -> value
    training_summary: dict[str, Any] = field(default_factory=dict)  # name -> value
    training_curve: str | None = None                               # PNG
    reconstructions: str | None = None                              # PNG
    attributes: Sequence[AttributeEntry] = ()
    flip_rates: Sequence[FlipRateRow] = ()
    flip_rate_curve: str | None = None                              # PNG
    flip_rate_caption: str = ""                                     # how the flip rates were measured
    ground_truth: Table | None = None
    image_explanations: Sequence[tuple[str, str]] = ()              # (PNG, caption) per explained image
    flip_rate_reference: Table | None = None                        # published numbers shown beside ours
    section_notes: dict[str, str] = field(default_factory=dict)     # section id -> paragraph at its top
    commands: Sequence[str] = ()                                    # shell commands, one <pre> each
    notes: Sequence[str] = ()                                       # paragraphs
    warnings: Sequence[str] = ()                                    # shown first: why not to trust the explanations


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0 auto; max-width: 1150px; padding: 1.5em; color: #1b1b1b; background: #fff; line-height: 1.45; }
h1 { margin-bottom: 0.1em; } .subtitle { color: #555; margin-top: 0; }
h2 { border-bottom: 2px solid #e3e3e3; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin-bottom: 0.3em; }
nav ul { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: 0.4em 1.2em; }
nav a { color: #0a58a8; text-decoration: none; } nav a:hover { text-decoration: underline; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #d6d6d6; padding: 0.3em 0.7em; text-align: left; vertical-align: top; }
th { background: #f3f5f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
caption { caption-side: bottom; color: #555; font-size: 0.9em; padding-top: 0.3em; text-align: left; }
figure { margin: 0.8em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #e3e3e3; }
.attr { border: 1px solid #e3e3e3; border-radius: 6px; padding: 0.6em 1em 1em; margin: 1em 0; }
.attr .meta { color: #555; font-size: 0.92em; }
.gifs { display: flex; flex-wrap: wrap; gap: 10px; } .gifs img { border: 1px solid #e3e3e3; }
pre { background: #f6f8fa; border: 1px solid #e3e3e3; padding: 0.6em 0.8em; overflow-x: auto; white-space: pre-wrap; }
.missing { color: #a33; font-style: italic; }
.note { color: #444; background: #f7f7f2; border-left: 3px solid #c9c38f; padding: 0.4em 0.8em; }
.warning { color: #5a1010; background: #fdeeee; border-left: 4px solid #c0392b; padding: 0.5em 0.8em; }
.side { display: flex; flex-wrap: wrap; gap: 0 2.5em; align-items: flex-start; }
.side > div { flex: 1 1 0; min-width: 320px; } .side > div:last-child { flex-grow: 2; }
"""

BROKEN_IMAGE_SCRIPT = """
window.addEventListener("load", function () {
  var broken = 0;
  for (var i = 0; i < document.images.length; i++) {
    var im = document.images[i];
    if (!im.complete || im.naturalWidth === 0) { broken++; }
  }
  document.body.dataset.brokenImages = String(broken);
});
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


class _Assets:
    """Turns image paths into relative links under ``out_dir`` (copying outside files into assets/)."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir.resolve()
        self.copied: dict[Path, str] = {}

    def link(self, path: str | Path) -> str | None:
        p = Path(path)
        full = p if p.is_absolute() else self.out_dir / p
        full = full.resolve()
        if not full.is_file():
            return None
        try:
            rel = full.relative_to(self.out_dir).as_posix()
        except ValueError:
            rel = self._copy(full)
        return quote(rel)

    def _copy(self, src: Path) -> str:
        if src in self.copied:
            return self.copied[src]
        assets = self.out_dir / "assets"
        assets.mkdir(parents=True, exist_ok=True)
        used = {Path(v).name for v in self.copied.values()}
        name, i = src.name, 1
        while name in used:  # two different files with the same name (a re-render may overwrite its own copies)
            name = f"{src.stem}_{i}{src.suffix}"
            i += 1
        shutil.copyfile(src, assets / name)
        self.copied[src] = f"assets/{name}"
        return self.copied[src]


def _img(assets: _Assets, path: str | None, alt: str, caption: str = "") -> str:
    if not path:
        return ""
    href = assets.link(path)
    if href is None:
        return f'<p class="missing">missing image: {_e(Path(path).name)}</p>'
    cap = f"<figcaption>{_e(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{href}" alt="{_e(alt)}">{cap}</figure>'


def _fmt_value(value: Any) -> str:
    """Summary values: floats to 4 significant digits (12.5, 0.9123, 1.235e+05)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _kv_table(values: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_fmt_value(v))}</td></tr>" for k, v in values.items())
    return f"<table>{rows}</table>"


def _table(t: Table) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in t.headers)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{_e(_fmt(c))}</td>' if isinstance(c, (int, float)) else f"<td>{_e(c)}</td>"
                         for c in row) + "</tr>"
        for row in t.rows)
    cap = f"<caption>{_e(t.caption)}</caption>" if t.caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _attribute(assets: _Assets, a: AttributeEntry) -> str:
    meta = []
    if a.target_class:
        meta.append(f"towards <b>{_e(a.target_class)}</b>")
    if a.score is not None:
        meta.append(f"score {_e(_fmt(float(a.score)))}")
    parts = [f'<div class="attr" id="attr-{int(a.rank)}"><h3>#{int(a.rank)} {_e(a.label)}</h3>']
    if meta:
        parts.append(f'<p class="meta">{" &middot; ".join(meta)}</p>')
    if a.description:
        parts.append(f"<p>{_e(a.description)}</p>")
    parts.append(_img(assets, a.panel, f"attribute {a.rank} panel"))
    gifs = [(g, assets.link(g)) for g in a.gifs]
    if gifs:
        imgs = "".join(f'<img src="{href}" alt="attribute {int(a.rank)} animation {i + 1}">' if href else
                       f'<span class="missing">missing animation: {_e(Path(g).name)}</span>'
                       for i, (g, href) in enumerate(gifs))
        parts.append(f'<p class="meta">Animations (original / edited, looping):</p><div class="gifs">{imgs}</div>')
    parts.append("</div>")
    return "".join(parts)


def render_report(content: ReportContent, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/index.html`` for ``content``.

    Args:
        content: the sections; empty ones are omitted.
        out_dir: report folder (created). Images outside it are copied into ``assets/``.

    Returns:
        Path of the written ``index.html``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    assets = _Assets(out)
    sections: list[tuple[str, str, str]] = []  # (id, heading, body html)

    notes = content.section_notes

    def add(sid: str, heading: str, body: str) -> None:
        note = f'<p class="note">{_e(notes[sid])}</p>' if notes.get(sid) else ""
        if body or note:
            sections.append((sid, heading, note + body))

    add("data", "Data set and classifier", _kv_table(content.summary) if content.summary else "")
    body = _kv_table(content.training_summary) if content.training_summary else ""
    body += _img(assets, content.training_curve, "training curves", "Loss terms against training length (kimg).")
    add("training", "Training", body)
    add("reconstructions", "Reconstructions",
        _img(assets, content.reconstructions, "reconstructions",
             "Originals (top) and their StylEx reconstructions (bottom), with the classifier's probability on each.")
        if content.reconstructions else "")
    add("attributes", "Attributes",
        "".join(_attribute(assets, a) for a in sorted(content.attributes, key=lambda a: a.rank)))
    add("explanations", "Image-specific explanations",
        "".join(_img(assets, png, "image explanation", cap) for png, cap in content.image_explanations))
    body = ""
    if content.flip_rates:
        body += _table(Table(("method", "flip rate (mean)", "std", "n"),
                             [(r.method, float(r.mean), float(r.std), int(r.n)) for r in content.flip_rates],
                             caption=content.flip_rate_caption))
    if content.flip_rate_reference is not None:
        body = f'<div class="side"><div>{body}</div><div>{_table(content.flip_rate_reference)}</div></div>'
    if content.flip_rates or content.flip_rate_curve:
        body += _img(assets, content.flip_rate_curve, "flip rate curve")
    else:
        body = ""  # the published numbers alone are no result of this run
    add("flip-rate", "Flip rate", body)
    add("ground-truth", "Ground truth", _table(content.ground_truth) if content.ground_truth is not None else "")
    add("commands", "Commands used", "".join(f"<pre>{_e(c)}</pre>" for c in content.commands))
    add("notes", "Notes", "".join(f"<p>{_e(n)}</p>" for n in content.notes))

    nav = "".join(f'<li><a href="#{sid}">{_e(head)}</a></li>' for sid, head, _ in sections)
    body = "".join(f'<section id="{sid}"><h2>{_e(head)}</h2>{html_}</section>' for sid, head, html_ in sections)
    subtitle = f'<p class="subtitle">{_e(content.subtitle)}</p>' if content.subtitle else ""
    warn = "".join(f'<p class="warning"><strong>Warning:</strong> {_e(w)}</p>' for w in content.warnings)
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(content.title)}</title><style>{CSS}</style></head>\n"
        f"<body><h1>{_e(content.title)}</h1>{subtitle}{warn}<nav><ul>{nav}</ul></nav>\n{body}\n"
        f"<script>{BROKEN_IMAGE_SCRIPT}</script></body></html>\n"
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index


class _LinkCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.links.append(value)


def check_report_links(out_dir: str | Path, page: str = "index.html") -> list[str]:
    """References in ``<out_dir>/<page>`` that do not resolve to a file inside ``out_dir``.

    In-page anchors (``#...``) and ``data:`` URIs are fine; external URLs, absolute paths, links leaving the
    folder and missing files are returned (as written in the page, with a reason for non-missing cases).

    Args:
        out_dir: report folder.
        page: HTML file name inside it.

    Returns:
        Problems, empty when every link resolves.
    """
    root = Path(out_dir).resolve()
    parser = _LinkCollector()
    parser.feed((root / page).read_text(encoding="utf-8"))
    problems = []
    for link in parser.links:
        if link.startswith("#") or link.startswith("data:") or link.startswith("blob:"):
            continue
        parts = urlsplit(link)
        if parts.scheme or parts.netloc:
            problems.append(f"{link} (external)")
            continue
        if parts.path.startswith("/"):
            problems.append(f"{link} (absolute path)")
            continue
        target = (root / unquote(parts.path)).resolve()
        try:
            target.relative_to(root)
        except ValueError:
            problems.append(f"{link} (outside the report folder)")
            continue
        if not target.is_file():
            problems.append(link)
    return problems
