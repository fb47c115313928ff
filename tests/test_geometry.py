"""Exact latent geometry: three Hessians agree, match finite differences and 2 J^T A^T A J."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv import geometry
from jaxinv.generators import dcgan
from jaxinv.report import plots

CFG = dcgan.DCGANConfig(16, (32, 16, 8))


def _downsample(x):
    """A linear measurement: 2x2 average pooling of an image [H, W, 3]."""
    h, w, c = x.shape
    return x.reshape(h // 2, 2, w // 2, 2, c).mean(axis=(1, 3))


def _render(params, z):
    return dcgan.generate(CFG, params, z[None])[0]


def _measurement_distance(x, y):
    return geometry.squared_error(_downsample(x), _downsample(y))


def _problem(dtype=jnp.float32):
    """(params, z0): a random 16 px DCGAN and a latent."""
    params = dcgan.init_params(CFG, jax.random.PRNGKey(0))
    z0 = jax.random.normal(jax.random.PRNGKey(1), (CFG.z_dim,))
    return geometry.as_float64((params, z0)) if dtype == jnp.float64 else (params, z0)


def _objective(params, z0):
    """(render, f): the render and its measurement distance to the image at ``z0``."""
    render = functools.partial(_render, params)
    return render, geometry.distance_to(render, _measurement_distance, z0)


# Each compiled as one program with the params as an argument (op by op, every operation of
# the generator's Hessian would be compiled apart).
@jax.jit
def _three_hessians(params, z0):
    """The dense, Hessian-vector-product and Gauss-Newton Hessians at ``z0``."""
    render, f = _objective(params, z0)
    return (geometry.dense_hessian(f, z0),
            geometry.hessian_by_hvp(f, z0, chunk=5),  # 16 is not a multiple of 5
            geometry.measurement_hessian(render, _downsample, z0))


@jax.jit
def _dense_hessian(params, z0):
    return geometry.dense_hessian(_objective(params, z0)[1], z0)


@jax.jit
def _gradient(params, z0, z):
    return jax.grad(_objective(params, z0)[1])(z)


def test_the_three_ways_agree_and_equal_2_jt_at_a_j(tmp_path):
    params, z0 = _problem()
    dense, by_hvp, gauss_newton = _three_hessians(params, z0)
    assert dense.shape == (16, 16)
    scale = float(jnp.abs(dense).max())
    np.testing.assert_allclose(by_hvp, dense, atol=1e-4 * scale)
    np.testing.assert_allclose(dense, gauss_newton, atol=1e-4 * scale)
    # H_Y is positive semi-definite (it is 2 J^T A^T A J)
    values, vectors = geometry.eigen(dense)
    assert float(values[-1]) >= -1e-5 * float(values[0])
    assert np.all(np.diff(np.asarray(values)) <= 0)
    # Lanczos on Hessian-vector products finds the top of the spectrum
    top = geometry.lanczos_top(_objective(params, z0)[1], z0, 4, 12, jax.random.PRNGKey(2))
    np.testing.assert_allclose(top.values, values[:4], rtol=1e-3)
    cosines = np.abs(np.sum(np.asarray(top.vectors) * np.asarray(vectors[:, :4]), axis=0))
    assert cosines.min() > 0.99, cosines
    plots.spectrum(str(tmp_path / "spectrum.png"), {"H_Y": values})
    assert (tmp_path / "spectrum.png").stat().st_size > 0


def test_the_hessian_is_the_derivative_of_the_gradient_in_float64(x64):
    params, z0 = _problem(jnp.float64)
    hessian = np.asarray(_dense_hessian(params, z0))
    assert hessian.dtype == np.float64
    grad = functools.partial(_gradient, params, z0)
    eps = 1e-5
    for i in (0, 7, 15):
        e = jnp.zeros_like(z0).at[i].set(eps)
        column = (grad(z0 + e) - grad(z0 - e)) / (2 * eps)
        np.testing.assert_allclose(column, hessian[:, i], rtol=1e-6,
                                   atol=1e-8 * np.abs(hessian).max())


def test_float64_needs_x64():
    if jax.config.jax_enable_x64:
        pytest.skip("x64 is on in this process")
    with pytest.raises(ValueError, match="jax_enable_x64"):
        geometry.as_float64(jnp.zeros(2))
