"""BasinCMA wall time per image: the population's inner loop as one ``vmap``-ed compiled call
against the same JAX code running the members one after another (a batch of one each), for
``--images`` images searched side by side.

    python benchmarks/basincma.py [--size 128] [--channels 8] [--outer 30] [--inner 30]
        [--final 300] [--images 1] [--lpips] [--modes vmap sequential]
        [--out benchmarks/basincma.json]

The generator is a random BigGAN-deep of the released layout at ``--size`` (``channels`` =
channel_width; the full biggan-deep-256 is 256 and 128), the loss pix2latent's masked L1
(+ 10 x spatial LPIPS-alex with a random backbone with ``--lpips``: speed only). The paper's
budget is 30 outer x 30 inner steps then 300 final steps, population 18 for z in R^128. Compile
time is measured separately (a first run of 1 outer step) and excluded. Prints a table and
writes JSON.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import time

import jax
import jax.numpy as jnp

from jaxinv import engine
from jaxinv.engine.basincma import BasinCMASettings, basin_cma, default_population
from jaxinv.generators import biggan
from jaxinv.losses import lpips
from jaxinv.methods import pix2latent
from jaxinv.report.tables import write_json, write_markdown


def bench(args, vectorize: bool) -> dict:
    cfg = biggan.BigGANConfig.small(args.size, args.channels, 128)
    params = biggan.init_params(cfg, jax.random.PRNGKey(0))
    context = {"generator": params}
    if args.lpips:
        context["lpips"] = lpips.random_params("alex", jax.random.PRNGKey(1))
    problem = pix2latent.build(cfg, 1)
    loss_fn = functools.partial(pix2latent.projection_loss, problem, "alex",
                                pix2latent.LPIPS_WEIGHT if args.lpips else 0.0)
    n = args.images
    targets = biggan.generate(cfg, params, jax.random.normal(jax.random.PRNGKey(2), (n, 128)),
                              biggan.one_hot(cfg, [5] * n), 1.0)
    data = {"target": targets, "weight": jnp.ones(targets.shape[:3] + (1,)),
            "t": jnp.tile(jnp.array([[1.0, 0.0, 0.0]]), (n, 1))}
    v0 = problem.init(None, context)
    opt = engine.build_optimizer(v0, problem.learning_rates, args.final)
    objective = engine.Objective(loss_fn, opt, problem.project)
    starts = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (n,) + a.shape), v0)
    run = lambda outer, final: basin_cma(
        objective, starts, "z", data, context, jax.random.split(jax.random.PRNGKey(3), n),
        BasinCMASettings(outer, args.inner, final, vectorize=vectorize))
    t0 = time.time()
    jax.block_until_ready(run(1, args.final).result.losses)
    compile_s = time.time() - t0
    t0 = time.time()
    r = run(args.outer, args.final)
    jax.block_until_ready(r.result.losses)
    seconds = time.time() - t0
    return {"mode": "vmap" if vectorize else "sequential", "size": args.size,
            "channel_width": args.channels, "population": default_population(128),
            "outer": args.outer, "inner": args.inner, "final": args.final,
            "images": n, "lpips": args.lpips, "evaluations": r.evaluations,
            "first_run_s": round(compile_s, 2), "seconds_per_image": round(seconds / n, 2),
            "evaluations_per_s": round(n * r.evaluations / seconds, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--outer", type=int, default=30)
    parser.add_argument("--inner", type=int, default=30)
    parser.add_argument("--final", type=int, default=300)
    parser.add_argument("--images", type=int, default=1,
                        help="images searched side by side (one CMA each, vmapped)")
    parser.add_argument("--lpips", action="store_true")
    parser.add_argument("--modes", nargs="+", default=["vmap", "sequential"],
                        choices=["vmap", "sequential"])
    parser.add_argument("--out", default="benchmarks/basincma.json")
    args = parser.parse_args(argv)
    rows = [bench(args, mode == "vmap") for mode in args.modes]
    seconds = {r["mode"]: r["seconds_per_image"] for r in rows}
    ratio = (seconds["sequential"] / seconds["vmap"] if len(seconds) == 2 else None)
    device = jax.devices()[0]
    write_json(os.path.abspath(args.out), {
        "device": f"{device.platform}: {device.device_kind}", "machine": platform.machine(),
        "jax": jax.__version__, "rows": rows,
        "sequential_over_vmap": None if ratio is None else round(ratio, 2)})
    header = ["mode", "evaluations", "first run s", "s / image", "evaluations / s"]
    print(write_markdown(os.path.splitext(os.path.abspath(args.out))[0] + ".md", header, [
        [r["mode"], r["evaluations"], r["first_run_s"], r["seconds_per_image"],
         r["evaluations_per_s"]] for r in rows]))
    if ratio is not None:
        print(f"sequential / vmap wall time: {ratio:.2f}x ({device.platform})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
