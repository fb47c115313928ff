"""e-GLASS timings: (1) seconds to 10 feasible solutions for e-GLASS and for the PULSE-style
baseline (the inversion re-run from random starts) on the same problem, and their ratio (the
paper: 3.7e3 s against 3.5e4 s on BigGAN super-resolution, about 10x); (2) the Hessian of
LPIPS(G(z), G(z0)) at z0 three ways (``jax.hessian``; Hessian-vector products in chunks;
Lanczos for the top eigenpairs) against the latent size.

    python benchmarks/eglass.py [--problem superresolution] [--targets 2] [--restarts 10]
        [--steps 1000] [--sizes 32 128 512] [--ways dense hvp lanczos] [--chunk 16]
        [--eigenpairs 20] [--parts solutions hessian] [--out benchmarks/eglass.json]

(1) runs ``configs/eglass.py:<problem>`` through the runner (the real face DCGAN; skipped with a
message when gan-face-generate is not installed; compilation excluded;
:func:`jaxinv.methods.eglass.time_to_feasible`). (2) uses random DCGANs of the tutorial's
layout with z of each size and LPIPS-alex (random backbone: the same cost as the real one) at
64 px, and a BigGAN's [z, class embedding] (256-d, 32 px); each way is one compiled program
with the params passed as arguments, timed warm (median of 3), with XLA's temporary memory for
it. Prints tables and writes JSON.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

import jax
import jax.numpy as jnp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from jaxinv import geometry  # noqa: E402
from jaxinv.generators import biggan, dcgan  # noqa: E402
from jaxinv.losses import lpips  # noqa: E402
from jaxinv.report.tables import write_json, write_markdown  # noqa: E402

WANTED = 10


def solutions(args) -> list[dict]:
    from configs.eglass import get_config
    from jaxinv.experiments import invert
    from jaxinv.methods.eglass import time_to_feasible

    c = get_config(args.problem)
    c.num_targets, c.steps, c.progress = args.targets, args.steps, False
    c.method.baseline_restarts = args.restarts
    with tempfile.TemporaryDirectory() as out:
        c.output_dir = out
        records = invert.run(c)
    rows = []
    for r in records:
        t = time_to_feasible(r, WANTED)
        rows.append({"image": r["image"], "feasible": r["feasible"],
                     "tried": r["solutions_tried"], "baseline_feasible": r["baseline_feasible"],
                     "baseline_tried": r["baseline_tried"],
                     "first_s": round(r["first_seconds"], 2),
                     "hessians_s": round(r["hessian_seconds"], 2),
                     "explore_s": round(r["eglass_seconds"] - r["hessian_seconds"], 2),
                     "restarts_s": round(r["baseline_seconds"], 2),
                     "eglass_s_to_10": t["eglass"] and round(t["eglass"], 2),
                     "baseline_s_to_10": t["baseline"] and round(t["baseline"], 2),
                     "ratio": (round(t["baseline"] / t["eglass"], 2)
                               if None not in t.values() else None)})
    return rows


def missing_model(problem: str) -> str | None:
    """Why the problem's packaged model cannot be loaded (its package is not installed), or
    None: on the runner's random fallback e-GLASS finds no directions to move along."""
    from configs.eglass import get_config
    from jaxinv.generators import packaged

    checkpoint = get_config(problem).checkpoint
    if checkpoint.startswith("packaged:"):
        try:
            packaged.path(checkpoint[len("packaged:"):])
        except packaged.NotInstalled as e:
            return str(e)
    return None


def _dcgan_latent(size: int):
    cfg = dcgan.DCGANConfig.tutorial(z_dim=size)
    params = dcgan.init_params(cfg, jax.random.PRNGKey(0))
    render = lambda p, z: dcgan.generate(cfg, p, z[None])[0]
    return f"DCGAN z ({size})", params, render, jax.random.normal(jax.random.PRNGKey(1), (size,))


