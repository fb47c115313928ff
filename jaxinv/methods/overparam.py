"""Overparameterized StyleGAN2 inversion (Poirier-Ginter, Lessard, Smith and Lalonde,
"Overparameterization Improves StyleGAN Inversion").

The overparameterized generator modulates each output channel of a layer with its own latent
vector: a layer's latent is a matrix W [R, D] with one row per output channel (R = the widest
layer's channels, 512 in the paper), and :mod:`jaxinv.generators.stylegan2` renders it
(``ws`` [B, N_l, R, D]). The same space applies, without retraining, to any standard StyleGAN2
(the authors later did so post hoc: "W++"). Latent spaces (``space``):

=========  ==================  ============================================================
space      variable            what it is
=========  ==================  ============================================================
``w+``     [N_l, D]            one w per layer (the baseline of the paper's Table 2)
``W``      [R, D]              one latent matrix shared by every layer
``W+``     [N_l, R, D]         one latent matrix per layer
=========  ==================  ============================================================

Inversion as sec. 4.2: the latent starts at the mean of W (``w_avg`` in every row), Adam (lr
0.05, betas 0.9/0.999, 1000 steps, LPIPS-VGG) optimises it, and before each step of the first
``truncation_until`` fraction of the steps (half, in the paper) the latent is pulled towards the
mean, ``w <- w_avg + truncation * (w - w_avg)`` (0.9); PULSE-style upsampling (sec. 5.1) keeps
that pull on throughout (``truncation_until=1``). Roles: ``latent`` -> the latent (lr 0.05).
"""

from __future__ import annotations

import dataclasses
import functools

import jax.numpy as jnp

from jaxinv.generators import stylegan2
from jaxinv.methods.base import Job, Method, MethodSpec, SettingsError
from jaxinv.methods.problem import Problem, no_penalty

SPACES = ("w+", "W", "W+")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The ``overparam`` method's settings (``config.method``).

    space: 'w+', 'W' or 'W+' (module docstring).
    rows: rows R of the latent matrix; 0 = the generator's own (``cfg.rows``) when it was
      trained with more than one, else the widest layer's channel count (one row per output
      channel of every layer, on a standard checkpoint).
    truncation: the pull towards the mean before each step (1 = none).
    truncation_until: the fraction of the steps during which the pull applies.
    """

    space: str = "W+"
    rows: int = 0
    truncation: float = 0.9
    truncation_until: float = 0.5


def latent_rows(cfg: stylegan2.StyleGAN2Config, settings: Settings) -> int:
    """R for ``settings`` on generator ``cfg`` (see :class:`Settings`)."""
    if settings.rows:
        return settings.rows
    return cfg.rows if cfg.rows > 1 else max(cfg.channels)


def latent_shape(cfg: stylegan2.StyleGAN2Config, settings: Settings) -> tuple[int, ...]:
    """The shape of one image's latent variable."""
    rows = latent_rows(cfg, settings)
    return {"w+": (cfg.n_latent, cfg.style_dim), "W": (rows, cfg.style_dim),
            "W+": (cfg.n_latent, rows, cfg.style_dim)}[settings.space]


def wplus(cfg: stylegan2.StyleGAN2Config, settings: Settings, latent):
    """W+ [N_l, D] or [N_l, R, D] of one image's latent."""
    if settings.space == "W":
        return jnp.broadcast_to(latent, (cfg.n_latent,) + latent.shape)
    return latent


def _init(cfg, settings, key, context):
    return {"latent": jnp.broadcast_to(context["generator"]["w_avg"],
                                       latent_shape(cfg, settings))}


def sample_wplus(cfg, settings, variables, context, key):
    """(W+ [N_l, (R,) D], the constant input [4, 4, C]) of the solution."""
    return wplus(cfg, settings, variables["latent"]), context["generator"]["const"]


def render_wplus(cfg, settings, variables, context, ws, const):
    """Images [n, H, W, 3] from W+ [n, N_l, (R,) D] (or one unbatched)."""
    unbatched = 2 if settings.space == "w+" else 3
    ws = ws[None] if ws.ndim == unbatched else ws
    consts = jnp.broadcast_to(const, (ws.shape[0],) + const.shape)
    return stylegan2.synthesis(cfg, context["generator"], ws, None, consts)


def _render(cfg, settings, variables, context, key, step):
    return stylegan2.synthesis(cfg, context["generator"],
                               wplus(cfg, settings, variables["latent"])[None])


def _latents(cfg, settings, variables, context):
    return {"wplus": wplus(cfg, settings, variables["latent"])}


def _project(settings, last_pulled: int, variables, context, step):
    """The pull towards the mean before step ``step + 1`` while that step is below
    ``last_pulled``."""
    w_avg = context["generator"]["w_avg"]
    pulled = stylegan2.truncate(variables["latent"], w_avg, settings.truncation)
    return dict(variables, latent=jnp.where(step + 1 < last_pulled, pulled,
                                            variables["latent"]))


def build(cfg: stylegan2.StyleGAN2Config, settings: Settings, rate: dict,
          steps: int) -> Problem:
    """The inversion problem in ``settings.space`` for a generator ``cfg`` run for ``steps``."""
    if settings.space not in SPACES:
        raise SettingsError(f"method.space: {settings.space!r}; choose one of {SPACES}")
    rows = latent_rows(cfg, settings)
    if settings.space != "w+" and rows < max(cfg.channels):
        raise SettingsError(f"method.rows: {rows} rows cannot give each of the widest layer's "
                            f"{max(cfg.channels)} output channels its own row")
    if not 0.0 <= settings.truncation_until <= 1.0:
        raise SettingsError(f"method.truncation_until: {settings.truncation_until} is not a "
                            f"fraction of the steps in [0, 1]")
    bind = lambda f: functools.partial(f, cfg, settings)
    pull = settings.truncation != 1.0 and settings.truncation_until > 0
    return Problem(
        init=bind(_init), render=bind(_render), penalty=no_penalty,
        project=functools.partial(_project, settings, round(settings.truncation_until * steps))
        if pull else None,
        latents=bind(_latents),
        learning_rates={"latent": rate}, sample_wplus=bind(sample_wplus),
        render_wplus=bind(render_wplus))


def _build_method(generator, settings: Settings, job: Job) -> Method:
    return Method(problem=build(generator.cfg, settings, job.rate("latent", 0.05), job.steps))


METHOD = MethodSpec("overparam", Settings, _build_method, families=("stylegan2",),
                    summary="Overparameterized StyleGAN2: inversion in w+, W and W+ latent "
                            "matrices")
