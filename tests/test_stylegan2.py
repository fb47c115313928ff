"""StyleGAN2 port: fixture parity, feature-space split, converter, checkpoint safety."""

import os
import pickle
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT, nhwc, rel_err, shared_path
from jaxinv.generators import stylegan2 as sg
from jaxinv.io.checkpoints import CheckpointError, load_params
from jaxinv.pytrees import cast

torch = pytest.importorskip("torch", reason="the converter needs torch (pip install .[convert])")
from converters.stylegan2_rosinality import load_rosinality  # noqa: E402


@pytest.fixture(scope="module")
def fixture():
    folder = shared_path("fixtures", "stylegan2_rosinality")
    cfg, params = load_rosinality(os.path.join(folder, "generator.pt"))
    return cfg, params, dict(np.load(os.path.join(folder, "io.npz")))


def _run_all(cfg, params, io, dtype):
    p = cast(params, dtype)
    noise = [jnp.asarray(nhwc(io[f"noise_{i}"]), dtype) for i in range(cfg.num_layers)]
    z, z2 = jnp.asarray(io["z"], dtype), jnp.asarray(io["z2"], dtype)
    wplus = jnp.asarray(io["wplus"], dtype)
    r = jnp.asarray(nhwc(io["R"]), dtype)
    out = {"w": sg.mapping(cfg, p, z),
           "img_z": nhwc_to_nchw(sg.generate(cfg, p, z, noise)),
           "img_trunc": nhwc_to_nchw(sg.generate(cfg, p, z, noise, truncation=0.7)),
           "img_mix": nhwc_to_nchw(sg.generate(cfg, p, z, noise, z2=z2, inject_index=3)),
           "img_wplus": nhwc_to_nchw(sg.synthesis(cfg, p, wplus, noise))}
    # compiled with the params as an argument: op by op, the gradient dominated the test
    gw, gn = jax.jit(jax.grad(lambda w, n, params: jnp.sum(sg.synthesis(cfg, params, w, n) * r),
                              argnums=(0, 1)))(wplus, noise, p)
    out["grad_wplus"] = gw
    for i, g in enumerate(gn):
        out[f"grad_noise_{i}"] = nhwc_to_nchw(g)
    return out


def nhwc_to_nchw(a):
    return np.transpose(np.asarray(a), (0, 3, 1, 2))


def test_config_inferred_from_tensors(fixture):
    cfg, _, _ = fixture
    assert (cfg.size, cfg.style_dim, cfg.n_mlp) == (64, 128, 4)
    assert cfg.channels == (64,) * 5 and cfg.n_latent == 10 and cfg.num_layers == 9


def test_float32_forward_parity(fixture):
    cfg, params, io = fixture
    out = _run_all(cfg, params, io, jnp.float32)
    for name in ["w", "img_z", "img_trunc", "img_mix", "img_wplus"]:
        assert rel_err(out[name], io[name]) <= 1e-4, name


def test_float64_parity_including_gradients(fixture, x64):
    cfg, params, io = fixture
    out = _run_all(cfg, params, io, jnp.float64)
    names = ["w", "img_z", "img_trunc", "img_mix", "img_wplus", "grad_wplus"] + [
        f"grad_noise_{i}" for i in range(cfg.num_layers)]
    for name in names:
        assert rel_err(out[name], io[name + "_f64"]) <= 1e-6, name


def test_feature_split_matches_full_synthesis(small_stylegan2):
    cfg, params = small_stylegan2
    ws = sg.mapping(cfg, params, jax.random.normal(jax.random.PRNGKey(3), (2, cfg.n_latent, 32)))
    full = sg.synthesis(cfg, params, ws)
    for k in range(cfg.num_layers + 1):
        state = sg.synthesis_features(cfg, params, ws, stop=k)
        assert state.x.shape[1] == (4 if k == 0 else cfg.layer_resolution(k - 1))
        image = sg.synthesis_from_features(cfg, params, state, ws, start=k)
        np.testing.assert_allclose(image, full, atol=1e-5)


def test_truncation_and_mixing(small_stylegan2):
    cfg, params = small_stylegan2
    z = jax.random.normal(jax.random.PRNGKey(1), (2, 32))
    w = sg.mapping(cfg, params, z)
    np.testing.assert_allclose(sg.truncate(w, params["w_avg"], 0.0),
                               jnp.broadcast_to(params["w_avg"], w.shape), atol=1e-6)
    mixed = sg.mix_styles(cfg, w[:1], w[1:], 2)
    np.testing.assert_allclose(mixed[0, :2], jnp.stack([w[0]] * 2))
    np.testing.assert_allclose(mixed[0, 2:], jnp.stack([w[1]] * (cfg.n_latent - 2)))


def test_converter_cli_roundtrip(fixture, tmp_path):
    cfg, params, io = fixture
    out = tmp_path / "sg2"
    src = os.path.join(shared_path("fixtures", "stylegan2_rosinality"), "generator.pt")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "converters",
                                                        "stylegan2_rosinality.py"), src, str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    restored, meta = load_params(str(out), family="stylegan2")
    assert sg.StyleGAN2Config.from_dict(meta["config"]) == cfg
    noise = [jnp.asarray(nhwc(io[f"noise_{i}"])) for i in range(cfg.num_layers)]
    img = sg.synthesis(cfg, restored, jnp.asarray(io["wplus"]), noise)
    assert rel_err(nhwc_to_nchw(img), io["img_wplus"]) <= 1e-4
    with pytest.raises(CheckpointError, match="expected 'lpips'"):
        load_params(str(out), family="lpips")


class _Exploit:
    marker = None

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_does_not_run_code(tmp_path):
    marker = tmp_path / "pwned"
    _Exploit.marker = str(marker)
    bad = tmp_path / "evil.pt"
    torch.save({"g_ema": _Exploit(), "latent_avg": torch.zeros(4)}, str(bad))
    with pytest.raises(CheckpointError) as err:
        load_rosinality(str(bad))
    assert str(bad) in str(err.value)
    assert not marker.exists(), "loading the checkpoint executed code from it"
    with open(bad, "wb") as f:  # the same payload as a bare pickle
        pickle.dump(_Exploit(), f)
    with pytest.raises(CheckpointError):
        load_rosinality(str(bad))
    assert not marker.exists()


def test_bad_checkpoints_name_the_file(tmp_path, fixture):
    src = os.path.join(shared_path("fixtures", "stylegan2_rosinality"), "generator.pt")
    blob = open(src, "rb").read()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(blob[: len(blob) // 3])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(4096))
    wrong = tmp_path / "wrong.pt"
    torch.save({"state_dict": {"a": torch.zeros(2)}}, str(wrong))
    partial = tmp_path / "partial.pt"
    sd = torch.load(src, weights_only=True)
    del sd["g_ema"]["convs.3.conv.weight"]
    torch.save(sd, str(partial))
    for path, pattern in [(truncated, "corrupt, truncated"), (garbage, "corrupt, truncated"),
                          (wrong, "not a rosinality StyleGAN2 checkpoint"),
                          (partial, "convs"), (tmp_path / "missing.pt", "no such file")]:
        with pytest.raises(CheckpointError, match=pattern) as err:
            load_rosinality(str(path))
        assert str(path) in str(err.value)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "converters",
                                                        "stylegan2_rosinality.py"),
                           str(garbage), str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode == 2 and str(garbage) in proc.stderr
    assert "Traceback" not in proc.stderr
