"""PmSFC: the self-expressive layer, subspace clustering, composition, inversion of a scene."""

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import shared_path
from jaxinv import engine, ops
from jaxinv.generators import Generator, pggan
from jaxinv.io.images import list_images, load_image
from jaxinv.methods import mganprior, pmsfc
from jaxinv.methods.problem import LossWeights, reconstruction_loss
from jaxinv.pytrees import first_of_batch


@pytest.fixture(scope="module")
def fixture_pggan():
    """The genforce fixture generator (64 px, z 128), converted in memory."""
    pytest.importorskip("torch", reason="reading the genforce fixture needs torch")
    from converters.pggan_genforce import load_genforce

    cfg, params = load_genforce(os.path.join(shared_path("fixtures", "pggan_genforce"),
                                             "generator.pth"))
    return cfg, jax.tree_util.tree_map(jnp.asarray, params)


@pytest.fixture(scope="module")
def discovery(fixture_pggan):
    cfg, params = fixture_pggan
    # batch 1 instead of the preset's 4 keeps this at seconds on a CPU
    preset = dataclasses.replace(pmsfc.PRESETS["paper"], batch=1)
    return pmsfc.discover(Generator(pggan.FAMILY, cfg, params), 3, preset, jax.random.PRNGKey(0), steps=100, chunk=100)


def test_diagonal_stays_exactly_zero_and_the_loss_falls(discovery, fixture_pggan):
    s, curves = discovery
    cfg, _ = fixture_pggan
    assert s.shape == (cfg.layer_channels(2),) * 2
    assert np.all(np.diag(s) == 0.0)
    assert np.abs(s).max() > 1e-3  # it learned something off the diagonal
    total = curves["total"]
    assert np.mean(total[-20:]) < 0.7 * np.mean(total[:5])
    # the data term (the images through G2) is what the paper's lambda = 10 weighs most
    assert np.mean(curves["data"][-20:]) < np.mean(curves["data"][:5])


def test_diagonal_is_zero_for_the_official_preset_too(fixture_pggan):
    cfg, params = fixture_pggan
    preset = dataclasses.replace(pmsfc.PRESETS["official"], batch=1)
    s, curves = pmsfc.discover(Generator(pggan.FAMILY, cfg, params), 2, preset, jax.random.PRNGKey(1), steps=20)
    assert np.all(np.diag(s) == 0.0)
    assert np.abs(s - 1e-4 * (1 - np.eye(len(s)))).max() > 1e-3  # trained from the code's init


def test_an_interrupted_discovery_resumes_to_the_uninterrupted_result(fixture_pggan, tmp_path):
    from jaxinv.io.checkpoints import OptimizationCheckpoint

    cfg, params = fixture_pggan
    gen = Generator(pggan.FAMILY, cfg, params)
    preset = dataclasses.replace(pmsfc.PRESETS["official"], batch=1)
    run = functools.partial(pmsfc.discover, gen, 2, preset, jax.random.PRNGKey(3), steps=8,
                            chunk=2)
    s_full, curves_full = run()

    def interrupt_at_6(done, last):
        if done == 6:
            raise KeyboardInterrupt

    snapshots = OptimizationCheckpoint(str(tmp_path / "partial"), {"layer": 2}, every=2)
    with pytest.raises(KeyboardInterrupt):
        run(callback=interrupt_at_6, checkpoint=snapshots)
    seen = []
    s, curves = run(callback=lambda done, last: seen.append(done), checkpoint=snapshots)
    assert seen == [8]  # resumed after step 6, not from zero
    np.testing.assert_allclose(s, s_full, rtol=1e-6, atol=1e-9)
    for k in curves_full:
        np.testing.assert_allclose(curves[k], curves_full[k], rtol=1e-6)
    # a snapshot of another discovery is not used
    other = OptimizationCheckpoint(str(tmp_path / "partial"), {"layer": 3}, every=2)
    seen.clear()
    run(callback=lambda done, last: seen.append(done), checkpoint=other)
    assert seen == [2, 4, 6, 8]


def _planted(sizes, seed, noise=0.05):
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(n, i) for i, n in enumerate(sizes)])
    perm = rng.permutation(len(labels))
    labels = labels[perm]
    a = noise * rng.random((len(labels), len(labels)))
    a += (labels[:, None] == labels[None, :]) * rng.uniform(0.5, 1.0, a.shape)
    return (a + a.T) / 2, labels


def _same_partition(x, y):
    return np.array_equal(x[:, None] == x[None, :], y[:, None] == y[None, :])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_spectral_clustering_recovers_planted_blocks(seed):
    a, truth = _planted([20, 14, 10, 8], seed)
    labels = pmsfc.spectral_clustering(a, 4, seed=seed)
    assert _same_partition(labels, truth)
    assert np.bincount(labels).tolist() == [20, 14, 10, 8]  # numbered largest first


def _planted_s(seed):
    rng = np.random.default_rng(seed)
    truth = rng.permutation(np.repeat(np.arange(3), [12, 10, 8]))
    same = truth[:, None] == truth[None, :]
    s = np.where(same, rng.uniform(0.2, 1.0, same.shape), rng.normal(0, 0.03, same.shape))
    np.fill_diagonal(s, 0.0)
    return s, truth


