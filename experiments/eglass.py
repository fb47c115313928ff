"""e-GLASS against the PULSE-style baseline with the paper's protocol: per image, how many
feasible solutions each finds, how different they look (mean pairwise LPIPS, the first
solution included) and how long each takes to give 10 feasible solutions (compilation
excluded; :func:`jaxinv.methods.eglass.time_to_feasible`).

    python experiments/eglass.py [--problem superresolution] [--targets 4] [--restarts 10]
        [--checkpoint packaged:dcgan_digiface64] [--out runs/eglass_experiment]
        [--set key=value ...]

It runs ``configs/eglass.py:<problem>`` through the runner (any checkpoint; ``--set`` takes
further config overrides, e.g. ``--set steps=500``), then writes the table to ``table.md``
under ``--out``.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from configs.eglass import PROBLEMS, get_config  # noqa: E402
from jaxinv.experiments import invert  # noqa: E402
from jaxinv.methods.eglass import time_to_feasible  # noqa: E402
from jaxinv.report.tables import write_markdown  # noqa: E402

WANTED = 10


def _apply(config, assignment: str) -> None:
    key, _, text = assignment.partition("=")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    *path, last = key.split(".")
    target = config
    for part in path:
        target = target[part]
    target[last] = value


def _seconds(v):
    return "-" if v is None else f"{v:.1f}"


def table(records: list[dict]) -> tuple[list[str], list[list]]:
    """The experiment's Markdown table: one row per image and a mean row."""
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
    parser.add_argument("--problem", default="superresolution", choices=PROBLEMS)
    parser.add_argument("--targets", type=int, default=4)
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--out", default="runs/eglass_experiment")
    parser.add_argument("--set", nargs="*", default=[], dest="overrides")
    args = parser.parse_args(argv)
    c = get_config(args.problem)
    c.output_dir = os.path.abspath(args.out)
    c.num_targets = args.targets
    c.method.baseline_restarts = args.restarts
    c.progress = False
    if args.checkpoint is not None:
        c.checkpoint = args.checkpoint
    for assignment in args.overrides:
        _apply(c, assignment)
    records = invert.run(c)
    header, rows = table(records)
    print(write_markdown(os.path.join(c.output_dir, "table.md"), header, rows))
    return 0 if all(r.get("status") == "ok" for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
