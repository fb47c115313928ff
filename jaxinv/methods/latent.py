"""Z inversion of an unconditional generator whose image is a function of one z (DCGAN, PGGAN):
find z with G(z) close to the target, by Adam (or ``config.optimizer``, e.g. L-BFGS) from one
start, or by BasinCMA (pix2latent's search: CMA-ES over z outside, a few Adam steps on every
member inside, then Adam from the best; here without a class or a transform, so it applies to
any such family), or by pix2latent's CMA baselines: plain CMA-ES, and CMA-ES then Adam.

Variables for one image: ``z`` [z_dim]. The image is the family's split run from layer 0
(``from_features(features(z, 0), 0)``), so no family is named here. Roles: ``latent`` -> z
(default lr 0.05).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.engine import regularizers
from jaxinv.methods.base import Job, Method, MethodSpec, SettingsError
from jaxinv.methods.problem import Problem

SEARCHES = ("adam", "basincma", "cma", "cma_adam")
STARTS = ("zero", "random")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The ``z`` method's settings (``config.method``).

    search: 'adam' (``config.steps`` steps of ``config.optimizer`` from the start), 'basincma'
    (``outer_steps`` CMA generations of ``population`` members (0 = pycma's 4 + 3 ln d), each
    refined by ``inner_steps`` Adam steps, CMA's initial step ``sigma``; then ``config.steps``
    Adam steps from the best member), 'cma' (the CMA generations alone, no gradient) or
    'cma_adam' (the CMA generations, then ``config.steps`` Adam steps from the best).
    start: 'random' (a draw from N(0, I) per image) or 'zero' (the
    mean; a stationary point of a ReLU generator whose first block has no bias, as a random
    DCGAN's).
    clamp: > 0 projects z onto [-clamp, clamp] after every step (pix2latent clamps to 2).
    """

    search: str = "adam"
    start: str = "random"
    clamp: float = 0.0
    outer_steps: int = 10
    inner_steps: int = 10
    population: int = 0
    sigma: float = 1.0


def _init(settings: Settings, z_dim: int, key, context):
    if settings.start == "zero":
        return {"z": jnp.zeros((z_dim,))}
    return {"z": jax.random.normal(key, (z_dim,))}


def _render(split, cfg, variables, context, key, step):
    params = context["generator"]
    return split.from_features(cfg, params, split.features(cfg, params, variables["z"][None], 0),
                               0)


def _project(clamp: float, variables, context, step):
    return dict(variables, z=regularizers.clamp(variables["z"], -clamp, clamp))


def build(generator, settings: Settings, rate: dict) -> Problem:
    """The Z-inversion problem on ``generator`` (a family with a feature split) with the
    learning-rate spec ``rate`` for z."""
    split, cfg = generator.family.split, generator.cfg
    return Problem(
        init=functools.partial(_init, settings, generator.family.latent_dim(cfg)),
        render=functools.partial(_render, split, cfg),
        penalty=lambda variables, context, key, step: (0.0, {}),
        project=functools.partial(_project, settings.clamp) if settings.clamp else None,
        latents=lambda variables, context: {"z": variables["z"]},
        learning_rates={"z": rate})


def _basin_settings(settings: Settings, steps: int, chunk: int):
    from jaxinv.engine.basincma import BasinCMASettings

    inner = settings.inner_steps if settings.search == "basincma" else 0
    final = 0 if settings.search == "cma" else steps
    return BasinCMASettings(settings.outer_steps, inner, final, settings.population,
                            settings.sigma, chunk)


def basin_search(settings: Settings, steps: int, chunk: int, objective, variables, data,
                 context, keys, callback=None):
    """BasinCMA (or plain CMA, CMA then Adam) for the images of the batch, side by side. Loss
    curve: CMA's best loss per generation, then the final Adam steps."""
    from jaxinv.engine.basincma import basin_cma

    r = basin_cma(objective, variables, "z", data, context, keys,
                  _basin_settings(settings, steps, chunk), callback)
    return r.result._replace(losses=np.concatenate([r.best_fitness, r.result.losses], axis=1))


def _build_method(generator, settings: Settings, job: Job) -> Method:
    if generator.family.split is None:
        raise SettingsError(f"method 'z' renders through a family's feature split; "
                            f"{generator.family.name} has none")
    if settings.search not in SEARCHES:
        raise SettingsError(f"method.search: {settings.search!r}; choose one of {SEARCHES}")
    if settings.start not in STARTS:
        raise SettingsError(f"method.start: {settings.start!r}; choose one of {STARTS}")
    problem = build(generator, settings, job.rate("latent", 0.05))
    if settings.search == "adam":
        return Method(problem=problem)
    units = _basin_settings(settings, job.steps, job.chunk).units
    return Method(problem=problem,
                  search=functools.partial(basin_search, settings, job.steps, job.chunk),
                  work=lambda batch: (units, "generations and steps"))


METHOD = MethodSpec("z", Settings, _build_method, families=("dcgan", "pggan"),
                    summary="Z inversion by Adam or BasinCMA for unconditional generators")
