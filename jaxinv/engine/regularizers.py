"""Regularisers and projections shared by methods.

Penalties return a scalar for one image; projections map variables to variables after each step.
"""

from __future__ import annotations

import jax.numpy as jnp


def noise_regularization(noises) -> jnp.ndarray:
    """StyleGAN2 projector's noise regulariser: squared autocorrelation at shift 1 along x and y,
    summed over a pyramid of 2x average-pooled versions (down to 8x8) of every map [H, W, 1]."""
    loss = 0.0
    for noise in noises:
        n = noise[..., 0]
        while True:
            loss = loss + jnp.mean(n * jnp.roll(n, 1, axis=-1)) ** 2 \
                + jnp.mean(n * jnp.roll(n, 1, axis=-2)) ** 2
            if n.shape[-1] <= 8:
                break
            h, w = n.shape[-2:]
            n = n.reshape(n.shape[:-2] + (h // 2, 2, w // 2, 2)).mean(axis=(-3, -1))
    return loss


def normalize_noise(noises):
    """Re-standardises every noise map to zero mean and unit variance (projector's projection)."""
    return [(n - jnp.mean(n)) / jnp.std(n) for n in noises]


def truncation_penalty(w, w_avg) -> jnp.ndarray:
    """Mean squared distance of latents ``w`` [..., D] from ``w_avg`` [D]."""
    return jnp.mean(jnp.sum((w - w_avg) ** 2, axis=-1))


def clamp(x, low: float, high: float):
    """Projection onto the box [low, high] (e.g. pix2latent's z clamp)."""
    return jnp.clip(x, low, high)
