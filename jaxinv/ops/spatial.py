"""Spatial scale/translation by bilinear grid sampling, with its inverse.

Coordinates are normalised so the image spans [-1, 1] on both axes (pixel centres as PyTorch's
``grid_sample(align_corners=False)``). A transform ``t = (s_x, s_y, t_x, t_y)`` (or the
isotropic ``(s, t_x, t_y)``) maps content so that ``y(u) = x((u - t) / s)``: the image is scaled
by s about its centre, then moved by t. Its inverse is ``(1/s, -t/s)``; samples outside the image
are zero. The operator is linear in x; its adjoint comes from ``jax.linear_transpose``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxinv.ops.base import Operator


def _as_anisotropic(t):
    t = jnp.asarray(t)
    if t.shape[-1] == 3:
        return jnp.stack([t[..., 0], t[..., 0], t[..., 1], t[..., 2]], axis=-1)
    if t.shape[-1] != 4:
        raise ValueError(f"a spatial transform is (s, tx, ty) or (sx, sy, tx, ty), got {t.shape}")
    return t


def inverse_transform(t):
    """Parameters of the inverse transform, same layout as ``t``."""
    t = jnp.asarray(t)
    if t.shape[-1] == 3:
        s = t[..., 0]
        return jnp.stack([1.0 / s, -t[..., 1] / s, -t[..., 2] / s], axis=-1)
    sx, sy, tx, ty = (t[..., i] for i in range(4))
    return jnp.stack([1.0 / sx, 1.0 / sy, -tx / sx, -ty / sy], axis=-1)


def _bilinear(img, px, py):
    """Samples img [H, W, C] at pixel coordinates px, py [h, w] with zero padding."""
    h, w, _ = img.shape
    x0, y0 = jnp.floor(px), jnp.floor(py)
    out = 0.0
    for dx in (0, 1):
        for dy in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            weight = (1 - jnp.abs(px - xi)) * (1 - jnp.abs(py - yi))
            inside = (xi >= 0) & (xi <= w - 1) & (yi >= 0) & (yi <= h - 1)
            xi_c = jnp.clip(xi, 0, w - 1).astype(jnp.int32)
            yi_c = jnp.clip(yi, 0, h - 1).astype(jnp.int32)
            out = out + img[yi_c, xi_c] * (weight * inside)[..., None]
    return out


def rotate(x, degrees: float):
    """Rotates images x [B, H, W, C] counter-clockwise by ``degrees`` about the centre (the
    direction of torchvision's ``rotate``), zero outside; static angle. Sampling is bilinear,
    where torchvision's default (used by the SPHInX code) is nearest neighbour: shifted targets
    are slightly smoother than the original protocol's."""
    b, h, w, _ = x.shape
    u = (2 * jnp.arange(w) + 1) / w - 1
    v = (2 * jnp.arange(h) + 1) / h - 1
    uu, vv = jnp.meshgrid(u, v)
    a = jnp.deg2rad(degrees)
    # output pixel (u, v) reads the input at the point rotated back by the angle (image y is down)
    su = jnp.cos(a) * uu - jnp.sin(a) * vv * (h / w)
    sv = jnp.sin(a) * uu * (w / h) + jnp.cos(a) * vv
    return jax.vmap(lambda img: _bilinear(img, ((su + 1) * w - 1) / 2, ((sv + 1) * h - 1) / 2))(x)


def affine_grid_sample(x, t):
    """Applies transform(s) ``t`` [B, 3 or 4] (or one [3 or 4]) to images x [B, H, W, C]."""
    b, h, w, _ = x.shape
    t = jnp.broadcast_to(_as_anisotropic(t), (b, 4))
    u = (2 * jnp.arange(w) + 1) / w - 1
    v = (2 * jnp.arange(h) + 1) / h - 1
    uu, vv = jnp.meshgrid(u, v)

    def one(img, ti):
        sx, sy, tx, ty = ti[0], ti[1], ti[2], ti[3]
        su, sv = (uu - tx) / sx, (vv - ty) / sy
        return _bilinear(img, ((su + 1) * w - 1) / 2, ((sv + 1) * h - 1) / 2)

    return jax.vmap(one)(x, t)


def spatial_transform() -> Operator:
    """Operator with ``op_params = {'t': [B or 1, 3 or 4]}``."""

    def apply(p, x):
        return affine_grid_sample(x, p["t"])

    def adjoint(p, y):
        return jax.linear_transpose(lambda x: apply(p, x), y)(y)[0]

    return Operator("spatial_transform", apply, adjoint)


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def geometric_shift(x, rotate_degrees: float = 0.0, scale: float = 1.0,
                    translate_px: float = 0.0, reference_size: int = 1024):
    """SPHInX's out-of-distribution shifts of images x [B, H, W, C]: scale about the centre,
    move right by ``translate_px`` pixels of a ``reference_size`` image (scaled to this
    resolution), then rotate counter-clockwise; uncovered pixels are 0 (mid-gray in [-1, 1]), as
    torchvision's transforms on normalised tensors."""
    if scale != 1.0 or translate_px:
        x = affine_grid_sample(x, jnp.array([scale, 2.0 * translate_px / reference_size, 0.0]))
    if rotate_degrees:
        x = rotate(x, rotate_degrees)
    return x
