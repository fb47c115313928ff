"""SPHInX: head structure, both presets on a real face, robustness report, attribute discovery,
denoising and compressed sensing through the runner."""

import functools
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import render_report, shared_path, with_overrides
from jaxinv import engine, ops
from jaxinv.experiments import invert
from jaxinv.experiments.config_base import sphinx_config
from jaxinv.io.images import load_image
from jaxinv.methods import latent_ops, robustness, sphinx
from jaxinv.methods.problem import LossWeights, reconstruction_loss
from jaxinv.pytrees import first_of_batch


@pytest.mark.parametrize("preset", ["official", "paper"])
def test_one_decoder_changes_only_its_slot(preset):
    p = sphinx.PRESETS[preset]
    params = sphinx.init_style_head(p, jax.random.PRNGKey(0), 6, 64)
    z = jax.random.normal(jax.random.PRNGKey(1), (6, 64))
    before = sphinx.style_head(p, params, z, 64)
    assert before.shape == (6, 64)
    changed = jax.tree_util.tree_map(lambda a: a, params)
    changed["dec"][0]["w"] = changed["dec"][0]["w"].at[3].add(0.5)
    changed["dec"][-1]["b"] = changed["dec"][-1]["b"].at[3].add(1.0)
    after = sphinx.style_head(p, changed, z, 64)
    diff = jnp.max(jnp.abs(after - before), axis=1)
    assert float(diff[3]) > 1e-3
    np.testing.assert_array_equal(np.delete(np.asarray(diff), 3), 0.0)


def test_head_shapes_match_the_presets():
    # shapes only: traced by eval_shape, nothing compiled or drawn
    key = jax.random.PRNGKey(0)
    off = jax.eval_shape(lambda k: sphinx.init_style_head(sphinx.PRESETS["official"], k, 18, 512),
                         key)
    assert [l["w"].shape for l in off["enc"]] == [(512, 256), (256, 128), (128, 32)]
    assert [l["w"].shape for l in off["dec"]] == [(18, 32, 64), (18, 64, 128), (18, 128, 512)]
    pap = jax.eval_shape(lambda k: sphinx.init_style_head(sphinx.PRESETS["paper"], k, 18, 512),
                         key)
    assert [l["w"].shape for l in pap["enc"]] == [(512, 256), (256, 16)]
    assert [l["w"].shape for l in pap["dec"]] == [(18, 16, 32), (18, 32, 64), (18, 64, 512)]
    content = jax.eval_shape(
        lambda k: sphinx.init_content_head(sphinx.PRESETS["official"], k, 512), key)
    assert [w.shape for w in content["w"]] == [(8, 32), (32, 128), (128, 512)]
    out = jax.eval_shape(sphinx.content_head, content, jax.ShapeDtypeStruct((4, 4, 8),
                                                                            jnp.float32))
    assert out.shape == (4, 4, 512)


def test_margin_loss():
    np.testing.assert_allclose(sphinx.margin_loss(jnp.array([0.5])), 1.5)
    np.testing.assert_allclose(sphinx.margin_loss(jnp.array([2.0, 4.0])), 0.0)
    np.testing.assert_allclose(sphinx.margin_loss(jnp.array([2.0, 3.0])), 1.0)
    np.testing.assert_allclose(sphinx.margin_loss(jnp.array([1.0, 2.5]), "paper"), 1.0 + 0.5)


def _solve(cfg, params, problem, target, steps, weights=LossWeights(mse=1.0)):
    context = {"generator": params}
    keys = jax.random.split(jax.random.PRNGKey(0), 1)
    v0 = engine.init_batch(problem.init, keys, context)
    opt = engine.build_optimizer(first_of_batch(v0),
                                 problem.learning_rates, steps)
    loss = functools.partial(reconstruction_loss, problem, ops.identity(), weights)
    res = engine.optimize(engine.Objective(loss, opt), v0, {"target": target[None], "op": {}},
                          context, keys, steps)
    return res, context


@pytest.mark.parametrize("preset", ["official", "paper"])
def test_presets_lower_the_loss_on_a_real_face(preset, small_stylegan2):
    cfg, params = small_stylegan2
    face = load_image(os.path.join(shared_path("data", "faces"), "1.png"), cfg.size)
    problem = sphinx.build(cfg, preset)
    res, context = _solve(cfg, params, problem, jnp.asarray(face), 150)
    first, last = res.losses[0, :10].mean(), res.losses[0, -10:].mean()
    assert last < 0.7 * first, (first, last)
    v = first_of_batch(res.variables)
    rep = robustness.report(problem, v, context, jnp.asarray(face), jax.random.PRNGKey(1),
                            num_samples=4, snrs=(20.0, 0.0))
    assert set(rep) == {"fresh", "snr_20db", "snr_0db"}
    # fresh samples differ from one another (SPHInX is stochastic) ...
    assert rep["fresh"]["psnr"]["std"] > 0
    # ... and heavy latent noise hurts more than light noise
    assert rep["snr_0db"]["psnr"]["mean"] < rep["snr_20db"]["psnr"]["mean"]


