"""e-GLASS (Algorithm 1) on the real face DCGAN with the real LPIPS-alex: the direction is
decorrelated from every measurement-changing eigenvector, and moving along it changes the
measurements less than moving along v^K for the same perceptual change."""

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import shared_path
from jaxinv import geometry, load_lpips
from jaxinv.generators import dcgan
from jaxinv.losses import lpips
from jaxinv.methods import eglass

THRESHOLD = 0.1
TOP_FRACTION = 1e-3
K = 5


def _downsample4(x):
    """Super-resolution's measurement: 4x4 average pooling, 64 px -> 16 px."""
    h, w, c = x.shape
    return x.reshape(h // 4, 4, w // 4, 4, c).mean(axis=(1, 3))


def _render(cfg, params, z):
    return dcgan.generate(cfg, params, z[None])[0]


def _lpips(net, params, x, y):
    return lpips.distance(net, params, x[None], y[None])[0]


@pytest.fixture(scope="module")
def geometry_at_a_solution():
    from converters.dcgan_torch import load_tutorial

    cfg, params = load_tutorial(os.path.join(shared_path("fixtures", "dcgan_tutorial"),
                                             "weights.tar"))
    params = jax.tree_util.tree_map(jnp.asarray, params)
    net, lp = load_lpips("alex")
    render = functools.partial(_render, cfg, params)
    z0 = jax.random.normal(jax.random.PRNGKey(0), (cfg.z_dim,))
    h_y = geometry.measurement_hessian(render, _downsample4, z0)
    h_x = geometry.hessian_by_hvp(
        geometry.distance_to(render, functools.partial(_lpips, net, lp), z0), z0, chunk=25)
    return render, functools.partial(_lpips, net, lp), z0, np.asarray(h_y), np.asarray(h_x)


def test_algorithm_1_finds_a_direction_the_measurements_barely_see(geometry_at_a_solution):
    render, perceptual, z0, h_y, h_x = geometry_at_a_solution
    eig_y, eig_x = geometry.eigen(h_y), geometry.eigen(h_x)
    assert float(eig_y.values[-1]) >= -1e-4 * float(eig_y.values[0])  # H_Y is PSD
    found = eglass.direction(eig_x, eig_y, K, THRESHOLD, TOP_FRACTION)
    top = eglass.top_measurement_vectors(eig_y, TOP_FRACTION)
    assert found.removed and np.abs(top.T @ found.d).max() <= THRESHOLD
    assert np.abs(top.T @ found.start).max() > THRESHOLD  # v^K itself was not
    corr = eglass.correlations(eig_y, eig_x, np.stack([found.start, found.d], axis=1))
    assert corr["H_Y"].shape == (2, 100) and corr["coupling"].shape == (100, 100)

    # the same small perceptual change (LPIPS 1e-3 by the quadratic model of H_X) along v^K
    # and along d: the measurement change per unit of LPIPS is what e-GLASS lowers
    y = _downsample4(render(z0))
    per_lpips = {}
    for name, d in (("v^K", found.start), ("d", found.d)):
        eta = eglass.step_for(h_x, d, 1e-3)
        image = render(eglass.moved(z0, d, [eta])[0])
        moved_lpips = float(perceptual(image, render(z0)))
        assert 5e-4 < moved_lpips < 2e-3, (name, moved_lpips)  # the quadratic model holds
        per_lpips[name] = float(jnp.sum((_downsample4(image) - y) ** 2)) / moved_lpips
    # measured 0.35 (66.7 against 193 per unit of LPIPS): H_Y of a 100-d DCGAN under 4x
    # super-resolution has no exact null space (56 of its 100 eigenvalues are above 1e-3 of
    # the largest), so the gain is a factor of about 3, not orders of magnitude
    assert per_lpips["d"] < 0.5 * per_lpips["v^K"], per_lpips


def test_explore_reports_every_solution_with_its_feasibility(geometry_at_a_solution):
    render, perceptual, z0, h_y, h_x = geometry_at_a_solution
    eig_y, eig_x = geometry.eigen(h_y), geometry.eigen(h_x)
    y = _downsample4(render(z0))
    settings = eglass.Settings(ks=(5, 4), etas=(0.0, 1.0, 10.0), threshold=THRESHOLD,
                               top_fraction=TOP_FRACTION, feasibility=1e-3)
    found = eglass.explore(render, _downsample4, perceptual, z0, y, eig_x, eig_y, settings)
    assert found.images.shape == (6, 64, 64, 3) and found.k.tolist() == [5, 5, 5, 4, 4, 4]
    assert found.eta.tolist() == [0.0, 1.0, 10.0] * 2
    # eta 0 is the first solution itself; the error grows with the step; flags follow it
    np.testing.assert_allclose(found.measurement_error[[0, 3]], 0.0, atol=1e-10)
    np.testing.assert_allclose(found.lpips[[0, 3]], 0.0, atol=1e-6)
    assert np.all(found.measurement_error[[1, 4]] < found.measurement_error[[2, 5]])
    assert np.all(found.lpips[[1, 4]] > 0)
    np.testing.assert_array_equal(found.feasible, found.measurement_error <= 1e-3)
    assert found.feasible.any() and not found.feasible.all()  # infeasible ones kept, flagged
    np.testing.assert_allclose(found.latents[1], z0 + 1.0 * found.directions[0].d, rtol=1e-5)
