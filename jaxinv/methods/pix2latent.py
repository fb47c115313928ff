"""pix2latent: projecting images into BigGAN (Huh et al., ECCV 2020; minyoungg/pix2latent).

Variables: z [z_dim] and the class embedding [z_dim] (started from a user-given class). The
generator sees ``clamp(z, -2, 2)`` at every call and z is clamped after every step too, so z
never leaves the truncation box. The loss (:func:`projection_loss`) is the code's
``ProjectionLoss``: a mask-weighted L1 plus 10 x a mask-weighted spatial LPIPS (AlexNet), each
normalised by the weight's sum, the weight being the object mask clamped to [0.3, 1].

A spatial transform ``t = (s, t_x, t_y)`` (or ``(s_x, s_y, t_x, t_y)``) aligns the target with
BigGAN's typical framing: the target and weight are warped by t (``data['t']``) before the loss;
:func:`initial_transform` derives t0 from the mask's box against BigGAN's mean object centre
(137/255, 127/255) and size (213/255, 210/255); the result is mapped back with the inverse
``(1/s, -t/s)`` (:func:`to_original_frame`). Optimisation is BasinCMA
(:mod:`jaxinv.engine.basincma`): z by CMA, Adam inside; with the transform searched, stage 1
(:func:`transform_search`) finds t (and optionally the brightness factor, the colour transform)
by CMA around t0 first and stage 2 runs BasinCMA on z with them fixed.

After projection the generator itself can be fine-tuned (:func:`fine_tune`): its weights join
the variables with the penalty ``1e3 * sum_W mean((W - W0)^2)`` over every weight but batch
norm's (as the code's ``weight_regularization``), Adam lr 1e-4, until the reconstruction loss
falls under a threshold.

Defaults as the paper: z Adam lr 0.05; class embedding lr 1e-4 (the released code uses 0.01:
``PRESETS['official']``); 30 outer x 30 inner steps, then 300 Adam steps on the best member.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.generators import biggan
from jaxinv.losses import lpips as lpips_lib
from jaxinv.methods.problem import Problem, no_penalty
from jaxinv.ops.spatial import affine_grid_sample, inverse_transform

Z_CLAMP = 2.0
LPIPS_WEIGHT = 10.0   # the paper's beta
MEAN_CENTRE = (137.0 / 255.0, 127.0 / 255.0)   # (x, y) as fractions of the image
MEAN_SIZE = (213.0 / 255.0, 210.0 / 255.0)     # (width, height)


@dataclasses.dataclass(frozen=True)
class Preset:
    z_lr: float = 0.05
    embed_lr: float = 1e-4
    outer_steps: int = 30
    inner_steps: int = 30
    final_steps: int = 300


PRESETS = {"paper": Preset(), "official": Preset(embed_lr=0.01)}


@dataclasses.dataclass(frozen=True)
class Spec:
    cfg: biggan.BigGANConfig
    truncation: float
    class_index: int


def _init(spec: Spec, key, context):
    params = context["generator"]
    return {"z": jnp.zeros((spec.cfg.z_dim,)),
            "embed": params["embeddings"][spec.class_index]}


def clamp_z(variables, context=None):
    """The projection applied after every step: z into [-2, 2]."""
    return {**variables, "z": jnp.clip(variables["z"], -Z_CLAMP, Z_CLAMP)}


def _render(spec: Spec, variables, context, key, step):
    """The image [1, H, W, 3]; a fine-tuned generator (``variables['generator']``) replaces
    ``context['generator']``."""
    z = jnp.clip(variables["z"], -Z_CLAMP, Z_CLAMP)[None]
    params = variables.get("generator", context["generator"])
    return biggan.synthesis(spec.cfg, params, z, variables["embed"][None], spec.truncation)


def _latents(spec: Spec, variables, context):
    return {"z": jnp.clip(variables["z"], -Z_CLAMP, Z_CLAMP), "embed": variables["embed"]}


def build(cfg: biggan.BigGANConfig, class_index: int, truncation: float = 1.0,
          preset: str = "paper", learning_rates: dict | None = None) -> Problem:
    """The pix2latent problem for class ``class_index`` (its embedding row starts the class
    search)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown pix2latent preset {preset!r}; choose one of {sorted(PRESETS)}")
    if not 0 <= class_index < cfg.num_classes:
        raise ValueError(f"class index {class_index} outside 0..{cfg.num_classes - 1}")
    biggan.truncation_weights(truncation, cfg.n_stats)
    p = PRESETS[preset]
    spec = Spec(cfg, float(truncation), int(class_index))
    rates = learning_rates or {"z": {"lr": p.z_lr}, "embed": {"lr": p.embed_lr}}
    bind = lambda f: functools.partial(f, spec)
    return Problem(init=bind(_init), render=bind(_render), penalty=no_penalty, project=clamp_z,
                   latents=bind(_latents), learning_rates=rates)


