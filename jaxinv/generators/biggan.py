"""BigGAN-deep generator (Brock et al. 2019) as pure functions of a params pytree.

A numerical port of PyPI ``pytorch-pretrained-biggan`` (``BigGAN``, the layout pix2latent
loads; biggan-deep-128/256/512 and smaller test models). Images are NHWC float32 in [-1, 1]
(tanh); z is [B, z_dim]; a class is given as a (soft) class vector [B, num_classes] or directly as
a class embedding [B, z_dim] (:func:`synthesis`).

The condition vector is ``concat(z, embed)`` [B, 2 z_dim]. Every block is conditional batch norm
-> ReLU -> 1x1 conv (to in/4 channels) -> BN -> ReLU -> [nearest x2] -> 3x3 conv -> BN -> ReLU
-> 3x3 conv -> BN -> ReLU -> 1x1 conv, plus a skip that keeps the first half of the channels
when the width halves and upsamples when the block does. Self-attention (SAGAN, max-pooled keys
and values) sits before block ``attention_layer_position``.

Batch norm uses stored statistics for 51 truncation values: ``truncation`` is a static Python
float and the statistics are selected exactly as the original does, ``coef, i =
modf(truncation / (1 / (n_stats - 1)))`` and, when coef != 0, ``mean = means[i] * coef +
means[i + 1] * (1 - coef)`` (weights that look swapped, kept because the released statistics were
used that way: truncation 0.415 gives 20.75 and reads 0.75 of row 20 and 0.25 of row 21).

Spectral normalisation is resolved at conversion (``W / sigma`` with the stored u, v, as PyTorch
evaluates it in eval mode), so params hold plain weights.

Params pytree (convs HWIO, linears [in, out])::

  embeddings: [num_classes, z_dim]
  gen_z: {'weight': [2 z_dim, 4 * 4 * 16 ch], 'bias'}    # output viewed as [4, 4, 16 ch]
  blocks: [{'bn_0'..'bn_3': {'means', 'vars': [n_stats, C], 'scale', 'offset': [2 z_dim, C]},
            'conv_0'..'conv_3': {'weight', 'bias'}}] * len(layers)
  attention: {'theta', 'phi', 'g', 'o': [C_in, C_out], 'gamma': []}
  bn: {'means', 'vars': [n_stats, ch], 'weight', 'bias': [ch]}
  to_rgb: {'weight': [3, 3, ch, ch], 'bias': [ch]}     # the first 3 output channels are used
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp

from jaxinv.convolution import conv2d
from jaxinv.pooling import max_pool


@dataclasses.dataclass(frozen=True)
class BigGANConfig:
    """Static architecture (hashable), the fields of the original ``config.json``. ``layers``
    holds ``(upsample, in_mult, out_mult)`` per block; widths are ``channel_width * mult``."""

    output_dim: int = 256
    z_dim: int = 128
    class_embed_dim: int = 128
    channel_width: int = 128
    num_classes: int = 1000
    layers: tuple = ()
    attention_layer_position: int = 8
    eps: float = 1e-4
    n_stats: int = 51

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(
            (bool(u), int(i), int(o)) for u, i, o in self.layers))
        if not self.layers:
            raise ValueError("BigGAN config needs at least one layer")
        if self.class_embed_dim != self.z_dim:
            raise ValueError("BigGAN-deep concatenates z and the class embedding: "
                             f"class_embed_dim ({self.class_embed_dim}) must equal z_dim "
                             f"({self.z_dim})")
        if self.channel_width < 3:
            raise ValueError("the RGB output is the first 3 of channel_width channels: "
                             f"channel_width must be >= 3, got {self.channel_width}")
        if self.layers[0][1] != 16:
            raise ValueError("the first BigGAN-deep block reads the 4x4 input of 16 * "
                             f"channel_width channels: its in_mult must be 16, got "
                             f"{self.layers[0][1]}")
        if self.layers[-1][2] != 1:
            raise ValueError("the last BigGAN-deep block must end at channel_width channels "
                             f"(out_mult 1), got {self.layers[-1][2]}")
        size = 4 * 2 ** sum(u for u, _, _ in self.layers)
        if size != self.output_dim:
            raise ValueError(f"layers upsample 4 px to {size} px, but output_dim is "
                             f"{self.output_dim}")

    @classmethod
    def deep(cls, size: int, channel_width: int = 128) -> "BigGANConfig":
        """The released ``biggan-deep-128`` or ``-256`` layout (pytorch-pretrained-biggan's
        config.json; widths 16, 16, 8, (8,) 4, 2, 1 x ch from 4 px up, two blocks per
        resolution, attention before block 8), optionally at another channel width."""
        mults = {128: [16, 16, 16, 16, 8, 8, 4, 4, 2, 2, 1],
                 256: [16, 16, 16, 16, 8, 8, 8, 4, 4, 2, 2, 1, 1]}
        if size not in mults:
            raise ValueError(f"released BigGAN-deep layouts: {sorted(mults)} px, not {size}")
        m = mults[size]
        return cls(output_dim=size, channel_width=channel_width,
                   layers=tuple((j % 2 == 1, m[j], m[j + 1]) for j in range(len(m) - 1)))

    @classmethod
    def small(cls, size: int, channel_width: int, z_dim: int, num_classes: int = 1000):
        """A BigGAN-deep of the released layout at another scale (tests, the built-in model):
        two blocks per resolution (the second upsamples), widths 16 ch halving over the last
        four blocks down to ch, attention at the middle block."""
        n_up = int(math.log2(size // 4))
        if size < 16 or 4 * 2 ** n_up != size:
            raise ValueError(f"BigGAN size must be a power of two >= 16, got {size}")
        n = 2 * n_up
        mults = [16] * (n - 4) + [16, 8, 4, 2, 1]
        layers = tuple((j % 2 == 1, mults[j], mults[j + 1]) for j in range(n))
        return cls(output_dim=size, z_dim=z_dim, class_embed_dim=z_dim,
                   channel_width=channel_width, num_classes=num_classes, layers=layers,
                   attention_layer_position=n // 2)

    @property
    def cond_dim(self) -> int:
        return 2 * self.z_dim

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["layers"] = [list(layer) for layer in self.layers]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BigGANConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown BigGAN config keys {sorted(unknown)}")
        return cls(**d)


def truncation_weights(truncation: float, n_stats: int):
    """``((index, weight), ...)``: the stored statistics rows and their weights for a static
    truncation, computed with the original's float arithmetic."""
    if not 0.0 < truncation <= 1.0:
        raise ValueError(f"truncation must be in (0, 1], got {truncation}")
    coef, start = math.modf(truncation / (1.0 / (n_stats - 1)))
    start = int(start)
    if coef != 0.0:
        return ((start, coef), (start + 1, 1.0 - coef))
    return ((start, 1.0),)


