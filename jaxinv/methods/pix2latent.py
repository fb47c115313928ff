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
from jaxinv.methods.base import Job, Method, MethodSpec
from jaxinv.methods.problem import Problem, no_penalty
from jaxinv.ops.spatial import affine_grid_sample, inverse_transform
from jaxinv.pytrees import batch_of_one, first_of_batch, stacked

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


def clamp_z(variables, context=None, step=None):
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


@dataclasses.dataclass(frozen=True)
class TransformSearch:
    """Stage 1's settings: ``outer_steps`` CMA generations of ``population`` members (0 =
    pycma's default), ``inner_steps`` optimiser steps per member, the transform moves by
    ``step_scale`` x CMA's sample, and with ``color`` the brightness factor is searched too."""

    outer_steps: int
    inner_steps: int
    population: int = 0
    step_scale: float = 0.1
    color: bool = False


def _evaluate_transforms(objective, score_fn, search: TransformSearch, delta, operands, z_mean,
                         keys, step):
    """One generation of stage 1: member i gets the transform t0 + step_scale delta_i (and the
    brightness 1 + step_scale delta_b) and z re-sampled around ``z_mean``; returns the scores
    in the original frame, the members and ``z_mean`` moved halfway to the best member's z."""
    from jaxinv.engine.basincma import broadcast, evaluate_members

    (variables, data, t0), context = operands
    pop, n_spatial = delta.shape[0], t0.size
    ts = t0 + search.step_scale * delta[:, :n_spatial]
    bs = (1.0 + search.step_scale * delta[:, n_spatial] if search.color else jnp.ones((pop,)))
    noise = (1.0 - step / search.outer_steps) * jax.random.normal(keys[0],
                                                                  (pop,) + z_mean.shape)
    members = {**broadcast(variables, pop), "z": z_mean + noise}
    data_p = {**broadcast(data, pop), "t": ts}
    if search.color:
        data_p["brightness"] = bs
    members, scores = evaluate_members(objective, score_fn, members, data_p, context,
                                       jax.random.split(keys[1], pop), search.inner_steps, pop)
    i = jnp.argmin(scores)
    found = {"variables": members, "t": ts, "brightness": jnp.clip(bs, *BRIGHTNESS_RANGE)}
    return scores, found, 0.5 * z_mean + 0.5 * members["z"][i]


def transform_search(objective, score_fn, variables, data, context, keys, t0,
                     search: TransformSearch, callback=None):
    """Stage 1 of the paper for a batch of images, side by side: per image, CMA-ES over the
    transform ``t = t0 + step_scale * delta`` (3 or 4 parameters) while z is re-sampled around
    a running estimate.

    Each generation asks CMA for ``population`` deltas; member i gets the transform t_i and
    ``z_i = z_mean + (1 - step / outer_steps) N(0, I)`` (clamped), runs ``inner_steps``
    optimiser steps on its variables against the target warped by t_i, and is scored by
    ``score_fn`` (``loss_fn`` with ``original_frame=True``: in the original frame). CMA is told
    the deltas with those scores, and ``z_mean`` moves halfway towards the best member's z (an
    exponential moving average with 0.5, the code's variable propagation). With
    ``search.color`` the brightness factor ``1 + step_scale * delta_b`` is searched along (the
    data gets ``'brightness'``). Runs on the CMA driver (:mod:`jaxinv.engine.cma`).

    Args: ``variables``, ``data`` batched (leading axis B), ``keys`` [B], ``t0`` [B, 3 or 4].
    Returns ``(t_best [B, 3 or 4], brightness_best [B], variables of the best members, best
    score per generation [B, outer_steps])``. ``callback(generations done, best scores [B])``
    after each one.
    """
    from jaxinv.engine import cma
    from jaxinv.engine.basincma import default_population

    t0 = jnp.asarray(t0, jnp.float32)
    batch = t0.shape[0]
    if not search.outer_steps:
        return t0, jnp.ones((batch,)), variables, np.zeros((batch, 0))
    starts = jnp.zeros((batch, t0.shape[1] + int(search.color)))
    pop = search.population or default_population(starts.shape[1])
    evaluate = cma.evaluator(_evaluate_transforms, objective, score_fn, search)
    split = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
    found = cma.minimize(evaluate, starts, ((variables, data, t0), context), variables["z"],
                         (split[0], split[1]),
                         cma.CMASettings(search.outer_steps, pop, 1.0, eval_keys=2), callback)
    best = found.best.member
    return best["t"], best["brightness"], best["variables"], found.history


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


