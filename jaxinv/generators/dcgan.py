"""DCGAN generator (Radford et al. 2016) as pure functions of a params pytree.

A numerical port of the PyTorch DCGAN tutorial's generator, the most widely copied GAN layout
(``nn.Sequential`` ``main``): a 4x4 transposed convolution from z [B, z_dim] to 4x4 (stride 1,
no padding), then blocks of batch norm, ReLU and a 4x4 transposed convolution with stride 2 and
padding 1 that doubles the resolution, and after the last one tanh. No convolution has a bias.
Batch norm uses its running statistics (the module in ``eval()`` mode), so a generator is a
deterministic function of z. Images are NHWC float32 in [-1, 1]; the output size is
``4 * 2**len(channels)`` (64 for the tutorial's four hidden blocks).

"Layer k" splits the generator at the activation after the k-th ReLU, as the PGGAN port splits
at a conv layer: :func:`features` (G1) returns it [B, h, w, channels[k-1]] (for k = 0, z as
[B, 1, 1, z_dim]); :func:`from_features` (G2) runs the rest. k runs over ``0..len(channels)``.

Params pytree (kernels are the equivalent ordinary convolution's, HWIO, spatially flipped
from PyTorch's transposed-convolution weight [Cin, Cout, kH, kW])::

  blocks: [{'weight': [4, 4, Cin, Cout],
            'bn': {'scale': [Cout], 'bias': [Cout], 'mean': [Cout], 'var': [Cout]}}] * L
  to_rgb: {'weight': [4, 4, C_last, 3]}
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxinv.convolution import conv2d


KERNEL = 4


@dataclasses.dataclass(frozen=True)
class DCGANConfig:
    """Static architecture (hashable): ``channels[i]`` is the width after hidden block i
    (the tutorial: (8, 4, 2, 1) x ngf = (512, 256, 128, 64)); ``bn_eps`` is batch norm's
    epsilon (PyTorch's default)."""

    z_dim: int
    channels: tuple[int, ...]
    out_channels: int = 3
    bn_eps: float = 1e-5

    def __post_init__(self):
        if not self.channels or self.z_dim < 1:
            raise ValueError("a DCGAN needs z_dim >= 1 and at least one hidden block")

    @property
    def resolution(self) -> int:
        return 4 * 2 ** len(self.channels)

    @property
    def num_layers(self) -> int:
        return len(self.channels)

    @classmethod
    def tutorial(cls, resolution: int = 64, z_dim: int = 100, ngf: int = 64) -> "DCGANConfig":
        """The PyTorch DCGAN tutorial's generator with as many blocks as ``resolution`` (4 x a
        power of two) needs, widths halving to ``ngf``: (512, 256, 128, 64) at 64 px."""
        blocks = int(math.log2(resolution // 4))
        return cls(z_dim, tuple(ngf * 2 ** i for i in reversed(range(blocks))))

    def to_dict(self) -> dict:
        return dict(z_dim=self.z_dim, channels=list(self.channels),
                    out_channels=self.out_channels, bn_eps=self.bn_eps)

    @classmethod
    def from_dict(cls, d: dict) -> "DCGANConfig":
        return cls(int(d["z_dim"]), tuple(int(c) for c in d["channels"]),
                   int(d.get("out_channels", 3)), float(d.get("bn_eps", 1e-5)))


def _transposed_conv(x, weight, first: bool):
    """PyTorch's ConvTranspose2d(4, stride 1, padding 0) for the first block (1x1 -> 4x4) and
    (4, stride 2, padding 1) after it, as a convolution of the dilated input."""
    stride, pad = (1, 0) if first else (2, 1)
    edge = KERNEL - 1 - pad
    return conv2d(x, weight, (1, 1), ((edge, edge), (edge, edge)), (stride, stride))


def _block(cfg: DCGANConfig, block, x, first: bool):
    y = _transposed_conv(x, block["weight"], first)
    bn = block["bn"]
    y = (y - bn["mean"]) * (lax.rsqrt(bn["var"] + cfg.bn_eps) * bn["scale"]) + bn["bias"]
    return jax.nn.relu(y)


def features(cfg: DCGANConfig, params, z, k: int):
    """G1: the activation after the k-th ReLU [B, h, w, channels[k-1]] for z [B, z_dim]
    (z as [B, 1, 1, z_dim] for k = 0)."""
    x = z[:, None, None, :]
    for i in range(k):
        x = _block(cfg, params["blocks"][i], x, first=i == 0)
    return x


def from_features(cfg: DCGANConfig, params, x, k: int):
    """G2: images [B, R, R, 3] in [-1, 1] from the activation after the k-th ReLU."""
    for i in range(k, cfg.num_layers):
        x = _block(cfg, params["blocks"][i], x, first=i == 0)
    return jnp.tanh(_transposed_conv(x, params["to_rgb"]["weight"], first=False))


@functools.partial(jax.jit, static_argnums=0)  # one program when called alone
def generate(cfg: DCGANConfig, params, z):
    """Images [B, R, R, 3] in [-1, 1] from z [B, z_dim]."""
    return from_features(cfg, params, features(cfg, params, z, 0), 0)


@functools.partial(jax.jit, static_argnums=0)
def init_params(cfg: DCGANConfig, key):
    """Random weights for tests and benchmarks: kernels N(0, 2/fan_in) (He, for the ReLUs) with
    the fan-in a transposed convolution really has (Cin x 16 for the first block, Cin x 4 after:
    each output pixel sees 2x2 taps per input channel), so activations keep their scale; batch
    norm with unit scale, zero bias and running statistics (0, 1). (The tutorial's N(0, 0.02) is
    a training initialisation; with frozen running statistics it makes near-constant images.)"""
    from jaxinv.pytrees import from_one_normal_draw

    def build(normal):
        blocks, cin = [], cfg.z_dim
        for i, cout in enumerate(cfg.channels):
            fan_in = cin * (KERNEL * KERNEL if i == 0 else 4)
            blocks.append({"weight": normal((KERNEL, KERNEL, cin, cout))
                           * math.sqrt(2.0 / fan_in),
                           "bn": {"scale": jnp.ones((cout,)), "bias": jnp.zeros((cout,)),
                                  "mean": jnp.zeros((cout,)), "var": jnp.ones((cout,))}})
            cin = cout
        rgb = normal((KERNEL, KERNEL, cin, cfg.out_channels)) / math.sqrt(4 * cin)
        return {"blocks": blocks, "to_rgb": {"weight": rgb}}

    return from_one_normal_draw(key, build)


def param_shapes(cfg: DCGANConfig):
    """The params pytree of ``cfg`` as ``jax.ShapeDtypeStruct`` leaves."""
    return jax.eval_shape(lambda k: init_params(cfg, k), jax.random.PRNGKey(0))


# jaxinv's batch-norm entries and the tutorial's BatchNorm2d state-dict keys they come from
BATCH_NORM_KEYS = (("scale", "weight"), ("bias", "bias"), ("mean", "running_mean"),
                   ("var", "running_var"))
TUTORIAL_LAYOUT = ("the PyTorch DCGAN tutorial's generator state dict (main.0.weight, main.1.*, "
                   "..., optionally inside {'netG_state_dict': ...})")


def from_state_dict(sd, where: str):
    """``(DCGANConfig, params)`` (numpy) from the tutorial layout's state dict ``{key: numpy
    array}``: the transposed-convolution weights ``main.{i}.weight`` [Cin, Cout, 4, 4], each but
    the last followed by batch norm ``main.{i+1}.{weight,bias,running_mean,running_var}``.
    Sizes are read from the tensors; a ``module.`` prefix (DataParallel) is dropped.
    CheckpointError naming ``where`` when the layout differs."""
    from jaxinv.io.checkpoints import CheckpointError, check_shapes

    sd = {k[len("module."):] if k.startswith("module.") else k: v for k, v in sd.items()}
    convs = sorted(int(m.group(1)) for k, v in sd.items()
                   if (m := re.fullmatch(r"main\.(\d+)\.weight", k)) and np.ndim(v) == 4)
    if len(convs) < 2:
        raise CheckpointError(f"{where}: not {TUTORIAL_LAYOUT}; found {len(convs)} "
                              f"transposed-convolution weights")
    blocks = []
    for i in convs[:-1]:
        w = np.asarray(sd[f"main.{i}.weight"], np.float32)
        try:
            bn = {name: np.asarray(sd[f"main.{i + 1}.{key}"], np.float32).reshape(-1)
                  for name, key in BATCH_NORM_KEYS}
        except KeyError as e:
            raise CheckpointError(f"{where}: not {TUTORIAL_LAYOUT}; main.{i} has no batch norm "
                                  f"after it (missing {e.args[0]})") from None
        blocks.append({"weight": _flip(w), "bn": bn})
    last = np.asarray(sd[f"main.{convs[-1]}.weight"], np.float32)
    if any(np.shape(sd[f"main.{i}.weight"])[2:] != (KERNEL, KERNEL) for i in convs):
        raise CheckpointError(f"{where}: every transposed convolution must be 4x4 as in the "
                              f"tutorial layout")
    widths = tuple(int(b["weight"].shape[3]) for b in blocks)
    cfg = DCGANConfig(int(blocks[0]["weight"].shape[2]), widths, int(last.shape[1]))
    params = {"blocks": blocks, "to_rgb": {"weight": _flip(last)}}
    check_shapes(params, param_shapes(cfg), where)
    return cfg, params


def from_saved(obj, where: str):
    """``(DCGANConfig, params)`` from the loaded tutorial checkpoint: its state dict, or a dict
    holding it under ``netG_state_dict`` (as the training loops that copy the tutorial save
    it, e.g. ``gan_face_generate/weights.tar``); arrays are numpy."""
    from jaxinv.io.checkpoints import CheckpointError

    if isinstance(obj, dict) and "netG_state_dict" in obj:
        obj = obj["netG_state_dict"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{where}: not {TUTORIAL_LAYOUT}; found a {type(obj).__name__}")
    return from_state_dict(obj, where)


def _flip(weight):
    """PyTorch's transposed-convolution weight [Cin, Cout, kH, kW] as the equivalent ordinary
    convolution's kernel [kH, kW, Cin, Cout] (spatially flipped)."""
    return weight[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).copy()


def _builtin_config(spec) -> DCGANConfig:
    blocks = int(math.log2(spec.size)) - 2
    if spec.size < 8 or 4 * 2 ** blocks != spec.size:
        raise ValueError(f"a DCGAN's size is 4 x a power of two >= 8, got {spec.size}")
    return DCGANConfig(spec.latent_dim, (spec.channels,) * blocks)


def _family():
    from jaxinv.generators.base import Family, FeatureSplit, gaussian_z

    random_images, recovery_targets, latent_error = gaussian_z(generate, lambda cfg: cfg.z_dim)
    return Family(
        name="dcgan", config_class=DCGANConfig, converter="converters/dcgan_torch.py",
        init_params=init_params, param_shapes=param_shapes, size=lambda cfg: cfg.resolution,
        latent_dim=lambda cfg: cfg.z_dim, builtin_config=_builtin_config,
        random_images=random_images, recovery_targets=recovery_targets,
        latent_error=latent_error,
        rgb_layers=lambda params: [params["to_rgb"]], from_saved=from_saved,
        split=FeatureSplit(num_layers=lambda cfg: cfg.num_layers,
                           channels=lambda cfg, k: cfg.channels[k - 1],
                           features=features, from_features=from_features))


FAMILY = _family()
