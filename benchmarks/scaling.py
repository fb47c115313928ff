"""Images per second with a batch split over 1, 2, 4, ... devices (``jaxinv.engine.sharding``),
as efficiency against linear scaling.

    python benchmarks/scaling.py [--simulate 8] [--size 32] [--batch 8] [--steps 20]
        [--out benchmarks/scaling_<backend>.json]

The workload is StyleGAN2 W+ inversion with random weights (MSE, Adam) through
``jaxinv.invert``, the same images and keys for every device count. ``--simulate N`` gives the
CPU N devices (``--xla_force_host_platform_device_count``; they share the machine's cores, so
this measures the overhead of splitting, not a speed-up); on a machine with several GPUs or TPU
cores leave it out. Compile time is excluded (one untimed run per device count first). Prints a
table and writes JSON.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulate", type=int, default=0)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.simulate:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform"
                                   f"_device_count={args.simulate}")
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import jax

    import jaxinv
    from jaxinv.report.tables import write_json, write_markdown

    gen = jaxinv.load_generator("stylegan2", size=args.size, latent_dim=64, channels=32,
                                n_mlp=2)
    images = gen.family.random_images(gen.cfg, gen.params, jax.random.PRNGKey(1), args.batch)
    counts = [n for n in (1, 2, 4, 8, 16, 32, 64)
              if n <= jax.local_device_count() and args.batch % n == 0]
    rows, base = [], None
    for n in counts:
        job = jaxinv.Job(steps=args.steps, chunk=args.steps, devices=n,
                         learning_rates={"latent": {"lr": 0.05}})
        jaxinv.invert(gen, images, "stylegan2", {"space": "w+"}, job=job)  # compiles
        t0 = time.perf_counter()
        out = jaxinv.invert(gen, images, "stylegan2", {"space": "w+"}, job=job)
        seconds = time.perf_counter() - t0
        rate = args.batch * args.steps / seconds
        base = base or rate
        rows.append({"devices": n, "seconds": seconds, "image_steps_per_s": rate,
                     "efficiency": rate / (base * n),
                     "final_loss": float(out.losses[:, -1].mean())})
        print(f"{n:>3} devices  {rate:9.2f} image-steps/s  efficiency {rows[-1]['efficiency']:.2f}",
              flush=True)
    backend = jax.default_backend()
    path = os.path.abspath(args.out or os.path.join(os.path.dirname(__file__),
                                                    f"scaling_{backend}.json"))
    write_json(path, {"backend": backend, "device": jax.devices()[0].device_kind,
                      "simulated": args.simulate, "cpu_count": os.cpu_count(),
                      "jax": jax.__version__, "size": args.size, "batch": args.batch,
                      "steps": args.steps, "rows": rows})
    print(write_markdown(os.path.splitext(path)[0] + ".md",
                         ["devices", "image-steps / s", "efficiency vs linear", "final loss"],
                         [[r["devices"], f"{r['image_steps_per_s']:.2f}",
                           f"{r['efficiency']:.2f}", f"{r['final_loss']:.6g}"] for r in rows]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