@dataclasses.dataclass(frozen=True)
class FineTune:
    """Fine-tuning's settings: stop when the reconstruction loss is below ``threshold``
    (checked every ``chunk`` steps) or after ``max_steps``; weight penalty ``weight``, Adam
    ``lr`` for the generator; ``latent_rates``: ``((name, ((key, value), ...)), ...)``, the
    latents' learning rates (hashable)."""

    threshold: float
    max_steps: int
    weight: float = 1e3
    lr: float = 1e-4
    latent_rates: tuple = ()
    chunk: int = 50


@functools.lru_cache(maxsize=8)
def _fine_tune_objective(loss_fn, project, names, settings: FineTune):
    """The same objective for the same settings, so that every image of a run reuses one
    compiled step (compiling it takes about a minute on CPU)."""
    from jaxinv.engine import Objective, build_optimizer

    rates = {name: dict(spec) for name, spec in settings.latent_rates}
    rates["generator"] = {"lr": settings.lr}
    optimizer = build_optimizer(dict.fromkeys(names), rates, settings.max_steps)
    return Objective(functools.partial(fine_tune_loss, loss_fn, settings.weight), optimizer,
                     project)


def fine_tune(objective, variables, data, context, key, settings: FineTune, callback=None):
    """Optimises the generator's weights with the latents (``objective``'s loss and
    projection; its optimiser is not used) until the reconstruction loss is below the
    threshold; ``callback(steps done, last loss)`` after each chunk. Returns ``(variables
    with 'generator', reconstruction losses [steps run])``."""
    from jaxinv.engine import optimize

    v = {**variables, "generator": context["generator"]}
    tuned = _fine_tune_objective(objective.loss_fn, objective.project, tuple(sorted(v)),
                                 settings)
    result = optimize(tuned, batch_of_one(v), batch_of_one(data), context, key[None],
                      settings.max_steps, chunk=settings.chunk,
                      callback=None if callback is None else lambda n, last: callback(n, last[0]),
                      stop=lambda losses, aux: aux["reconstruction"][0, -1] < settings.threshold)
    return (first_of_batch(result.variables),
            np.asarray(result.aux["reconstruction"][0]))


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


