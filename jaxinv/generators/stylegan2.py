"""StyleGAN2 (config-e/f) generator as pure functions of a params pytree.

A numerical port of rosinality/stylegan2-pytorch ``Generator`` (the layout SPHInX and most
inversion codes load), for any resolution and channel counts. Images are NHWC float32, about
[-1, 1] (not clamped). Latents: ``z`` and ``w`` are ``[..., style_dim]``; per-layer ``ws`` (W+)
are ``[B, n_latent, style_dim]``.

Synthesis layers are numbered as the styled convolutions: layer 0 is the 4x4 conv on the constant
input, layers ``2r-1`` and ``2r`` the two convs at resolution ``2**(r+2)``; conv ``k`` reads
``ws[:, k]`` and adds noise map ``k``; the ToRGB after conv ``k`` (``k`` even) reads
``ws[:, k + 1]``. :func:`synthesis_features` runs the first ``k`` convs (with their ToRGBs) and
returns a :class:`SynthesisState`; :func:`synthesis_from_features` runs the rest, so feature-space
methods can cut the network at any layer.

Params pytree (weights raw, equalised-learning-rate scales applied at run time as in the original)::

  mapping:  [{'w': [D, D], 'b': [D]}] * n_mlp          # w stored as [in, out]
  const:    [4, 4, C4]
  convs:    [{'weight': [3, 3, Cin, Cout], 'mod_w': [D, Cin], 'mod_b': [Cin],
              'noise_strength': [], 'bias': [Cout]}] * num_layers
  to_rgbs:  [{'weight': [1, 1, Cin, 3], 'mod_w': [D, Cin], 'mod_b': [Cin], 'bias': [3]}]
  noise:    [[H_k, W_k, 1]] * num_layers               # the checkpoint's fixed noise buffers
  w_avg:    [D]
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxinv.convolution import conv2d
from jaxinv.pytrees import from_one_normal_draw

_BLUR = (1.0, 3.0, 3.0, 1.0)
_DN = ("NHWC", "HWIO", "NHWC")


@dataclasses.dataclass(frozen=True)
class StyleGAN2Config:
    """Static architecture; hashable so it can be a static argument of ``jit``.

    ``channels[r]`` is the channel count at resolution ``2**(r+2)`` (4, 8, ..., size).
    ``rows``: rows of the latent matrix a sample is drawn with (1: StyleGAN2; the widest layer's
    channel count: the overparameterized generator, which was trained with one latent row per
    output channel). ``conv_clamp``: NVIDIA's clamp of every conv and ToRGB output to
    +-conv_clamp (None: none, as rosinality).
    """

    size: int
    style_dim: int
    n_mlp: int
    channels: tuple[int, ...]
    lr_mlp: float = 0.01
    rows: int = 1
    conv_clamp: float | None = None

    def __post_init__(self):
        if self.size < 4 or self.size & (self.size - 1):
            raise ValueError(f"StyleGAN2 size must be a power of two >= 4, got {self.size}")
        if len(self.channels) != self.log_size - 1:
            raise ValueError(
                f"channels needs one entry per resolution 4..{self.size} "
                f"({self.log_size - 1}), got {len(self.channels)}")
        if self.rows != 1 and self.rows < max(self.channels):
            raise ValueError(f"rows must be 1 or at least the widest layer's {max(self.channels)} "
                             f"channels (one row per output channel), got {self.rows}")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    @property
    def num_layers(self) -> int:
        """Number of styled convolutions (and noise maps)."""
        return 2 * (self.log_size - 2) + 1

    @property
    def n_latent(self) -> int:
        """Number of W+ slots."""
        return 2 * self.log_size - 2

    def layer_resolution(self, k: int) -> int:
        return 2 ** ((k + 5) // 2)

    @property
    def noise_shapes(self) -> tuple[tuple[int, int, int], ...]:
        return tuple((self.layer_resolution(k),) * 2 + (1,) for k in range(self.num_layers))

    @classmethod
    def rosinality(cls, size: int, style_dim: int = 512, n_mlp: int = 8,
                   channel_multiplier: int = 2, lr_mlp: float = 0.01) -> "StyleGAN2Config":
        """The channel counts of rosinality's ``Generator(size, style_dim, n_mlp, cm)``."""
        table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * channel_multiplier,
                 128: 128 * channel_multiplier, 256: 64 * channel_multiplier,
                 512: 32 * channel_multiplier, 1024: 16 * channel_multiplier}
        log = int(math.log2(size))
        return cls(size, style_dim, n_mlp, tuple(table[2 ** r] for r in range(2, log + 1)), lr_mlp)

    def to_dict(self) -> dict:
        return dict(size=self.size, style_dim=self.style_dim, n_mlp=self.n_mlp,
                    channels=list(self.channels), lr_mlp=self.lr_mlp, rows=self.rows,
                    conv_clamp=self.conv_clamp)

    @classmethod
    def from_dict(cls, d: dict) -> "StyleGAN2Config":
        clamp = d.get("conv_clamp")
        return cls(int(d["size"]), int(d["style_dim"]), int(d["n_mlp"]),
                   tuple(int(c) for c in d["channels"]), float(d.get("lr_mlp", 0.01)),
                   int(d.get("rows", 1)), None if clamp is None else float(clamp))