def loss_weight(mask):
    """The loss weight [..., H, W, 1]: the object mask in [0, 1] clamped to [0.3, 1]."""
    return jnp.clip(mask, 0.3, 1.0)


def _weighted_mean(values, weight):
    """sum(values * weight) / sum(weight) per image; values [B, H, W, C], weight [B, H, W, 1]."""
    w = jnp.broadcast_to(weight, values.shape[:3] + (1,))
    return (jnp.sum(values * w, axis=(1, 2, 3)) / (jnp.sum(w, axis=(1, 2, 3)) * values.shape[-1]))


def projection_loss(problem: Problem, lpips_net: str, lpips_weight: float, variables, data,
                    context, key, step, original_frame: bool = False):
    """The engine's loss for one image: masked L1 + ``lpips_weight`` (the paper: 10) x masked
    spatial LPIPS (``context['lpips']``, backbone ``lpips_net``). ``data = {'target': [H, W, 3],
    'weight': [H, W, 1], 't': transform}``; the target and weight are warped by ``t``
    (identity ``(1, 0, 0)``) and, when ``data['brightness']`` is given, brightened by that
    factor (:func:`brightness`). With ``original_frame`` the generated image is mapped back by the
    inverse transform instead (how the transform search scores members: comparable across
    transforms)."""
    x = problem.render(variables, context, key, step)
    b = data.get("brightness", 1.0)
    if original_frame:
        x = brightness(affine_grid_sample(x, inverse_transform(data["t"])), 1.0 / b)
        y, w = data["target"][None], data["weight"][None]
    else:
        y = brightness(affine_grid_sample(data["target"][None], data["t"]), b)
        w = affine_grid_sample(data["weight"][None], data["t"])
    terms = {"l1": _weighted_mean(jnp.abs(x - y), w)[0]}
    total = terms["l1"]
    if lpips_weight:
        spatial = lpips_lib.spatial_distance(lpips_net, context["lpips"], x, y)[..., None]
        terms["lpips"] = _weighted_mean(spatial, w)[0]
        total = total + lpips_weight * terms["lpips"]
    return total, terms


BRIGHTNESS_RANGE = (0.667, 1.5)


def brightness(x, factor):
    """The colour transform: torchvision's ``adjust_brightness`` on [-1, 1] images, i.e. the
    [0, 1] image times ``factor`` (clamped to BRIGHTNESS_RANGE as the code does), clipped."""
    f = jnp.clip(factor, *BRIGHTNESS_RANGE)
    return jnp.clip((x + 1.0) * f, 0.0, 2.0) - 1.0


def initial_transform(mask, threshold: float = 0.5):
    """t0 = (s, t_x, t_y) that maps the mask's bounding box onto BigGAN's mean object box
    (in the normalised [-1, 1] coordinates of :mod:`jaxinv.ops.spatial`); mask [H, W, 1]."""
    m = np.asarray(mask)[..., 0] > threshold
    if not m.any():
        return np.array([1.0, 0.0, 0.0], np.float32)
    h, w = m.shape
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    box_w, box_h = (cols[-1] + 1 - cols[0]) / w, (rows[-1] + 1 - rows[0]) / h
    cx, cy = (cols[0] + cols[-1] + 1) / (2 * w), (rows[0] + rows[-1] + 1) / (2 * h)
    s = float(np.sqrt((MEAN_SIZE[0] / box_w) * (MEAN_SIZE[1] / box_h)))
    # y(u) = x((u - t) / s): the box centre c (in [-1, 1]) must land on the mean centre m
    c = np.array([2 * cx - 1, 2 * cy - 1])
    target = np.array([2 * MEAN_CENTRE[0] - 1, 2 * MEAN_CENTRE[1] - 1])
    t = target - s * c
    return np.array([s, t[0], t[1]], np.float32)


