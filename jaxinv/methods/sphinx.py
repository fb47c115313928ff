"""SPHInX: StyleGAN2 inversion for out-of-distribution images through projection heads.

Subramanyam et al., "Improved StyleGAN-v2 based Inversion for Out-of-Distribution Images",
ICML 2022 (code: Rakshith-2905/SPHInX ``main.py``, ``model.py``). The mapping network is replaced
by a style projection head P_s (Z+ -> W+), the constant input by a content projection head P_c,
and the per-layer noise maps B are optimised; every step draws fresh z+ ~ N(0, I) and
s ~ N(0, I), so the heads learn a whole neighbourhood that renders the target.

P_s: one encoder shared by the N_l slots of z+ [N_l, D], then one decoder per slot. The decoders
are stacked weights ([N_l, in, out]) applied with one einsum, so slot l's W+ row depends only on
decoder l. P_c: 1x1 equalised-lr convolutions from s [4, 4, C_s] to the generator's constant
[4, 4, C4].

Presets (``official`` is the default; "code" is the released code, "paper" the ICML paper):

- P_s encoder. official: D -> D/2, ReLU, -> D/4, -> 32 (no ReLU between the last two).
  paper: 512 -> 256, ReLU, -> 16.
- P_s decoders. official: 32 -> 64, ReLU, -> 128, -> D. paper: 16 -> 32, ReLU, -> 64, ReLU,
  -> 512.
- P_c. official: s [4, 4, 8]; 1x1 convs 8 -> 32 (no bias), lrelu(0.2) * sqrt(2) with bias,
  32 -> 128, same activation, 128 -> C4. paper: s [4, 4, C4] (4x4x512 for FFHQ), three convs with
  32, 128, C4 filters and the same activations (the paper gives no kernel size; we use 1x1).
- Steps. official 5000, paper 10000.
- Learning rates (Adam). official: P_s peak 1e-3 with the projector's ramp (5% linear up, cosine
  down over the last 25%), P_c and B constant 1e-3. paper: trapezoid to a maximum of 1e-3 for all
  variables (its ramp lengths are not given; we use 10% up and 10% down).
- LPIPS. official: skipped below 256 px (the code sets the perceptual term to 0 there). paper:
  always, images over 256 px area-downsampled to 256.
- Attribute margin. official: sum over k < K-2 of relu(2 - a_k) + relu(2 - a_{k+1} + a_k), and
  relu(2 - a_0) when K = 2. paper: sum_k relu(tau - (a_k - a_{k-1})) with a_{-1} = 0.

Both presets: loss 1.5 LPIPS-VGG + 1.0 MSE; noise maps initialised N(0, 1), no noise
regulariser; denoising adds fresh noise of the target's std to the generated image every step
(a switch, ``generated_noise_std`` of the loss); compressed sensing measures the generated image
with the same partial circulant operator as the target (the released code never wired this in).
The paper's ReLU placement in the heads is not stated; we put one after every hidden layer.

Attribute discovery (appendix B): K transformed variants of one image share w* = P_s(z+);
variant k renders w_k = w* + alpha_k D / ||D|| (row-wise norm of D [N_l, D]); alpha_0 = 0 and the
margin loss (weight 0.5, tau = 2) keeps alpha increasing.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxinv.generators import stylegan2
from jaxinv.methods.base import Job, Method, MethodSpec
from jaxinv.methods.problem import REPRESENTATIVE_KEY, Problem
from jaxinv.pytrees import from_one_draw, from_one_normal_draw


class Preset(NamedTuple):
    """Static description of SPHInX's heads and schedule (hashable)."""

    name: str
    encoder: tuple          # ((out_dim or 'D/2' style fraction, relu_after), ...)
    decoder: tuple
    content_in: int         # channels of s; 0 means the generator's C4
    content_hidden: tuple   # hidden channels of P_c
    steps: int
    schedule: str
    lpips_min_size: int     # LPIPS is skipped for images smaller than this
    margin: str             # 'official' or 'paper'


