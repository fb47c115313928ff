"""PSNR and SSIM against direct NumPy/SciPy computations; the sliced Wasserstein distance
against its closed form for a shift."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import convolve2d

from jaxinv import metrics


def _ssim_reference(a, b):
    """Wang et al. SSIM with an 11x11 Gaussian (sigma 1.5), 'valid' windows, on [0, 1] images."""
    g = np.exp(-((np.arange(11) - 5) ** 2) / (2 * 1.5 ** 2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    f = lambda x: convolve2d(x, w, mode="valid")
    out = []
    for c in range(a.shape[-1]):
        x, y = a[..., c], b[..., c]
        mx, my = f(x), f(y)
        sxx, syy, sxy = f(x * x) - mx ** 2, f(y * y) - my ** 2, f(x * y) - mx * my
        c1, c2 = 0.01 ** 2, 0.03 ** 2
        out.append(((2 * mx * my + c1) * (2 * sxy + c2)) /
                   ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2)))
    return float(np.mean(out))


def test_psnr_known_value():
    x = jnp.zeros((2, 8, 8, 3))
    y = x.at[1].add(0.2)  # 0.1 on the [0, 1] scale -> 20 dB
    np.testing.assert_allclose(metrics.psnr(x, y), [120.0, 20.0], rtol=1e-4)


def test_ssim_matches_reference():
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    x = jnp.tanh(jax.random.normal(k1, (2, 24, 24, 3)))
    y = jnp.clip(x + 0.3 * jax.random.normal(k2, x.shape), -1, 1)
    got = metrics.ssim(x, y)
    for b in range(2):
        ref = _ssim_reference((np.asarray(x[b]) + 1) / 2, (np.asarray(y[b]) + 1) / 2)
        assert abs(float(got[b]) - ref) < 1e-4
    np.testing.assert_allclose(metrics.ssim(x, x), 1.0, atol=1e-5)
    assert float(jnp.max(got)) < 0.95


def test_cielab_of_known_colours():
    # sRGB primaries and white in CIELAB (D65), as skimage.color.rgb2lab gives them
    rgb = jnp.array([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0], [1.0, 1.0, 1.0]])
    expected = [[53.24, 80.09, 67.20], [87.73, -86.18, 83.18], [32.30, 79.19, -107.86],
                [100.0, 0.0, 0.0]]
    np.testing.assert_allclose(metrics.rgb_to_lab(rgb), expected, atol=0.02)


def test_colorization_auc():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32))
    assert float(metrics.colorization_auc(x, x)[0]) > 0.99
    # A grey image against pure red: every pixel's ab error is |(80.09, 67.20)| = 104.5, so the
    # cumulative curve is 0 below 104.5 and 1 from 105: area (150 - 104.5) / 150.
    grey = jnp.zeros((1, 4, 4, 3))
    red = jnp.tile(jnp.array([1.0, -1.0, -1.0]), (1, 4, 4, 1))
    err = float(np.hypot(80.09228, 67.20276))
    np.testing.assert_allclose(metrics.colorization_auc(grey, red)[0], (150 - np.ceil(err) + 0.5)
                               / 150, atol=1e-3)
    # lightness alone does not count: a darker grey is a perfect colorization
    assert float(metrics.colorization_auc(grey, grey - 0.5)[0]) > 0.99


def test_sliced_wasserstein_is_zero_for_one_set_and_measures_a_shift():
    x = jax.random.uniform(jax.random.PRNGKey(0), (32, 4, 4, 3), minval=-1, maxval=1)
    key = jax.random.PRNGKey(1)
    assert float(metrics.sliced_wasserstein(x, x[::-1], key, projections=64)) < 1e-6
    # shifting every pixel by c moves each projection by c * (sum of its direction)
    d = jax.random.normal(key, (48, 64))
    d = d / jnp.linalg.norm(d, axis=0, keepdims=True)
    expected = float(jnp.mean(jnp.abs(0.3 * jnp.sum(d, axis=0))))
    got = float(metrics.sliced_wasserstein(x, x + 0.3, key, projections=64))
    assert got == pytest.approx(expected, rel=1e-4)
