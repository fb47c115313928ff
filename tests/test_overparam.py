"""Overparameterized StyleGAN2: row-wise modulation, correlated rows, the truncation schedule
and inversion in the latent-matrix spaces (jaxinv.methods.overparam)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxinv.generators import stylegan2
from jaxinv.pytrees import batch_of_one


def test_one_row_is_exactly_the_standard_generator(small_stylegan2):
    cfg, params = small_stylegan2
    ws = jax.random.normal(jax.random.PRNGKey(1), (2, cfg.n_latent, cfg.style_dim))
    standard = np.asarray(stylegan2.synthesis(cfg, params, ws))
    np.testing.assert_array_equal(np.asarray(stylegan2.synthesis(cfg, params, ws[:, :, None])),
                                  standard)
    # every output channel given the same row: the per-sample filters of the row-wise path
    # (including the upsampling convs and the ToRGBs) reproduce the shared modulation
    rows = jnp.repeat(ws[:, :, None], max(cfg.channels), axis=2)
    np.testing.assert_allclose(np.asarray(stylegan2.synthesis(cfg, params, rows)), standard,
                               rtol=0, atol=2e-5 * np.abs(standard).max())


@pytest.mark.parametrize("layer_index", [1, 2])  # an upsampling conv and a plain one
def test_each_output_channel_is_modulated_by_its_own_row(small_stylegan2, layer_index):
    cfg, params = small_stylegan2
    layer = params["convs"][layer_index]
    cin, cout = layer["weight"].shape[2:]
    upsample = layer_index % 2 == 1
    kx, kw = jax.random.split(jax.random.PRNGKey(2))
    x = jax.random.normal(kx, (2, 8, 8, cin))
    rows = jax.random.normal(kw, (2, cout + 5, cfg.style_dim))
    conv = jax.jit(functools.partial(stylegan2._modulated_conv, upsample=upsample))
    y = np.asarray(conv(layer, x, rows))
    for o in (0, 7, cout - 1):
        # channel o is the standard modulated conv with w = row o, read at channel o
        np.testing.assert_allclose(y[..., o], np.asarray(conv(layer, x, rows[:, o]))[..., o],
                                   rtol=0, atol=1e-5 * np.abs(y).max())
    # a row changes its own channel only; rows past the output channels are unused
    moved = rows.at[:, 3].add(1.0)
    changed = np.abs(np.asarray(conv(layer, x, moved)) - y).max(axis=(0, 1, 2))
    assert changed[3] > 1e-3 and np.all(np.delete(changed, 3) == 0)
    np.testing.assert_array_equal(np.asarray(conv(layer, x, rows.at[:, cout:].set(9.0))), y)
    with pytest.raises(ValueError, match="rows cannot modulate a layer of"):
        conv(layer, x, rows[:, :cout - 1])


def test_sampled_rows_share_half_their_variance():
    cfg = stylegan2.StyleGAN2Config(16, 32, 2, (32, 32, 32), rows=32)
    z = np.asarray(stylegan2.sample_z(cfg, jax.random.PRNGKey(3), 256))  # [256, 32, 32]
    assert z.shape == (256, 32, 32)
    assert abs(z.var() - 1.0) < 0.03
    # rows i != j of one sample: correlation 1/2 (the shared draw); different samples: 0
    same = np.mean(z[:, 0] * z[:, 1])
    other = np.mean(z[:-1, 0] * z[1:, 1])
    assert abs(same - 0.5) < 0.05 and abs(other) < 0.05
    with pytest.raises(ValueError, match="rows must be 1 or at least"):
        stylegan2.StyleGAN2Config(16, 32, 2, (32, 32, 32), rows=8)


def _problem(cfg, space, steps, **settings):
    from jaxinv.methods import overparam

    return overparam.build(cfg, overparam.Settings(space=space, **settings), {"lr": 0.05}, steps)


def test_truncation_pulls_before_each_step_of_the_first_half(small_stylegan2):
    """With a zero learning rate only the pull moves the latent: 0.9 per step while the next
    step is in the first half (steps 1..4 of 10), then nothing."""
    from jaxinv import engine

    cfg, params = small_stylegan2
    problem = _problem(cfg, "W+", steps=10)
    context = {"generator": params}
    start = problem.init(jax.random.PRNGKey(0), context)
    np.testing.assert_array_equal(start["latent"][3, 5], params["w_avg"])
    away = {"latent": start["latent"] + 1.0}
    seen = []

    def watched(variables, context, step):
        out = problem.project(variables, context, step)
        jax.debug.callback(lambda d: seen.append(float(d)),
                           jnp.max(jnp.abs(out["latent"] - context["generator"]["w_avg"])))
        return out

    loss = lambda v, data, context, key, step: (jnp.sum(v["latent"] ** 2), {})
    engine.optimize(engine.Objective(loss, optax.sgd(0.0), watched), batch_of_one(away), {},
                    context, jax.random.PRNGKey(0)[None], 10)
    np.testing.assert_allclose(seen, [0.9 ** min(t + 1, 4) for t in range(10)], rtol=1e-5)
    on_throughout = _problem(cfg, "W+", steps=10, truncation_until=1.0)
    pulled = on_throughout.project(away, context, 8)["latent"]
    np.testing.assert_allclose(np.asarray(pulled - params["w_avg"]), 0.9, rtol=1e-5)


def test_latent_matrices_reconstruct_better_than_w_plus(small_stylegan2):
    """The paper's Table 2 claim on a target the generator cannot make (another generator's
    image): the latent matrix per layer (W+) and the shared matrix (W) fit it closer than one w
    per layer (w+), from the same start, steps and learning rate."""
    import jaxinv
    from jaxinv.generators.base import Generator

    cfg, params = small_stylegan2
    other = stylegan2.init_params(cfg, jax.random.PRNGKey(7))
    target = np.asarray(stylegan2.generate(cfg, other, jax.random.normal(
        jax.random.PRNGKey(8), (1, cfg.style_dim))))
    gen = Generator(stylegan2.FAMILY, cfg, params)
    job = jaxinv.Job(steps=60, chunk=60, learning_rates={"latent": {"lr": 0.05}})
    mse = {}
    for space in ("w+", "W", "W+"):
        out = jaxinv.invert(gen, target, "overparam", {"space": space}, job=job)
        mse[space] = float(np.mean((out.reconstructions - target) ** 2))
        assert out.latents["wplus"].shape[-1] == cfg.style_dim
    # measured: w+ 0.19, W 0.045, W+ 0.016 (the paper's order, Table 2)
    assert mse["W+"] < mse["W"] < 0.5 * mse["w+"], mse
    assert mse["W+"] < 0.25 * mse["w+"], mse


def test_principal_directions_of_w(small_stylegan2):
    cfg, params = small_stylegan2
    directions, stds = stylegan2.principal_directions(cfg, params, jax.random.PRNGKey(4), 4000, 3)
    directions, stds = np.asarray(directions), np.asarray(stds)
    np.testing.assert_allclose(directions @ directions.T, np.eye(3), atol=1e-4)
    assert np.all(np.diff(stds) <= 0)
    w = np.asarray(stylegan2.mapping(cfg, params, jax.random.normal(jax.random.PRNGKey(5),
                                                                    (4000, cfg.style_dim))))
    # fresh samples spread along the first direction as estimated, more than along any other
    assert abs(np.std(w @ directions[0]) / stds[0] - 1) < 0.1
    others = np.linalg.svd(w - w.mean(0) - np.outer((w - w.mean(0)) @ directions[0],
                                                     directions[0]), compute_uv=False)
    assert others[0] / np.sqrt(len(w) - 1) < stds[0]


def test_interpolation_midpoint_and_path_length(small_stylegan2):
    from jaxinv.losses import lpips
    from jaxinv.methods import latent_ops

    cfg, params = small_stylegan2
    problem = _problem(cfg, "W", steps=10)
    context = {"generator": params}
    a = problem.init(jax.random.PRNGKey(0), context)
    b = {"latent": a["latent"] + 0.5 * jax.random.normal(jax.random.PRNGKey(1),
                                                         a["latent"].shape)}
    net = lpips.random_params("vgg", jax.random.PRNGKey(2), 16)
    midpoint, length = latent_ops.interpolation_quality(problem, a, b, context, net, "vgg")
    ws = 0.5 * (problem.sample_wplus(a, context, None)[0]
                + problem.sample_wplus(b, context, None)[0])
    np.testing.assert_allclose(np.asarray(midpoint), np.asarray(
        problem.render_wplus(a, context, ws, params["const"])[0]), atol=1e-5)
    frames = latent_ops.interpolate(problem, a, b, context, 6)  # 5 segments
    steps = lpips.distance("vgg", net, frames[:-1], frames[1:])
    assert float(length) > 0
    np.testing.assert_allclose(float(length), float(np.sum(steps)), rtol=1e-5)
    _, still = latent_ops.interpolation_quality(problem, a, a, context, net, "vgg")
    assert abs(float(still)) < 1e-6