def to_original_frame(image, t):
    """A projection [B, H, W, 3] made in the transformed frame, mapped back by the inverse."""
    return affine_grid_sample(image, inverse_transform(jnp.asarray(t)))


def composite(projection, original, mask):
    """The projection over the original background: ``mask * projection + (1 - mask) *
    original`` (images [B, H, W, 3], mask [B, H, W, 1] in [0, 1]). Poisson blending is not
    offered: no maintained JAX/numpy implementation is available here."""
    return mask * projection + (1.0 - mask) * original


def transform_search(loss_fn, score_fn, optimizer, variables, data, context, key, *, t0,
                     outer_steps: int, inner_steps: int, population: int | None = None,
                     step_scale: float = 0.1, project=None, color: bool = False):
    """Stage 1 of the paper: CMA-ES over the transform ``t = t0 + step_scale * delta`` (3 or 4
    parameters) while z is re-sampled around a running estimate.

    Each outer step asks CMA for ``population`` deltas; member i gets the transform t_i and
    ``z_i = z_mean + (1 - step / outer_steps) N(0, I)`` (clamped), runs ``inner_steps``
    optimiser steps on its variables against the target warped by t_i, and is scored by
    ``score_fn`` (``loss_fn`` with ``original_frame=True``: in the original frame). CMA is told
    the deltas with those scores, and ``z_mean`` moves halfway towards the best member's z (an
    exponential moving average with 0.5, the code's variable propagation). With ``color`` the
    brightness factor ``1 + step_scale * delta_b`` is searched along (the data gets
    ``'brightness'``). Returns ``(t_best [3 or 4], brightness_best, variables of the best member,
    best score per outer step [outer_steps])``.
    """
    from evosax.algorithms import CMA_ES

    from jaxinv.engine.basincma import broadcast, default_population, evaluate_members

    t0 = jnp.asarray(t0, jnp.float32)
    n_spatial = t0.size
    start = jnp.zeros((n_spatial + int(color),))
    pop = population or default_population(start.size)
    es = CMA_ES(pop, start)
    params = es.default_params
    k_init, k_loop = jax.random.split(key)
    state = es.init(k_init, start, params)
    ask, tell = jax.jit(es.ask), jax.jit(es.tell)
    z_mean = variables["z"]
    best = (np.inf, t0, 1.0, variables)
    history = []
    for step in range(outer_steps):
        k_ask, k_tell, k_z, k_members = jax.random.split(jax.random.fold_in(k_loop, step), 4)
        delta, state = ask(k_ask, state, params)
        ts = t0 + step_scale * delta[:, :n_spatial]
        bs = (1.0 + step_scale * delta[:, n_spatial] if color else jnp.ones((pop,)))
        noise = (1.0 - step / outer_steps) * jax.random.normal(k_z, (pop,) + z_mean.shape)
        members = {**broadcast(variables, pop), "z": z_mean + noise}
        data_p = {**broadcast(data, pop), "t": ts}
        if color:
            data_p["brightness"] = bs
        members, scores = evaluate_members(loss_fn, score_fn, optimizer, project, members, data_p,
                                           context, jax.random.split(k_members, pop),
                                           inner_steps, pop)
        state, _ = tell(k_tell, delta, scores, state, params)
        i = int(jnp.argmin(scores))
        if float(scores[i]) < best[0]:
            best = (float(scores[i]), ts[i], float(jnp.clip(bs[i], *BRIGHTNESS_RANGE)),
                    jax.tree_util.tree_map(lambda a: a[i], members))
        z_mean = 0.5 * z_mean + 0.5 * members["z"][i]
        history.append(best[0])
    return np.asarray(best[1]), best[2], best[3], np.asarray(history)


