"""Inversion steps per second for every generator family, at its papers' resolution and at a
small one: random weights in the released layouts, each family's inversion method as the
runner builds it (:func:`jaxinv.inversion.build_solver`), MSE alone and MSE + LPIPS-VGG (random
backbone: speed only). One step = forward, backward and optimiser update for the whole batch
through ``engine.run_chunk``: all steps in one compiled ``lax.scan`` (mode ``scan``) or one
compiled step per call (mode ``step``).

    python benchmarks/inversion_step.py [--families stylegan2 pggan biggan dcgan]
        [--sizes small paper | PX ...] [--batches 1 8 32] [--losses mse mse+lpips]
        [--steps 5] [--modes scan step] [--out benchmarks/inversion_step.json]

Prints a table and writes JSON (device, versions, and per row: compile seconds apart from the
steady state, steps/s, images/s, and the compiled program's memory in MB: arguments, outputs
and temporaries).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import os
import platform
import time
from typing import Callable

import jax
import jax.numpy as jnp

from compiled_costs import compile_with_costs
from jaxinv import engine, inversion
from jaxinv.generators import base as generators, biggan, dcgan, pggan, stylegan2
from jaxinv.losses import lpips
from jaxinv.methods import Job
from jaxinv.methods.problem import LossWeights
from jaxinv.report.tables import write_json


@dataclasses.dataclass(frozen=True)
class Setup:
    """How a family is inverted here: ``method`` and its ``settings``, the architecture at a
    resolution (``config(px)``), the papers' resolutions and a small one."""

    method: str
    settings: dict
    config: Callable
    paper: tuple
    small: int


SETUPS = {
    # SPHInX, the overparameterised StyleGAN and the W+ baselines: FFHQ 256 and 1024 px
    "stylegan2": Setup("stylegan2", {"space": "w+"}, stylegan2.StyleGAN2Config.rosinality,
                       (256, 1024), 64),
    # mGANprior / PmSFC: PGGAN CelebA-HQ at 1024 px (a single code here: the z method)
    "pggan": Setup("z", {}, pggan.PGGANConfig.genforce, (1024,), 64),
    # pix2latent: BigGAN-deep 256 (its gradient stage: z and the class embedding)
    "biggan": Setup("pix2latent", {"search": "adam"},
                    lambda px: biggan.BigGANConfig.deep(px, 128 if px == 256 else 16),
                    (256,), 128),
    # e-GLASS and the default job: the DCGAN tutorial's 64 px generator
    "dcgan": Setup("z", {}, dcgan.DCGANConfig.tutorial, (64,), 32),
}


def bench(family: str, size: int, batch: int, loss: str, steps: int, mode: str = "scan") -> dict:
    setup = SETUPS[family]
    fam = generators.get(family)
    cfg = setup.config(size)
    gen = generators.Generator(fam, cfg, jax.jit(fam.init_params, static_argnums=0)(
        cfg, jax.random.PRNGKey(0)))
    weights, net = LossWeights(mse=1.0), None
    if loss == "mse+lpips":
        weights = LossWeights(mse=1.0, lpips=1.0, lpips_net="vgg")
        net = ("vgg", lpips.random_params("vgg", jax.random.PRNGKey(1)))
    job = Job(steps=steps, learning_rates={"latent": {"lr": 0.01}}, loss=weights, devices=1)
    solver = inversion.build_solver(gen, setup.method, setup.settings, job,
                                    inversion.degradation("identity", size), lpips=net)
    indices = list(range(batch))
    keys = inversion.image_keys(solver, indices)
    targets = jax.random.uniform(jax.random.PRNGKey(3), (batch, size, size, 3), minval=-1,
                                 maxval=1)
    data = inversion.batch_data(solver, targets, {}, indices)
    state = engine.loop.init_state(solver.objective.optimizer, engine.init_batch(
        solver.method.problem.init, keys, solver.context))
    per_call = steps if mode == "scan" else 1
    run = functools.partial(engine.loop.run_chunk, objective=solver.objective,
                            num_steps=per_call)
    compiled, costs = compile_with_costs(jax.jit(run, donate_argnums=0), state, data,
                                         solver.context, keys, jnp.int32(0))
    t0 = time.perf_counter()
    for start in range(0, steps, per_call):
        state, losses, _ = compiled(state, data, solver.context, keys, jnp.int32(start))
    jax.block_until_ready(losses)
    seconds = time.perf_counter() - t0
    return {"family": family, "method": setup.method, "size": size, "batch": batch,
            "loss": loss, "steps": steps, "mode": mode,
            "compile_s": round(costs["compile_s"], 2), "seconds": round(seconds, 3),
            "jax_mb": costs["jax_mb"], "steps_per_s": round(steps / seconds, 4),
            "images_per_s": round(steps * batch / seconds, 4)}


def _sizes(family: str, wanted: list[str]) -> list[int]:
    setup, out = SETUPS[family], []
    for w in wanted:
        out += {"small": [setup.small], "paper": list(setup.paper)}.get(w) or [int(w)]
    return list(dict.fromkeys(out))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--sizes", nargs="+", default=["small", "paper"],
                        help="'small', 'paper' (each family's own) or resolutions in px")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--losses", nargs="+", default=["mse", "mse+lpips"],
                        choices=["mse", "mse+lpips"])
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
    print(f"{'family':>9} {'method':>10} {'size':>5} {'batch':>5} {'loss':>10} {'mode':>5} "
          f"{'compile s':>10} {'steps/s':>9} {'images/s':>9} {'MB':>8}", flush=True)
    for family in args.families:
        for size, batch, loss, mode in itertools.product(
                _sizes(family, args.sizes), args.batches, args.losses, args.modes):
            r = bench(family, size, batch, loss, args.steps, mode)
            rows.append(r)
            print(f"{family:>9} {r['method']:>10} {size:>5} {batch:>5} {loss:>10} {mode:>5} "
                  f"{r['compile_s']:>10.1f} {r['steps_per_s']:>9.3f} "
                  f"{r['images_per_s']:>9.3f} {r['jax_mb'] or 0:>8.0f}", flush=True)
            write_json(args.out, {"meta": meta, "results": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
