"""StyleGAN2's training objectives: the non-saturating logistic loss, the R1 penalty and the
path-length regulariser (Karras et al. 2020, as rosinality/stylegan2-pytorch and NVIDIA's
stylegan2-ada-pytorch compute them). Pure functions of logits, images and callables."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def discriminator_loss(real_logits, fake_logits):
    """``softplus(D(fake)) + softplus(-D(real))``, mean over the batch."""
    return jnp.mean(jax.nn.softplus(fake_logits)) + jnp.mean(jax.nn.softplus(-real_logits))


def generator_loss(fake_logits):
    """The non-saturating generator loss ``softplus(-D(G(z)))``, mean over the batch."""
    return jnp.mean(jax.nn.softplus(-fake_logits))


def r1_penalty(logits_fn, real):
    """``mean_i ||d D(x_i) / d x_i||^2`` on real images ``real`` [B, H, W, 3] (multiply by
    gamma / 2); ``logits_fn(images) -> [B]``."""
    grad = jax.grad(lambda x: jnp.sum(logits_fn(x)))(real)
    return jnp.mean(jnp.sum(grad * grad, axis=(1, 2, 3)))


def path_length_penalty(synthesis_fn, ws, key, pl_mean, decay: float = 0.01):
    """The path-length regulariser: ``(|J_w^T y| - a)^2`` with ``y`` an image-shaped N(0, 1 /
    (H W)) draw, ``J_w`` the Jacobian of ``synthesis_fn(ws) -> images [B, H, W, 3]`` with
    respect to ``ws`` [B, N_l, ..., D], and ``a`` the running mean of the lengths.

    A length is the root of the squared gradient summed over everything but the layer axis,
    averaged over layers (for a latent matrix per layer, over its rows and dimensions).
    Returns ``(penalty, mean length, updated running mean)``; the running mean moves by
    ``decay`` towards the batch's mean length.
    """
    images, vjp = jax.vjp(synthesis_fn, ws)
    h, w = images.shape[1:3]
    y = jax.random.normal(key, images.shape, images.dtype) / jnp.sqrt(float(h * w))
    (grad,) = vjp(y)
    per_layer = jnp.sum(grad * grad, axis=tuple(range(2, grad.ndim)))  # [B, N_l]
    lengths = jnp.sqrt(jnp.mean(per_layer, axis=1))
    new_mean = pl_mean + decay * (jnp.mean(lengths) - pl_mean)
    penalty = jnp.mean((lengths - jax.lax.stop_gradient(new_mean)) ** 2)
    return penalty, jnp.mean(lengths), jax.lax.stop_gradient(new_mean)
