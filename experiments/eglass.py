"""e-GLASS against the PULSE-style baseline with the paper's protocol, as a table from a run of
``configs/eglass.py``: per image, how many feasible solutions each finds, how different they
look (mean pairwise LPIPS, the first solution included) and how long each takes to give 10
feasible solutions (compilation excluded; :func:`jaxinv.methods.eglass.time_to_feasible`).

    python -m jaxinv.experiments.invert --config=configs/eglass.py[:problem] \\
        --config.output_dir=runs/eglass_experiment [--config.checkpoint=... any override]
    python experiments/eglass.py runs/eglass_experiment

The run takes any checkpoint, inputs and settings through the runner's own overrides; this
script reads its ``metrics.json`` and writes ``table.md`` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jaxinv.methods.eglass import time_to_feasible  # noqa: E402
from jaxinv.report.tables import write_markdown  # noqa: E402

WANTED = 10


def _seconds(v):
    return "-" if v is None else f"{v:.1f}"


def table(records: list[dict]) -> tuple[list[str], list[list]]:
    """The experiment's Markdown table: one row per image and a geometric-mean row."""
    header = ["image", "first error", "e-GLASS feasible", "e-GLASS LPIPS diversity",
              f"e-GLASS s to {WANTED}", "baseline feasible", "baseline LPIPS diversity",
              f"baseline s to {WANTED}", "baseline / e-GLASS time"]
    rows, ratios = [], []
    for r in records:
        if r.get("status") != "ok":
            rows.append([r["image"], r.get("error", r.get("status"))] + [""] * 7)
            continue
        t = time_to_feasible(r, WANTED)
        ratio = t["baseline"] / t["eglass"] if None not in t.values() else None
        ratios += [ratio] if ratio is not None else []
        rows.append([r["image"], f"{r['first_measurement_error']:.2e}",
                     f"{r['feasible']}/{r['solutions_tried']}", f"{r['diversity_lpips']:.3f}",
                     _seconds(t["eglass"]),
                     f"{r.get('baseline_feasible', 0)}/{r.get('baseline_tried', 0)}",
                     f"{r.get('baseline_diversity_lpips', 0.0):.3f}", _seconds(t["baseline"]),
                     "-" if ratio is None else f"{ratio:.1f}x"])
    if ratios:
        rows.append(["geometric mean", "", "", "", "", "", "", "",
                     f"{float(np.exp(np.mean(np.log(ratios)))):.1f}x"])
    return header, rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the output_dir of an e-GLASS run")
    args = parser.parse_args(argv)
    path = os.path.join(args.run, "metrics.json")
    try:
        with open(path) as f:
            records = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        print(f"error: {path}: {e}", file=sys.stderr)
        return 2
    if not any("solutions" in r for r in records):
        print(f"error: {path}: no e-GLASS rows (run configs/eglass.py)", file=sys.stderr)
        return 2
    header, rows = table(records)
    print(write_markdown(os.path.join(args.run, "table.md"), header, rows))
    return 0 if all(r.get("status") == "ok" for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
