"""NVIDIA stylegan2-ada-pytorch network pickles: the restricted reader, the converter (standard
and overparameterized layouts) against a reference forward written here with plain torch ops,
and crafted pickles that must be refused with nothing executed."""

import collections
import os
import pickle
import sys
import types

import jax
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="building NVIDIA-layout pickles needs torch")
F = torch.nn.functional

from conftest import rel_err  # noqa: E402

from converters import stylegan2_nvidia  # noqa: E402
from jaxinv.generators import stylegan2  # noqa: E402
from jaxinv.io.checkpoints import CheckpointError  # noqa: E402

SIZE, W_DIM, MAP_LAYERS = 16, 32, 2
CHANNELS = {4: 32, 8: 32, 16: 16}
FILTER = torch.outer(torch.tensor([1.0, 3.0, 3.0, 1.0]), torch.tensor([1.0, 3.0, 3.0, 1.0])) / 64


@pytest.fixture
def persistence(monkeypatch, tmp_path):
    """Stand-ins for ``torch_utils.persistence`` and ``dnnlib.util`` so that pickle records the
    globals NVIDIA's pickles hold; the module source each object carries would leave a marker
    file if anything executed it."""
    package, module = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        raise AssertionError("never called: the test only writes pickles")

    _reconstruct_persistent_obj.__module__ = module.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    package.persistence = module
    dnnlib, util = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict, dnnlib.util = EasyDict, util
    for name, mod in (("torch_utils", package), ("torch_utils.persistence", module),
                      ("dnnlib", dnnlib), ("dnnlib.util", util)):
        monkeypatch.setitem(sys.modules, name, mod)
    marker = tmp_path / "executed"
    source = f"open({str(marker)!r}, 'w').write('module source was executed')\n"
    return types.SimpleNamespace(rebuild=_reconstruct_persistent_obj, EasyDict=EasyDict,
                                 marker=marker, source=source)


class Net:
    """Pickles as NVIDIA's persistent classes do: ``_reconstruct_persistent_obj(meta)``."""

    def __init__(self, persistence, class_name, params=None, buffers=None, modules=None, **attrs):
        self.p, self.class_name = persistence, class_name
        self.params = {k: torch.nn.Parameter(v) for k, v in (params or {}).items()}
        self.buffers, self.modules, self.attrs = dict(buffers or {}), dict(modules or {}), attrs

    def __reduce__(self):
        state = dict(training=False, _parameters=collections.OrderedDict(self.params),
                     _buffers=collections.OrderedDict(self.buffers),
                     _modules=collections.OrderedDict(self.modules), **self.attrs)
        meta = dict(type="class", version=6, module_src=self.p.source,
                    class_name=self.class_name, state=state)
        return self.p.rebuild, (meta,)


def _fc(p, fan_in, fan_out, lr=1.0, bias_init=0.0):
    return Net(p, "FullyConnectedLayer", {"weight": torch.randn(fan_out, fan_in) / lr,
                                          "bias": bias_init + 0.1 * torch.randn(fan_out)},
               weight_gain=lr / np.sqrt(fan_in), bias_gain=lr, activation="lrelu")


def _layer(p, cin, cout, res, kernel=3, noise=True, clamp=None):
    extra = {"noise_strength": torch.tensor(0.3)} if noise and kernel == 3 else {}
    buffers = {"resample_filter": FILTER}
    if noise and kernel == 3:
        buffers["noise_const"] = torch.randn(res, res)
    return Net(p, "SynthesisLayer" if kernel == 3 else "ToRGBLayer",
               {"weight": torch.randn(cout, cin, kernel, kernel),
                "bias": 0.1 * torch.randn(cout), **extra}, buffers,
               {"affine": _fc(p, W_DIM, cin, bias_init=1.0)}, conv_clamp=clamp)


