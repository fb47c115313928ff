"""Pixel-space degradations: identity, grayscale, downsampling, inpainting masks, noise,
brightness. Images x are [B, H, W, 3] in [-1, 1]."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.ops.base import Operator

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def identity() -> Operator:
    """y = x; self-adjoint."""
    return Operator("identity", lambda p, x: x, lambda p, y: y)


def grayscale() -> Operator:
    """Luminance Y = 0.299 R + 0.587 G + 0.114 B replicated to 3 channels (so image losses
    apply); adjoint ``A^T y = (sum_c y_c) * LUMA``."""

    def apply(p, x):
        return jnp.repeat(x @ LUMA[:, None], 3, axis=-1)

    def adjoint(p, y):
        return jnp.sum(y, axis=-1, keepdims=True) * LUMA

    return Operator("grayscale", apply, adjoint)


def _bilinear_down(x, f: int):
    """``torch.nn.functional.interpolate(x, scale_factor=1/f, mode='bilinear')`` (half-pixel
    centres, no antialiasing): output pixel i reads the input at ``(i + 0.5) f - 0.5``."""
    for axis in (1, 2):
        n = x.shape[axis]
        src = (np.arange(n // f) + 0.5) * f - 0.5
        i0 = np.floor(src).astype(int)
        w = (src - i0).astype(np.float32)
        i1 = np.minimum(i0 + 1, n - 1)
        shape = [1] * x.ndim
        shape[axis] = -1
        w = jnp.asarray(w).reshape(shape)
        x = jnp.take(x, i0, axis=axis) * (1 - w) + jnp.take(x, i1, axis=axis) * w
    return x


def downsample(factor: int, mode: str = "area") -> Operator:
    """Downsampling by an integer ``factor``: ``'area'`` averages f x f blocks (adjoint: replicate
    and divide by f^2); ``'bicubic'`` is antialiased Keys-cubic resampling (``jax.image.resize``,
    as PIL's bicubic); ``'bilinear'`` is PyTorch's non-antialiased bilinear
    ``interpolate(scale_factor=1/f)``, genforce's super-resolution operator. The last two get
    their adjoints by exact linear transposition."""
    if factor < 1 or int(factor) != factor:
        raise ValueError(f"downsampling factor must be a positive integer, got {factor}")
    f = int(factor)
    if mode == "area":
        def apply(p, x):
            b, h, w, c = x.shape
            return x.reshape(b, h // f, f, w // f, f, c).mean(axis=(2, 4))

        def adjoint(p, y):
            return jnp.repeat(jnp.repeat(y, f, axis=1), f, axis=2) / (f * f)
    elif mode in ("bicubic", "bilinear"):
        def apply(p, x):
            if mode == "bilinear":
                return _bilinear_down(x, f)
            b, h, w, c = x.shape
            return jax.image.resize(x, (b, h // f, w // f, c), "cubic", antialias=True)

        def adjoint(p, y):
            b, h, w, c = y.shape
            x0 = jax.ShapeDtypeStruct((b, h * f, w * f, c), y.dtype)
            return jax.linear_transpose(lambda x: apply(p, x), x0)(y)[0]
    else:
        raise ValueError(f"downsampling mode must be 'area', 'bicubic' or 'bilinear', got "
                         f"{mode!r}")
    return Operator(f"downsample_x{f}_{mode}", apply, adjoint)


def inpaint() -> Operator:
    """Masking ``y = m * x`` with ``op_params = {'mask': m}`` [B or 1, H, W, 1], 1 = observed;
    self-adjoint."""

    def apply(p, x):
        return x * p["mask"]

    return Operator("inpaint", apply, apply)


def brightness() -> Operator:
    """Brightness shift ``y = x + op_params['delta']`` (affine, so no adjoint); the colour
    transform pix2latent searches."""
    return Operator("brightness", lambda p, x: x + p["delta"], None)


def add_gaussian_noise(key, y, std: float):
    """Measurement noise ``y + std * N(0, 1)``."""
    return y + std * jax.random.normal(key, y.shape, y.dtype)


# The degradations a config may name (brightness is a colour transform methods search).
NAMES = ("identity", "grayscale", "downsample", "inpaint", "compressed_sensing")


def build(name: str, **kwargs) -> Operator:
    """Operator by config name: identity, grayscale, downsample, inpaint, compressed_sensing,
    brightness."""
    from jaxinv.ops.circulant import compressed_sensing

    factories = {"identity": identity, "grayscale": grayscale, "downsample": downsample,
                 "inpaint": inpaint, "brightness": brightness,
                 "compressed_sensing": compressed_sensing}
    if name not in factories:
        raise ValueError(f"unknown degradation {name!r}; choose one of {sorted(factories)}")
    return factories[name](**kwargs)
