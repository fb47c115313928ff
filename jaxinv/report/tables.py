"""Per-run metrics as CSV and JSON, written atomically."""

from __future__ import annotations

import csv
import io
import json
import math

from jaxinv.io.images import atomic_write_bytes


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def write_json(path: str, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, default=_clean) + "\n").encode())


def write_metrics(json_path: str, csv_path: str, records: list[dict]) -> None:
    """Writes the run's records (one per image) to ``metrics.json`` and ``metrics.csv``."""
    records = [{k: _clean(v) for k, v in r.items()} for r in records]
    write_json(json_path, records)
    columns = []
    for r in records:
        columns += [k for k in r if k not in columns and not isinstance(r[k], (list, dict))]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for r in records:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    atomic_write_bytes(csv_path, buf.getvalue().encode())


def summarize(records: list[dict], keys=("psnr", "ssim", "lpips", "auc", "latent_error")) -> dict:
    """Mean, median and quartiles of each metric over the finished images: ``keys``, then the
    numeric values methods added (a record's ``values``, e.g. e-GLASS's feasible counts)."""
    import numbers

    import numpy as np

    added = [k for r in records for k in r.get("values", ())
             if isinstance(r.get(k), numbers.Real) and not isinstance(r.get(k), bool)]
    keys = tuple(keys) + tuple(k for k in dict.fromkeys(added) if k not in keys)
    out = {}
    for k in keys:
        vals = [r[k] for r in records if r.get(k) is not None and r.get("status") == "ok"]
        if vals:
            q1, med, q3 = np.percentile(vals, [25, 50, 75])
            out[k] = {"mean": float(np.mean(vals)), "median": float(med), "q1": float(q1),
                      "q3": float(q3), "n": len(vals)}
    return out


def quartiles_cell(stats: dict | None, digits: int = 3) -> str:
    """A table cell ``median [q1, q3]`` of one of :func:`summarize`'s entries ('n/a' for
    None)."""
    if stats is None:
        return "n/a"
    return f"{stats['median']:.{digits}f} [{stats['q1']:.{digits}f}, {stats['q3']:.{digits}f}]"


def write_markdown(path: str, header: list[str], rows: list[list]) -> str:
    """Writes a Markdown table (cells formatted with ``str``) and returns its text."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    atomic_write_bytes(path, text.encode())
    return text