def _generator(p, adaconv=False, clamp=None):
    """A 16 px generator in NVIDIA's layout (the fork's overparameterized one when
    ``adaconv``: latent rows = channel_max, no noise inputs)."""
    blocks = {}
    for res, cout in CHANNELS.items():
        modules = {"conv1": _layer(p, cout, cout, res, noise=not adaconv, clamp=clamp),
                   "torgb": _layer(p, cout, 3, res, kernel=1, clamp=clamp)}
        params = {}
        if res == 4:
            params["const"] = torch.randn(cout, 4, 4)
        else:
            modules["conv0"] = _layer(p, CHANNELS[res // 2], cout, res, noise=not adaconv,
                                      clamp=clamp)
        blocks[f"b{res}"] = Net(p, "SynthesisBlock", params, {"resample_filter": FILTER},
                                modules, architecture="skip", resolution=res)
    synthesis = Net(p, "SynthesisNetwork", modules=blocks, img_resolution=SIZE, w_dim=W_DIM)
    mapping = Net(p, "MappingNetwork", buffers={"w_avg": torch.randn(W_DIM)},
                  modules={f"fc{i}": _fc(p, W_DIM, W_DIM, lr=0.01) for i in range(MAP_LAYERS)},
                  num_layers=MAP_LAYERS, sample_for_adaconv=adaconv,
                  num_adaconv_vectors=max(CHANNELS.values()))
    return Net(p, "Generator", modules={"synthesis": synthesis, "mapping": mapping}, z_dim=W_DIM,
               c_dim=0, w_dim=W_DIM, img_resolution=SIZE, img_channels=3, use_adaconv=adaconv)


def _write(p, path, g):
    data = {"G": g, "D": Net(p, "Discriminator", {"w": torch.randn(2, 2)}), "G_ema": g,
            "augment_pipe": None, "training_set_kwargs": p.EasyDict(path="ffhq.zip", xflip=True)}
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return str(path)


# --- the reference: NVIDIA's forward (const noise, fused modulated conv), plain torch ops ----

def _upfirdn(x, f, up=1, pad=(0, 0, 0, 0), gain=1.0):
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, list(pad))
    kernel = (f * gain).flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, kernel, groups=c)


def _styles(net, w):
    fc = net.modules["affine"]
    return w @ (fc.params["weight"] * fc.attrs["weight_gain"]).T + fc.params["bias"]