def _dims(spec, d):
    """Resolves layer sizes given as ints or as divisors of D written 'D/k' / 'D'."""
    out = []
    for size, relu in spec:
        if isinstance(size, str):
            size = d if size == "D" else d // int(size.split("/")[1])
        out.append((int(size), relu))
    return tuple(out)


PRESETS = {
    "official": Preset("official", (("D/2", True), ("D/4", False), (32, False)),
                       ((64, True), (128, False), ("D", False)), 8, (32, 128), 5000, "ramp", 256,
                       "official"),
    "paper": Preset("paper", (("D/2", True), (16, False)),
                    ((32, True), (64, True), ("D", False)), 0, (32, 128), 10000, "trapezoid", 0,
                    "paper"),
}


def learning_rates(preset: Preset, attribute: bool = False) -> dict:
    """The preset's per-variable learning rates for :func:`jaxinv.engine.build_optimizer`."""
    if preset.schedule == "ramp":
        head = {"lr": 1e-3, "schedule": "ramp", "rampup": 0.05, "rampdown": 0.25}
        rest = {"lr": 1e-3, "schedule": "constant"}
    else:
        head = rest = {"lr": 1e-3, "schedule": "trapezoid", "rampup": 0.1, "rampdown": 0.1}
    rates = {"style_head": head, "content_head": dict(rest), "noise": dict(rest)}
    if attribute:
        rates.update(direction=dict(rest), alpha=dict(rest))
    return rates


def _linear_init(draws, shape_in, shape_out, lead=()):
    """PyTorch nn.Linear's default: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias."""
    bound = 1.0 / math.sqrt(shape_in)
    return {"w": draws.uniform(lead + (shape_in, shape_out), -bound, bound),
            "b": draws.uniform(lead + (shape_out,), -bound, bound)}


def init_style_head(preset: Preset, key, n_latent: int, d: int) -> dict:
    """P_s params: ``enc`` list of {'w': [in, out], 'b'}; ``dec`` list of {'w': [N_l, in, out],
    'b': [N_l, out]}."""
    enc, dec = _dims(preset.encoder, d), _dims(preset.decoder, d)

    def build(draws):
        params, width = {"enc": [], "dec": []}, d
        for size, _ in enc:
            params["enc"].append(_linear_init(draws, width, size))
            width = size
        for size, _ in dec:
            params["dec"].append(_linear_init(draws, width, size, (n_latent,)))
            width = size
        return params

    return from_one_draw(key, build)


def style_head(preset: Preset, params, z, d: int):
    """P_s: z+ [..., N_l, D] -> W+ [..., N_l, D]."""
    enc, dec = _dims(preset.encoder, d), _dims(preset.decoder, d)
    h = z
    for layer, (_, relu) in zip(params["enc"], enc):
        h = h @ layer["w"] + layer["b"]
        h = jax.nn.relu(h) if relu else h
    for layer, (_, relu) in zip(params["dec"], dec):
        h = jnp.einsum("...li,lio->...lo", h, layer["w"]) + layer["b"]
        h = jax.nn.relu(h) if relu else h
    return h


def content_channels(preset: Preset, c4: int) -> int:
    return preset.content_in or c4


def init_content_head(preset: Preset, key, c4: int) -> dict:
    """P_c params: equalised-lr 1x1 conv weights ``w`` [in, out] (N(0, 1), no bias) and the
    activation biases ``b`` (zeros) after every hidden conv."""
    widths = (content_channels(preset, c4),) + tuple(preset.content_hidden) + (c4,)
    weights = from_one_normal_draw(
        key, lambda normal: [normal((a, b)) for a, b in zip(widths[:-1], widths[1:])])
    return {"w": weights, "b": [jnp.zeros((c,)) for c in preset.content_hidden]}


