"""What a method hands the engine, and the reconstruction loss every method shares.

A :class:`Problem` describes one image's optimisation; all its functions are pure and take the
shared ``context`` (generator params and friends) explicitly:

- ``init(key, context) -> variables``: one image's starting variables (a dict of pytrees).
- ``render(variables, context, key, step) -> image [1, H, W, 3]`` in [-1, 1].
- ``penalty(variables, context, key, step) -> (scalar, {name: scalar})``: regularisers.
- ``project(variables, context, step) -> variables`` or ``None``: applied after every step
  (``step``: the index of the step just taken; -1 before the first).
- ``latents(variables, context) -> {name: array}``: what to save besides the variables (e.g. the
  W+ a Z-space solution maps to).
- ``learning_rates``: ``{variable name: {'lr', 'schedule', ...}}`` for
  :func:`jaxinv.engine.build_optimizer`.
- ``sample_wplus(variables, context, key) -> (W+ [N_l, D], const [4, 4, C])`` and
  ``render_wplus(variables, context, ws [n, N_l, D], const) -> images [n, H, W, 3]``: optional,
  for StyleGAN2 methods; they let reports perturb the latent code (robustness, edits).
- ``view_weights``: optional weights of the rendered views in the data terms (default: their
  mean), e.g. PmSFC's official loss ``0.01 * composed + 1 * base``.
- ``exchange(variables_a, variables_b, context) -> images [n, H, W, 3]``: optional, images that
  mix two solutions part by part (PmSFC's feature exchange between subspaces).

A method may render several views at once (``render`` returning [n, H, W, 3], e.g. SPHInX's
attribute discovery); its target is then [n, H, W, 3] and the data terms are averaged over views.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.losses import lpips as lpips_lib
from jaxinv.losses import perceptual, pixel
from jaxinv.ops.base import Operator


# The draw that stands for a stochastic method's solution (SPHInX samples z+ and s each step):
# its final image, saved latents, edits, interpolations and robustness reference all use it.
# It is jax.random.PRNGKey(0), held as numpy so that importing jaxinv starts no JAX backend
# (a program that calls jax.distributed.initialize must do so before any backend starts).
REPRESENTATIVE_KEY = np.zeros((2,), np.uint32)


class Problem(NamedTuple):
    init: Callable
    render: Callable
    penalty: Callable
    project: Callable | None
    latents: Callable
    learning_rates: dict
    sample_wplus: Callable | None = None
    render_wplus: Callable | None = None
    view_weights: tuple | None = None
    exchange: Callable | None = None


class LossWeights(NamedTuple):
    """Weights of the data terms. LPIPS (backbone ``lpips_net``, params ``context['lpips']``) is
    computed on images downsampled to ``lpips_size`` when larger and skipped for images smaller
    than ``lpips_min_size``. ``generated_noise_std`` > 0 adds fresh N(0, std) noise to the
    generated image each step, clipped to [-1, 1] (SPHInX's denoising). ``perceptual`` weighs
    mGANprior's VGG16 relu3_3 L1 loss (backbone params ``context['perceptual']``) on images
    resized to ``perceptual_size``."""

    mse: float = 1.0
    l1: float = 0.0
    lpips: float = 0.0
    lpips_net: str = "vgg"
    lpips_size: int = 256
    lpips_min_size: int = 0
    generated_noise_std: float = 0.0
    perceptual: float = 0.0
    perceptual_size: int = 256


def data_terms(weights: LossWeights, operator: Operator, op_params, x, y, context,
               y_features=None):
    """Weighted data terms of images x [B, H, W, 3] against measurements y (batched like x)
    through ``operator`` with ``op_params``; ``y_features``: y's VGG features for the
    perceptual term (:func:`target_features`), computed here when None. Returns ``(total [B],
    {name: [B]})``."""
    y_hat = operator.apply(op_params, x)
    terms = {}
    if weights.mse:
        terms["mse"] = (weights.mse, pixel.mse(y_hat, y))
    if weights.l1:
        terms["l1"] = (weights.l1, pixel.l1(y_hat, y))
    if weights.lpips and y.shape[1] >= weights.lpips_min_size:
        if not operator.image_like:
            raise ValueError(f"LPIPS needs image-like measurements; {operator.name} gives vectors")
        size = weights.lpips_size
        terms["lpips"] = (weights.lpips, lpips_lib.distance(
            weights.lpips_net, context["lpips"], lpips_lib.resize_for_lpips(y_hat, size),
            lpips_lib.resize_for_lpips(y, size)))
    if weights.perceptual:
        terms["perceptual"] = (weights.perceptual, perceptual.vgg_l1(
            context["perceptual"], y_hat, y, weights.perceptual_size, y_features))
    total = sum(w * v for w, v in terms.values())
    return total, {k: v for k, (_, v) in terms.items()}


def reconstruction_loss(problem: Problem, operator: Operator, weights: LossWeights, variables,
                        data, context, key, step):
    """The engine's ``loss_fn`` for one image: data terms of the rendered image plus the
    method's penalty. ``data = {'target': y, 'op': per-image operator params}`` (unbatched;
    ``'op'`` may be absent) and optionally ``'target_features'`` (:func:`target_features`);
    operator params shared by the batch (e.g. compressed-sensing matrices) are
    ``context['op']``."""
    k_render, k_penalty, k_noise = jax.random.split(key, 3)
    x = problem.render(variables, context, k_render, step)
    if weights.generated_noise_std:
        x = jnp.clip(x + weights.generated_noise_std * jax.random.normal(k_noise, x.shape), -1, 1)
    y = data["target"]
    y = y if y.ndim == x.ndim else y[None]
    op_params = dict(context.get("op", {}))
    op_params.update(jax.tree_util.tree_map(lambda a: a[None], data.get("op", {})))
    features = data.get("target_features")
    if features is not None and features.ndim == 3:
        features = features[None]
    total, terms = data_terms(weights, operator, op_params, x, y, context, features)
    penalty, penalty_terms = problem.penalty(variables, context, k_penalty, step)
    if problem.view_weights is None:
        data_loss = jnp.mean(total)
    else:
        data_loss = jnp.dot(jnp.asarray(problem.view_weights, total.dtype), total)
    aux = {k: jnp.mean(v) for k, v in terms.items()}
    aux.update(penalty_terms)
    return data_loss + penalty, aux


@functools.partial(jax.jit, static_argnames=("size",))
def _features(backbone, y, size: int):
    flat = y.reshape((-1,) + y.shape[-3:])
    f = perceptual.vgg_features(backbone, flat, size)
    return f.reshape(y.shape[:-3] + f.shape[1:])


def target_features(weights: LossWeights, context, y):
    """The perceptual term's VGG features of fixed measurements y [B, (K,) h, w, 3], computed
    once per batch (``data['target_features']``); None when the loss has no perceptual term."""
    if not weights.perceptual:
        return None
    return _features(context["perceptual"], y, weights.perceptual_size)


def no_penalty(variables, context, key, step):
    return 0.0, {}