def test_attribute_discovery_keeps_alpha_increasing(small_stylegan2):
    cfg, params = small_stylegan2
    face = jnp.asarray(load_image(os.path.join(shared_path("data", "faces"), "2.png"), cfg.size))
    variants = jnp.concatenate([ops.rotate(face[None], a) for a in (0.0, 10.0, 20.0)])
    problem = sphinx.build(cfg, "official", num_variants=3)
    rates = dict(problem.learning_rates, alpha={"lr": 0.05, "schedule": "constant"})
    problem = problem._replace(learning_rates=rates)
    res, context = _solve(cfg, params, problem, variants, 120)
    alpha = np.asarray(res.variables["alpha"][0])
    assert alpha.shape == (2,)
    assert 0.0 < alpha[0] < alpha[1], alpha
    assert res.aux["margin"][0, -1] < res.aux["margin"][0, 0]
    v = first_of_batch(res.variables)
    walk = latent_ops.edit(problem, v, context, v["direction"], (0.0, float(alpha[1])))
    assert walk.shape == (2, cfg.size, cfg.size, 3)


def _tiny_sphinx(out, **overrides):
    c = sphinx_config("official")
    c.output_dir = str(out)
    c.builtin.size, c.builtin.channels, c.builtin.style_dim, c.builtin.n_mlp = 16, 16, 32, 2
    c.steps, c.num_targets, c.batch_size, c.progress = 30, 2, 2, False
    c.loss.lpips = 0.0
    c.report.robustness_samples = 2
    return with_overrides(c, overrides)


def test_runner_denoising_compressed_and_shift(tmp_path):
    # denoising a shifted target in one run (one compiled program fewer than two runs)
    runs = {
        "cs": {"degradation.name": "compressed_sensing", "degradation.fraction": 0.05},
        "shift": {"target_transform.rotate": 20.0, "report.interpolate": 3,
                  "degradation.noise_std": 0.2, "degradation.clip_noisy": True,
                  "loss.generated_noise_std": 0.2,
                  "report.edit_direction": str(tmp_path / "d.npy"),
                  "report.edit_alphas": (-2.0, 0.0, 2.0)},
    }
    np.save(tmp_path / "d.npy", np.random.default_rng(0).normal(size=(1, 32)))
    for name, overrides in runs.items():
        records = invert.run(_tiny_sphinx(tmp_path / name, **overrides))
        for r in records:
            assert r["status"] == "ok", (name, r)
            assert "robust_fresh_psnr" in r and "robust_snr_10db_psnr" in r
            curve = json.loads((tmp_path / name / "images" / r["image"] /
                                "record.json").read_text())["loss_curve"]
            assert np.mean(curve[-5:]) < np.mean(curve[:5]), name
    assert (tmp_path / "shift" / "interpolations" / "target_000__target_001.png").exists()
    from PIL import Image
    edit = np.asarray(Image.open(tmp_path / "shift" / "images" / "target_000" / "edit.png"))
    assert edit.shape == (16, 48, 3)
    assert np.abs(edit[:, :16].astype(int) - edit[:, 16:32]).max() > 0  # alpha -2 vs 0 differ
    # the shifted target really is rotated: its corners are the mid-gray fill
    grid = np.asarray(Image.open(tmp_path / "shift" / "images" / "target_000" / "grid.png"))
    assert abs(int(grid[0, 0, 0]) - 128) <= 1
    # the report shows the robustness tables, the edit and the interpolation, in a browser
    dom = render_report(tmp_path / "shift", ["summary", "images", "interpolations"])
    assert dom.count("robustness (mean") == 2 and "degraded input" in dom
    assert "target_000: error" in dom and "edit.png" in dom


def test_runner_attribute_mode(tmp_path):
    c = _tiny_sphinx(tmp_path, **{"method.attribute": "rotate",
                                  "method.factors": (0.0, 15.0, 30.0),
                                  "report.robustness": False})
    (r1, r2) = invert.run(c)
    for r in (r1, r2):
        assert r["status"] == "ok" and len(r["alpha"]) == 2
        assert (tmp_path / "images" / r["image"] / "attribute_walk.png").exists()
    dom = render_report(tmp_path, ["images"])
    assert dom.count("attribute walk") >= 2 and "alpha = [" in dom