def _modconv(net, x, w, up=1, demodulate=True, style_gain=1.0):
    weight = net.params["weight"]
    batch, (cout, cin, k, _) = x.shape[0], weight.shape
    s = _styles(net, w) * style_gain  # [B, Cin] or [B, R, Cin]
    if s.ndim == 2:
        per_sample = weight[None] * s[:, None, :, None, None]
    else:
        per_sample = weight[None] * s[:, :cout, :cin, None, None]
    if demodulate:
        per_sample = per_sample * (per_sample.square().sum([2, 3, 4]) + 1e-8).rsqrt()[
            ..., None, None, None]
    x = x.reshape(1, -1, *x.shape[2:])
    if up == 1:
        y = F.conv2d(x, per_sample.reshape(-1, cin, k, k), padding=k // 2, groups=batch)
    else:
        transposed = per_sample.transpose(1, 2).reshape(batch * cin, cout, k, k)
        y = F.conv_transpose2d(x, transposed, stride=2, groups=batch)
        y = _upfirdn(y, FILTER, pad=(1, 1, 1, 1), gain=4.0)
    return y.reshape(batch, cout, *y.shape[2:])


def _act(x, bias, clamp, lrelu=True):
    x = x + bias[None, :, None, None]
    if lrelu:
        x = F.leaky_relu(x, 0.2) * np.sqrt(2.0)
    return x if clamp is None else x.clamp(-clamp, clamp)


def _synthesis_layer(net, x, w, up):
    y = _modconv(net, x, w, up)
    if "noise_const" in net.buffers:
        y = y + net.buffers["noise_const"] * net.params["noise_strength"]
    return _act(y, net.params["bias"], net.attrs["conv_clamp"])


def reference_synthesis(g, ws):
    """ws: [B, num_ws, D] or [B, num_ws, R, D]."""
    blocks = g.modules["synthesis"].modules
    x = img = None
    index = 0
    for res in CHANNELS:
        block = blocks[f"b{res}"].modules
        if res == 4:
            x = blocks["b4"].params["const"][None].repeat(ws.shape[0], 1, 1, 1)
            x = _synthesis_layer(block["conv1"], x, ws[:, index], 1)
        else:
            x = _synthesis_layer(block["conv0"], x, ws[:, index], 2)
            x = _synthesis_layer(block["conv1"], x, ws[:, index + 1], 1)
            index += 1
        rgb = block["torgb"]
        y = _act(_modconv(rgb, x, ws[:, index + 1], demodulate=False,
                          style_gain=1 / np.sqrt(rgb.params["weight"].shape[1])),
                 rgb.params["bias"], rgb.attrs["conv_clamp"], lrelu=False)
        img = y if img is None else _upfirdn(img, FILTER, up=2, pad=(2, 1, 2, 1), gain=4.0) + y
        index += 1
    return img


def reference_mapping(g, z):
    x = z * (z.square().mean(-1, keepdim=True) + 1e-8).rsqrt()
    for i in range(MAP_LAYERS):
        fc = g.modules["mapping"].modules[f"fc{i}"]
        x = F.leaky_relu(x @ (fc.params["weight"] * fc.attrs["weight_gain"]).T
                         + fc.params["bias"] * fc.attrs["bias_gain"], 0.2) * np.sqrt(2.0)
    return x


def _nchw(a):
    return np.transpose(np.asarray(a), (0, 3, 1, 2))


@pytest.mark.parametrize("clamp", [None, 0.8])  # 0.8: NVIDIA's conv_clamp, active here
def test_standard_pickle_converts_with_parity(persistence, tmp_path, clamp):
    torch.manual_seed(0)
    g = _generator(persistence, clamp=clamp)
    cfg, params = stylegan2_nvidia.load_nvidia(_write(persistence, tmp_path / "g.pkl", g))
    assert not persistence.marker.exists()
    assert (cfg.size, cfg.style_dim, cfg.n_mlp, cfg.channels) == (16, 32, 2, (32, 32, 16))
    assert cfg.lr_mlp == pytest.approx(0.01) and cfg.rows == 1 and cfg.conv_clamp == clamp
    z = torch.randn(2, W_DIM)
    with torch.no_grad():
        w = reference_mapping(g, z)
        ref = reference_synthesis(g, w[:, None].repeat(1, cfg.n_latent, 1))
    jw = stylegan2.mapping(cfg, params, z.numpy())
    assert rel_err(jw, w.numpy()) < 1e-5
    ws = jax.random.normal(jax.random.PRNGKey(0), (2, cfg.n_latent, W_DIM))
    with torch.no_grad():
        ref_plus = reference_synthesis(g, torch.from_numpy(np.array(ws)))
    assert rel_err(_nchw(stylegan2.synthesis(cfg, params, ws)), ref_plus.numpy()) < 1e-4
    assert rel_err(_nchw(stylegan2.synthesis(cfg, params, stylegan2.broadcast_w(cfg, jw))),
                   ref.numpy()) < 1e-4
    np.testing.assert_allclose(params["w_avg"], g.modules["mapping"].buffers["w_avg"].numpy())


def test_overparameterized_pickle_converts_with_parity(persistence, tmp_path):
    torch.manual_seed(1)
    g = _generator(persistence, adaconv=True)
    cfg, params = stylegan2_nvidia.load_nvidia(_write(persistence, tmp_path / "g.pkl", g))
    assert cfg.rows == 32
    assert all(float(layer["noise_strength"]) == 0.0 for layer in params["convs"])
    ws = jax.random.normal(jax.random.PRNGKey(1), (2, cfg.n_latent, cfg.rows, W_DIM))
    with torch.no_grad():
        ref = reference_synthesis(g, torch.from_numpy(np.array(ws)))
    assert rel_err(_nchw(stylegan2.synthesis(cfg, params, ws)), ref.numpy()) < 1e-4
    # its own sampling: correlated latent rows through the mapping
    z = stylegan2.sample_z(cfg, jax.random.PRNGKey(2), 2)
    assert z.shape == (2, 32, W_DIM)
    with torch.no_grad():
        w = reference_mapping(g, torch.from_numpy(np.array(z)))
        ref = reference_synthesis(g, w[:, None].repeat(1, cfg.n_latent, 1, 1))
    assert rel_err(_nchw(stylegan2.generate(cfg, params, z)), ref.numpy()) < 1e-4


def test_cli_writes_a_checkpoint_the_runner_loads(persistence, tmp_path):
    from jaxinv.generators import base

    torch.manual_seed(2)
    source = _write(persistence, tmp_path / "g.pkl", _generator(persistence, adaconv=True,
                                                                clamp=256.0))
    assert stylegan2_nvidia.main([source, str(tmp_path / "out")]) == 0
    gen = base.load(str(tmp_path / "out"))
    assert gen.cfg.rows == 32 and gen.cfg.conv_clamp == 256.0
    assert stylegan2_nvidia.main([source, str(tmp_path / "d"), "--network", "D"]) != 0


def test_crafted_pickles_are_refused_and_run_nothing(persistence, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    for name, payload in (("system.pkl", {"G_ema": Evil()}),
                          ("nested.pkl", {"G_ema": Net(persistence, "Generator",
                                                       modules={"mapping": Evil()})})):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(payload))
        with pytest.raises(CheckpointError, match=f"{name}.*refused global"):
            stylegan2_nvidia.load_nvidia(str(path))
    assert not marker.exists() and not persistence.marker.exists()
    (tmp_path / "junk.pkl").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(CheckpointError, match="junk.pkl"):
        stylegan2_nvidia.load_nvidia(str(tmp_path / "junk.pkl"))
    with pytest.raises(CheckpointError, match="missing.pkl: does not exist"):
        stylegan2_nvidia.load_nvidia(str(tmp_path / "missing.pkl"))