@pytest.mark.parametrize("seed", [0, 2])
def test_both_affinities_recover_planted_blocks_of_a_signed_s(seed):
    # S as self-expression learns it: signed, not symmetric, strong within a subspace and
    # weak across; the paper's |S| symmetrisation and the code's DSC-Net post-processing
    # (which keeps positive entries only) must both give back the blocks.
    s, truth = _planted_s(seed)
    for a in (pmsfc.symmetric_affinity(s), pmsfc.dscnet_affinity(s, 3, dim=3)):
        assert _same_partition(pmsfc.spectral_clustering(a, 3, seed=seed), truth)


def test_dscnet_post_processing_splits_a_bipartite_block():
    # Seed 1 plants a block whose kept entries (rho = 20% of each column's mass) form a
    # bipartite graph: its top singular vector has opposite signs on the two halves, so the
    # released post-processing's relu(U U^T) disconnects them (4 components for 3 blocks),
    # while the paper's symmetric affinity still recovers the blocks.
    from scipy.sparse.csgraph import connected_components

    s, truth = _planted_s(1)
    assert _same_partition(pmsfc.spectral_clustering(pmsfc.symmetric_affinity(s), 3, seed=1),
                           truth)
    assert connected_components(pmsfc.dscnet_affinity(s, 3, dim=3) > 1e-6)[0] == 4


def test_r1_with_uniform_weights_equals_mganprior_composition(fixture_pggan):
    cfg, params = fixture_pggan
    layer, k = 4, 6
    channels = cfg.layer_channels(layer - 1)
    problem = pmsfc.build(pggan.FAMILY, cfg, layer, num_subspaces=1, codes_per_subspace=k)
    context = {"generator": params, "subspaces": jnp.ones((1, channels))}
    v = problem.init(jax.random.PRNGKey(0), context)
    v = dict(v, w=jnp.full_like(v["w"], 0.3))
    spec = problem.latents.args[0]
    composed = pmsfc.compose(spec, v, context)
    reference = mganprior.compose(pggan.FAMILY.split, cfg, params, v["z"][0], jnp.ones((k, channels)), layer)
    np.testing.assert_allclose(composed, reference, rtol=1e-5, atol=1e-6)
    m_problem = mganprior.build(pggan.FAMILY, cfg, layer, k)
    m_image = m_problem.render({"z": v["z"][0], "alpha": jnp.full((k, channels), 1.0 / k)},
                               context, None, 0)
    np.testing.assert_allclose(problem.render(v, context, None, 0), m_image, rtol=1e-4,
                               atol=1e-5)


def test_subspaces_compose_separately(fixture_pggan):
    cfg, params = fixture_pggan
    layer = 4
    channels = cfg.layer_channels(layer - 1)
    labels = np.arange(channels) % 2
    context = {"generator": params, "subspaces": jnp.asarray(pmsfc.masks_from_labels(labels, 2))}
    problem = pmsfc.build(pggan.FAMILY, cfg, layer, num_subspaces=2, codes_per_subspace=3)
    v = problem.init(jax.random.PRNGKey(1), context)
    spec = problem.latents.args[0]
    f = pmsfc.compose(spec, v, context)
    # Changing subspace 1's codes moves only subspace 1's channels.
    v2 = dict(v, z=v["z"].at[1].add(1.0))
    f2 = pmsfc.compose(spec, v2, context)
    diff = np.abs(np.asarray(f2 - f)).max(axis=(0, 1, 2))
    assert np.all(diff[labels == 0] == 0) and np.all(diff[labels == 1] > 0)
    # Exchanging subspace r takes exactly those channels from the other solution.
    swapped = pmsfc.exchange(spec, v, v2, context)
    assert swapped.shape == (2, cfg.resolution, cfg.resolution, 3)
    np.testing.assert_allclose(swapped[0], problem.render(v, context, None, 0)[0], atol=1e-5)
    np.testing.assert_allclose(swapped[1], problem.render(v2, context, None, 0)[0], atol=1e-5)


@pytest.mark.parametrize("preset", ["paper", "official"])
def test_inversion_lowers_the_loss_on_a_real_scene(fixture_pggan, discovery, preset):
    cfg, params = fixture_pggan
    s, _ = discovery
    labels = pmsfc.spectral_clustering(pmsfc.affinity(s, 3, pmsfc.PRESETS[preset]), 3)
    path = list_images(os.path.join(shared_path("data", "scenes"), "gan_inversion", "bedroom"))[0]
    target = jnp.asarray(load_image(path, cfg.resolution))
    names = ("z", "w") if preset == "paper" else ("z", "base")
    problem = pmsfc.build(pggan.FAMILY, cfg, 3, num_subspaces=3, codes_per_subspace=2, preset=preset,
                          learning_rates={n: {"lr": 0.05} for n in names})
    context = {"generator": params, "subspaces": jnp.asarray(pmsfc.masks_from_labels(labels, 3))}
    keys = jax.random.split(jax.random.PRNGKey(0), 1)
    v0 = engine.init_batch(problem.init, keys, context)
    opt = engine.build_optimizer(first_of_batch(v0),
                                 problem.learning_rates, 50)
    loss = functools.partial(reconstruction_loss, problem, ops.identity(), LossWeights(mse=1.0))
    res = engine.optimize(engine.Objective(loss, opt), v0, {"target": target[None], "op": {}},
                          context, keys, 50)
    assert res.diverged_at[0] == -1
    assert res.losses[0, -1] < 0.75 * res.losses[0, 0]