def _biggan_latent():
    cfg = biggan.BigGANConfig.small(32, 8, 128)
    params = biggan.init_params(cfg, jax.random.PRNGKey(0))
    n = cfg.z_dim

    def render(p, v):
        return biggan.synthesis(cfg, p, v[None, :n], v[None, n:], 1.0)[0]

    embed = params["embeddings"][3]
    z0 = jnp.concatenate([jax.random.normal(jax.random.PRNGKey(1), (n,)), embed])
    return f"BigGAN [z, embedding] ({z0.size})", params, render, z0


def hessian_rows(args) -> list[dict]:
    net_params = lpips.random_params("alex", jax.random.PRNGKey(2))
    latents = [_dcgan_latent(s) for s in args.sizes] + [_biggan_latent()]
    rows = []
    for name, params, render, z0 in latents:
        for way in args.ways:
            @jax.jit
            def eig(p, lp, z, key, render=render, way=way):
                f = geometry.distance_to(
                    lambda v: render(p, v),
                    lambda x, y: lpips.distance("alex", lp, x[None], y[None])[0], z)
                return geometry.eigenpairs(f, z, way, args.chunk, args.eigenpairs, key)

            operands = (params, net_params, z0, jax.random.PRNGKey(3))
            t0 = time.perf_counter()
            compiled = eig.lower(*operands).compile()
            jax.block_until_ready(compiled(*operands))
            first = time.perf_counter() - t0
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                jax.block_until_ready(compiled(*operands))
                times.append(time.perf_counter() - t0)
            memory = compiled.memory_analysis()
            rows.append({"latent": name, "n": int(z0.size), "way": way,
                         "first_run_s": round(first, 2),
                         "seconds": round(statistics.median(times), 3),
                         "temp_mb": None if memory is None else round(
                             memory.temp_size_in_bytes / 2**20, 1)})
            print(rows[-1], flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", default="superresolution")
    parser.add_argument("--targets", type=int, default=2)
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--ways", nargs="+", default=list(geometry.WAYS),
                        choices=geometry.WAYS)
    parser.add_argument("--chunk", type=int, default=16)
    parser.add_argument("--eigenpairs", type=int, default=20)
    parser.add_argument("--parts", nargs="+", default=["solutions", "hessian"],
                        choices=["solutions", "hessian"])
    parser.add_argument("--out", default="benchmarks/eglass.json")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    result = {"device": f"{device.platform}: {device.device_kind}",
              "machine": platform.machine(), "jax": jax.__version__, "settings": vars(args)}
    stem = os.path.splitext(os.path.abspath(args.out))[0]
    missing = missing_model(args.problem) if "solutions" in args.parts else None
    if missing:
        print(f"solutions skipped: {missing}")
        result["solutions_skipped"] = missing
    elif "solutions" in args.parts:
        result["solutions"] = solutions(args)
        print(write_markdown(stem + "_solutions.md", [
            "image", "e-GLASS feasible", "baseline feasible", "first s", "Hessians s",
            "explore s", "restarts s", f"e-GLASS s to {WANTED}", f"baseline s to {WANTED}",
            "baseline / e-GLASS"], [
            [r["image"], f"{r['feasible']}/{r['tried']}",
             f"{r['baseline_feasible']}/{r['baseline_tried']}", r["first_s"], r["hessians_s"],
             r["explore_s"], r["restarts_s"], r["eglass_s_to_10"], r["baseline_s_to_10"],
             r["ratio"]] for r in result["solutions"]]))
    if "hessian" in args.parts:
        result["hessian"] = hessian_rows(args)
        print(write_markdown(stem + "_hessian.md", [
            "latent", "n", "way", "first run s", "s (warm)", "XLA temp MB"], [
            [r["latent"], r["n"], r["way"], r["first_run_s"], r["seconds"], r["temp_mb"]]
            for r in result["hessian"]]))
    write_json(os.path.abspath(args.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
