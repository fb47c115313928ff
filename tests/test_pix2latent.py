"""pix2latent: transforms and their inverse, BasinCMA's population, the z clamp, BasinCMA
against Adam, fine-tuning, the runner's transform search and edits (the config on the
converted BigGAN-deep fixture is in test_runner.py)."""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv import engine
from jaxinv.engine import basincma
from jaxinv.engine.loop import init_state, run_chunk
from jaxinv.generators import biggan
from jaxinv.methods import pix2latent
from jaxinv.ops.spatial import affine_grid_sample, inverse_transform
from jaxinv.pytrees import batch_of_one, stacked


@pytest.fixture(scope="module")
def small():
    """A 32 px BigGAN-deep (6 blocks): the rugged landscape BasinCMA is compared on."""
    cfg = biggan.BigGANConfig.small(32, 4, 16, num_classes=10)
    return cfg, biggan.init_params(cfg, jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def tiny():
    """A 16 px BigGAN-deep (4 blocks) for what does not depend on size; it compiles faster."""
    cfg = biggan.BigGANConfig.small(16, 4, 16, num_classes=10)
    return cfg, biggan.init_params(cfg, jax.random.PRNGKey(0))


def _data(target, t=(1.0, 0.0, 0.0)):
    return {"target": target, "weight": jnp.ones(target.shape[:2] + (1,)),
            "t": jnp.asarray(t, jnp.float32)}


def test_transform_then_inverse_is_identity_up_to_resampling():
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    image = np.stack([np.sin(3 * xx), np.cos(2 * yy), np.sin(2 * xx + yy)], -1)[None]
    mask = np.zeros((64, 64, 1), np.float32)
    mask[20:44, 10:40] = 1.0
    t0 = pix2latent.initial_transform(mask)
    roundtrip = lambda x, t: np.asarray(affine_grid_sample(
        affine_grid_sample(jnp.asarray(x, jnp.float32), t), inverse_transform(t)))
    for t in (t0, np.array([1.1, 1.05, -0.08, 0.1]), np.array([0.9, 0.1, 0.0])):
        # where the forward transform kept the content (a zoom crops the rest), and one pixel
        # in from that edge, the round trip returns the image up to bilinear resampling
        kept = roundtrip(np.ones_like(image), t)[0, ..., 0] > 0.999
        for _ in range(2):
            kept &= np.roll(kept, 1, 0) & np.roll(kept, -1, 0) & np.roll(kept, 1, 1) & np.roll(
                kept, -1, 1)
        assert kept.mean() > 0.15, t
        err = np.abs(roundtrip(image, t)[0] - image[0])[kept].max()
        assert err < 0.02, (t, err)


def test_brightness_then_inverse_is_identity_where_unclipped():
    x = jnp.linspace(-1.0, 0.3, 50)  # (x + 1) * 1.3 stays below 2: nothing clips
    np.testing.assert_allclose(pix2latent.brightness(pix2latent.brightness(x, 1.3), 1 / 1.3), x,
                               atol=1e-6)
    np.testing.assert_allclose(pix2latent.brightness(jnp.zeros(1), 5.0), 0.5)  # clamped to 1.5


def test_initial_transform_moves_the_box_onto_biggans_mean_object():
    mask = np.zeros((100, 100, 1), np.float32)
    mask[20:75, 30:90] = 1.0
    s, tx, ty = pix2latent.initial_transform(mask)
    moved = np.asarray(affine_grid_sample(jnp.asarray(mask)[None], jnp.array([s, tx, ty])))[0]
    rows, cols = np.nonzero(moved[..., 0] > 0.5)
    centre = ((cols.min() + cols.max() + 1) / 200, (rows.min() + rows.max() + 1) / 200)
    np.testing.assert_allclose(centre, pix2latent.MEAN_CENTRE, atol=0.02)
    area = (cols.max() + 1 - cols.min()) * (rows.max() + 1 - rows.min()) / 1e4
    np.testing.assert_allclose(area, np.prod(pix2latent.MEAN_SIZE), rtol=0.08)


def _problem(cfg):
    problem = pix2latent.build(cfg, 3, learning_rates={"z": {"lr": 0.05}, "embed": {"lr": 0.01}})
    loss_fn = functools.partial(pix2latent.projection_loss, problem, "alex", 0.0)
    return problem, loss_fn


def test_vmapped_population_equals_a_loop_over_members(tiny):
    cfg, params = tiny
    problem, loss_fn = _problem(cfg)
    context = {"generator": params}
    target = biggan.generate(cfg, params, jnp.ones((1, 16)), biggan.one_hot(cfg, [3]), 1.0)[0]
    v0 = problem.init(None, context)
    opt = engine.build_optimizer(v0, problem.learning_rates, 10)
    pop = 5
    members = {"z": 1.5 * jax.random.normal(jax.random.PRNGKey(1), (pop, 16)),
               "embed": jnp.broadcast_to(v0["embed"], (pop, 16))}
    data = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (pop,) + a.shape), _data(target))
    keys = jax.random.split(jax.random.PRNGKey(2), pop)
    run = functools.partial(run_chunk, objective=engine.Objective(loss_fn, opt, problem.project),
                            num_steps=6)
    together, losses, _ = run(init_state(opt, members), data, context, keys, jnp.int32(0))
    for i in range(pop):
        one = lambda tree: jax.tree_util.tree_map(lambda a: a[i:i + 1], tree)
        alone, alone_losses, _ = run(init_state(opt, one(members)), one(data), context,
                                     keys[i:i + 1], jnp.int32(0))
        np.testing.assert_allclose(together.variables["z"][i], alone.variables["z"][0],
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(losses[i], alone_losses[0], rtol=1e-5, atol=1e-7)


def test_z_clamp_holds_throughout(tiny):
    cfg, params = tiny
    problem, loss_fn = _problem(cfg)
    context = {"generator": params}
    v = problem.init(None, context)
    # the generator never sees z outside [-2, 2]
    render = jax.jit(problem.render)
    np.testing.assert_array_equal(render(dict(v, z=jnp.full(16, 5.0)), context, None, 0),
                                  render(dict(v, z=jnp.full(16, 2.0)), context, None, 0))
    target = biggan.generate(cfg, params, jnp.full((1, 16), 1.9), biggan.one_hot(cfg, [3]),
                             1.0)[0]
    opt = engine.build_optimizer(v, {"z": {"lr": 0.5}, "embed": {"lr": 0.01}}, 50)
    seen = []

    def watched(variables, context, step):
        out = problem.project(variables, context, step)
        jax.debug.callback(lambda z: seen.append(float(np.abs(z).max())), out["z"])
        return out

    r = basincma.basin_cma(engine.Objective(loss_fn, opt, watched), batch_of_one(v), "z",
                           batch_of_one(_data(target)), context, jax.random.PRNGKey(0)[None],
                           basincma.BasinCMASettings(2, 4, 4, sigma=3.0))
    assert seen and max(seen) <= 2.0
    assert float(jnp.abs(r.result.variables["z"]).max()) <= 2.0


def test_basincma_beats_adam_at_equal_generator_evaluations(small):
    cfg, params = small
    # A rugged landscape: the random generator's convolutions scaled up 3x, so plain gradient
    # descent from one start gets stuck where the population does not.
    params = jax.tree_util.tree_map(lambda a: a, params)
    for block in params["blocks"]:
        for j in range(4):
            block[f"conv_{j}"]["weight"] = block[f"conv_{j}"]["weight"] * 3.0
    problem, loss_fn = _problem(cfg)
    context = {"generator": params}
    v0 = problem.init(None, context)
    opt = engine.build_optimizer(v0, problem.learning_rates, 1000)
    seeds = range(3)  # three images, searched side by side
    z_true = jnp.stack([jnp.clip(1.5 * jax.random.normal(jax.random.PRNGKey(100 + seed), (16,)),
                                 -2, 2) for seed in seeds])
    targets = biggan.generate(cfg, params, z_true, biggan.one_hot(cfg, [3] * 3), 1.0)
    data = stacked([_data(t) for t in targets])
    objective = engine.Objective(loss_fn, opt, problem.project)
    # both Adam runs in chunks of 8 steps (568 = 71 x 8): one compiled program for both
    r = basincma.basin_cma(objective, stacked([v0] * 3), "z", data, context,
                           jnp.stack([jax.random.PRNGKey(seed) for seed in seeds]),
                           basincma.BasinCMASettings(4, 10, 40, chunk=8))
    starts = stacked([dict(v0, z=jnp.clip(jax.random.normal(jax.random.PRNGKey(50 + seed),
                                                             (16,)), -2, 2)) for seed in seeds])
    adam = engine.optimize(objective, starts, data, context,
                           jnp.stack([jax.random.PRNGKey(seed) for seed in seeds]),
                           r.evaluations, chunk=8)
    assert r.evaluations == 4 * basincma.default_population(16) * 11 + 40
    assert np.all(r.result.losses[:, -1] < adam.losses[:, -1]), (r.result.losses[:, -1],
                                                                 adam.losses[:, -1])


def test_basincma_on_a_batch_gives_each_image_its_own_numbers(tiny):
    """Images searched side by side (vmapped CMA states and populations) get what each gets
    alone: the same CMA samples, best members and final losses."""
    cfg, params = tiny
    problem, loss_fn = _problem(cfg)
    context = {"generator": params}
    v0 = problem.init(None, context)
    opt = engine.build_optimizer(v0, problem.learning_rates, 100)
    objective = engine.Objective(loss_fn, opt, problem.project)
    targets = biggan.generate(cfg, params, jnp.stack([jnp.ones(16), -jnp.ones(16)]),
                              biggan.one_hot(cfg, [3, 3]), 1.0)
    data = stacked([_data(t) for t in targets])
    keys = jnp.stack([jax.random.PRNGKey(7), jax.random.PRNGKey(8)])
    settings = basincma.BasinCMASettings(3, 2, 0)
    both = basincma.basin_cma(objective, stacked([v0] * 2), "z", data, context, keys,
                              settings)
    one = lambda tree, b: jax.tree_util.tree_map(lambda a: a[b:b + 1], tree)
    for b in range(2):
        alone = basincma.basin_cma(objective, batch_of_one(v0), "z", one(data, b), context,
                                   keys[b:b + 1], settings)
        np.testing.assert_allclose(both.best_fitness[b], alone.best_fitness[0], rtol=1e-5)
        np.testing.assert_allclose(both.result.variables["z"][b], alone.result.variables["z"][0],
                                   rtol=1e-4, atol=1e-6)
    assert not np.allclose(both.best_fitness[0], both.best_fitness[1])  # two different images


def test_fine_tuning_lowers_the_loss_and_keeps_batch_norm(tiny):
    cfg, params = tiny
    problem, loss_fn = _problem(cfg)
    context = {"generator": params}
    target = jnp.clip(biggan.generate(cfg, params, jnp.ones((1, 16)), biggan.one_hot(cfg, [3]),
                                      1.0)[0] + 0.3, -1, 1)  # not reachable without tuning
    v = dict(problem.init(None, context), z=jnp.ones(16))
    data = _data(target)
    loss = jax.jit(loss_fn)
    before = float(loss(v, data, context, jax.random.PRNGKey(0), 0)[0])
    tuned, curve = pix2latent.fine_tune(
        engine.Objective(loss_fn, None), v, data, context,
        jax.random.PRNGKey(0), pix2latent.FineTune(0.7 * before, 200, lr=5e-3, chunk=20))
    assert curve[-1] < 0.7 * before and len(curve) < 200  # stopped at the threshold
    bn = tuned["generator"]["blocks"][0]["bn_0"]
    np.testing.assert_array_equal(bn["scale"], params["blocks"][0]["bn_0"]["scale"])
    moved = tuned["generator"]["blocks"][0]["conv_1"]["weight"] - params["blocks"][0]["conv_1"][
        "weight"]
    assert float(jnp.abs(moved).max()) > 0
    # the render uses the tuned weights
    assert float(loss(tuned, data, context, jax.random.PRNGKey(0), 0)[0]) < 0.75 * before


def test_runner_transform_search_fine_tuning_and_edits(tmp_path):
    from jaxinv.experiments import invert
    from jaxinv.experiments.config_base import pix2latent_config
    from jaxinv.io.images import save_image

    mask = -np.ones((16, 16, 3), np.float32)
    mask[3:13, 2:12] = 1.0
    save_image(str(tmp_path / "mask.png"), mask)
    np.save(tmp_path / "d.npy", np.ones(16, np.float32))
    c = pix2latent_config("cma_adam")
    c.output_dir, c.progress, c.num_targets, c.steps = str(tmp_path / "run"), False, 1, 3
    c.builtin.size, c.builtin.channels, c.builtin.style_dim = 16, 64, 16
    c.loss.lpips = 0.0
    c.method.update(dict(outer_steps=2, inner_steps=2, population=4, transform_search=True,
                         transform_steps=2, transform_params=4, transform="mask_box",
                         color_transform=True,
                         mask=str(tmp_path / "mask.png"), finetune_steps=4, class_index=5,
                         edit_classes=(1, 2, 3)))
    c.report.edit_direction, c.report.edit_alphas = str(tmp_path / "d.npy"), (-1.0, 1.0)
    (record,) = invert.run(c)
    assert record["status"] == "ok"
    folder = tmp_path / "run" / "images" / "target_000"
    from PIL import Image

    assert Image.open(folder / "edit.png").size == (32, 16)
    assert Image.open(folder / "edit_classes.png").size == (48, 16)
    assert (folder / "composite.png").exists()
    # stage 1 (2) + CMA (2) + final Adam (3) + fine-tuning (4) entries
    curve = json.loads((folder / "record.json").read_text())["loss_curve"]
    assert len(curve) == 2 + 2 + 3 + 4
    # the report shows the transform found, the composite and the edits, in a browser
    from conftest import render_report

    dom = render_report(tmp_path / "run", ["summary", "images"])
    for shown in ("composite", "edit classes", "edit.png", "transform = [", "brightness = "):
        assert shown in dom, shown
    assert len(record["transform"]) == 4