def _stats(bn, truncation: float, n_stats: int):
    rows = truncation_weights(truncation, n_stats)
    mean = sum(bn["means"][i] * w for i, w in rows)
    var = sum(bn["vars"][i] * w for i, w in rows)
    return mean, var


def _cond_bn(bn, x, cond, truncation, cfg: BigGANConfig):
    mean, var = _stats(bn, truncation, cfg.n_stats)
    weight = 1.0 + cond @ bn["scale"]
    bias = cond @ bn["offset"]
    return ((x - mean) / jnp.sqrt(var + cfg.eps) * weight[:, None, None, :]
            + bias[:, None, None, :])


def _conv(layer, x):
    k = layer["weight"].shape[0]
    y = conv2d(x, layer["weight"], (1, 1), ((k // 2, k // 2),) * 2)
    return y + layer["bias"]


def _upsample(x):
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _block(block, x, cond, truncation, upsample: bool, cfg: BigGANConfig):
    relu = jax.nn.relu
    x0 = x
    h = _conv(block["conv_0"], relu(_cond_bn(block["bn_0"], x, cond, truncation, cfg)))
    h = relu(_cond_bn(block["bn_1"], h, cond, truncation, cfg))
    if upsample:
        h = _upsample(h)
    h = _conv(block["conv_1"], h)
    h = _conv(block["conv_2"], relu(_cond_bn(block["bn_2"], h, cond, truncation, cfg)))
    h = _conv(block["conv_3"], relu(_cond_bn(block["bn_3"], h, cond, truncation, cfg)))
    out_channels = block["conv_3"]["weight"].shape[-1]
    if out_channels != x0.shape[-1]:
        x0 = x0[..., :x0.shape[-1] // 2]
    if upsample:
        x0 = _upsample(x0)
    return h + x0


def _attention(att, x):
    b, h, w, c = x.shape
    theta = (x @ att["theta"]).reshape(b, h * w, -1)
    phi = max_pool(x @ att["phi"], 2, 2).reshape(b, h * w // 4, -1)
    g = max_pool(x @ att["g"], 2, 2).reshape(b, h * w // 4, -1)
    attn = jax.nn.softmax(jnp.einsum("bqc,bkc->bqk", theta, phi), axis=-1)
    out = jnp.einsum("bqk,bkc->bqc", attn, g).reshape(b, h, w, -1) @ att["o"]
    return x + att["gamma"] * out


def embed(params, class_vector):
    """Class embedding [B, z_dim] of a (soft) class vector [B, num_classes]."""
    return class_vector @ params["embeddings"]


@functools.partial(jax.jit, static_argnums=(0, 4))  # one program when called alone
def synthesis(cfg: BigGANConfig, params, z, class_embedding, truncation: float):
    """Images [B, R, R, 3] in [-1, 1] from z [B, z_dim] and class embeddings [B, z_dim];
    ``truncation`` is a static float in (0, 1] selecting batch-norm statistics."""
    cond = jnp.concatenate([z, class_embedding], axis=1)
    ch = cfg.channel_width
    x = (cond @ params["gen_z"]["weight"] + params["gen_z"]["bias"]).reshape(-1, 4, 4, 16 * ch)
    for i, (upsample, _, _) in enumerate(cfg.layers):
        if i == cfg.attention_layer_position:
            x = _attention(params["attention"], x)
        x = _block(params["blocks"][i], x, cond, truncation, upsample, cfg)
    bn = params["bn"]
    mean, var = _stats(bn, truncation, cfg.n_stats)
    x = (x - mean) / jnp.sqrt(var + cfg.eps) * bn["weight"] + bn["bias"]
    x = _conv(params["to_rgb"], jax.nn.relu(x))
    return jnp.tanh(x[..., :3])


@functools.partial(jax.jit, static_argnums=(0, 4))  # one program when called alone
def generate(cfg: BigGANConfig, params, z, class_vector, truncation: float):
    """Images [B, R, R, 3] from z [B, z_dim] and (soft) class vectors [B, num_classes]."""
    return synthesis(cfg, params, z, embed(params, class_vector), truncation)


def one_hot(cfg: BigGANConfig, classes):
    """Class vectors [B, num_classes] for integer classes [B]."""
    return jax.nn.one_hot(jnp.asarray(classes), cfg.num_classes)


def truncated_noise(key, shape, truncation: float):
    """z ~ N(0, 1) truncated to [-2, 2] and scaled by ``truncation``, as the original's
    ``truncated_noise_sample`` (there via scipy's truncnorm)."""
    return truncation * jax.random.truncated_normal(key, -2.0, 2.0, shape)


@functools.partial(jax.jit, static_argnums=0)
def init_params(cfg: BigGANConfig, key):
    """Random weights (N(0, 1) / sqrt(fan_in), zero biases, unit statistics) for tests and
    benchmarks; real weights come from ``converters/biggan_hf.py``."""
    from jaxinv.pytrees import from_one_normal_draw

    return from_one_normal_draw(key, functools.partial(_random_params, cfg))


def _random_params(cfg: BigGANConfig, normal):
    ch, cond = cfg.channel_width, cfg.cond_dim

    def dense(cin, cout):
        return normal((cin, cout)) / math.sqrt(cin)

    def conv(k, cin, cout):
        return {"weight": normal((k, k, cin, cout)) / math.sqrt(
            cin * k * k), "bias": jnp.zeros((cout,))}

    def bn(c):
        return {"means": jnp.zeros((cfg.n_stats, c)), "vars": jnp.ones((cfg.n_stats, c)),
                "scale": 0.1 * dense(cond, c), "offset": 0.1 * dense(cond, c)}

    blocks = []
    for _, i, o in cfg.layers:
        cin, cout = ch * i, ch * o
        mid = cin // 4
        blocks.append({"bn_0": bn(cin), "conv_0": conv(1, cin, mid), "bn_1": bn(mid),
                       "conv_1": conv(3, mid, mid), "bn_2": bn(mid), "conv_2": conv(3, mid, mid),
                       "bn_3": bn(mid), "conv_3": conv(1, mid, cout)})
    c_att = ch * cfg.layers[min(cfg.attention_layer_position, len(cfg.layers) - 1)][1]
    params = {
        "embeddings": normal((cfg.num_classes, cfg.z_dim)) * 0.1,
        "gen_z": {"weight": dense(cond, 4 * 4 * 16 * ch), "bias": jnp.zeros((4 * 4 * 16 * ch,))},
        "blocks": blocks,
        "bn": {"means": jnp.zeros((cfg.n_stats, ch)), "vars": jnp.ones((cfg.n_stats, ch)),
               "weight": jnp.ones((ch,)), "bias": jnp.zeros((ch,))},
        "to_rgb": conv(3, ch, ch),
    }
    if cfg.attention_layer_position < len(cfg.layers):
        params["attention"] = {"theta": dense(c_att, c_att // 8), "phi": dense(c_att, c_att // 8),
                               "g": dense(c_att, c_att // 2), "o": dense(c_att // 2, c_att),
                               "gamma": jnp.asarray(0.1)}
    return params


def param_shapes(cfg: BigGANConfig):
    """The params pytree of ``cfg`` as ``jax.ShapeDtypeStruct`` leaves."""
    return jax.eval_shape(lambda k: init_params(cfg, k), jax.random.PRNGKey(0))


def _builtin_config(spec) -> BigGANConfig:
    # ``channels`` is the widest layer, 16 * channel_width; at least 3 channels reach RGB
    return BigGANConfig.small(spec.size, max(4, spec.channels // 16), spec.latent_dim)


@functools.partial(jax.jit, static_argnums=(0, 3))
def _random_images(cfg: BigGANConfig, params, key, n: int):
    classes = jax.random.randint(key, (n,), 0, cfg.num_classes)
    return generate(cfg, params, jax.random.normal(key, (n, cfg.z_dim)), one_hot(cfg, classes),
                    1.0)


def _recovery_targets(cfg: BigGANConfig, params, key, n: int, options: dict):
    """Images of class ``options['class_index']`` (default 0) from known truncated-normal z at
    ``options['truncation']``; truths ``{'z': [z_dim]}``."""
    import numpy as np

    t = options.get("truncation", 1.0)
    z = truncated_noise(key, (n, cfg.z_dim), t)
    classes = one_hot(cfg, [options.get("class_index", 0)] * n)
    images = generate(cfg, params, z, classes, t)
    return np.asarray(images), [{"z": np.asarray(z_i)} for z_i in z]


def _family():
    from jaxinv.generators.base import Family

    # BigGAN ends in tanh: the built-in model's images are in range without rescaling
    return Family(
        name="biggan", config_class=BigGANConfig, converter="converters/biggan_hf.py",
        init_params=init_params, param_shapes=param_shapes, size=lambda cfg: cfg.output_dim,
        latent_dim=lambda cfg: cfg.z_dim, builtin_config=_builtin_config,
        random_images=_random_images, recovery_targets=_recovery_targets)


FAMILY = _family()
