"""Inversion steps per second: StyleGAN2 W+ (random weights, rosinality channel layout,
style_dim 512, 8-layer mapping), MSE and MSE + LPIPS-VGG (random backbone: speed only), for
several resolutions and batch sizes. One step = forward, backward and Adam update for the whole
batch through ``engine.run_chunk``: all steps in one compiled ``lax.scan`` (mode ``scan``) or
one compiled step per call (mode ``step``).

    python benchmarks/inversion_step.py [--sizes 256 1024] [--batches 1 8] [--steps 5]
        [--modes scan step] [--out benchmarks/inversion_step.json]

Prints a table and writes JSON (device, versions, compile seconds, steps/s, images/s, and the
compiled program's memory in MB: arguments, outputs and temporaries).
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import platform
import time

import jax
import jax.numpy as jnp

from compiled_costs import compile_with_costs
from jaxinv import engine, ops
from jaxinv.generators import stylegan2 as sg
from jaxinv.losses import lpips
from jaxinv.methods import baselines
from jaxinv.methods.problem import LossWeights, reconstruction_loss
from jaxinv.report.tables import write_json


def bench(size: int, batch: int, loss: str, steps: int, mode: str = "scan") -> dict:
    cfg = sg.StyleGAN2Config.rosinality(size)
    params = sg.init_params(cfg, jax.random.PRNGKey(0), w_avg_samples=256)
    context = {"generator": params}
    weights = LossWeights(mse=1.0)
    if loss == "mse+lpips":
        context["lpips"] = lpips.random_params("vgg", jax.random.PRNGKey(1))
        weights = LossWeights(mse=1.0, lpips=1.0, lpips_net="vgg")
    problem = baselines.build(cfg, baselines.Space("w+"), {"latent": {"lr": 0.01}}, steps)
    keys = jax.random.split(jax.random.PRNGKey(2), batch)
    variables = jax.vmap(lambda k: problem.init(k, context))(keys)
    targets = jax.random.uniform(jax.random.PRNGKey(3), (batch, size, size, 3), minval=-1,
                                 maxval=1)
    optimizer = engine.build_optimizer({"latent": 0}, problem.learning_rates, steps)
    loss_fn = functools.partial(reconstruction_loss, problem, ops.identity(), weights)
    state = engine.loop.init_state(optimizer, variables)
    data = {"target": targets, "op": {}}
    per_call = steps if mode == "scan" else 1
    run = functools.partial(engine.loop.run_chunk,
                            objective=engine.Objective(loss_fn, optimizer), num_steps=per_call)
    compiled, costs = compile_with_costs(jax.jit(run), state, data, context, keys,
                                         jnp.int32(0))
    t0 = time.perf_counter()
    for start in range(0, steps, per_call):
        state, losses, _ = compiled(state, data, context, keys, jnp.int32(start))
    jax.block_until_ready(losses)
    seconds = time.perf_counter() - t0
    return {"size": size, "batch": batch, "loss": loss, "steps": steps, "mode": mode,
            "compile_s": round(costs["compile_s"], 2), "seconds": round(seconds, 3),
            "jax_mb": costs["jax_mb"],
            "steps_per_s": round(steps / seconds, 4),
            "images_per_s": round(steps * batch / seconds, 4)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--losses", nargs="+", default=["mse", "mse+lpips"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--modes", nargs="+", default=["scan"], choices=["scan", "step"],
                        help="scan: all steps in one compiled call; step: one call per step "
                             "(what engine.optimize does on backends in engine.loop.STEP_MODES)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "inversion_step.json"))
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    meta = {"backend": jax.default_backend(), "device": device.device_kind,
            "cpu_count": os.cpu_count(), "jax": jax.__version__,
            "machine": platform.machine()}
    rows = []
    print(f"{'size':>5} {'batch':>5} {'loss':>10} {'mode':>5} {'compile s':>10} {'steps/s':>9} "
          f"{'images/s':>9} {'MB':>8}", flush=True)
    for size in args.sizes:
        for batch in args.batches:
            for loss, mode in itertools.product(args.losses, args.modes):
                r = bench(size, batch, loss, args.steps, mode)
                rows.append(r)
                print(f"{size:>5} {batch:>5} {loss:>10} {mode:>5} {r['compile_s']:>10.1f} "
                      f"{r['steps_per_s']:>9.3f} {r['images_per_s']:>9.3f} "
                      f"{r['jax_mb'] or 0:>8.0f}", flush=True)
                write_json(args.out, {"meta": meta, "results": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