class SynthesisState(NamedTuple):
    """Synthesis after some layers: features ``x`` [B, H, W, C] and the RGB skip [B, H', W', 3]
    accumulated by the ToRGBs so far (``None`` before the first ToRGB)."""

    x: jax.Array
    skip: jax.Array | None


def fused_leaky_relu(x, bias):
    """rosinality's fused_leaky_relu: leaky ReLU(0.2) of ``x + bias``, times sqrt(2)."""
    x = x + bias
    return jnp.where(x >= 0, x, 0.2 * x) * np.sqrt(2.0).astype(x.dtype)


def blur_kernel(dtype, gain=1.0):
    """StyleGAN2's [1, 3, 3, 1] outer-product FIR filter [4, 4], normalised to sum ``gain``."""
    k = np.asarray(_BLUR, np.float64)
    k = np.outer(k, k)
    return (k / k.sum() * gain).astype(dtype)


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """Upsample by zero insertion, pad, FIR-filter, downsample; NHWC, per channel.

    Same semantics as rosinality's ``upfirdn2d`` (true convolution with ``kernel``) for
    non-negative padding.
    """
    c = x.shape[-1]
    k = jnp.asarray(kernel[::-1, ::-1], x.dtype)
    k = jnp.tile(k[:, :, None, None], (1, 1, 1, c))
    p0, p1 = pad
    return lax.conv_general_dilated(
        x, k, window_strides=(down, down), padding=((p0, p1 + up - 1), (p0, p1 + up - 1)),
        lhs_dilation=(up, up), dimension_numbers=_DN, feature_group_count=c)


def pixel_norm(z):
    return z * lax.rsqrt(jnp.mean(z * z, axis=-1, keepdims=True) + 1e-8)


@functools.partial(jax.jit, static_argnums=0)
def mapping(cfg: StyleGAN2Config, params, z):
    """Mapping network ``z -> w`` (PixelNorm then ``n_mlp`` equalised linear + lrelu).

    Args:
      z: [..., style_dim]. Returns w: [..., style_dim].
    """
    x = pixel_norm(z)
    scale = cfg.lr_mlp / math.sqrt(cfg.style_dim)
    for layer in params["mapping"]:
        x = fused_leaky_relu(x @ (layer["w"] * scale), layer["b"] * cfg.lr_mlp)
    return x


def truncate(w, w_avg, psi):
    """Truncation trick: ``w_avg + psi * (w - w_avg)``; ``w`` of any leading shape."""
    return w_avg + psi * (w - w_avg)


def broadcast_w(cfg: StyleGAN2Config, w):
    """Repeats ``w`` [B, D] (or a latent matrix [B, R, D]) into W+ [B, n_latent, (R,) D]."""
    return jnp.repeat(w[:, None], cfg.n_latent, axis=1)