def content_head(params, s):
    """P_c: s [..., 4, 4, C_s] -> constant input [..., 4, 4, C4]."""
    h = s
    n = len(params["w"])
    for i, w in enumerate(params["w"]):
        h = h @ (w / math.sqrt(w.shape[0]))
        if i < n - 1:
            h = h + params["b"][i]
            h = jnp.where(h >= 0, h, 0.2 * h) * math.sqrt(2.0)
    return h


class Spec(NamedTuple):
    cfg: stylegan2.StyleGAN2Config
    preset: Preset
    num_variants: int = 1   # K > 1: attribute discovery over K transformed variants


def sample_inputs(spec: Spec, key):
    """Fresh z+ [N_l, D] and s [4, 4, C_s]."""
    cfg = spec.cfg
    kz, ks = jax.random.split(key)
    return (jax.random.normal(kz, (cfg.n_latent, cfg.style_dim)),
            jax.random.normal(ks, (4, 4, content_channels(spec.preset, cfg.channels[0]))))


def _init(spec: Spec, key, context):
    cfg = spec.cfg
    k_s, k_c, k_n, k_d = jax.random.split(key, 4)
    variables = {
        "style_head": init_style_head(spec.preset, k_s, cfg.n_latent, cfg.style_dim),
        "content_head": init_content_head(spec.preset, k_c, cfg.channels[0]),
        "noise": [n[0] for n in stylegan2.random_noise(cfg, k_n)],
    }
    if spec.num_variants > 1:
        variables["direction"] = jax.random.normal(k_d, (cfg.n_latent, cfg.style_dim))
        variables["alpha"] = jnp.zeros((spec.num_variants - 1,))
    return variables


def sample_wplus(spec: Spec, variables, context, key):
    """One draw of the heads: (W+ [N_l, D], constant input [4, 4, C4])."""
    z, s = sample_inputs(spec, key)
    return (style_head(spec.preset, variables["style_head"], z, spec.cfg.style_dim),
            content_head(variables["content_head"], s))


def render_wplus(spec: Spec, variables, context, ws, const):
    """Images [n, H, W, 3] from W+ [n, N_l, D] (or [N_l, D]) with the learned noise and a
    constant input [4, 4, C4]."""
    ws = ws if ws.ndim == 3 else ws[None]
    noise = [n[None] for n in variables["noise"]]
    consts = jnp.broadcast_to(const, (ws.shape[0],) + const.shape)
    return stylegan2.synthesis(spec.cfg, context["generator"], ws, noise, consts)


def attribute_offsets(variables):
    """alpha_k D / ||D|| for k = 0..K-1 (alpha_0 = 0): [K, N_l, D]."""
    d = variables["direction"]
    unit = d / jnp.linalg.norm(d, axis=1, keepdims=True)
    alphas = jnp.concatenate([jnp.zeros((1,)), variables["alpha"]])
    return alphas[:, None, None] * unit


def _render(spec: Spec, variables, context, key, step):
    ws, const = sample_wplus(spec, variables, context, key)
    if spec.num_variants > 1:
        ws = ws[None] + attribute_offsets(variables)
    return render_wplus(spec, variables, context, ws, const)


def margin_loss(alpha, kind: str = "official", tau: float = 2.0):
    """Keeps alpha_1 < alpha_2 < ... increasing with margin tau (see the module docstring)."""
    if kind == "paper":
        gaps = alpha - jnp.concatenate([jnp.zeros((1,)), alpha[:-1]])
        return jnp.sum(jax.nn.relu(tau - gaps))
    if alpha.shape[0] == 1:
        return jax.nn.relu(tau - alpha[0])
    return jnp.sum(jax.nn.relu(tau - alpha[:-1]) + jax.nn.relu(tau - alpha[1:] + alpha[:-1]))


def _penalty(spec: Spec, margin_weight: float, variables, context, key, step):
    if spec.num_variants <= 1:
        return 0.0, {}
    margin = margin_loss(variables["alpha"], spec.preset.margin)
    return margin_weight * margin, {"margin": margin}


