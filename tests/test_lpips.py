"""LPIPS: parity with the lpips package for alex, vgg and squeeze; loading rules; masks."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import nhwc, rel_err, shared_path
from jaxinv.pytrees import cast
from jaxinv.io.checkpoints import CheckpointError, save_params
from jaxinv.losses import lpips

pytest.importorskip("torch", reason="the LPIPS converter needs torch (pip install .[convert])")
from converters.lpips_torch import convert  # noqa: E402


@pytest.fixture(scope="module")
def io():
    return dict(np.load(os.path.join(shared_path("fixtures", "lpips_lpips014"), "io.npz")))


def _params(net):
    linear = os.path.join(shared_path("fixtures", "lpips_linear_v0.1"), f"{net}.pth")
    backbone = os.path.join(shared_path("fixtures", "lpips_lpips014"),
                            f"{net}_backbone_features_fp16.pth")
    return convert(net, linear, backbone)


@pytest.mark.parametrize("net", lpips.NETS)
def test_float32_forward_parity(net, io):
    p = _params(net)
    x0, x1 = jnp.asarray(nhwc(io["x0"])), jnp.asarray(nhwc(io["x1"]))
    assert rel_err(lpips.distance(net, p, x0, x1), io[f"{net}_dist"].reshape(-1)) <= 1e-4
    assert rel_err(lpips.spatial_distance(net, p, x0, x1), io[f"{net}_dist_spatial"][:, 0]) <= 1e-4
    for l, term in enumerate(lpips.layer_terms(net, p, x0, x1)):
        assert rel_err(term, io[f"{net}_layer{l}"].reshape(-1)) <= 1e-4, l
    for l, f in enumerate(lpips.features(net, p, x0)):
        assert rel_err(np.transpose(f, (0, 3, 1, 2)), io[f"{net}_feat{l}_x0"]) <= 1e-4, l


@pytest.mark.parametrize("net", lpips.NETS)
def test_float64_parity_including_gradient(net, io, x64):
    p = cast(_params(net), jnp.float64)
    x0 = jnp.asarray(nhwc(io["x0"]), jnp.float64)
    x1 = jnp.asarray(nhwc(io["x1"]), jnp.float64)
    assert rel_err(lpips.distance(net, p, x0, x1), io[f"{net}_dist_f64"].reshape(-1)) <= 1e-6
    assert rel_err(lpips.spatial_distance(net, p, x0, x1),
                   io[f"{net}_dist_spatial_f64"][:, 0]) <= 1e-6
    grad = jax.jit(jax.grad(lambda x, params: jnp.sum(lpips.distance(net, params, x0, x))))(
        x1, p)
    assert rel_err(np.transpose(grad, (0, 3, 1, 2)), io[f"{net}_grad_x1_f64"]) <= 1e-6


def test_real_linear_weights_are_loaded():
    p = _params("alex")
    # The released v0.1 weights are non-negative and far from any initialisation.
    assert all(np.all(w >= 0) for w in p["lin"]) and float(np.max(p["lin"][0])) > 0.01
    assert [w.shape[0] for w in p["lin"]] == list(lpips.CHANNELS["alex"])


def test_without_backbone_lpips_refuses_and_names_the_file(tmp_path):
    linear = os.path.join(shared_path("fixtures", "lpips_linear_v0.1"), "vgg.pth")
    save_params(str(tmp_path / "vgg"), convert("vgg", linear), {"family": "lpips", "net": "vgg"})
    with pytest.raises(CheckpointError, match="vgg16-397923af.pth"):
        lpips.load(str(tmp_path / "vgg"))


def test_wrong_linear_file_is_reported():
    linear = os.path.join(shared_path("fixtures", "lpips_linear_v0.1"), "vgg.pth")
    with pytest.raises(CheckpointError, match="channels"):
        convert("alex", linear)


def test_converted_directory_loads(tmp_path):
    p = _params("squeeze")
    save_params(str(tmp_path / "sq"), p, {"family": "lpips", "net": "squeeze"})
    net, restored = lpips.load(str(tmp_path / "sq"))
    x = jax.random.uniform(jax.random.PRNGKey(0), (2, 32, 32, 3), minval=-1, maxval=1)
    y = jnp.flip(x, axis=2)
    assert net == "squeeze"
    np.testing.assert_allclose(lpips.distance(net, restored, x, y), lpips.distance(net, p, x, y),
                               rtol=1e-6)


def test_masked_lpips():
    p = lpips.random_params("alex", jax.random.PRNGKey(0))
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    x = jax.random.uniform(k1, (2, 64, 64, 3), minval=-1, maxval=1)
    y = jax.random.uniform(k2, (2, 64, 64, 3), minval=-1, maxval=1)
    ones = jnp.ones((2, 64, 64))
    np.testing.assert_allclose(lpips.distance("alex", p, x, y, ones),
                               lpips.distance("alex", p, x, y), rtol=1e-5)
    # Mask on the right part: differences on the far left vanish from the first layer and
    # nearly vanish overall (deep layers see the whole image); differences inside the mask
    # weigh more than unmasked because the mean is taken over the masked area only.
    mask = jnp.zeros((64, 64)).at[:, 40:].set(1.0)
    y_left = x.at[:, :, :12].set(y[:, :, :12])
    y_right = x.at[:, :, 52:].set(y[:, :, 52:])
    assert float(jnp.max(lpips.layer_terms("alex", p, x, y_left, mask)[0])) < 1e-8
    assert np.all(lpips.distance("alex", p, x, y_left, mask)
                  < 0.05 * lpips.distance("alex", p, x, y_left))
    assert np.all(lpips.distance("alex", p, x, y_right, mask)
                  > 2.0 * lpips.distance("alex", p, x, y_right))


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_real_lpips_orders_pairs_as_people_do(net):
    """With the real ImageNet backbone and the released linear layers: a face is closer to
    itself slightly blurred or slightly noisy than to another face (the distances are printed
    for the record: pytest -s)."""
    from jaxinv.io.images import load_image
    from jaxinv.ops.degradations import downsample

    torchvision_file = {"alex": "alexnet_imagenet_features.pth",
                        "vgg": "vgg16_imagenet_features.pth"}[net]
    p = convert(net, os.path.join(shared_path("fixtures", "lpips_linear_v0.1"), f"{net}.pth"),
                shared_path("weights", torchvision_file))
    faces = [load_image(os.path.join(shared_path("data", "faces"), f), 256)
             for f in ("1.png", "2.png", "3.png")]
    x = jnp.asarray(np.stack(faces))
    blurred = jax.image.resize(downsample(2, "area").apply({}, x), x.shape, "linear")
    noisy = jnp.clip(x + 0.05 * jax.random.normal(jax.random.PRNGKey(0), x.shape), -1, 1)
    distance = jax.jit(lpips.distance, static_argnums=0)
    d_blur = np.asarray(distance(net, p, x, blurred))
    d_noise = np.asarray(distance(net, p, x, noisy))
    d_other = np.asarray(distance(net, p, x, jnp.roll(x, 1, axis=0)))
    print(f"LPIPS-{net}: blurred {d_blur.round(3)}, noisy {d_noise.round(3)}, "
          f"another face {d_other.round(3)}")
    assert np.all(d_blur < d_other) and np.all(d_noise < d_other)
    assert np.all(d_blur > 0.005) and np.all(d_other > 0.1)


def test_lpips_on_measurements_too_small_is_refused_before_compiling():
    """LPIPS-alex's deeper layers are empty below 31 px (its loss would be NaN); an LPIPS term
    on 16 px super-resolution measurements is refused by name, before anything compiles."""
    import jaxinv

    assert (lpips.min_size("alex"), lpips.min_size("vgg")) == (31, 16)
    p = lpips.random_params("alex", jax.random.PRNGKey(0))
    x = jax.random.uniform(jax.random.PRNGKey(1), (2, 31, 31, 3), minval=-1, maxval=1)
    assert np.all(np.isfinite(lpips.distance("alex", p, x, x[::-1])))
    assert np.all(np.isnan(lpips.distance("alex", p, x[:, :30, :30], x[::-1, :30, :30])))
    gen = jaxinv.load_generator("dcgan", size=64, latent_dim=8, channels=8)
    job = {"steps": 1, "loss": {"mse": 1.0, "lpips": 1.0, "lpips_net": "alex"}}
    sr = jaxinv.degradation("downsample", 64, factor=4)
    with pytest.raises(ValueError, match="LPIPS-alex loss needs images of at least 31 px and "
                                         "the downsample_x4_area measurements are 16 px"):
        jaxinv.invert(gen, np.zeros((1, 64, 64, 3), np.float32), "z", job=job,
                      degradation=sr, lpips=("alex", p))
