"""Engine: schedules, per-variable optimisers, loss reduction, W+ recovery, divergence guard."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv import engine, metrics, ops
from jaxinv.engine import regularizers
from jaxinv.generators import stylegan2 as sg
from jaxinv.methods import baselines
from jaxinv.methods.problem import LossWeights, reconstruction_loss
from jaxinv.pytrees import first_of_batch


def test_schedules():
    ramp = engine.make_schedule("ramp", 0.1, 100, rampup=0.05, rampdown=0.25)
    np.testing.assert_allclose([ramp(0), ramp(50), ramp(100)], [0.0, 0.1, 0.0], atol=1e-7)
    np.testing.assert_allclose(ramp(2.5), 0.05, rtol=1e-5)  # halfway up the linear ramp
    np.testing.assert_allclose(ramp(87.5), 0.05, rtol=1e-5)  # halfway down the cosine
    lin = engine.make_schedule("trapezoid", 1.0, 100, rampup=0.1, rampdown=0.5)
    np.testing.assert_allclose([lin(5), lin(30), lin(75)], [0.5, 1.0, 0.5], rtol=1e-5)
    cos = engine.make_schedule("cosine", 1.0, 100, rampup=0.0)
    np.testing.assert_allclose([cos(0), cos(50), cos(100)], [1.0, 0.5, 0.0], atol=1e-6)
    assert float(engine.make_schedule("constant", 0.3, 10)(7)) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        engine.make_schedule("exp", 1.0, 10)


def _quadratic_loss(variables, data, context, key, step):
    err = variables["a"] - data["target"]
    return jnp.sum(err ** 2) + jnp.sum(variables["b"] ** 2), {"err": jnp.sum(err ** 2)}


def test_per_variable_rates_and_frozen_variables():
    v = {"a": jnp.zeros((3, 4)), "b": jnp.ones((3, 2))}
    data = {"target": jnp.ones((3, 4))}
    opt = engine.build_optimizer({"a": v["a"][0], "b": v["b"][0]},
                                 {"a": {"lr": 0.1, "schedule": "constant"}}, 50)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    res = engine.optimize(engine.Objective(_quadratic_loss, opt), v, data, {}, keys, 50)
    assert res.losses.shape == (3, 50) and res.aux["err"].shape == (3, 50)
    assert np.all(res.losses[:, -1] < 0.1 * res.losses[:, 0] + 2.0)
    np.testing.assert_allclose(res.variables["b"], 1.0)  # no learning rate: frozen
    assert float(jnp.max(jnp.abs(res.variables["a"] - 1.0))) < 0.05
    with pytest.raises(ValueError, match="not variables"):
        engine.build_optimizer({"a": 0.0}, {"c": {"lr": 1.0}}, 10)


def test_chunked_and_per_step_runs_equal_single_call():
    v = {"a": jax.random.normal(jax.random.PRNGKey(1), (2, 5)), "b": jnp.zeros((2, 1))}
    data = {"target": jnp.ones((2, 5))}
    opt = engine.build_optimizer({"a": 0, "b": 0}, {"a": {"lr": 0.05, "schedule": "ramp"}}, 30)
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    run = functools.partial(engine.optimize, engine.Objective(_quadratic_loss, opt), v, data, {},
                            keys, 30)
    whole = run(mode="scan")
    for other in (run(chunk=7, mode="scan"), run(chunk=7, mode="step")):
        assert other.losses.shape == (2, 30) and other.aux["err"].shape == (2, 30)
        np.testing.assert_allclose(whole.losses, other.losses, rtol=1e-6)
        np.testing.assert_allclose(whole.aux["err"], other.aux["err"], rtol=1e-6)
        np.testing.assert_allclose(whole.variables["a"], other.variables["a"], rtol=1e-6)
    assert engine.loop.step_mode("gpu") == "scan"
    with pytest.raises(ValueError, match="mode 'unrolled'"):
        run(mode="unrolled")


def _blows_up(variables, data, context, key, step):
    # Image with data['bad'] = 1 gets a NaN loss from step 5 on.
    poison = jnp.where((step >= 5) & (data["bad"] > 0), jnp.nan, 0.0)
    return jnp.sum((variables["a"] - 1.0) ** 2) + poison, {}


@pytest.mark.parametrize("mode", ["scan", "step"])
def test_divergence_is_caught_and_named(mode):
    v = {"a": jnp.zeros((3, 2))}
    data = {"bad": jnp.array([0.0, 1.0, 0.0])}
    opt = engine.build_optimizer({"a": 0}, {"a": {"lr": 0.1}}, 20)
    res = engine.optimize(engine.Objective(_blows_up, opt), v, data, {},
                          jax.random.split(jax.random.PRNGKey(0), 3), 20, chunk=8, mode=mode)
    np.testing.assert_array_equal(res.diverged_at, [-1, 5, -1])
    assert np.all(np.isfinite(np.asarray(res.variables["a"])))
    # the poisoned image keeps its last finite variables (5 Adam steps of lr 0.1 from 0)
    np.testing.assert_allclose(res.variables["a"][1], 0.5, atol=0.02)
    assert float(jnp.min(res.variables["a"][0])) > 0.9
    with pytest.raises(engine.DivergenceError, match="cat at step 5"):
        engine.check_finite(res, ["dog", "cat", "cow"])


def test_noise_regularizer_and_normalization():
    key = jax.random.PRNGKey(0)
    white = [jax.random.normal(key, (32, 32, 1))]
    smooth = [jnp.repeat(jnp.repeat(jax.random.normal(key, (8, 8, 1)), 4, 0), 4, 1)]
    assert float(regularizers.noise_regularization(smooth)) > 50 * float(
        regularizers.noise_regularization(white))
    n = regularizers.normalize_noise([3.0 + 2.0 * white[0]])[0]
    assert abs(float(n.mean())) < 1e-5 and abs(float(n.std()) - 1.0) < 1e-5


def _recover(cfg, params, spec, lr, steps, targets_ws, context=None):
    images = sg.synthesis(cfg, params, targets_ws)
    problem = baselines.build(cfg, spec, lr, steps)
    context = dict(context or {}, generator=params)
    keys = jax.random.split(jax.random.PRNGKey(5), images.shape[0])
    v0 = engine.init_batch(problem.init, keys, context)
    opt = engine.build_optimizer(first_of_batch(v0),
                                 problem.learning_rates, steps)
    loss = functools.partial(reconstruction_loss, problem, ops.identity(), LossWeights())
    res = engine.optimize(engine.Objective(loss, opt, problem.project), v0,
                          {"target": images, "op": {}}, context, keys, steps)
    render = jax.jit(jax.vmap(problem.render, in_axes=(0, None, None, None)))
    recon = render(res.variables, context, keys[0], steps)[:, 0]
    return res, recon, images


def test_wplus_recovery_reaches_high_psnr(small_stylegan2):
    cfg, params = small_stylegan2
    # targets from known w (truncation 0.7), inverted in W+ from w_avg
    z = jax.random.normal(jax.random.PRNGKey(11), (2, cfg.style_dim))
    ws = sg.broadcast_w(cfg, sg.truncate(sg.mapping(cfg, params, z), params["w_avg"], 0.7))
    res, recon, images = _recover(cfg, params, baselines.Space("w+"),
                                  {"latent": {"lr": 0.05, "schedule": "constant"}}, 600, ws)
    assert np.all(res.losses[:, -1] < 0.01 * res.losses[:, 0])
    assert float(jnp.min(metrics.psnr(recon, images))) > 33.0
    assert np.all(res.diverged_at == -1)


def test_projector_baseline_optimises_normalised_noise(small_stylegan2):
    cfg, params = small_stylegan2
    ws = sg.broadcast_w(cfg, sg.mapping(cfg, params, jax.random.normal(jax.random.PRNGKey(2),
                                                                       (1, cfg.style_dim))))
    spec = baselines.Space("w", optimize_noise=True, noise_regularize=1e5, normalize_noise=True,
                           latent_noise=0.05)
    lr = {"latent": {"lr": 0.1, "schedule": "ramp"}, "noise": {"lr": 0.1, "schedule": "ramp"}}
    _, w_std = sg.w_stats(cfg, params, jax.random.PRNGKey(0), 2000)
    res, recon, images = _recover(cfg, params, spec, lr, 100, ws, {"w_std": w_std})
    assert res.losses[0, -1] < 0.2 * res.losses[0, 0]
    for n in res.variables["noise"]:
        assert abs(float(n[0].std()) - 1.0) < 1e-3
    assert "noise_reg" in res.aux


@pytest.mark.parametrize("space", ["z", "z+"])
def test_z_spaces_lower_the_loss(small_stylegan2, space):
    cfg, params = small_stylegan2
    ws = sg.broadcast_w(cfg, sg.mapping(cfg, params, jax.random.normal(jax.random.PRNGKey(4),
                                                                       (1, cfg.style_dim))))
    spec = baselines.Space(space, optimize_noise=True, optimize_const=True)
    lr = {"latent": {"lr": 0.05}, "noise": {"lr": 0.01}, "const": {"lr": 0.01}}
    res, _, _ = _recover(cfg, params, spec, lr, 60, ws)
    assert res.losses[0, -1] < 0.5 * res.losses[0, 0]
    assert set(res.variables) == {"latent", "noise", "const"}


def test_clamp_projection_holds_every_step(small_stylegan2):
    cfg, params = small_stylegan2
    ws = sg.broadcast_w(cfg, sg.mapping(cfg, params, 3.0 * jnp.ones((1, cfg.style_dim))))
    spec = baselines.Space("z", clamp=0.5)
    res, _, _ = _recover(cfg, params, spec, {"latent": {"lr": 0.2}}, 30, ws)
    assert float(jnp.max(jnp.abs(res.variables["latent"]))) <= 0.5 + 1e-7
    assert float(jnp.max(jnp.abs(res.variables["latent"]))) > 0.49  # the target pulls outward
