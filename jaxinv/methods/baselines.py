"""StyleGAN2 inversion baselines, one latent-space description each.

========================  =====================================================================
space / flags             method
========================  =====================================================================
``w``, noise, ramp        StyleGAN2 projector (Karras et al. 2020): one w, noise maps optimised
                          with the noise regulariser (weight 1e5) and re-normalised every step,
                          lr ramp, Gaussian noise on w ramped down over the first 75% of steps
``w+``                    Image2StyleGAN (Abdal et al. 2019): one w per layer, fixed noise
``w+``, noise             Image2StyleGAN++ (Abdal et al. 2020): W+ and the noise maps
``w+``, noise, const      (W+, S, B): W+, the constant input S and the noise maps B
``z`` / ``z+``            one z (or one per layer) through the mapping network
========================  =====================================================================

Variables for one image: ``latent`` ([D] for w/z, [n_latent, D] for w+/z+), and optionally
``noise`` (list of [H_k, W_k, 1]) and ``const`` ([4, 4, C]). ``context['generator']`` holds the
StyleGAN2 params and ``context['w_std']`` the spread of W (for the projector's latent noise).
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp

from jaxinv.engine import regularizers
from jaxinv.generators import stylegan2
from jaxinv.methods.base import Job, Method, MethodSpec
from jaxinv.methods.problem import Problem

SPACES = ("w", "w+", "z", "z+")


@dataclasses.dataclass(frozen=True)
class Space:
    """The ``stylegan2`` method's settings (``config.method``): which latent space and which
    extra variables are optimised, with the projector's regularisers (hashable)."""

    space: str = "w+"
    optimize_noise: bool = False
    optimize_const: bool = False
    noise_regularize: float = 0.0      # weight of the projector's noise regulariser
    normalize_noise: bool = False      # re-standardise noise maps after every step
    latent_noise: float = 0.0          # projector: initial std of noise on w, times w_std
    latent_noise_ramp: float = 0.75    # fraction of steps over which it decays (quadratically)
    truncation_weight: float = 0.0     # penalty ||w - w_avg||^2
    clamp: float = 0.0                 # if > 0, project the latent onto [-clamp, clamp]


def ws_of(cfg: stylegan2.StyleGAN2Config, spec: Space, latent, params):
    """W+ [n_latent, D] of one image's latent variable."""
    if spec.space in ("z", "z+"):
        latent = stylegan2.mapping(cfg, params, latent)
    if spec.space in ("w", "z"):
        latent = jnp.broadcast_to(latent, (cfg.n_latent, cfg.style_dim))
    return latent


def _init(cfg, spec, key, context):
    params = context["generator"]
    k_latent, k_noise = jax.random.split(key)
    shape = (cfg.style_dim,) if spec.space in ("w", "z") else (cfg.n_latent, cfg.style_dim)
    if spec.space in ("z", "z+"):
        latent = jax.random.normal(k_latent, shape)
    else:
        latent = jnp.broadcast_to(params["w_avg"], shape)
    variables = {"latent": latent}
    if spec.optimize_noise:
        variables["noise"] = [n[0] for n in stylegan2.random_noise(cfg, k_noise)]
    if spec.optimize_const:
        variables["const"] = params["const"]
    return variables


def sample_wplus(cfg, spec, variables, context, key):
    """(W+ [N_l, D], constant input [4, 4, C]) of the solution (deterministic)."""
    const = variables["const"] if spec.optimize_const else context["generator"]["const"]
    return ws_of(cfg, spec, variables["latent"], context["generator"]), const


def render_wplus(cfg, spec, variables, context, ws, const):
    """Images [n, H, W, 3] from W+ [n, N_l, D] (or [N_l, D]) with the solution's noise maps."""
    ws = ws if ws.ndim == 3 else ws[None]
    noise = [n[None] for n in variables["noise"]] if spec.optimize_noise else None
    consts = jnp.broadcast_to(const, (ws.shape[0],) + const.shape)
    return stylegan2.synthesis(cfg, context["generator"], ws, noise, consts)


def _render(cfg, spec, steps, variables, context, key, step):
    latent = variables["latent"]
    if spec.latent_noise:
        t = step / steps
        strength = context["w_std"] * spec.latent_noise * jnp.maximum(
            0.0, 1.0 - t / spec.latent_noise_ramp) ** 2
        latent = latent + strength * jax.random.normal(key, latent.shape)
    ws, const = sample_wplus(cfg, spec, dict(variables, latent=latent), context, key)
    return render_wplus(cfg, spec, variables, context, ws, const)


def _penalty(cfg, spec, variables, context, key, step):
    total, terms = 0.0, {}
    if spec.optimize_noise and spec.noise_regularize:
        terms["noise_reg"] = regularizers.noise_regularization(variables["noise"])
        total = total + spec.noise_regularize * terms["noise_reg"]
    if spec.truncation_weight:
        ws = ws_of(cfg, spec, variables["latent"], context["generator"])
        terms["truncation"] = regularizers.truncation_penalty(ws, context["generator"]["w_avg"])
        total = total + spec.truncation_weight * terms["truncation"]
    return total, terms


def _project(spec, variables, context, step):
    variables = dict(variables)
    if spec.optimize_noise and spec.normalize_noise:
        variables["noise"] = regularizers.normalize_noise(variables["noise"])
    if spec.clamp:
        variables["latent"] = regularizers.clamp(variables["latent"], -spec.clamp, spec.clamp)
    return variables


def _latents(cfg, spec, variables, context):
    return {"wplus": ws_of(cfg, spec, variables["latent"], context["generator"])}


def build(cfg: stylegan2.StyleGAN2Config, spec: Space, learning_rates: dict,
          steps: int = 1000) -> Problem:
    """The baseline ``spec`` for generator ``cfg``; ``learning_rates`` names ``latent``,
    ``noise`` and ``const``; ``steps`` sets the latent-noise ramp's length."""
    if spec.space not in SPACES:
        raise ValueError(f"unknown StyleGAN2 latent space {spec.space!r}; choose one of {SPACES}")
    wanted = {"latent"} | ({"noise"} if spec.optimize_noise else set()) \
        | ({"const"} if spec.optimize_const else set())
    rates = {k: v for k, v in learning_rates.items() if k in wanted}
    bind = lambda f: functools.partial(f, cfg, spec)
    return Problem(
        init=bind(_init), render=functools.partial(_render, cfg, spec, steps),
        penalty=bind(_penalty),
        project=functools.partial(_project, spec)
        if (spec.optimize_noise and spec.normalize_noise) or spec.clamp else None,
        latents=bind(_latents), learning_rates=rates, sample_wplus=bind(sample_wplus),
        render_wplus=bind(render_wplus))


def _build_method(generator, settings: Space, job: Job) -> Method:
    """Roles: ``latent`` -> the latent, ``noise`` -> the noise maps, ``const`` -> the constant
    input (defaults when the job names none: 0.05, 0.01, 0.01)."""
    rates = {role: job.rate(role, lr) for role, lr in (("latent", 0.05), ("noise", 0.01),
                                                       ("const", 0.01))}
    return Method(problem=build(generator.cfg, settings, rates, job.steps))


METHOD = MethodSpec("stylegan2", Space, _build_method, families=("stylegan2",),
                    summary="StyleGAN2 projector, Image2StyleGAN(++), (W+, S, B), Z, Z+")
