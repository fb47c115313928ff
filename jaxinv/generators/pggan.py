"""PGGAN generator (Karras et al. 2018) as pure functions of a params pytree.

A numerical port of genforce/mganprior ``PGGANGeneratorNet`` (the layout mGANprior and PmSFC
load), any resolution and channel counts, final level of detail (lod 0). Images are NHWC float32,
about [-1, 1] (not clamped); z is [B, z_dim].

Layers are numbered as mGANprior does: the flat sequence of conv blocks ``layer0 .. layer{L-1}``
without the intermediate ToRGB outputs. Block ``2r`` is the first conv at resolution
``4 * 2**r`` (layer0 is the dense 4x4 block from z; the others upsample by nearest neighbour
first), block ``2r + 1`` the second. Every block starts with pixel normalisation over channels,
then convolves, applies the equalised-lr scale (gain sqrt(2)) and bias, then leaky ReLU(0.2).
The final ToRGB is a 1x1 block (pixel norm, gain 1, linear).

"Layer k" splits the generator: :func:`features` ``(G1)`` runs ``layer0 .. layer{k-1}`` and
returns the output of ``layer{k-1}`` [B, h, w, C] (for k = 0, z as [B, 1, 1, z_dim]);
:func:`from_features` ``(G2)`` runs ``layer{k} ..`` and the ToRGB.

Params pytree::

  layers: [{'weight': [k, k, Cin, Cout], 'bias': [Cout]}] * L   # k = 4 for layer0, else 3
  to_rgb: {'weight': [1, 1, C_last, 3], 'bias': [3]}

``fused_scale`` checkpoints (a transposed convolution in place of upsample + conv) are not
supported; the converter refuses them with a clear error.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
from jax import lax

from jaxinv.convolution import conv2d


@dataclasses.dataclass(frozen=True)
class PGGANConfig:
    """Static architecture (hashable). ``channels[r]`` is the width at resolution 4 * 2**r."""

    resolution: int
    z_dim: int
    channels: tuple[int, ...]

    def __post_init__(self):
        log = int(math.log2(self.resolution))
        if self.resolution < 4 or 2 ** log != self.resolution:
            raise ValueError(f"PGGAN resolution must be a power of two >= 4, got "
                             f"{self.resolution}")
        if len(self.channels) != log - 1:
            raise ValueError(f"channels needs one entry per resolution 4..{self.resolution}")

    @property
    def num_layers(self) -> int:
        return 2 * len(self.channels)

    def layer_resolution(self, k: int) -> int:
        """Spatial size of the output of layer k."""
        return 4 * 2 ** (k // 2)

    def layer_channels(self, k: int) -> int:
        return self.channels[k // 2]

    @classmethod
    def genforce(cls, resolution: int, z_dim: int = 512, fmaps_base: int = 16 << 10,
                 fmaps_max: int = 512) -> "PGGANConfig":
        """The channel counts of genforce's ``PGGANGeneratorNet`` settings."""
        log = int(math.log2(resolution))
        return cls(resolution, z_dim, tuple(min(fmaps_base // 2 ** r, fmaps_max)
                                            for r in range(2, log + 1)))

    def to_dict(self) -> dict:
        return dict(resolution=self.resolution, z_dim=self.z_dim, channels=list(self.channels))

    @classmethod
    def from_dict(cls, d: dict) -> "PGGANConfig":
        return cls(int(d["resolution"]), int(d["z_dim"]), tuple(int(c) for c in d["channels"]))


def _pixel_norm(x):
    return x * lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + 1e-8)


def _block(layer, x, gain, upsample, activate):
    x = _pixel_norm(x)
    if upsample:
        x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
    weight = layer["weight"]
    k, _, cin, _ = weight.shape
    scale = gain / math.sqrt(cin * k * k)
    if x.shape[1] == 1:  # layer0: a k x k 'full' convolution of a 1x1 input, i.e. a dense layer
        y = jnp.einsum("bi,yxio->byxo", x[:, 0, 0], weight[::-1, ::-1])
    else:
        y = conv2d(x, weight, (1, 1), ((k // 2, k // 2),) * 2)
    y = y * scale + layer["bias"]
    return jnp.where(y >= 0, y, 0.2 * y) if activate else y


def _layer(params, x, k):
    return _block(params["layers"][k], x, math.sqrt(2.0), upsample=k > 0 and k % 2 == 0,
                  activate=True)


def features(cfg: PGGANConfig, params, z, k: int):
    """G1: the output of layer k-1 [B, h, w, C] for z [B, z_dim] (z as [B, 1, 1, z_dim] if k=0)."""
    x = z[:, None, None, :]
    for i in range(k):
        x = _layer(params, x, i)
    return x


def from_features(cfg: PGGANConfig, params, x, k: int):
    """G2: the image [B, R, R, 3] from the output of layer k-1."""
    for i in range(k, cfg.num_layers):
        x = _layer(params, x, i)
    return _block(params["to_rgb"], x, 1.0, upsample=False, activate=False)


@functools.partial(jax.jit, static_argnums=0)  # one program when called alone
def generate(cfg: PGGANConfig, params, z):
    """Images [B, R, R, 3] from z [B, z_dim]."""
    return from_features(cfg, params, features(cfg, params, z, 0), 0)


@functools.partial(jax.jit, static_argnums=0)
def init_params(cfg: PGGANConfig, key):
    """Random weights as the original initialises them (N(0, 1), zero biases)."""
    from jaxinv.pytrees import from_one_normal_draw

    def build(normal):
        layers, cin = [], cfg.z_dim
        for k in range(cfg.num_layers):
            cout = cfg.layer_channels(k)
            layers.append({"weight": normal((4 if k == 0 else 3,) * 2 + (cin, cout)),
                           "bias": jnp.zeros((cout,))})
            cin = cout
        return {"layers": layers,
                "to_rgb": {"weight": normal((1, 1, cin, 3)), "bias": jnp.zeros((3,))}}

    return from_one_normal_draw(key, build)


def param_shapes(cfg: PGGANConfig):
    """The params pytree of ``cfg`` as ``jax.ShapeDtypeStruct`` leaves."""
    return jax.eval_shape(lambda k: init_params(cfg, k), jax.random.PRNGKey(0))


def _builtin_config(spec) -> PGGANConfig:
    log = int(math.log2(spec.size))
    return PGGANConfig(spec.size, spec.latent_dim, (spec.channels,) * (log - 1))


def _family():
    from jaxinv.generators.base import Family, FeatureSplit, gaussian_z

    random_images, recovery_targets, latent_error = gaussian_z(generate, lambda cfg: cfg.z_dim)
    return Family(
        name="pggan", config_class=PGGANConfig, converter="converters/pggan_genforce.py",
        init_params=init_params, param_shapes=param_shapes, size=lambda cfg: cfg.resolution,
        latent_dim=lambda cfg: cfg.z_dim, builtin_config=_builtin_config,
        random_images=random_images, recovery_targets=recovery_targets,
        latent_error=latent_error,
        rgb_layers=lambda params: [params["to_rgb"]],
        split=FeatureSplit(num_layers=lambda cfg: cfg.num_layers,
                           channels=lambda cfg, k: cfg.layer_channels(k - 1),
                           features=features, from_features=from_features))


FAMILY = _family()
