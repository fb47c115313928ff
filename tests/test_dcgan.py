"""DCGAN port: parity with the PyTorch DCGAN tutorial's module on the real face generator's
recorded outputs, the layer split, the converter and its refusals."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT, nhwc, rel_err, shared_path
from jaxinv.generators import dcgan
from jaxinv.io.checkpoints import CheckpointError, load_params
from jaxinv.pytrees import cast

torch = pytest.importorskip("torch", reason="the converter needs torch (pip install .[convert])")
from converters.dcgan_torch import load_tutorial  # noqa: E402


@pytest.fixture(scope="module")
def fixture():
    folder = shared_path("fixtures", "dcgan_tutorial")
    cfg, params = load_tutorial(os.path.join(folder, "weights.tar"))
    return cfg, params, dict(np.load(os.path.join(folder, "io.npz")))


def _nchw(a):
    return np.transpose(np.asarray(a), (0, 3, 1, 2))


def _z(io, dtype=jnp.float32):
    return jnp.asarray(io["z"].reshape(len(io["z"]), -1), dtype)


def test_config_read_from_the_tensors(fixture):
    cfg, _, _ = fixture
    assert cfg == dcgan.DCGANConfig(100, (512, 256, 128, 64))
    assert cfg.resolution == 64 and dcgan.FAMILY.size(cfg) == 64
    assert dcgan.DCGANConfig.tutorial() == cfg  # the released tutorial layout
    assert dcgan.DCGANConfig.tutorial(32, 16).channels == (256, 128, 64)


def test_float32_forward_parity(fixture):
    cfg, params, io = fixture
    z = _z(io)
    assert rel_err(_nchw(dcgan.generate(cfg, params, z)), io["img"]) <= 1e-4
    for k in range(1, cfg.num_layers + 1):
        assert rel_err(_nchw(dcgan.features(cfg, params, z, k)), io[f"feat_relu{k}"]) <= 1e-4, k


def test_float64_parity_including_gradient(fixture, x64):
    cfg, params, io = fixture
    p = cast(params, jnp.float64)
    z = _z(io, jnp.float64)
    r = jnp.asarray(nhwc(io["r"]), jnp.float64)
    assert rel_err(_nchw(dcgan.generate(cfg, p, z)), io["img_f64"]) <= 1e-6
    for k in range(1, cfg.num_layers + 1):
        assert rel_err(_nchw(dcgan.features(cfg, p, z, k)), io[f"feat_relu{k}_f64"]) <= 1e-6, k
    grad = jax.jit(jax.grad(lambda v, params: jnp.sum(dcgan.generate(cfg, params, v) * r)))(
        z, p)
    assert rel_err(grad, io["grad_z_f64"].reshape(grad.shape)) <= 1e-6


def test_split_at_every_block():
    cfg = dcgan.DCGANConfig(16, (32, 16, 8))
    params = dcgan.init_params(cfg, jax.random.PRNGKey(0))
    z = jax.random.normal(jax.random.PRNGKey(1), (2, 16))
    full = dcgan.generate(cfg, params, z)
    assert full.shape == (2, 32, 32, 3) and float(jnp.abs(full).max()) <= 1.0
    # the random initialisation keeps the activations' scale: the images are not constant
    assert float(jnp.std(full)) > 0.1
    for k in range(cfg.num_layers + 1):
        x = dcgan.features(cfg, params, z, k)
        if k:
            side = 4 * 2 ** (k - 1)
            assert x.shape == (2, side, side, dcgan.FAMILY.split.channels(cfg, k))
        np.testing.assert_allclose(dcgan.from_features(cfg, params, x, k), full, atol=1e-5)


def test_converter_cli_and_bad_files(fixture, tmp_path):
    cfg, _, io = fixture
    src = os.path.join(shared_path("fixtures", "dcgan_tutorial"), "weights.tar")
    script = os.path.join(ROOT, "converters", "dcgan_torch.py")
    proc = subprocess.run([sys.executable, script, src, str(tmp_path / "dc")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    params, meta = load_params(str(tmp_path / "dc"), family="dcgan")
    assert dcgan.DCGANConfig.from_dict(meta["config"]) == cfg
    assert rel_err(_nchw(dcgan.generate(cfg, params, _z(io))), io["img"]) <= 1e-4
    sd = torch.load(src, map_location="cpu", weights_only=True)["netG_state_dict"]
    torch.save(sd, str(tmp_path / "plain.pth"))  # the state dict without the wrapper
    plain_cfg, _ = load_tutorial(str(tmp_path / "plain.pth"))
    assert plain_cfg == cfg
    del sd["main.4.running_var"]
    torch.save(sd, str(tmp_path / "partial.pth"))
    (tmp_path / "trunc.pth").write_bytes(open(src, "rb").read()[:1000])
    for name, pattern in [("partial.pth", "main.4.running_var"),
                          ("trunc.pth", "not a torch.save zip file")]:
        with pytest.raises(CheckpointError, match=pattern) as err:
            load_tutorial(str(tmp_path / name))
        assert name in str(err.value)


def test_composition_methods_run_on_a_dcgan_and_others_refuse_it_by_name():
    """mGANprior and PmSFC compose at a DCGAN block through the family's split, with no
    DCGAN-specific code; the StyleGAN2-only and BigGAN-only methods name what they need."""
    import jaxinv
    from jaxinv.methods.base import SettingsError

    gen = jaxinv.load_generator("dcgan", size=16, latent_dim=16, channels=16)
    assert gen.size == 16 and gen.family.name == "dcgan"
    images = gen.family.random_images(gen.cfg, gen.params, jax.random.PRNGKey(1), 1)
    job = jaxinv.Job(steps=60, learning_rates={"latent": {"lr": 0.05},
                                               "weights": {"lr": 0.05}})
    out = jaxinv.invert(gen, images, "mganprior", {"layer": 1, "num_codes": 4}, job=job)
    assert out.losses[0, -1] < 0.5 * out.losses[0, 0]
    pm = jaxinv.invert(gen, images, "pmsfc", {"layer": 1, "num_subspaces": 2,
                                              "codes_per_subspace": 2, "discovery_steps": 10},
                       job=job)
    assert pm.losses[0, -1] < 0.5 * pm.losses[0, 0]
    for method, family in (("stylegan2", "stylegan2"), ("sphinx", "stylegan2"),
                           ("pix2latent", "biggan")):
        with pytest.raises(SettingsError, match=f"inverts {family} generators; this generator "
                                                f"is dcgan"):
            jaxinv.invert(gen, images, method, job=job)


def test_z_inversion_by_adam_and_by_basincma_on_a_dcgan():
    """The generic 'z' method: Adam from a random z fits a DCGAN's own image; BasinCMA reports
    CMA's generations then the final steps, and its clamp holds."""
    import jaxinv

    gen = jaxinv.load_generator("dcgan", size=16, latent_dim=16, channels=16)
    images = gen.family.random_images(gen.cfg, gen.params, jax.random.PRNGKey(1), 2)
    job = jaxinv.Job(steps=60, learning_rates={"latent": {"lr": 0.05}})
    adam = jaxinv.invert(gen, images, "z", job=job)
    assert adam.latents["z"].shape == (2, 16)
    assert np.all(adam.losses[:, -1] < 0.2 * adam.losses[:, 0])
    assert np.all(adam.metrics["psnr"] > 20)
    basin = jaxinv.invert(gen, images[:1], "z", {"search": "basincma", "outer_steps": 3,
                                                 "inner_steps": 5, "population": 6,
                                                 "clamp": 1.0}, job=jaxinv.Job(steps=10))
    assert basin.losses.shape == (1, 3 + 10) and float(np.abs(basin.latents["z"]).max()) <= 1.0
    assert basin.losses[0, -1] <= basin.losses[0, 0]
    # pix2latent's baselines without a class: CMA alone (no gradient step), CMA then Adam
    cma = jaxinv.invert(gen, images[:1], "z", {"search": "cma", "outer_steps": 3,
                                               "population": 6}, job=jaxinv.Job(steps=10))
    assert cma.losses.shape == (1, 3) and cma.losses[0, -1] <= cma.losses[0, 0]
    cma_adam = jaxinv.invert(gen, images[:1], "z", {"search": "cma_adam", "outer_steps": 3,
                                                    "population": 6}, job=jaxinv.Job(steps=10))
    assert cma_adam.losses.shape == (1, 3 + 10)
    assert cma_adam.losses[0, -1] < cma_adam.losses[0, 2]  # Adam improves on CMA's best
