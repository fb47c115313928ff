"""A self-contained HTML report of a run (links to the images beside it).

Sections: notes (warnings first), the summary (counts of done, diverged and skipped images,
metric statistics, time per image with compile time apart), the loss curves, one row per image
with labelled columns (target, degraded input when there is a degradation, reconstruction, the
error with its colour scale) and that image's own results (the method's files, edits, its
robustness table), the run's figures (e.g. PmSFC's affinity), the strips between images
(interpolations, feature exchanges) and the chosen method's settings.
"""

from __future__ import annotations

import dataclasses
import html

from jaxinv.io.images import atomic_write_bytes

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:1400px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;
vertical-align:top}th{background:#eee}.warn{background:#fff3cd;padding:1em;border:1px solid #e0c060}
img{image-rendering:pixelated;max-width:100%}.fail{color:#b00}.metrics{text-align:left}
figure{display:inline-block;margin:0.5em 1em 0.5em 0}figcaption{font-size:90%;color:#333}
figure img{min-height:192px}"""

METRIC_NOTES = {
    "latent_error": "latent_error: ||z - z*|| / ||z*||, the distance of the found latent from "
                    "the one that made a generated target (recovery runs only; a look-alike "
                    "found elsewhere in latent space scores high).",
    "auc": "auc: the colorization AUC (area under the cumulative pixel-error curve).",
}
PER_IMAGE_KEYS = ("psnr", "ssim", "lpips", "auc", "latent_error", "loss", "steps", "seconds")


@dataclasses.dataclass(frozen=True)
class Figure:
    """An image file of the report, relative to it, with its caption."""

    src: str
    caption: str


@dataclasses.dataclass(frozen=True)
class Report:
    """Everything ``report.html`` shows.

    records: one dict per image (``status``; for finished images ``panels``: {column label:
      src}, optional ``files``: {caption: src}, ``values``: the record keys the method added
      (a list of dicts is shown as a table, e.g. e-GLASS's one row per solution),
      ``robustness``: {case: {metric: {'mean',
      'std'}}}). summary: metric -> {'mean', 'median', 'q1', 'q3', 'n'}. counts: status ->
      number of images. columns: the panel columns in order. sections: run-level sections
      after the images, heading -> figures (empty ones are left out). settings: the config
      text to show.
    """

    title: str
    notes: list
    summary: dict
    counts: dict
    records: list
    columns: tuple
    error_scale: str | None = None
    loss_plot: str | None = None
    sections: dict = dataclasses.field(default_factory=dict)
    settings: str = ""


def _fmt(v):
    if v is None:
        return "&ndash;"
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def _img(src: str, alt: str) -> str:
    """An image; small ones are enlarged by the style (``figure img``: at least 192 px high,
    nearest-neighbour)."""
    return f"<img src='{html.escape(src)}' alt='{html.escape(alt)}'>"


def _figure(f: Figure) -> str:
    return (f"<figure>{_img(f.src, f.caption)}<figcaption>{html.escape(f.caption)}"
            f"</figcaption></figure>")


def _summary(r: Report, timing: dict) -> list[str]:
    total = sum(r.counts.values())
    counts = ", ".join(f"{r.counts.get(k, 0)} {k}" for k in ("done", "diverged", "skipped"))
    parts = [f"<h2 id='summary'>Summary</h2><p class='counts'>{counts} of {total} images</p>"]
    if r.summary:
        parts.append("<table><tr><th>metric</th><th>mean</th><th>median</th><th>q1</th>"
                     "<th>q3</th><th>n</th></tr>")
        for k, s in r.summary.items():
            parts.append(f"<tr><td>{html.escape(k)}</td>" + "".join(
                f"<td>{_fmt(s[c])}</td>" for c in ("mean", "median", "q1", "q3", "n")) + "</tr>")
        parts.append("</table>")
    if "lpips" not in r.summary and r.counts.get("done"):
        parts.append("<p>LPIPS was not computed: the run loaded no LPIPS network (set "
                     "<code>--config.lpips.metric=True</code>).</p>")
    parts += [f"<p>{html.escape(note)}</p>" for k, note in METRIC_NOTES.items() if k in r.summary]
    if timing:
        parts.append(f"<p>time: {timing['per_image']:.3g} s per image on average (optimisation "
                     f"only), plus {timing['compile']:.3g} s of compilation for the run.</p>")
    return parts


def _timing(records) -> dict:
    done = [x for x in records if x.get("status") in ("ok", "diverged")]
    if not done:
        return {}
    return {"per_image": sum(x.get("seconds", 0.0) for x in done) / len(done),
            "compile": max(x.get("compile_seconds") or 0.0 for x in done)}


def _image_rows(r: Report) -> list[str]:
    header = "".join(f"<th>{html.escape(c)}</th>" for c in r.columns)
    scale = (f"<p>{_img(r.error_scale, 'error colour scale')}<br>the error column: the mean "
             f"absolute difference over the channels of images in [-1, 1]</p>"
             if r.error_scale else "")
    parts = [f"<h2 id='images'>Images</h2>{scale}<table class='images'><tr><th>image</th>"
             f"{header}<th>metrics</th></tr>"]
    for rec in r.records:
        name = html.escape(str(rec["image"]))
        if rec.get("status") != "ok":
            parts.append(f"<tr><td>{name}</td><td class='fail' colspan='{len(r.columns) + 1}'>"
                         f"{html.escape(str(rec.get('error')))}</td></tr>")
            continue
        cells = "".join(f"<td>{_img(rec['panels'][c], f'{name}: {c}')}</td>"
                        if c in rec.get("panels", {}) else "<td></td>" for c in r.columns)
        metrics = "<br>".join(f"{k} = {_fmt(rec.get(k))}" for k in PER_IMAGE_KEYS if k in rec)
        parts.append(f"<tr><td>{name}</td>{cells}<td class='metrics'>{metrics}</td></tr>")
        extra = [_figure(Figure(src, cap)) for cap, src in rec.get("files", {}).items()]
        extra += [_robustness(rec["robustness"])] if rec.get("robustness") else []
        extra += [_value(k, rec.get(k)) for k in rec.get("values", ())]
        if extra:
            parts.append(f"<tr><td></td><td class='metrics' colspan='{len(r.columns) + 1}'>"
                         + "".join(extra) + "</td></tr>")
    parts.append("</table>")
    return parts


def _value(key: str, value) -> str:
    """A method's value: a table when it is a list of rows (dicts), else ``key = value``."""
    if not (isinstance(value, list) and value and all(isinstance(v, dict) for v in value)):
        return f"<p>{html.escape(key)} = {_fmt(value)}</p>"
    columns = list(dict.fromkeys(c for row in value for c in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    rows = "".join("<tr>" + "".join(f"<td>{_fmt(row.get(c))}</td>" for c in columns) + "</tr>"
                   for row in value)
    return (f"<table class='robustness'><caption>{html.escape(key)}</caption><tr>{head}</tr>"
            f"{rows}</table>")


def _robustness(table: dict) -> str:
    metrics = sorted({m for scores in table.values() for m in scores})
    rows = "".join(f"<tr><td>{html.escape(case)}</td>" + "".join(
        f"<td>{_fmt(scores[m]['mean'])} &plusmn; {_fmt(scores[m]['std'])}</td>"
        if m in scores else "<td></td>" for m in metrics) + "</tr>"
        for case, scores in table.items())
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    return (f"<table class='robustness'><caption>robustness (mean &plusmn; std over samples)"
            f"</caption><tr><th>case</th>{head}</tr>{rows}</table>")


def write_report(path: str, report: Report) -> None:
    """Writes ``report.html``."""
    r = report
    title = html.escape(r.title)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{title}</h1>"]
    parts += [f"<p class='warn'>{html.escape(note)}</p>" for note in r.notes]
    parts += _summary(r, _timing(r.records))
    if r.loss_plot:
        parts.append(f"<h2 id='loss'>Loss</h2>{_img(r.loss_plot, 'loss curves')}")
    parts += _image_rows(r)
    for heading, figures in r.sections.items():
        if figures:
            anchor = heading.lower().replace(" ", "-")
            parts.append(f"<h2 id='{html.escape(anchor)}'>{html.escape(heading)}</h2>"
                         f"<div class='strip'>" + "".join(_figure(f) for f in figures) + "</div>")
    parts.append(f"<h2 id='settings'>Settings</h2><pre>{html.escape(r.settings)}</pre>"
                 f"</body></html>")
    atomic_write_bytes(path, "\n".join(parts).encode())
