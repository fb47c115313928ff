"""BigGAN-deep port: fixture parity (three truncations, soft classes, embedding, gradients),
the truncation-statistics rule, converter safety."""

import json
import os
import shutil
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT, nhwc, rel_err, shared_path
from jaxinv.generators import biggan
from jaxinv.io.checkpoints import CheckpointError, load_params

torch = pytest.importorskip("torch", reason="the converter needs torch (pip install .[convert])")
from converters.biggan_hf import load_biggan  # noqa: E402

TRUNCATIONS = (1.0, 0.4, 0.55)


@pytest.fixture(scope="module")
def folder():
    return shared_path("fixtures", "biggan_deep_hf")


@pytest.fixture(scope="module")
def io(folder):
    return dict(np.load(os.path.join(folder, "io.npz")))


def _nchw(a):
    return np.transpose(np.asarray(a), (0, 3, 1, 2))


def test_float32_forward_parity(folder, io):
    cfg, params = load_biggan(folder)
    assert cfg.output_dim == 128 and cfg.attention_layer_position == 8
    z, onehot = jnp.asarray(io["z"]), jnp.asarray(io["onehot"])
    for t in TRUNCATIONS:
        assert rel_err(_nchw(biggan.generate(cfg, params, z, onehot, t)), io[f"img_t{t}"]) <= 1e-4
    soft = biggan.generate(cfg, params, z, jnp.asarray(io["soft"]), 1.0)
    assert rel_err(_nchw(soft), io["img_soft_t1.0"]) <= 1e-4
    assert rel_err(biggan.embed(params, onehot), io["embed"]) <= 1e-4
    # the class embedding is an input of its own: the same image through synthesis
    np.testing.assert_allclose(
        biggan.synthesis(cfg, params, z, biggan.embed(params, onehot), 1.0),
        biggan.generate(cfg, params, z, onehot, 1.0), atol=1e-6)


def test_float64_parity_including_gradients(folder, io, x64):
    cfg, params = load_biggan(folder, np.float64)
    z, onehot = (jnp.asarray(io[k], jnp.float64) for k in ("z", "onehot"))
    # compiled (params as arguments): op-by-op float64 took three times as long on CPU
    generate = jax.jit(biggan.generate, static_argnums=(0, 4))
    for t in TRUNCATIONS:
        assert rel_err(_nchw(generate(cfg, params, z, onehot, t)), io[f"img_t{t}_f64"]) <= 1e-6
    assert rel_err(_nchw(generate(cfg, params, z, jnp.asarray(io["soft"], jnp.float64), 1.0)),
                   io["img_soft_t1.0_f64"]) <= 1e-6
    assert rel_err(biggan.embed(params, onehot), io["embed_f64"]) <= 1e-6
    r = jnp.asarray(nhwc(io["R"]), jnp.float64)
    grad_z, grad_class = jax.jit(jax.grad(
        lambda a, c, p: jnp.sum(biggan.generate(cfg, p, a, c, 1.0) * r), argnums=(0, 1)))(
        z, onehot, params)
    assert rel_err(grad_z, io["grad_z_f64"]) <= 1e-6
    assert rel_err(grad_class, io["grad_class_f64"]) <= 1e-6


def test_the_released_layout_is_the_fixtures(folder):
    """The fixture is biggan-deep-128's config.json at channel width 8."""
    with open(os.path.join(folder, "config.json")) as f:
        released = biggan.BigGANConfig.from_dict(json.load(f))
    assert biggan.BigGANConfig.deep(128, released.channel_width) == released
    deep256 = biggan.BigGANConfig.deep(256)
    assert [m for _, m, _ in deep256.layers] == [16, 16, 16, 16, 8, 8, 8, 4, 4, 2, 2, 1]
    assert deep256.channel_width == 128 and deep256.attention_layer_position == 8
    with pytest.raises(ValueError, match="released BigGAN-deep layouts: \\[128, 256\\] px, not 64"):
        biggan.BigGANConfig.deep(64)


def test_truncation_statistics_follow_the_original_arithmetic():
    # t / (1 / 50) as Python computes it: 1.0 and 0.4 land on one row; 0.415 gives 20.75 and
    # the original weighs row 20 by the fraction 0.75 (not 0.25), which is kept as it is.
    assert biggan.truncation_weights(1.0, 51) == ((50, 1.0),)
    assert biggan.truncation_weights(0.4, 51) == ((20, 1.0),)
    (i0, w0), (i1, w1) = biggan.truncation_weights(0.415, 51)
    assert (i0, i1) == (20, 21) and abs(w0 - 0.75) < 1e-9 and abs(w1 - 0.25) < 1e-9
    (i0, w0), (i1, w1) = biggan.truncation_weights(0.55, 51)
    assert (i0, i1) == (27, 28) and abs(w0 - 0.5) < 1e-12
    with pytest.raises(ValueError, match="truncation"):
        biggan.truncation_weights(0.0, 51)


def test_converter_cli_and_bad_folders(folder, io, tmp_path):
    script = os.path.join(ROOT, "converters", "biggan_hf.py")
    proc = subprocess.run([sys.executable, script, folder, str(tmp_path / "bg")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    params, meta = load_params(str(tmp_path / "bg"), family="biggan")
    cfg = biggan.BigGANConfig.from_dict(meta["config"])
    image = biggan.generate(cfg, params, jnp.asarray(io["z"]), jnp.asarray(io["onehot"]), 0.4)
    assert rel_err(_nchw(image), io["img_t0.4"]) <= 1e-4

    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    os.remove(broken / "config.json")
    with pytest.raises(CheckpointError, match="config.json: no such file"):
        load_biggan(str(broken))
    (broken / "config.json").write_text(json.dumps({"z_dim": 128, "colour": 1}))
    with pytest.raises(CheckpointError, match="not a BigGAN-deep config"):
        load_biggan(str(broken))
    shutil.copy(os.path.join(folder, "config.json"), broken / "config.json")
    sd = torch.load(os.path.join(folder, "pytorch_model.bin"), weights_only=True)
    del sd["generator.layers.3.conv_1.weight_u"]
    torch.save(sd, str(broken / "pytorch_model.bin"))
    with pytest.raises(CheckpointError, match="layers.3.conv_1.weight_u") as err:
        load_biggan(str(broken))
    assert "pytorch_model.bin" in str(err.value)
    proc = subprocess.run([sys.executable, script, str(tmp_path / "nowhere"), str(tmp_path / "o")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