def _latents(spec: Spec, variables, context):
    """The representative draw: its W+ and constant input."""
    ws, const = sample_wplus(spec, variables, context, REPRESENTATIVE_KEY)
    out = {"wplus": ws, "const": const}
    if spec.num_variants > 1:
        out["variant_wplus"] = ws[None] + attribute_offsets(variables)
    return out


def build(cfg: stylegan2.StyleGAN2Config, preset: str | Preset = "official",
          rates: dict | None = None, num_variants: int = 1,
          margin_weight: float = 0.5) -> Problem:
    """The SPHInX problem for generator ``cfg``; ``rates`` overrides the preset's learning rates;
    ``num_variants`` K > 1 turns on attribute discovery (targets are then [K, H, W, 3])."""
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown SPHInX preset {preset!r}; choose one of {sorted(PRESETS)}")
        preset = PRESETS[preset]
    spec = Spec(cfg, preset, num_variants)
    bind = lambda f: functools.partial(f, spec)
    return Problem(init=bind(_init), render=bind(_render),
                   penalty=functools.partial(_penalty, spec, margin_weight), project=None,
                   latents=bind(_latents),
                   learning_rates=rates or learning_rates(preset, num_variants > 1),
                   sample_wplus=bind(sample_wplus), render_wplus=bind(render_wplus))


_SHIFTS = {"rotate": "rotate_degrees", "scale": "scale", "translate": "translate_px"}


@dataclasses.dataclass(frozen=True)
class Settings:
    """The ``sphinx`` method's settings (``config.method``).

    preset: 'official' (the released code) or 'paper'.
    margin_weight: weight of the attribute margin loss.
    attribute: '' (plain inversion) or 'rotate', 'scale', 'translate': attribute discovery,
      each target becomes its K variants transformed by ``factors`` (degrees, scale factors or
      pixels of a ``reference_size`` image).
    """

    preset: str = "official"
    margin_weight: float = 0.5
    attribute: str = ""
    factors: tuple = (0.0, 2.0)
    reference_size: int = 1024


def variants(settings: Settings, image):
    """The K transformed variants [K, H, W, 3] of one target [H, W, 3]."""
    from jaxinv.ops import geometric_shift

    image = jnp.asarray(image)[None]
    return jnp.concatenate([geometric_shift(image, reference_size=settings.reference_size,
                                            **{_SHIFTS[settings.attribute]: f})
                            for f in settings.factors])


def attribute_walk(problem: Problem, variables, context):
    """Images along the learned direction, from 0 to the largest alpha (2K + 1 frames)."""
    import numpy as np

    from jaxinv.methods import latent_ops

    top = float(np.max(np.asarray(variables["alpha"])))
    return latent_ops.edit(problem, variables, context, variables["direction"],
                           tuple(np.linspace(0.0, top, 2 * variables["alpha"].shape[0] + 1)))


def _attribute_outputs(problem, variables, context, target, final, data):
    walk = attribute_walk(problem, variables, context)
    return ({"attribute_walk.png": jnp.concatenate(list(walk), axis=1)},
            {"alpha": [float(a) for a in variables["alpha"]]})


def _build_method(generator, settings: Settings, job: Job) -> Method:
    """SPHInX's heads and noise use the preset's learning rates (``config.lr`` is not read)."""
    if settings.attribute and settings.attribute not in _SHIFTS:
        raise ValueError(f"attribute = {settings.attribute!r}; choose one of {sorted(_SHIFTS)} "
                         f"or ''")
    k = len(settings.factors) if settings.attribute else 1
    problem = build(generator.cfg, settings.preset, num_variants=k,
                    margin_weight=settings.margin_weight)
    if not settings.attribute:
        return Method(problem=problem)
    return Method(problem=problem, views=functools.partial(variants, settings),
                  outputs=functools.partial(_attribute_outputs, problem))


METHOD = MethodSpec("sphinx", Settings, _build_method, families=("stylegan2",),
                    summary="SPHInX: projection heads, per-layer noise, attribute discovery")
