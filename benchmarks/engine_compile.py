"""Compile time of one engine chunk (``engine.run_chunk``: a ``lax.scan`` of steps with the
non-finite guard) for problems with few and with many variable leaves, with the guard's
finiteness test as the engine does it (one reduction over every leaf, concatenated) and as it
was before (one reduction per leaf, combined with ``&``).

    python benchmarks/engine_compile.py [--steps 20] [--out benchmarks/engine_compile_cpu.json]

Problems: pix2latent's generator fine-tuning on a random BigGAN-deep at 16 px (every weight is a
variable: 112 leaves) and StyleGAN2 W+ with its noise maps at 64 px (10 leaves).
Prints a table and writes JSON. The per-leaf test lets XLA duplicate the ``&`` chain into every
fused ``where`` of the guard, so its compile time grows with the square of the leaf count.
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
from jaxinv.engine import loop
from jaxinv.report.tables import write_json


def _per_leaf_all_finite(*trees):
    leaves = jax.tree_util.tree_leaves(trees)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def fine_tuning_problem(steps: int):
    from jaxinv.generators import biggan
    from jaxinv.methods import pix2latent

    cfg = biggan.BigGANConfig.small(16, 4, 16, num_classes=10)
    params = biggan.init_params(cfg, jax.random.PRNGKey(0))
    problem = pix2latent.build(cfg, 3, learning_rates={"z": {"lr": 0.05}, "embed": {"lr": 0.01}})
    loss_fn = functools.partial(pix2latent.projection_loss, problem, "alex", 0.0)
    context = {"generator": params}
    variables = {**problem.init(None, context), "generator": params}
    target = jnp.zeros((16, 16, 3))
    data = {"target": target, "weight": jnp.ones((16, 16, 1)),
            "t": jnp.asarray((1.0, 0.0, 0.0), jnp.float32)}
    objective = pix2latent._fine_tune_objective(
        loss_fn, None, tuple(sorted(variables)), pix2latent.FineTune(0.0, steps))
    return objective, variables, data, context


def wplus_noise_problem(steps: int):
    from jaxinv import ops
    from jaxinv.generators import stylegan2
    from jaxinv.methods import baselines
    from jaxinv.methods.problem import LossWeights, reconstruction_loss

    cfg = stylegan2.StyleGAN2Config(64, 128, 4, (64,) * 5)
    params = stylegan2.init_params(cfg, jax.random.PRNGKey(0))
    problem = baselines.build(cfg, baselines.Space("w+", optimize_noise=True),
                              {"latent": {"lr": 0.05}, "noise": {"lr": 0.01}}, steps)
    context = {"generator": params}
    variables = problem.init(jax.random.PRNGKey(1), context)
    optimizer = engine.build_optimizer(variables, problem.learning_rates, steps)
    loss_fn = functools.partial(reconstruction_loss, problem, ops.identity(), LossWeights())
    data = {"target": jnp.zeros((64, 64, 3)), "op": {}}
    return engine.Objective(loss_fn, optimizer), variables, data, context


def compile_seconds(problem, steps: int) -> tuple[float, int]:
    objective, variables, data, context = problem
    batch = lambda tree: jax.tree_util.tree_map(lambda a: a[None], tree)
    state = loop.init_state(objective.optimizer, batch(variables))
    t0 = time.perf_counter()
    loop.run_chunk.lower(state, batch(data), context, jax.random.PRNGKey(0)[None], jnp.int32(0),
                         objective=objective, num_steps=steps).compile()
    return time.perf_counter() - t0, len(jax.tree_util.tree_leaves(variables))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__),
                                                      "engine_compile_cpu.json"))
    args = parser.parse_args()
    meta = {"backend": jax.default_backend(), "device": jax.devices()[0].device_kind,
            "cpu_count": os.cpu_count(), "jax": jax.__version__, "machine": platform.machine()}
    current = loop._all_finite
    rows = []
    print(f"{'problem':>22} {'leaves':>6} {'guard':>9} {'compile s':>10}", flush=True)
    for name, make in (("biggan16 fine-tuning", fine_tuning_problem),
                       ("stylegan2-64 w+ noise", wplus_noise_problem)):
        problem = make(args.steps)
        for guard, fn in (("per-leaf", _per_leaf_all_finite), ("one", current)):
            loop._all_finite = fn
            jax.clear_caches()
            try:
                seconds, leaves = compile_seconds(problem, args.steps)
            finally:
                loop._all_finite = current
            rows.append({"problem": name, "leaves": leaves, "guard": guard,
                         "compile_s": round(seconds, 2), "steps": args.steps})
            print(f"{name:>22} {leaves:>6} {guard:>9} {seconds:>10.1f}", flush=True)
            write_json(args.out, {"meta": meta, "results": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
