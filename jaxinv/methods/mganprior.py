"""mGANprior: multi-code GAN prior (Gu, Shen, Zhou, CVPR 2020; genforce/mganprior).

N latent codes z_j and per-channel importances alpha_j [C] are composed in the feature space of
layer k: ``F = (1/N) sum_j G1(z_j) * alpha_j`` and ``x = G2(F)``, where G1 runs the first k conv
layers and G2 the rest plus ToRGB. Any generator family with a feature split
(:class:`jaxinv.generators.FeatureSplit`; the paper's is PGGAN, :mod:`jaxinv.generators.pggan`)
can be used. G1 over the codes is one batched call. Starting point as genforce: z ~ N(0, 1),
alpha = 1/N.

Defaults as genforce's ``multi_code_inversion.py``: layer 6, 30 codes, 3000 steps of plain
gradient descent (SGD, lr 1), loss MSE + the VGG16 relu3_3 L1 loss of
:mod:`jaxinv.losses.perceptual` (weight 1, images resized to 256). Task defaults: colorization
layer 4 with 20 codes, inpainting layer 4 with 30 codes, super-resolution layer 6.

Because every PGGAN block starts with pixel normalisation, G2 is invariant to a positive
per-pixel scale of F: on PGGAN, N identical codes with alpha = 1/N render exactly G(z).

Settings (``config.method``): ``layer`` and ``num_codes``. Roles of ``config.lr``: ``latent``
-> z, ``weights`` -> alpha.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxinv.generators.base import Family, FeatureSplit
from jaxinv.methods.base import Job, Method, MethodSpec
from jaxinv.methods.problem import Problem, no_penalty


class Spec(NamedTuple):
    family: Family
    cfg: Any
    layer: int = 6
    num_codes: int = 30


def compose(split: FeatureSplit, cfg, params, z, alpha, layer: int):
    """Composed features [1, h, w, C] from codes z [N, z_dim] and importances alpha [N, C]."""
    feats = split.features(cfg, params, z, layer)
    return jnp.mean(feats * alpha[:, None, None, :], axis=0, keepdims=True)


def _init(spec: Spec, key, context):
    channels = spec.family.split.channels(spec.cfg, spec.layer)
    z_dim = spec.family.latent_dim(spec.cfg)
    return {"z": jax.random.normal(key, (spec.num_codes, z_dim)),
            "alpha": jnp.full((spec.num_codes, channels), 1.0 / spec.num_codes)}


def _render(spec: Spec, variables, context, key, step):
    params = context["generator"]
    split = spec.family.split
    f = compose(split, spec.cfg, params, variables["z"], variables["alpha"], spec.layer)
    return split.from_features(spec.cfg, params, f, spec.layer)


def _latents(spec: Spec, variables, context):
    return {"z": variables["z"], "alpha": variables["alpha"]}


def build(family: Family, cfg, layer: int = 6, num_codes: int = 30,
          learning_rates: dict | None = None) -> Problem:
    """The mGANprior problem on generator ``cfg`` of ``family`` (which needs a feature split);
    ``learning_rates`` names ``z`` and ``alpha`` (default: lr 1 each, constant, meant for SGD
    as genforce's 'GD')."""
    split = require_split("mganprior", family)
    if not 1 <= layer <= split.num_layers(cfg):
        raise ValueError(f"composing layer must be in 1..{split.num_layers(cfg)}, got {layer}")
    spec = Spec(family, cfg, layer, num_codes)
    rates = learning_rates or {"z": {"lr": 1.0}, "alpha": {"lr": 1.0}}
    bind = lambda f: functools.partial(f, spec)
    return Problem(init=bind(_init), render=bind(_render), penalty=no_penalty, project=None,
                   latents=bind(_latents), learning_rates=rates)


@dataclasses.dataclass(frozen=True)
class Settings:
    """The ``mganprior`` method's settings: the composing ``layer`` k and ``num_codes`` N."""

    layer: int = 6
    num_codes: int = 30


def require_split(method: str, family: Family) -> FeatureSplit:
    """The family's feature split; a method that composes features refuses a family without
    one, by name."""
    if family.split is None:
        raise ValueError(f"method {method!r} composes features at a layer, and the "
                         f"{family.name} family has no feature split")
    return family.split


def _build_method(generator, settings: Settings, job: Job) -> Method:
    return Method(problem=build(generator.family, generator.cfg, settings.layer,
                                settings.num_codes,
                                {"z": job.rate("latent", 1.0), "alpha": job.rate("weights", 1.0)}))


METHOD = MethodSpec("mganprior", Settings, _build_method,
                    summary="mGANprior: many codes composed at a layer of a feature split")
