"""StyleGAN2's residual discriminator (config-e/f) as pure functions of a params pytree.

The architecture of rosinality/stylegan2-pytorch's ``Discriminator`` (and NVIDIA's 'resnet'
discriminator): a 1x1 FromRGB at full resolution, one residual block per resolution down to
4x4 (two 3x3 convs, the second blurred and strided, plus a blurred, strided 1x1 skip without
bias, summed and divided by sqrt(2)), the minibatch standard deviation feature, a 3x3 conv and
two dense layers to one logit per image. Weights are stored raw, N(0, 1), and scaled at run
time by He's constant (equalised learning rate), so one Adam learning rate suits every layer.
Images are NHWC float32 in [-1, 1].

Params pytree::

  from_rgb: {'weight': [1, 1, 3, C_size], 'bias': [C_size]}
  blocks:   [{'conv1': {'weight': [3, 3, Cin, Cin], 'bias': [Cin]},
              'conv2': {'weight': [3, 3, Cin, Cout], 'bias': [Cout]},
              'skip':  {'weight': [1, 1, Cin, Cout]}}]     # resolutions size .. 8
  final_conv: {'weight': [3, 3, C4 + 1, C4], 'bias': [C4]}
  dense: {'weight': [16 * C4, C4], 'bias': [C4]}
  out:   {'weight': [C4, 1], 'bias': [1]}
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.convolution import conv2d
from jaxinv.generators.stylegan2 import blur_kernel, fused_leaky_relu, upfirdn2d
from jaxinv.pytrees import from_one_normal_draw


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """``channels[r]``: the channel count at resolution ``2**(r+2)`` (4, 8, ..., size), as the
    generator's; ``mbstd_group``: images per minibatch-standard-deviation group (the batch must
    be a multiple of it, or smaller)."""

    size: int
    channels: tuple[int, ...]
    mbstd_group: int = 4

    def __post_init__(self):
        if self.size < 8 or self.size & (self.size - 1):
            raise ValueError(f"discriminator size must be a power of two >= 8, got {self.size}")
        if len(self.channels) != int(math.log2(self.size)) - 1:
            raise ValueError(f"discriminator channels needs one entry per resolution "
                             f"4..{self.size}, got {len(self.channels)}")


def _conv(x, layer, stride: int = 1, pad: int | None = None):
    weight = layer["weight"]
    k, _, cin, _ = weight.shape
    pad = k // 2 if pad is None else pad
    return conv2d(x, weight * (1.0 / math.sqrt(cin * k * k)), (stride, stride),
                  ((pad, pad),) * 2)


def _downsample_conv(x, layer):
    """Blur, then a stride-2 convolution without padding (rosinality's ConvLayer(downsample))."""
    k = layer["weight"].shape[0]
    p = 2 + (k - 1)
    x = upfirdn2d(x, blur_kernel(np.float64), pad=((p + 1) // 2, p // 2))
    return _conv(x, layer, stride=2, pad=0)


def _block(layer, x):
    y = fused_leaky_relu(_conv(x, layer["conv1"]), layer["conv1"]["bias"])
    y = fused_leaky_relu(_downsample_conv(y, layer["conv2"]), layer["conv2"]["bias"])
    return (y + _downsample_conv(x, layer["skip"])) * (1.0 / math.sqrt(2.0))


def minibatch_stddev(x, group: int):
    """Appends one feature map: the standard deviation of every feature over a group of
    ``group`` images (images ``i, i + B/group, i + 2B/group, ...``), averaged over features and
    pixels. ``B`` must be a multiple of ``group`` or smaller."""
    b, h, w, c = x.shape
    g = min(group, b)
    y = x.reshape(g, b // g, h, w, c)
    std = jnp.sqrt(jnp.var(y, axis=0) + 1e-8)            # [B/g, H, W, C]
    feature = jnp.mean(std, axis=(1, 2, 3))              # [B/g]
    feature = jnp.tile(feature, g)[:, None, None, None]  # image i reads group i % (B/g)
    return jnp.concatenate([x, jnp.broadcast_to(feature, (b, h, w, 1))], axis=-1)


def logits(cfg: DiscriminatorConfig, params, images):
    """Real/fake logits [B] of ``images`` [B, size, size, 3]."""
    if images.shape[1:3] != (cfg.size, cfg.size):
        raise ValueError(f"the discriminator takes {cfg.size} px images, got "
                         f"{images.shape[1]}x{images.shape[2]}")
    x = fused_leaky_relu(_conv(images, params["from_rgb"]), params["from_rgb"]["bias"])
    for layer in params["blocks"]:
        x = _block(layer, x)
    x = minibatch_stddev(x, cfg.mbstd_group)
    x = fused_leaky_relu(_conv(x, params["final_conv"]), params["final_conv"]["bias"])
    x = x.reshape(x.shape[0], -1)
    dense, out = params["dense"], params["out"]
    x = fused_leaky_relu(x @ (dense["weight"] * (1.0 / math.sqrt(x.shape[-1]))),
                         dense["bias"])
    return (x @ (out["weight"] * (1.0 / math.sqrt(x.shape[-1]))) + out["bias"])[:, 0]


@functools.partial(jax.jit, static_argnums=0)
def init_params(cfg: DiscriminatorConfig, key):
    """Random weights: N(0, 1) weights (scaled at run time), zero biases."""
    return from_one_normal_draw(key, functools.partial(_random_params, cfg))


def _random_params(cfg: DiscriminatorConfig, normal):
    ch = cfg.channels

    def conv(k, cin, cout, bias=True):
        layer = {"weight": normal((k, k, cin, cout))}
        if bias:
            layer["bias"] = jnp.zeros((cout,))
        return layer

    blocks = []
    for r in range(len(ch) - 1, 0, -1):  # resolution 2**(r+2) down to 8
        cin, cout = ch[r], ch[r - 1]
        blocks.append({"conv1": conv(3, cin, cin), "conv2": conv(3, cin, cout),
                       "skip": conv(1, cin, cout, bias=False)})
    return {"from_rgb": conv(1, 3, ch[-1]), "blocks": blocks,
            "final_conv": conv(3, ch[0] + 1, ch[0]),
            "dense": {"weight": normal((16 * ch[0], ch[0])), "bias": jnp.zeros((ch[0],))},
            "out": {"weight": normal((ch[0], 1)), "bias": jnp.zeros((1,))}}