def mix_styles(cfg: StyleGAN2Config, w1, w2, inject_index: int):
    """Style mixing: W+ slots ``< inject_index`` from ``w1``, the rest from ``w2`` ([B, (R,) D]
    each)."""
    n = cfg.n_latent
    return jnp.concatenate([jnp.repeat(w1[:, None], inject_index, 1),
                            jnp.repeat(w2[:, None], n - inject_index, 1)], axis=1)


def _style(layer, w):
    """Per-input-channel style [B, Cin] from w [B, D] (EqualLinear, lr_mul 1, bias init 1)."""
    d = layer["mod_w"].shape[0]
    return w @ (layer["mod_w"] * (1.0 / math.sqrt(d))) + layer["mod_b"]


def _conv(x, weight, upsample: bool):
    """x [B, H, W, Cin] convolved with weight [k, k, Cin, Cout]: 'same' padding, or the
    upsampling transposed convolution followed by the blur (output 2H x 2W), computed as one
    plain convolution of x whose output channels hold the four output phases
    (:func:`_phase_taps`), as in :func:`_conv_per_sample`."""
    kh = weight.shape[0]
    if not upsample:
        return conv2d(x, weight, (1, 1), ((kh // 2, kh // 2),) * 2)
    taps, n, left = _phase_taps(kh)
    kernels = _phase_kernels(weight, taps, n)  # [4, n, n, Cin, Cout]
    cin, cout = weight.shape[2:]
    stacked = jnp.moveaxis(kernels, 0, 3).reshape(n, n, cin, 4 * cout)  # phases beside Cout
    y = conv2d(x, stacked, (1, 1), ((left, n - 1 - left),) * 2)
    return _interleave_phases(y.reshape(y.shape[:3] + (4, cout)))


@functools.lru_cache(maxsize=None)
def _phase_taps(k: int):
    """The sub-pixel form of StyleGAN2's upsampling convolution with a ``k`` x ``k`` kernel.

    The transposed convolution (stride 2) followed by the [1, 3, 3, 1] blur is one transposed
    convolution with a (k+3)-tap kernel, the kernel convolved with the blur. On the
    zero-interleaved input only every other tap meets a sample, so output phase a (rows 2i + a)
    is a plain n-tap correlation of the input itself: four small convolutions replace a
    convolution of an input with 75% zeros and a depthwise blur (on a CPU the gradient of the
    dilated convolution is 5-14x slower). Returns ``(taps [4 n n, k k], n, left)``: row
    ``((a, b), (p, q))`` weighs kernel tap (s, t) in phase (a, b)'s tap (p, q); the phases read
    the input padded by ``left`` before and ``n - 1 - left`` after.
    """
    blur = np.asarray(_BLUR, np.float64)
    blur = blur / blur.sum() * 2.0  # per axis: the 2-D kernel sums to 4, the upsampling gain
    p = (len(_BLUR) - 2) - (k - 1)
    first = k - 1 + (p + 1) // 2 + 1  # the dilated input's padding before the fused kernel
    # one axis: output 2i + a reads input i + d through fused tap u = first + 2d - a, which is
    # kernel tap k-1-s (flipped) then blur tap u - (k-1-s)
    span = range(-k - len(_BLUR), k + len(_BLUR))
    one = np.zeros((len(span), 2, k))
    for row, d in enumerate(span):
        for a in range(2):
            for s in range(k):
                j = first + 2 * d - a - (k - 1 - s)
                if 0 <= j < len(_BLUR):
                    one[row, a, s] = blur[j]
    used = np.flatnonzero(one.any(axis=(1, 2)))
    one = one[used[0]:used[-1] + 1]
    n, left = one.shape[0], -span[used[0]]
    taps = np.einsum("pas,qbt->abpqst", one, one).reshape(4 * n * n, k * k)
    return taps, n, left


def _phase_kernels(weight, taps, n: int):
    """The four phases' kernels [..., 4, n, n, Cin, Cout] of weight [..., k, k, Cin, Cout]."""
    lead, (k, _, cin, cout) = weight.shape[:-4], weight.shape[-4:]
    flat = weight.reshape(lead + (k * k, cin * cout))
    kernels = jnp.einsum("zs,...sc->...zc", jnp.asarray(taps, weight.dtype), flat)
    return kernels.reshape(lead + (4, n, n, cin, cout))


def _interleave_phases(y):
    """[B, H, W, 4, C] phases (a, b) -> [B, 2H, 2W, C], phase (a, b) at (2i + a, 2j + b)."""
    b, h, w, _, c = y.shape
    y = y.reshape(b, h, w, 2, 2, c).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(b, 2 * h, 2 * w, c)


def _conv_per_sample(x, weights, upsample: bool):
    """:func:`_conv` of each sample ``x[b]`` [H, W, Cin] with its own ``weights[b]`` [k, k,
    Cin, Cout], as one batched matrix product over the shifted copies of the padded input
    (a vmapped convolution lowers to a grouped convolution, about 20x slower on a CPU)."""
    k = weights.shape[1]
    if upsample:
        taps, n, left = _phase_taps(k)
        kernels = _phase_kernels(weights, taps, n)  # [B, 4, n, n, Cin, Cout]
        pad = (left, n - 1 - left)
    else:
        n, pad = k, (k // 2, k // 2)
        kernels = weights[:, None]
    x = jnp.pad(x, ((0, 0), pad, pad, (0, 0)))
    h, w = x.shape[1] - n + 1, x.shape[2] - n + 1
    shifted = jnp.concatenate([x[:, i:i + h, j:j + w] for i in range(n) for j in range(n)],
                              axis=-1)  # [B, h, w, n*n*Cin], ordered as the kernels' n, n, Cin
    y = jnp.einsum("bhwi,bzio->bhwzo", shifted,
                   kernels.reshape(kernels.shape[:2] + (-1, kernels.shape[-1])))
    return _interleave_phases(y) if upsample else y[:, :, :, 0]


def row_styles(style, out_channels: int):
    """The style of each output channel [B, Cout, Cin] from a row-wise style [B, R, Cin]: row
    ``o`` modulates output channel ``o``; rows beyond ``Cout`` are unused."""
    if style.shape[1] < out_channels:
        raise ValueError(f"a latent matrix of {style.shape[1]} rows cannot modulate a layer of "
                         f"{out_channels} output channels (one row per output channel)")
    return style[:, :out_channels]


def _modulated_conv(layer, x, w, demodulate=True, upsample=False):
    """Modulated convolution, equal to rosinality's grouped form. x: [B, H, W, Cin].

    ``w`` [B, D]: one style per input channel, shared by every output channel (StyleGAN2):
    modulate the input, convolve, demodulate the output. ``w`` [B, R, D] (the
    overparameterized generator's latent matrix): row ``o``'s style modulates output channel
    ``o``'s filter, so each sample convolves with its own weights; one row is exactly the
    shared case.
    """
    if w.ndim == 3 and w.shape[1] == 1:
        w = w[:, 0]
    weight = layer["weight"]
    kh, _, cin, cout = weight.shape
    weight = weight * (1.0 / math.sqrt(cin * kh * kh))
    wsq = jnp.sum(weight * weight, axis=(0, 1))  # [Cin, Cout]
    style = _style(layer, w)
    if w.ndim == 2:
        y = _conv(x * style[:, None, None, :], weight, upsample)
        demod = (style * style) @ wsq
    else:
        rows = row_styles(style, cout)  # [B, Cout, Cin]
        per_sample = weight[None] * jnp.swapaxes(rows, 1, 2)[:, None, None]
        y = _conv_per_sample(x, per_sample, upsample)
        demod = jnp.einsum("boi,io->bo", rows * rows, wsq)
    if demodulate:
        y = y * lax.rsqrt(demod + 1e-8)[:, None, None, :]
    return y


def _clamp(x, limit):
    return x if limit is None else jnp.clip(x, -limit, limit)


def _styled_conv(layer, x, w, noise, upsample, clamp):
    y = _modulated_conv(layer, x, w, upsample=upsample)
    y = y + layer["noise_strength"] * noise
    return _clamp(fused_leaky_relu(y, layer["bias"]), clamp)


def _to_rgb(layer, x, w, skip, clamp):
    y = _clamp(_modulated_conv(layer, x, w, demodulate=False) + layer["bias"], clamp)
    if skip is not None:
        y = y + upfirdn2d(skip, blur_kernel(np.float64, 4.0), up=2, pad=(2, 1))
    return y


def _layer_step(cfg, params, state: SynthesisState, ws, noise, k):
    x, skip = state
    x = _styled_conv(params["convs"][k], x, ws[:, k], noise[k], k % 2 == 1, cfg.conv_clamp)
    if k % 2 == 0:
        skip = _to_rgb(params["to_rgbs"][k // 2], x, ws[:, k + 1], skip, cfg.conv_clamp)
    return SynthesisState(x, skip)


def _resolve_noise(cfg, params, noise):
    noise = params["noise"] if noise is None else noise
    if len(noise) != cfg.num_layers:
        raise ValueError(f"expected {cfg.num_layers} noise maps, got {len(noise)}")
    return noise


def initial_state(params, batch: int, const=None) -> SynthesisState:
    """The synthesis input: the learned constant [4, 4, C] broadcast to the batch, or ``const``
    [B, 4, 4, C] when a method replaces it (e.g. SPHInX's content head or the S space)."""
    if const is None:
        const = jnp.broadcast_to(params["const"], (batch,) + params["const"].shape)
    return SynthesisState(const, None)


def synthesis_features(cfg: StyleGAN2Config, params, ws, noise=None, stop: int | None = None,
                       const=None) -> SynthesisState:
    """Runs convs ``0 .. stop-1`` (and their ToRGBs).

    Args:
      ws: W+ [B, n_latent, D], or the overparameterized W+ [B, n_latent, R, D] (a latent
        matrix per layer; :func:`_modulated_conv`).
      noise: ``num_layers`` maps [B or 1, H_k, W_k, 1]; ``None`` uses the checkpoint's buffers.
      stop: number of convs to run (default all).
      const: optional replacement for the constant input, [B, 4, 4, C4].
    """
    noise = _resolve_noise(cfg, params, noise)
    stop = cfg.num_layers if stop is None else stop
    state = initial_state(params, ws.shape[0], const)
    for k in range(stop):
        state = _layer_step(cfg, params, state, ws, noise, k)
    return state


def synthesis_from_features(cfg: StyleGAN2Config, params, state: SynthesisState, ws, noise=None,
                            start: int = 0):
    """Runs convs ``start ..`` from ``state`` and returns the image [B, size, size, 3]."""
    noise = _resolve_noise(cfg, params, noise)
    for k in range(start, cfg.num_layers):
        state = _layer_step(cfg, params, state, ws, noise, k)
    return state.skip


@functools.partial(jax.jit, static_argnums=0)  # one program when called alone
def synthesis(cfg: StyleGAN2Config, params, ws, noise=None, const=None):
    """Image [B, size, size, 3] from W+ [B, n_latent, (R,) D]; see :func:`synthesis_features`."""
    return synthesis_features(cfg, params, ws, noise, const=const).skip


@functools.partial(jax.jit, static_argnums=0, static_argnames="inject_index")
def generate(cfg: StyleGAN2Config, params, z, noise=None, truncation: float = 1.0, z2=None,
             inject_index: int | None = None):
    """Images from Z [B, D] (or latent matrices [B, R, D], :func:`sample_z`) as rosinality's
    ``g([z])`` (optionally ``g([z, z2], inject_index)``), with truncation towards
    ``params['w_avg']``."""
    w = truncate(mapping(cfg, params, z), params["w_avg"], truncation)
    if z2 is None:
        ws = broadcast_w(cfg, w)
    else:
        w2 = truncate(mapping(cfg, params, z2), params["w_avg"], truncation)
        ws = mix_styles(cfg, w, w2, inject_index)
    return synthesis(cfg, params, ws, noise)


def sample_z(cfg: StyleGAN2Config, key, batch: int):
    """Latents to generate from: N(0, I) [batch, D] when ``cfg.rows`` is 1, else latent matrices
    [batch, rows, D] with correlated rows ``(z_i + z) / sqrt(2)`` (z_i, z independent N(0, I)),
    as the overparameterized generator was trained."""
    if cfg.rows == 1:
        return jax.random.normal(key, (batch, cfg.style_dim))
    k_rows, k_shared = jax.random.split(key)
    rows = jax.random.normal(k_rows, (batch, cfg.rows, cfg.style_dim))
    shared = jax.random.normal(k_shared, (batch, 1, cfg.style_dim))
    return (rows + shared) * np.float32(1 / np.sqrt(2.0))


def random_noise(cfg: StyleGAN2Config, key, batch: int = 1):
    """Fresh N(0, 1) noise maps [batch, H_k, W_k, 1], one per layer."""
    return from_one_normal_draw(key, lambda normal: [normal((batch,) + s)
                                                     for s in cfg.noise_shapes])


@functools.partial(jax.jit, static_argnums=0, static_argnames="w_avg_samples")
def init_params(cfg: StyleGAN2Config, key, w_avg_samples: int = 4096):
    """Random weights with rosinality's initialisation (weights N(0, 1), modulation bias 1,
    other biases and noise strengths 0), fresh noise buffers and ``w_avg`` from the mapping."""
    return from_one_normal_draw(key, functools.partial(_random_params, cfg, w_avg_samples))


def _random_params(cfg: StyleGAN2Config, w_avg_samples: int, normal):
    d = cfg.style_dim
    params = {
        "mapping": [{"w": normal((d, d)) / cfg.lr_mlp, "b": jnp.zeros((d,))}
                    for _ in range(cfg.n_mlp)],
        "const": normal((4, 4, cfg.channels[0])),
    }
    convs, to_rgbs = [], []
    for k in range(cfg.num_layers):
        cin = cfg.channels[(k - 1) // 2 if k % 2 else k // 2]
        cout = cfg.channels[(k + 1) // 2]
        convs.append({"weight": normal((3, 3, cin, cout)), "mod_w": normal((d, cin)),
                      "mod_b": jnp.ones((cin,)), "noise_strength": jnp.zeros(()),
                      "bias": jnp.zeros((cout,))})
        if k % 2 == 0:
            to_rgbs.append({"weight": normal((1, 1, cout, 3)), "mod_w": normal((d, cout)),
                            "mod_b": jnp.ones((cout,)), "bias": jnp.zeros((3,))})
    params["convs"], params["to_rgbs"] = convs, to_rgbs
    params["noise"] = [normal(s) for s in cfg.noise_shapes]
    params["w_avg"] = jnp.zeros((d,))
    params["w_avg"] = jnp.mean(mapping(cfg, params, normal((w_avg_samples, d))), axis=0)
    return params


@functools.partial(jax.jit, static_argnums=(0, 3))
def w_stats(cfg: StyleGAN2Config, params, key, n: int = 10000):
    """Mean [D] and scalar spread ``sqrt(mean ||w - mean||^2)`` of W, as the StyleGAN2 projector."""
    w = mapping(cfg, params, jax.random.normal(key, (n, cfg.style_dim)))
    mean = jnp.mean(w, axis=0)
    return mean, jnp.sqrt(jnp.mean(jnp.sum((w - mean) ** 2, axis=-1)))


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def principal_directions(cfg: StyleGAN2Config, params, key, n: int = 10000, k: int = 10):
    """GANSpace's editing directions of W: the top ``k`` principal components [k, D] (unit
    rows, by decreasing variance) of ``n`` samples of W, and the standard deviation of W along
    each [k]."""
    w = mapping(cfg, params, jax.random.normal(key, (n, cfg.style_dim)))
    _, singular, components = jnp.linalg.svd(w - jnp.mean(w, axis=0), full_matrices=False)
    return components[:k], singular[:k] / np.sqrt(n - 1)


def config_from_params(params, lr_mlp: float = 0.01, rows: int = 1,
                       conv_clamp: float | None = None) -> StyleGAN2Config:
    """Infers the static architecture from a params pytree's shapes (``lr_mlp``, ``rows`` and
    ``conv_clamp`` are not in them)."""
    convs = params["convs"]
    channels = [np.shape(convs[0]["weight"])[-1]]
    channels += [np.shape(convs[k]["weight"])[-1] for k in range(1, len(convs), 2)]
    style_dim = np.shape(params["mapping"][0]["w"])[0]
    size = 2 ** (len(channels) + 1)
    return StyleGAN2Config(size, int(style_dim), len(params["mapping"]),
                           tuple(int(c) for c in channels), lr_mlp, rows, conv_clamp)


def param_shapes(cfg: StyleGAN2Config):
    """The params pytree of ``cfg`` as ``jax.ShapeDtypeStruct`` leaves (nothing is computed)."""
    return jax.eval_shape(lambda k: init_params(cfg, k, w_avg_samples=2), jax.random.PRNGKey(0))


def _builtin_config(spec) -> StyleGAN2Config:
    log = int(np.log2(spec.size))
    return StyleGAN2Config(spec.size, spec.latent_dim, spec.n_mlp, (spec.channels,) * (log - 1))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _random_images(cfg: StyleGAN2Config, params, key, n: int):
    return generate(cfg, params, sample_z(cfg, key, n))


@functools.partial(jax.jit, static_argnums=(0, 3))
def _known_targets(cfg: StyleGAN2Config, params, key, n: int, truncation):
    z = sample_z(cfg, key, n)
    ws = broadcast_w(cfg, truncate(mapping(cfg, params, z), params["w_avg"], truncation))
    return synthesis(cfg, params, ws), ws


def _recovery_targets(cfg: StyleGAN2Config, params, key, n: int, options: dict):
    """Images from known W (truncated towards ``w_avg`` by ``options['truncation']``); truths
    ``{'wplus': [N_l, (R,) D]}``."""
    images, ws = _known_targets(cfg, params, key, n, options.get("truncation", 1.0))
    return np.asarray(images), [{"wplus": np.asarray(w_i)} for w_i in ws]


def _context(cfg: StyleGAN2Config, params) -> dict:
    """W's spread ``w_std`` (the projector's latent noise scale)."""
    return {"w_std": w_stats(cfg, params, jax.random.PRNGKey(0))[1]}


def _latent_error(latents: dict, truth: dict, params):
    """RMS error of the solution's W+ relative to the RMS distance of the true W+ from
    ``w_avg``; None when either side has no W+. A W+ without rows ([N_l, D]) stands for every
    row of one with them ([N_l, R, D])."""
    if "wplus" not in latents or "wplus" not in truth:
        return None
    solved, true = np.asarray(latents["wplus"]), np.asarray(truth["wplus"])
    if solved.ndim != true.ndim:
        solved, true = (a if a.ndim == 3 else a[:, None] for a in (solved, true))
    w_avg = np.asarray(params["w_avg"])
    num = np.sqrt(np.mean((solved - true) ** 2))
    den = np.sqrt(np.mean((true - w_avg) ** 2))
    return float(num / max(den, 1e-12))


def _family():
    from jaxinv.generators.base import Family

    return Family(
        name="stylegan2", config_class=StyleGAN2Config,
        converter="converters/stylegan2_rosinality.py", init_params=init_params,
        param_shapes=param_shapes, size=lambda cfg: cfg.size,
        latent_dim=lambda cfg: cfg.style_dim, builtin_config=_builtin_config,
        random_images=_random_images, recovery_targets=_recovery_targets,
        rgb_layers=lambda params: params["to_rgbs"], context=_context,
        latent_error=_latent_error)


FAMILY = _family()
