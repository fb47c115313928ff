"""mGANprior: multi-code GAN prior (Gu, Shen, Zhou, CVPR 2020; genforce/mganprior).

N latent codes z_j and per-channel importances alpha_j [C] are composed in the feature space of
PGGAN layer k: ``F = (1/N) sum_j G1(z_j) * alpha_j`` and ``x = G2(F)``, where G1 runs the first
k conv layers and G2 the rest plus ToRGB (:mod:`jaxinv.generators.pggan`). G1 over the codes is
one batched call. Starting point as genforce: z ~ N(0, 1), alpha = 1/N.

Defaults as genforce's ``multi_code_inversion.py``: layer 6, 30 codes, 3000 steps of plain
gradient descent (SGD, lr 1), loss MSE + the VGG16 relu3_3 L1 loss of
:mod:`jaxinv.losses.perceptual` (weight 1, images resized to 256). Task defaults: colorization
layer 4 with 20 codes, inpainting layer 4 with 30 codes, super-resolution layer 6.

Because every PGGAN block starts with pixel normalisation, G2 is invariant to a positive
per-pixel scale of F: N identical codes with alpha = 1/N render exactly G(z).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxinv.generators import pggan
from jaxinv.methods.problem import Problem, no_penalty


class Spec(NamedTuple):
    cfg: pggan.PGGANConfig
    layer: int = 6
    num_codes: int = 30


def compose(cfg: pggan.PGGANConfig, params, z, alpha, layer: int):
    """Composed features [1, h, w, C] from codes z [N, z_dim] and importances alpha [N, C]."""
    feats = pggan.features(cfg, params, z, layer)
    return jnp.mean(feats * alpha[:, None, None, :], axis=0, keepdims=True)


def _init(spec: Spec, key, context):
    channels = spec.cfg.layer_channels(spec.layer - 1)
    return {"z": jax.random.normal(key, (spec.num_codes, spec.cfg.z_dim)),
            "alpha": jnp.full((spec.num_codes, channels), 1.0 / spec.num_codes)}


def _render(spec: Spec, variables, context, key, step):
    params = context["generator"]
    f = compose(spec.cfg, params, variables["z"], variables["alpha"], spec.layer)
    return pggan.from_features(spec.cfg, params, f, spec.layer)


def _latents(spec: Spec, variables, context):
    return {"z": variables["z"], "alpha": variables["alpha"]}


def build(cfg: pggan.PGGANConfig, layer: int = 6, num_codes: int = 30,
          learning_rates: dict | None = None) -> Problem:
    """The mGANprior problem; ``learning_rates`` names ``z`` and ``alpha`` (default: lr 1 each,
    constant, meant for SGD as genforce's 'GD')."""
    if not 1 <= layer <= cfg.num_layers:
        raise ValueError(f"composing layer must be in 1..{cfg.num_layers}, got {layer}")
    spec = Spec(cfg, layer, num_codes)
    rates = learning_rates or {"z": {"lr": 1.0}, "alpha": {"lr": 1.0}}
    bind = lambda f: functools.partial(f, spec)
    return Problem(init=bind(_init), render=bind(_render), penalty=no_penalty, project=None,
                   latents=bind(_latents), learning_rates=rates)
