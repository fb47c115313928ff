"""PGGAN port: fixture parity, layer split, converter safety."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT, nhwc, rel_err, shared_path
from jaxinv.generators import pggan
from jaxinv.pytrees import cast
from jaxinv.io.checkpoints import CheckpointError, load_params

torch = pytest.importorskip("torch", reason="the converter needs torch (pip install .[convert])")
from converters.pggan_genforce import load_genforce  # noqa: E402


@pytest.fixture(scope="module")
def fixture():
    folder = shared_path("fixtures", "pggan_genforce")
    cfg, params = load_genforce(os.path.join(folder, "generator.pth"))
    return cfg, params, dict(np.load(os.path.join(folder, "io.npz")))


def _nchw(a):
    return np.transpose(np.asarray(a), (0, 3, 1, 2))


def test_config_inferred(fixture):
    cfg, _, _ = fixture
    assert cfg == pggan.PGGANConfig(64, 128, (64, 64, 64, 64, 32))
    assert cfg.num_layers == 10


def test_float32_forward_parity(fixture):
    cfg, params, io = fixture
    z = jnp.asarray(io["z"])
    assert rel_err(_nchw(pggan.generate(cfg, params, z)), io["img"]) <= 1e-4
    for k in range(cfg.num_layers):
        feat = pggan.features(cfg, params, z, k + 1)
        assert rel_err(_nchw(feat), io[f"feat_layer{k}"]) <= 1e-4, k


def test_float64_parity_including_gradient(fixture, x64):
    cfg, params, io = fixture
    p = cast(params, jnp.float64)
    z = jnp.asarray(io["z"], jnp.float64)
    r = jnp.asarray(nhwc(io["R"]), jnp.float64)
    assert rel_err(_nchw(pggan.generate(cfg, p, z)), io["img_f64"]) <= 1e-6
    for k in range(cfg.num_layers):
        assert rel_err(_nchw(pggan.features(cfg, p, z, k + 1)),
                       io[f"feat_layer{k}_f64"]) <= 1e-6, k
    grad = jax.jit(jax.grad(lambda v, params: jnp.sum(pggan.generate(cfg, params, v) * r)))(
        z, p)
    assert rel_err(grad, io["grad_z_f64"]) <= 1e-6


def test_split_at_every_layer():
    cfg = pggan.PGGANConfig(16, 32, (32, 16, 8))
    params = pggan.init_params(cfg, jax.random.PRNGKey(0))
    z = jax.random.normal(jax.random.PRNGKey(1), (2, 32))
    full = pggan.generate(cfg, params, z)
    assert full.shape == (2, 16, 16, 3)
    for k in range(cfg.num_layers + 1):
        x = pggan.features(cfg, params, z, k)
        if k:
            assert x.shape == (2, cfg.layer_resolution(k - 1), cfg.layer_resolution(k - 1),
                               cfg.layer_channels(k - 1))
        np.testing.assert_allclose(pggan.from_features(cfg, params, x, k), full, atol=1e-5)


def test_converter_cli_and_bad_files(fixture, tmp_path):
    cfg, _, io = fixture
    src = os.path.join(shared_path("fixtures", "pggan_genforce"), "generator.pth")
    script = os.path.join(ROOT, "converters", "pggan_genforce.py")
    proc = subprocess.run([sys.executable, script, src, str(tmp_path / "pg")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    params, meta = load_params(str(tmp_path / "pg"), family="pggan")
    assert pggan.PGGANConfig.from_dict(meta["config"]) == cfg
    assert rel_err(_nchw(pggan.generate(cfg, params, jnp.asarray(io["z"]))), io["img"]) <= 1e-4
    sd = torch.load(src, weights_only=True)
    sd["lod"] = torch.tensor(1.0)
    torch.save(sd, str(tmp_path / "lod.pth"))
    del sd["lod"], sd["layer5.conv.weight"]
    torch.save(sd, str(tmp_path / "partial.pth"))
    (tmp_path / "trunc.pth").write_bytes(open(src, "rb").read()[:1000])
    for name, pattern in [("lod.pth", "lod = 1.0"), ("partial.pth", "layer5.conv.weight"),
                          ("trunc.pth", "corrupt, truncated")]:
        with pytest.raises(CheckpointError, match=pattern) as err:
            load_genforce(str(tmp_path / name))
        assert name in str(err.value)