SEARCHES = ("basincma", "adam", "lbfgs", "cma", "cma_adam")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The ``pix2latent`` method's settings (``config.method``).

    preset: 'paper' or 'official'. class_index: the starting class (ImageNet index).
    truncation: BigGAN's static truncation. mask: object mask file, folder or glob (the loss
    weight; '' = uniform). transform: 'none' or 'mask_box' (t0 from the mask's box).
    search: 'basincma' or the paper's baselines 'adam', 'lbfgs', 'cma', 'cma_adam' (with
    'adam' and 'lbfgs', ``config.optimizer`` is the optimiser and ``config.steps`` every step).
    outer_steps, inner_steps, population (0 = pycma's default), sigma: the CMA search;
    ``config.steps`` are the gradient steps after it.
    transform_search: stage 1 (transform_steps generations; transform_params 3 = (s, tx, ty)
    or 4 = (sx, sy, tx, ty); color_transform: the brightness factor too).
    finetune_steps (0 = off), finetune_threshold, finetune_weight, finetune_lr: fine-tuning the
    generator afterwards. edit_classes: re-render each projection with these classes.
    Roles of ``config.lr``: ``latent`` -> z, ``weights`` -> the class embedding.
    """

    preset: str = "paper"
    class_index: int = 0
    truncation: float = 1.0
    mask: str = ""
    transform: str = "none"
    search: str = "basincma"
    outer_steps: int = 30
    inner_steps: int = 30
    population: int = 0
    sigma: float = 1.0
    transform_search: bool = False
    transform_steps: int = 30
    transform_params: int = 3
    color_transform: bool = False
    finetune_steps: int = 0
    finetune_threshold: float = 0.0
    finetune_weight: float = 1e3
    finetune_lr: float = 1e-4
    edit_classes: tuple = ()


@dataclasses.dataclass(frozen=True)
class _Plan:
    """What :func:`projection_search` needs besides the batch (hashable)."""

    settings: Settings
    steps: int
    chunk: int
    latent_rates: tuple
    score_fn: object


def _batch_units(settings: Settings, steps: int) -> int:
    """The progress units the batch's images share (they run side by side): the transform
    search's generations, CMA's generations and the gradient steps."""
    gradient_only = settings.search in ("adam", "lbfgs")
    return ((settings.transform_steps if settings.transform_search else 0)
            + (0 if gradient_only else settings.outer_steps)
            + (0 if settings.search == "cma" else steps))


def work(settings: Settings, steps: int, batch: int) -> tuple[int, str]:
    """The progress bar's total for a batch and its unit: the shared stages, then each image's
    fine-tuning (at most ``finetune_steps``; images are tuned one after another)."""
    if settings.search in ("adam", "lbfgs") and not (settings.transform_search
                                                      or settings.finetune_steps):
        return steps, "steps"
    return (_batch_units(settings, steps) + batch * settings.finetune_steps,
            "generations and steps")


def _padded(curves: list) -> np.ndarray:
    """Curves of different lengths [B] as one array [B, longest]: each holds its last value
    after it ends (fine-tuning stops at its threshold, image by image)."""
    longest = max(len(c) for c in curves)
    return np.stack([np.concatenate([c, np.full(longest - len(c), c[-1])]) for c in curves])


def projection_search(plan: _Plan, objective, variables, data, context, keys, callback=None):
    """pix2latent's searches for a batch of images, side by side: BasinCMA, or the paper's
    baselines Adam, L-BFGS, CMA and CMA then Adam, optionally after the transform search (stage
    1; the found transform is returned as variable ``t``, the brightness as ``brightness``) and
    followed by fine-tuning the generator, one image at a time (its weights are returned as
    variable ``generator``). The loss curve is stage 1's best score per generation, then CMA's
    best loss per generation, the final gradient steps and the fine-tuning's reconstruction
    loss."""
    from jaxinv import engine
    from jaxinv.engine.basincma import BasinCMASettings, basin_cma
    from jaxinv.report.progress import ImageProgress

    m = plan.settings
    gradient_only = m.search in ("adam", "lbfgs")
    if gradient_only and not m.transform_search and not m.finetune_steps:
        return engine.optimize(objective, variables, data, context, keys, plan.steps,
                               chunk=plan.chunk, callback=callback)
    basin = BasinCMASettings(outer_steps=0 if gradient_only else m.outer_steps,
                             inner_steps=m.inner_steps if m.search == "basincma" else 0,
                             final_steps=0 if m.search == "cma" else plan.steps,
                             population=m.population, sigma=m.sigma, chunk=plan.chunk)
    after = lambda start: None if callback is None else (
        lambda done, last: callback(start + done, np.asarray(last)))
    curves, d = [], dict(data)
    if m.transform_search:
        t0 = d["t"] if m.transform_params == 3 else jnp.concatenate([d["t"][:, :1], d["t"]], 1)
        stage1 = TransformSearch(m.transform_steps, m.inner_steps, color=m.color_transform)
        d["t"], bright, variables, history = transform_search(
            objective, plan.score_fn, variables, d, context, keys, t0, stage1, after(0))
        if m.color_transform:
            d["brightness"] = bright
        curves.append(history)
    r = basin_cma(objective, variables, "z", d, context, keys, basin,
                  after(m.transform_steps if m.transform_search else 0))
    found = dict(r.result.variables)
    curves += [r.best_fitness, r.result.losses]
    if m.finetune_steps:
        tuning = FineTune(m.finetune_threshold, m.finetune_steps, m.finetune_weight,
                          m.finetune_lr, plan.latent_rates, plan.chunk)
        shared, rows, tuned_curves = _batch_units(m, plan.steps), [], []
        for b in range(len(keys)):
            one = lambda tree: jax.tree_util.tree_map(lambda a: a[b], tree)
            stage = ImageProgress(callback, shared + b * m.finetune_steps, len(keys))
            tuned, curve = fine_tune(objective, one(found), one(d), context, keys[b], tuning,
                                     stage.at(0))
            rows.append(tuned)
            tuned_curves.append(curve)
        found = stacked(rows)
        curves.append(_padded(tuned_curves))
    if m.transform_search:
        found["t"] = d["t"]
        found["brightness"] = d.get("brightness", jnp.ones((len(keys),)))
    return engine.Result(found, np.concatenate([np.asarray(c) for c in curves], axis=1),
                         r.result.aux, r.result.diverged_at)


def _image_data(settings: Settings, masks, index: int):
    """Image ``index``'s loss weight (its mask clamped to [0.3, 1]) and transform t0."""
    mask = masks[index % len(masks)]
    t = (initial_transform(mask) if settings.transform == "mask_box"
         else np.array([1.0, 0.0, 0.0], np.float32))
    return {"weight": np.asarray(loss_weight(mask)), "t": t}


def finish(images, variables, data):
    """Projections [B, H, W, 3] made in the transformed frame, mapped back to the original
    frame with the searched (or given) transform, and the searched brightness undone."""
    ts = variables["t"] if "t" in variables else data["t"]
    images = to_original_frame(jnp.asarray(images), ts)
    if "brightness" in variables:
        images = jax.vmap(brightness)(images, 1.0 / jnp.asarray(variables["brightness"]))
    return images


def _outputs(problem, settings: Settings, variables, context, target, final, data):
    """The composite over the original (mask > 0.3), the class edits and, after a transform
    search, the transform found (``transform``: scale and translation as in
    :mod:`jaxinv.ops.spatial`; ``brightness``)."""
    mask = (np.asarray(data["weight"]) > 0.3).astype(np.float32)
    images = {"composite.png": np.asarray(composite(final, target, mask))}
    if settings.edit_classes:
        strip = change_class(problem, variables, context, tuple(settings.edit_classes))
        images["edit_classes.png"] = np.concatenate(list(np.asarray(strip)), axis=1)
    found = {}
    if "t" in variables:
        found["transform"] = [round(float(v), 4) for v in np.asarray(variables["t"])]
        found["brightness"] = float(variables.get("brightness", 1.0))
    return images, found


def _build_method(generator, settings: Settings, job: Job) -> Method:
    """Needs an LPIPS backbone when ``job.loss.lpips`` > 0 (the paper: 10 x LPIPS-alex). With
    a degradation (super-resolution, inpainting, ...) the loss is the run's reconstruction loss
    of the measurements, and the mask and transforms are refused."""
    from jaxinv.io.images import list_images, load_mask

    if settings.search not in SEARCHES:
        raise ValueError(f"search = {settings.search!r}; choose one of {SEARCHES}")
    if settings.transform_params not in (3, 4):
        raise ValueError(f"transform_params = {settings.transform_params}; 3 = (s, tx, ty) or "
                         f"4 = (sx, sy, tx, ty)")
    if settings.transform not in ("none", "mask_box"):
        raise ValueError(f"transform = {settings.transform!r}; choose 'none' or 'mask_box'")
    if settings.transform == "mask_box" and not settings.mask:
        raise ValueError("transform = 'mask_box' needs a mask")
    size = generator.size
    try:
        masks = ([load_mask(p, size) for p in list_images(settings.mask)] if settings.mask
                 else [np.ones((size, size, 1), np.float32)])
    except FileNotFoundError as e:
        raise ValueError(f"mask: {e}") from None
    p = PRESETS.get(settings.preset, Preset())
    rates = {"z": job.rate("latent", p.z_lr), "embed": job.rate("weights", p.embed_lr)}
    problem = build(generator.cfg, settings.class_index, settings.truncation, settings.preset,
                    rates)
    measured = job.operator is not None and job.operator.name != "identity"
    if measured and (settings.mask or settings.transform != "none" or settings.transform_search):
        raise ValueError(f"degradation {job.operator.name!r}: pix2latent fits measurements "
                         f"only without a mask, a transform or a transform search (its masked, "
                         f"warped loss lives in the image's frame)")
    # through a degradation, the run's reconstruction loss of the measurements (job.loss)
    loss_fn = None if measured else functools.partial(projection_loss, problem,
                                                      job.loss.lpips_net, job.loss.lpips)
    plan = _Plan(settings, job.steps, job.chunk,
                 tuple(sorted((name, tuple(sorted(spec.items()))) for name, spec in rates.items())),
                 loss_fn and functools.partial(loss_fn, original_frame=True))
    return Method(problem=problem, loss_fn=loss_fn,
                  search=functools.partial(projection_search, plan),
                  work=functools.partial(work, settings, job.steps),
                  image_data=functools.partial(_image_data, settings, masks), finish=finish,
                  outputs=functools.partial(_outputs, problem, settings),
                  edit=functools.partial(edit_z, problem),
                  target_options={"class_index": settings.class_index,
                                  "truncation": settings.truncation})


METHOD = MethodSpec("pix2latent", Settings, _build_method, families=("biggan",),
                    summary="pix2latent: BasinCMA, transform search, fine-tuning on BigGAN")