def _is_batch_norm(path) -> bool:
    return any(str(getattr(k, "key", "")).startswith("bn") for k in path)


def fine_tune_loss(loss_fn, weight: float, variables, data, context, key, step):
    """``loss_fn`` with the generator taken from ``variables['generator']`` plus ``weight x
    sum_W mean((W - W0)^2)`` (W0 = ``context['generator']``; batch-norm entries frozen)."""
    frozen = lambda path, a: jax.lax.stop_gradient(a) if _is_batch_norm(path) else a
    tuned = jax.tree_util.tree_map_with_path(frozen, variables["generator"])
    inner = {k: v for k, v in variables.items() if k != "generator"}
    base, aux = loss_fn({**inner, "generator": tuned}, data, context, key, step)
    diffs = jax.tree_util.tree_map_with_path(
        lambda path, a, b: 0.0 if _is_batch_norm(path) else jnp.mean((a - b) ** 2),
        tuned, context["generator"])
    reg = sum(jax.tree_util.tree_leaves(diffs))
    return base + weight * reg, {**aux, "reconstruction": base, "weight_change": reg}


@functools.lru_cache(maxsize=8)
def _fine_tune_setup(loss_fn, weight, lr, names, latent_rates, max_steps):
    """The optimiser and loss of a fine-tuning, the same objects for the same settings so that
    every image of a run reuses one compiled step (compiling it takes about a minute on CPU)."""
    from jaxinv.engine import build_optimizer

    rates = {name: dict(spec) for name, spec in latent_rates}
    rates["generator"] = {"lr": lr}
    optimizer = build_optimizer(dict.fromkeys(names), rates, max_steps)
    return optimizer, functools.partial(fine_tune_loss, loss_fn, weight)


def fine_tune(loss_fn, variables, data, context, key, *, threshold: float, max_steps: int,
              weight: float = 1e3, lr: float = 1e-4, latent_rates: dict | None = None,
              chunk: int = 50, project=None):
    """Optimises the generator's weights with the latents until the reconstruction loss is
    below ``threshold`` (checked every ``chunk`` steps) or ``max_steps`` are done. Returns
    ``(variables with 'generator', reconstruction losses [steps run])``."""
    from jaxinv.engine.loop import init_state, run_chunk

    v = {**variables, "generator": context["generator"]}
    rates = tuple(sorted((name, tuple(sorted(spec.items())))
                         for name, spec in (latent_rates or {}).items()))
    optimizer, tuned_loss = _fine_tune_setup(loss_fn, weight, lr, tuple(sorted(v)), rates,
                                             max_steps)
    state = init_state(optimizer, jax.tree_util.tree_map(lambda a: a[None], v))
    data_1 = jax.tree_util.tree_map(lambda a: a[None], data)
    curve, done = [], 0
    while done < max_steps:
        n = min(chunk, max_steps - done)
        state, _, aux = run_chunk(state, data_1, context, key[None], jnp.int32(done),
                                  loss_fn=tuned_loss, optimizer=optimizer, project=project,
                                  num_steps=n)
        curve.extend(np.asarray(aux["reconstruction"][0]).tolist())
        done += n
        if curve[-1] < threshold:
            break
    return jax.tree_util.tree_map(lambda a: a[0], state.variables), np.asarray(curve)


def edit_z(problem: Problem, variables, context, direction, alphas):
    """Images [len(alphas), H, W, 3] of the projection with z moved by ``alpha * d / ||d||``
    (d [z_dim]; z clamped as always) and everything else kept."""
    d = jnp.asarray(direction, jnp.float32).reshape(-1)
    d = d / jnp.linalg.norm(d)
    return jnp.concatenate([problem.render(dict(variables, z=variables["z"] + a * d), context,
                                           None, 0) for a in alphas])


def change_class(problem: Problem, variables, context, classes):
    """Images [len(classes), H, W, 3] of the projection's z rendered with other classes'
    embeddings (the generator's own, or the fine-tuned one's)."""
    params = variables.get("generator", context["generator"])
    return jnp.concatenate([problem.render(dict(variables, embed=params["embeddings"][c]),
                                           context, None, 0) for c in classes])
