"""Compressed sensing with a partial circulant matrix and random signs.

``A x = P_Omega C D x / sqrt(m)`` on the flattened image (N = H*W*3 entries): D flips signs at
random, C is circulant with an N(0, 1) first column (applied by FFT), P_Omega keeps m = fraction*N
entries at random positions. The adjoint is ``D C^T P_Omega^T y / sqrt(m)`` with C^T the circular
correlation. ``op_params`` = ``{'signs': [N], 'kernel_fft': [N] complex, 'rows': [m] int}`` comes
from :func:`sample_params` with an explicit key.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinv.ops.base import Operator


def sample_params(key, image_shape, fraction: float):
    """Random signs, circulant kernel and measured rows for images of ``image_shape`` (H, W, C)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"compressed-sensing fraction must be in (0, 1], got {fraction}")
    n = int(jnp.prod(jnp.asarray(image_shape)))
    m = max(1, int(round(fraction * n)))
    k_sign, k_kernel, k_rows = jax.random.split(key, 3)
    return {"signs": jax.random.rademacher(k_sign, (n,), jnp.float32),
            "kernel_fft": jnp.fft.fft(jax.random.normal(k_kernel, (n,))),
            "rows": jnp.sort(jax.random.permutation(k_rows, n)[:m])}


def compressed_sensing(image_shape) -> Operator:
    """The operator for images of ``image_shape`` (H, W, C); measurements y are [B, m] (not
    image-like)."""
    image_shape = tuple(int(d) for d in image_shape)

    def apply(p, x):
        b = x.shape[0]
        v = x.reshape(b, -1) * p["signs"]
        cv = jnp.fft.ifft(jnp.fft.fft(v, axis=-1) * p["kernel_fft"], axis=-1).real
        return cv[:, p["rows"]] / jnp.sqrt(p["rows"].shape[0]).astype(x.dtype)

    def adjoint(p, y):
        b, m = y.shape
        full = jnp.zeros((b, p["signs"].shape[0]), y.dtype).at[:, p["rows"]].set(y)
        ct = jnp.fft.ifft(jnp.fft.fft(full, axis=-1) * jnp.conj(p["kernel_fft"]), axis=-1).real
        x = ct * p["signs"] / jnp.sqrt(m).astype(y.dtype)
        return x.reshape((b,) + image_shape)

    return Operator("compressed_sensing", apply, adjoint, image_like=False)
