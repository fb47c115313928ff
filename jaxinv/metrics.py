"""Image-quality metrics, batched and jit-compiled: PSNR, SSIM, LPIPS and the colorization AuC.

Inputs are image batches [B, H, W, 3] in [-1, 1]; every metric returns one value per image [B],
except :func:`sliced_wasserstein`, a distance between two sets of images. PSNR and SSIM are
computed on images mapped to [0, 1] and clipped there.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.losses import lpips as lpips_lib


def _unit(x):
    return jnp.clip((x + 1.0) / 2.0, 0.0, 1.0)


@jax.jit
def psnr(x, y):
    """Peak signal-to-noise ratio in dB [B] (peak 1 on the [0, 1] scale)."""
    mse = jnp.mean((_unit(x) - _unit(y)) ** 2, axis=(1, 2, 3))
    return -10.0 * jnp.log10(jnp.maximum(mse, 1e-12))


def _gaussian_window(size=11, sigma=1.5):
    g = np.exp(-((np.arange(size) - size // 2) ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).astype(np.float32)


def _filter(x, g):
    """Separable 'valid' Gaussian filtering of [B, H, W, C], per channel."""
    c = x.shape[-1]
    kx = jnp.tile(jnp.asarray(g)[None, :, None, None], (1, 1, 1, c))
    ky = jnp.tile(jnp.asarray(g)[:, None, None, None], (1, 1, 1, c))
    dn = ("NHWC", "HWIO", "NHWC")
    x = jax.lax.conv_general_dilated(x, kx, (1, 1), "VALID", dimension_numbers=dn,
                                     feature_group_count=c)
    return jax.lax.conv_general_dilated(x, ky, (1, 1), "VALID", dimension_numbers=dn,
                                        feature_group_count=c)


@jax.jit
def ssim(x, y):
    """Structural similarity [B] (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5,
    K1 = 0.01, K2 = 0.03, mean over pixels and channels), as ``skimage``'s
    ``structural_similarity(gaussian_weights=True, use_sample_covariance=False)``."""
    x, y = _unit(x), _unit(y)
    g = _gaussian_window()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = _filter(x, g), _filter(y, g)
    sxx = _filter(x * x, g) - mx * mx
    syy = _filter(y * y, g) - my * my
    sxy = _filter(x * y, g) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return jnp.mean(s, axis=(1, 2, 3))


@functools.partial(jax.jit, static_argnums=0)
def lpips(net: str, params, x, y):
    """LPIPS distance [B] with a converted backbone (see :func:`jaxinv.losses.lpips.load`)."""
    return lpips_lib.distance(net, params, x, y)


# sRGB (D65) to CIE XYZ, and the D65 white point, as skimage.color.rgb2lab uses them.
_RGB_TO_XYZ = np.array([[0.412453, 0.357580, 0.180423],
                        [0.212671, 0.715160, 0.072169],
                        [0.019334, 0.119193, 0.950227]], np.float32)
_D65 = np.array([0.95047, 1.0, 1.08883], np.float32)


def rgb_to_lab(x):
    """CIELAB [..., 3] (L in [0, 100]) of sRGB images in [-1, 1] (clipped), D65 white."""
    rgb = _unit(x)
    linear = jnp.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = (linear @ _RGB_TO_XYZ.T) / _D65
    f = jnp.where(xyz > 0.008856, jnp.cbrt(xyz), 7.787 * xyz + 16.0 / 116.0)
    lightness = 116.0 * f[..., 1] - 16.0
    return jnp.stack([lightness, 500.0 * (f[..., 0] - f[..., 1]),
                      200.0 * (f[..., 1] - f[..., 2])], axis=-1)


@jax.jit
def colorization_auc(x, y):
    """Colorization AuC [B] in [0, 1] (Zhang et al. 2016; PmSFC's Table 2): the area under the
    cumulative distribution of the per-pixel ab error ``||ab(x) - ab(y)||_2`` in CIELAB over
    thresholds 0..150, normalised by 150 (trapezoid rule on integer thresholds)."""
    err = jnp.linalg.norm(rgb_to_lab(x)[..., 1:] - rgb_to_lab(y)[..., 1:], axis=-1)
    thresholds = jnp.arange(151.0)
    cdf = jnp.mean(err.reshape(err.shape[0], -1, 1) <= thresholds, axis=1)  # [B, 151]
    return (jnp.sum(cdf, axis=1) - 0.5 * (cdf[:, 0] + cdf[:, -1])) / 150.0


@functools.partial(jax.jit, static_argnames="projections")
def sliced_wasserstein(x, y, key, projections: int = 256):
    """Sliced Wasserstein-1 distance between two equal-sized sets of images ``x``, ``y`` [N, H,
    W, 3]: the mean over ``projections`` random unit directions of pixel space of the mean
    absolute difference between the sorted projections of the two sets (0 for the same set,
    up to sampling noise for two samples of one distribution)."""
    if x.shape != y.shape:
        raise ValueError(f"sliced_wasserstein compares sets of one shape, got {x.shape} and "
                         f"{y.shape}")
    flat_x, flat_y = x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1)
    directions = jax.random.normal(key, (flat_x.shape[1], projections))
    directions = directions / jnp.linalg.norm(directions, axis=0, keepdims=True)
    px, py = jnp.sort(flat_x @ directions, axis=0), jnp.sort(flat_y @ directions, axis=0)
    return jnp.mean(jnp.abs(px - py))
