"""A self-contained HTML report of a run (links to images next to it)."""

from __future__ import annotations

import html

from jaxinv.io.images import atomic_write_bytes

_STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#eee}.warn{background:#fff3cd;padding:1em;border:1px solid #e0c060}
img{image-rendering:pixelated;max-width:100%}.fail{color:#b00}"""


def _fmt(v):
    if v is None:
        return "&ndash;"
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape(str(v))


def write_report(path: str, title: str, notes: list[str], summary: dict, records: list[dict],
                 config_text: str, loss_plot: str | None) -> None:
    """Writes ``report.html``: notes (warnings first), summary, loss plot, per-image grids and
    metrics, and the config."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for note in notes:
        parts.append(f"<p class='warn'>{html.escape(note)}</p>")
    if summary:
        parts.append("<h2>Summary</h2><table><tr><th>metric</th><th>mean</th><th>median</th>"
                     "<th>q1</th><th>q3</th><th>n</th></tr>")
        for k, s in summary.items():
            parts.append(f"<tr><td>{k}</td>" + "".join(
                f"<td>{_fmt(s[c])}</td>" for c in ("mean", "median", "q1", "q3", "n")) + "</tr>")
        parts.append("</table>")
    if loss_plot:
        parts.append(f"<h2>Loss</h2><img src='{html.escape(loss_plot)}' alt='loss curves'>")
    parts.append("<h2>Images</h2><p>target | degraded input | reconstruction | error</p>")
    keys = ["psnr", "ssim", "lpips", "latent_error", "loss", "steps", "seconds"]
    for r in records:
        name = html.escape(str(r["image"]))
        if r.get("status") != "ok":
            parts.append(f"<h3>{name}</h3><p class='fail'>{html.escape(str(r.get('error')))}</p>")
            continue
        cells = " ".join(f"{k}={_fmt(r.get(k))}" for k in keys if k in r)
        parts.append(f"<h3>{name}</h3><p>{cells}</p><img src='{html.escape(r['grid'])}' "
                     f"alt='{name}'>")
    parts.append(f"<h2>Config</h2><pre>{html.escape(config_text)}</pre></body></html>")
    atomic_write_bytes(path, "\n".join(parts).encode())


