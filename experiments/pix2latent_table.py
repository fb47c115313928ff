"""The pix2latent paper's Table 1 protocol: every search (Adam, L-BFGS, CMA, CMA then Adam,
BasinCMA), with and without the transform search, over several seeds; per image the average
and the best of the seeds, then the mean over images.

    python experiments/pix2latent_table.py --checkpoint ckpt/biggan_deep256 \
        --lpips ckpt/lpips_alex --input 'objects/*.jpg' --mask 'objects/*-mask.png' \
        --class-index 153 --seeds 5 --out runs/pix2latent_table

Every run goes through ``jaxinv.experiments.invert`` (resumable) with ``configs/pix2latent.py``'s
settings; ``--outer``, ``--inner`` and ``--steps`` shrink the budget. Without ``--checkpoint``
the built-in random BigGAN-deep (``--size``) is used: a check of the machinery only. The table
goes to ``table.md`` and ``table.json``; the score is the final loss (masked L1 + 10 x LPIPS when
``--lpips`` is given), PSNR and LPIPS of the projection in the original frame.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from jaxinv.engine.basincma import default_population
from jaxinv.experiments import invert
from jaxinv.experiments.config_base import pix2latent_config
from jaxinv.report.tables import write_json, write_markdown

SEARCHES = ("adam", "lbfgs", "cma", "cma_adam", "basincma")


def _config(search, transform, seed, args):
    c = pix2latent_config(search)
    c.output_dir = os.path.join(os.path.abspath(args.out), search,
                                "transform" if transform else "plain", f"seed{seed}")
    c.seed, c.progress = seed, False
    c.checkpoint, c.input, c.num_targets = args.checkpoint, args.input, args.num_images
    c.builtin.size = args.size
    c.lpips.path = args.lpips
    if not args.lpips:
        c.loss.lpips = 0.0
    c.method.update(dict(class_index=args.class_index, mask=args.mask,
                         transform="mask_box" if transform and args.mask else "none",
                         transform_search=transform))
    for key in ("outer", "inner"):
        if getattr(args, key):
            c.method[f"{key}_steps"] = getattr(args, key)
    if transform and args.outer:
        c.method.transform_steps = args.outer
    if args.steps:
        c.steps = args.steps
        if search in ("adam", "lbfgs"):  # the same number of generator evaluations
            pop = c.method.population or default_population(128)  # z in R^128
            c.steps = args.steps + (c.method.outer_steps * pop * (c.method.inner_steps + 1))
    return c


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="", help="converted BigGAN-deep directory")
    parser.add_argument("--lpips", default="", help="converted LPIPS-alex directory")
    parser.add_argument("--input", default="", help="images; '' = generated targets")
    parser.add_argument("--mask", default="", help="object masks (file, folder or glob)")
    parser.add_argument("--class-index", type=int, default=0)
    parser.add_argument("--num-images", type=int, default=2)
    parser.add_argument("--searches", nargs="+", default=list(SEARCHES), choices=SEARCHES)
    parser.add_argument("--transform", nargs="+", type=int, default=[0, 1], choices=[0, 1])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--outer", type=int, default=0, help="0 = the config's")
    parser.add_argument("--inner", type=int, default=0, help="0 = the config's")
    parser.add_argument("--steps", type=int, default=0, help="0 = the config's")
    parser.add_argument("--size", type=int, default=32, help="built-in generator resolution")
    parser.add_argument("--out", default="runs/pix2latent_table")
    args = parser.parse_args(argv)
    rows = []
    for search in args.searches:
        for transform in args.transform:
            per_seed = []
            for seed in range(args.seeds):
                try:
                    records = invert.run(_config(search, bool(transform), seed, args))
                except invert.ConfigError as e:
                    print(f"error: {e}", file=sys.stderr)
                    return 2
                per_seed.append({r["image"]: r for r in records if r["status"] == "ok"})
            images = sorted(set.intersection(*[set(s) for s in per_seed]))
            row = {"search": search, "transform": bool(transform), "images": len(images)}
            for metric, better in (("loss", np.argmin), ("psnr", np.argmax), ("lpips", np.argmin)):
                values = np.array([[s[i][metric] if s[i].get(metric) is not None else np.nan
                                    for s in per_seed] for i in images], np.float64)
                if values.size and not np.isnan(values).all():
                    best = values[np.arange(len(images)), better(values, axis=1)]
                    row[metric] = {"average": float(np.mean(values)),
                                   "best": float(np.mean(best))}
            rows.append(row)
            print(row, flush=True)
    out = os.path.abspath(args.out)
    write_json(os.path.join(out, "table.json"), {"args": vars(args), "rows": rows})
    cell = lambda r, k, w: f"{r[k][w]:.4f}" if k in r else "n/a"
    header = ["search", "transform", "images"] + [f"{k} {w}" for k in ("loss", "psnr", "lpips")
                                                  for w in ("average", "best")]
    print(write_markdown(os.path.join(out, "table.md"), header, [
        [r["search"], "yes" if r["transform"] else "no", r["images"]]
        + [cell(r, k, w) for k in ("loss", "psnr", "lpips") for w in ("average", "best")]
        for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
