"""The SPHInX paper's out-of-distribution protocol: SPHInX against W+, (W+, S, B) and (Z+, S, B)
on geometric shifts of aligned faces; PSNR and LPIPS, median and quartiles per method and shift.

    python experiments/sphinx_ood.py --checkpoint ckpt/ffhq1024 --lpips ckpt/lpips_vgg \
        --input ../shared/data/faces --steps 5000 --out runs/sphinx_ood

Without ``--checkpoint`` it uses the built-in random StyleGAN2 (``--size``, default 32) and runs
on a CPU in minutes with the defaults (2 images, 100 steps): a check of the machinery, not of
the paper's numbers. Every run goes through ``jaxinv.experiments.invert`` (resumable); the
table is written as ``table.md`` and ``table.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys

from jaxinv.experiments import invert
from jaxinv.experiments.config_base import baseline_config, sphinx_config
from jaxinv.report.tables import quartiles_cell, summarize, write_json, write_markdown

SHIFTS = ([("rotate", v) for v in (10.0, 20.0, 30.0)]
          + [("scale", v) for v in (0.75, 0.875, 1.125, 1.25)]
          + [("translate_px", v) for v in (0.0, 50.0, 100.0, 150.0)])

METHODS = {
    "sphinx": lambda preset: sphinx_config(preset),
    "wplus": lambda preset: baseline_config("wplus", "w+", 5000, 0.01, "constant"),
    "wplus_s_b": lambda preset: baseline_config("wplus_s_b", "w+", 5000, 0.01, "constant",
                                                noise_lr=0.05, const_lr=0.01),
    "zplus_s_b": lambda preset: baseline_config("zplus_s_b", "z+", 5000, 0.01, "constant",
                                                noise_lr=0.05, const_lr=0.01),
}


def _config(method, shift, args):
    c = METHODS[method](args.preset)
    kind, value = shift
    c.target_transform[kind] = value
    c.output_dir = os.path.join(os.path.abspath(args.out), method, f"{kind}_{value:g}")
    c.steps = args.steps
    c.batch_size = args.batch_size
    c.progress = False
    c.report.robustness = False
    c.loss.mse, c.loss.lpips = 1.0, 1.5 if args.lpips else 0.0
    c.lpips.path = args.lpips or ""
    if args.checkpoint:
        c.checkpoint = args.checkpoint
    else:
        c.builtin.size, c.builtin.channels, c.builtin.style_dim = args.size, 32, 64
        c.builtin.n_mlp = 2
    if args.input:
        c.input = args.input
    c.num_targets = args.num_images
    return c


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="", help="converted StyleGAN2 directory")
    parser.add_argument("--lpips", default="", help="converted LPIPS-VGG directory")
    parser.add_argument("--input", default="", help="aligned faces: file, folder or glob")
    parser.add_argument("--num-images", type=int, default=2,
                        help="generated targets when --input is empty")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--preset", default="official", choices=["official", "paper"])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--size", type=int, default=32, help="built-in generator resolution")
    parser.add_argument("--out", default="runs/sphinx_ood")
    args = parser.parse_args(argv)
    table = []
    for shift in SHIFTS:
        for method in args.methods:
            records = invert.run(_config(method, shift, args))
            stats = summarize(records)
            table.append({"shift": f"{shift[0]}={shift[1]:g}", "method": method,
                          "psnr": stats.get("psnr"), "lpips": stats.get("lpips"),
                          "failed": sum(r["status"] != "ok" for r in records)})
            print(f"{table[-1]['shift']:>18} {method:>10} psnr {table[-1]['psnr']}", flush=True)
    out = os.path.abspath(args.out)
    write_json(os.path.join(out, "table.json"), {"args": vars(args), "rows": table})
    print(write_markdown(os.path.join(out, "table.md"),
                         ["shift", "method", "PSNR median [q1, q3]", "LPIPS median [q1, q3]"],
                         [[r["shift"], r["method"], quartiles_cell(r["psnr"]),
                           quartiles_cell(r["lpips"])] for r in table]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
