"""Pixel losses. Each reduces everything but the leading batch axis and returns [B]."""

from __future__ import annotations

import jax.numpy as jnp


def weighted_mean(err, weight=None):
    """Mean of ``err`` over all but the batch axis [B]; with ``weight`` (broadcastable to err),
    the weighted mean ``sum(weight * err) / sum(weight)``."""
    axes = tuple(range(1, err.ndim))
    if weight is None:
        return jnp.mean(err, axis=axes)
    weight = jnp.broadcast_to(weight, err.shape)
    return jnp.sum(weight * err, axis=axes) / jnp.maximum(jnp.sum(weight, axis=axes), 1e-8)


def mse(x, y, weight=None):
    """Mean squared error [B] (weighted mean with ``weight``)."""
    return weighted_mean((x - y) ** 2, weight)


def l1(x, y, weight=None):
    """Mean absolute error [B] (weighted mean with ``weight``)."""
    return weighted_mean(jnp.abs(x - y), weight)
