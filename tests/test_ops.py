"""Forward operators: adjoint identities, inverse transforms, measurement sizes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv import ops
from jaxinv.ops import circulant


def _adjoint_gap(op, p, x):
    y = op.apply(p, x)
    r = jax.random.normal(jax.random.PRNGKey(7), y.shape)
    lhs = jnp.vdot(y, r)
    rhs = jnp.vdot(x, op.adjoint(p, r))
    return float(jnp.abs(lhs - rhs) / jnp.abs(lhs))


CASES = {
    "identity": (ops.identity(), {}),
    "grayscale": (ops.grayscale(), {}),
    "area": (ops.downsample(4, "area"), {}),
    "bicubic": (ops.downsample(2, "bicubic"), {}),
    "inpaint": (ops.inpaint(), {"mask": (jax.random.uniform(jax.random.PRNGKey(2), (2, 16, 16, 1))
                                         > 0.5).astype(jnp.float32)}),
    "compressed_sensing": (ops.compressed_sensing((16, 16, 3)),
                           circulant.sample_params(jax.random.PRNGKey(3), (16, 16, 3), 0.05)),
    "spatial": (ops.spatial_transform(), {"t": jnp.array([[1.2, 0.1, -0.2], [0.8, 0.0, 0.3]])}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_adjoint_identity(name):
    op, p = CASES[name]
    assert op.linear
    x = jax.random.normal(jax.random.PRNGKey(1), (2, 16, 16, 3))
    assert _adjoint_gap(op, p, x) < 1e-5


def test_adjoint_of_linear_operator_matches_jax_transpose():
    op, p = CASES["compressed_sensing"]
    x = jnp.zeros((2, 16, 16, 3))
    y = jax.random.normal(jax.random.PRNGKey(4), op.apply(p, x).shape)
    auto = jax.linear_transpose(lambda v: op.apply(p, v), x)(y)[0]
    np.testing.assert_allclose(op.adjoint(p, y), auto, atol=1e-5)


def test_compressed_sensing_measurement_count():
    p = circulant.sample_params(jax.random.PRNGKey(0), (32, 32, 3), 0.02)
    y = ops.compressed_sensing((32, 32, 3)).apply(p, jnp.ones((3, 32, 32, 3)))
    assert y.shape == (3, round(0.02 * 32 * 32 * 3))
    with pytest.raises(ValueError, match="fraction"):
        circulant.sample_params(jax.random.PRNGKey(0), (8, 8, 3), 0.0)


def _smooth(size=32):
    u = jnp.linspace(-1, 1, size)
    xx, yy = jnp.meshgrid(u, u)
    img = jnp.stack([jnp.sin(2 * xx), jnp.cos(3 * yy), xx * yy], -1)
    return img[None]


def test_transform_then_inverse_is_identity_up_to_resampling():
    x = _smooth()
    for t in ([1.25, 0.1, -0.05], [0.875, -0.1, 0.2], [1.1, 0.9, 0.0, 0.1]):
        t = jnp.asarray(t)
        back = ops.affine_grid_sample(ops.affine_grid_sample(x, t), ops.inverse_transform(t))
        # away from the borders, where content left the frame
        assert float(jnp.max(jnp.abs(back - x)[:, 8:-8, 8:-8])) < 0.02


def test_translation_direction_and_identity():
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 8, 8, 3))
    np.testing.assert_allclose(ops.affine_grid_sample(x, jnp.array([1.0, 0, 0])), x, atol=1e-6)
    shifted = ops.affine_grid_sample(x, jnp.array([1.0, 2 / 8, 0.0]))  # one pixel to the right
    np.testing.assert_allclose(shifted[:, :, 1:], x[:, :, :-1], atol=1e-5)
    np.testing.assert_allclose(shifted[:, :, 0], 0.0, atol=1e-6)


def test_area_downsample_and_grayscale_values():
    x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
    y = ops.downsample(2).apply({}, x)
    np.testing.assert_allclose(y[0, 0, 0], x[0, :2, :2].mean(axis=(0, 1)))
    g = ops.grayscale().apply({}, jnp.ones((1, 2, 2, 3)) * jnp.array([1.0, 0.0, 0.0]))
    np.testing.assert_allclose(g, 0.299, rtol=1e-6)


def test_noise_and_brightness():
    y = jnp.zeros((4, 32, 32, 3))
    noisy = ops.add_gaussian_noise(jax.random.PRNGKey(0), y, 0.1)
    assert abs(float(jnp.std(noisy)) - 0.1) < 0.005
    b = ops.brightness()
    assert not b.linear
    np.testing.assert_allclose(b.apply({"delta": 0.2}, y), 0.2)


def test_build_rejects_unknown():
    with pytest.raises(ValueError, match="unknown degradation"):
        ops.build("blur")


def test_rotation_by_90_degrees_is_counter_clockwise():
    x = jax.random.normal(jax.random.PRNGKey(0), (1, 8, 8, 3))
    np.testing.assert_allclose(ops.rotate(x, 90.0)[0], np.rot90(np.asarray(x[0]), 1), atol=1e-5)
    np.testing.assert_allclose(ops.rotate(x, 0.0), x, atol=1e-6)


@pytest.mark.parametrize("factor", [2, 3, 16])
def test_bilinear_downsampling_matches_pytorch_and_its_adjoint(factor):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(factor).normal(size=(2, 48, 96, 3)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2),
                                          scale_factor=1 / factor, mode="bilinear")
    op = ops.downsample(factor, "bilinear")
    y = op.apply({}, jnp.asarray(x))
    np.testing.assert_allclose(y, ref.permute(0, 2, 3, 1).numpy(), atol=1e-6)
    v = np.random.default_rng(1).normal(size=y.shape).astype(np.float32)
    np.testing.assert_allclose(jnp.vdot(y, v), jnp.vdot(x, op.adjoint({}, jnp.asarray(v))),
                               rtol=1e-4)
