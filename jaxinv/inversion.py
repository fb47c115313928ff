"""The inversion pipeline as pure stages: degrade, solve and score a batch, with no files.

:func:`build_solver` puts together once per run what every batch shares (the built method, the
objective the engine compiles, the shared context); :func:`prepare` runs the method's run-level
work; then, per batch, :func:`degrade` makes the measurements, :func:`solve` optimises and
renders the solutions in the target's frame, and :func:`score` measures them. The command-line
runner (:mod:`jaxinv.experiments.invert`) and the notebook API (:func:`jaxinv.invert`) are thin
layers over these stages; neither names a method or a family.

Keys: image ``i`` of a run (its index in the run, not in the batch) is optimised with
``fold_in(PRNGKey(seed), i)`` and its measurement noise drawn with ``fold_in(PRNGKey(seed +
17), i)``, so results do not depend on how images are batched.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import engine, metrics
from jaxinv.engine import sharding
from jaxinv.generators.base import Generator
from jaxinv.methods import base as methods
from jaxinv.methods import latent_ops
from jaxinv.methods.problem import REPRESENTATIVE_KEY, reconstruction_loss, target_features
from jaxinv.ops.base import Operator


@dataclasses.dataclass(frozen=True)
class Degradation:
    """The forward model: ``operator`` with batch-shared params ``shared`` and per-image params
    ``per_image(index) -> dict`` (e.g. inpainting masks), additive Gaussian ``noise_std``
    (clipped to [-1, 1] with ``clip_noisy``); ``measured``: the inputs already are the
    measurements (low-resolution files), so they are not degraded again and metrics compare
    the degraded reconstruction with them."""

    operator: Operator
    shared: Mapping = dataclasses.field(default_factory=dict)
    per_image: Callable | None = None
    noise_std: float = 0.0
    clip_noisy: bool = False
    measured: bool = False


def degradation(name: str = "identity", size: int = 0, *, masks=None, seed: int = 0,
                noise_std: float = 0.0, **options) -> Degradation:
    """A :class:`Degradation` by name (``identity``, ``grayscale``, ``downsample`` with
    ``factor``/``mode``, ``inpaint`` with ``masks`` (arrays [size, size, 1], cycled over the
    images; None = a centre hole), ``compressed_sensing`` with ``fraction``) for images of
    ``size`` px; ``seed`` draws the compressed-sensing matrix."""
    from jaxinv import ops
    from jaxinv.ops import circulant

    fraction = options.pop("fraction", 0.05)
    if name == "compressed_sensing":
        options["image_shape"] = (size, size, 3)
    if name == "downsample" and size % options.get("factor", 1):
        raise ValueError(f"factor = {options['factor']} does not divide {size}")
    operator = ops.build(name, **options)
    if name == "inpaint":
        if masks is None:
            hole = np.ones((size, size, 1), np.float32)
            q = size // 4
            hole[q:size - q, q:size - q] = 0.0
            masks = [hole]
        masks = [np.asarray(m, np.float32) for m in masks]
        return Degradation(operator, per_image=lambda i: {"mask": masks[i % len(masks)]},
                           noise_std=noise_std)
    if name == "compressed_sensing":
        shared = circulant.sample_params(jax.random.PRNGKey(seed + 7), (size, size, 3), fraction)
        return Degradation(operator, shared=shared, noise_std=noise_std)
    return Degradation(operator, noise_std=noise_std)


class Solver(NamedTuple):
    """What every batch of a run shares; built once so ``jit`` compiles once per run."""

    generator: Generator
    method: methods.Method
    job: methods.Job
    degradation: Degradation
    objective: engine.Objective
    context: dict
    lpips_net: str | None
    notes: tuple


def build_solver(generator: Generator, method: str, settings, job: methods.Job,
                 degradation: Degradation, lpips=None, perceptual=None) -> Solver:
    """Builds the named method for ``generator`` and checks that the pieces fit.

    Args:
      settings: the method's settings object, or a mapping of its keys (unknown keys are a
        :class:`~jaxinv.methods.SettingsError`).
      lpips: ``(net, params)`` of an LPIPS (the LPIPS loss term and metric), or None.
      perceptual: VGG16 backbone params for the perceptual loss, or None.
    Raises ``KeyError`` for an unknown method and ``ValueError`` for settings that do not fit.
    """
    spec = methods.get(method)
    methods.check_family(spec, generator)
    if not isinstance(settings, spec.settings):
        settings = methods.make_settings(spec, settings or {})
    operator = degradation.operator
    job = dataclasses.replace(job, operator=operator)
    built = spec.build(generator, settings, job)
    if "lpips" in built.needs and lpips is None:
        raise ValueError(f"method {method!r} needs an LPIPS network (in the runner: "
                         f"lpips.metric = True)")
    if built.loss_fn is not None and operator.name != "identity":
        raise ValueError(f"method {method!r} fits its targets with its own loss; it takes no "
                         f"degradation ({operator.name})")
    if built.views is not None and operator.name != "identity":
        raise ValueError(f"method {method!r} renders several views of each target; it needs "
                         f"the identity degradation, not {operator.name}")
    if job.loss.lpips and built.loss_fn is None and not operator.image_like:
        raise ValueError(f"the LPIPS loss needs image-like measurements; {operator.name} gives "
                         f"vectors")
    if job.loss.lpips and lpips is None:
        raise ValueError("the LPIPS loss term needs an LPIPS backbone")
    if job.loss.lpips and operator.image_like:
        _check_lpips_size(job.loss, degradation, generator.size)
    if job.loss.perceptual and perceptual is None:
        raise ValueError("the perceptual loss term needs a VGG16 backbone")
    context = {**generator.context(), "op": dict(degradation.shared)}
    if lpips is not None:
        context["lpips"] = lpips[1]
    if perceptual is not None:
        context["perceptual"] = perceptual
    problem = built.problem
    one = jax.eval_shape(lambda k: problem.init(k, context), jax.random.PRNGKey(0))
    optimizer = engine.build_optimizer(one, problem.learning_rates, job.steps, job.optimizer)
    loss_fn = built.loss_fn or functools.partial(reconstruction_loss, problem, operator,
                                                 job.loss)
    return Solver(generator, built, job, degradation,
                  engine.Objective(loss_fn, optimizer, problem.project), context,
                  None if lpips is None else lpips[0], tuple(generator.notes))


def prepare(solver: Solver) -> Solver:
    """Runs the method's run-level work (``Method.prepare``) and adds what it returns to the
    context and the notes."""
    if solver.method.prepare is None:
        return solver
    extra, notes = solver.method.prepare(solver.generator, solver.job)
    return solver._replace(context={**solver.context, **extra},
                           notes=solver.notes + tuple(notes))


def _check_lpips_size(loss, d: Degradation, size: int) -> None:
    """Refuses, before compiling, an LPIPS term on measurements too small for its network
    (e.g. LPIPS-alex on 16 px images: its deeper layers would be empty and the loss NaN)."""
    from jaxinv.losses import lpips as lpips_lib

    image = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    measured = jax.eval_shape(
        lambda x: d.operator.apply({**d.shared, **_per_image(d.per_image, [0])}, x), image)
    side = measured.shape[1]
    need = lpips_lib.min_size(loss.lpips_net)
    if side >= loss.lpips_min_size and min(side, loss.lpips_size) < need:
        raise ValueError(f"the LPIPS-{loss.lpips_net} loss needs images of at least {need} px "
                         f"and the {d.operator.name} measurements are {side} px (LPIPS at "
                         f"{min(side, loss.lpips_size)} px); set loss.lpips_min_size above "
                         f"{side} to skip LPIPS on them, or loss.lpips = 0")


def targets(solver: Solver, images) -> np.ndarray:
    """The method's view of each target: ``images`` [B, H, W, 3], or [B, K, H, W, 3] for
    methods that render several views."""
    if solver.method.views is None:
        return np.asarray(images)
    return np.stack([np.asarray(solver.method.views(image)) for image in images])


def _per_image(fn, indices) -> dict:
    if fn is None:
        return {}
    rows = [fn(i) for i in indices]
    return {k: jnp.asarray(np.stack([row[k] for row in rows])) for k in rows[0]}


def degrade(solver: Solver, images, indices) -> tuple[jax.Array, dict]:
    """Measurements of ``images`` (targets as :func:`targets` gives them) and the per-image
    operator params; image ``indices`` pick masks and noise keys."""
    d = solver.degradation
    op_data = _per_image(d.per_image, indices)
    images = jnp.asarray(images)
    if images.ndim == 5 or d.measured:
        y = images
    else:
        y = d.operator.apply({**d.shared, **op_data}, images)
    if d.noise_std:
        keys = _keys(solver.job.seed + 17, indices)
        y = jax.vmap(lambda k, yi: yi + d.noise_std * jax.random.normal(k, yi.shape, yi.dtype))(
            keys, y)
        if d.clip_noisy:
            y = jnp.clip(y, -1.0, 1.0)
    return y, op_data


class Solved(NamedTuple):
    result: engine.Result   # variables, loss curves, aux, diverged_at (batched)
    final: np.ndarray       # the representative renders in the target's frame [B, (K,) H, W, 3]
    latents: dict           # the method's latents to save, batched
    data: dict              # the per-image data the method optimised against
    seconds: float          # wall time of the optimisation, compilation excluded
    compile_seconds: float  # time JAX spent tracing and compiling during it


def _keys(seed: int, indices) -> jax.Array:
    """``fold_in(PRNGKey(seed), i)`` for each run index i [B, ...]."""
    root = jax.random.PRNGKey(seed)
    return jnp.stack([jax.random.fold_in(root, i) for i in indices])


def image_keys(solver: Solver, indices) -> jax.Array:
    """The optimisation keys of images ``indices`` (their indices in the run)."""
    return _keys(solver.job.seed, indices)


def batch_data(solver: Solver, y, op_data, indices) -> dict:
    """What the loss reads per image (batched): the measurements, the operator params, the
    method's per-image data and, for the perceptual term, the measurements' VGG features."""
    data = {"target": y, "op": op_data, **_per_image(solver.method.image_data, indices)}
    features = target_features(solver.job.loss, solver.context, y)
    if features is not None:
        data["target_features"] = features
    return data


def solve(solver: Solver, y, op_data, indices, callback=None) -> Solved:
    """Optimises a batch against measurements ``y`` and renders its solutions (the
    representative draw, :data:`~jaxinv.methods.problem.REPRESENTATIVE_KEY`, for stochastic
    methods) in the target's frame. ``callback(steps done, last losses [B])``."""
    import time

    problem, context = solver.method.problem, solver.context
    keys = image_keys(solver, indices)
    variables = engine.init_batch(problem.init, keys, context)
    data = batch_data(solver, y, op_data, indices)
    mesh = sharding.batch_mesh(len(indices), solver.job.devices)
    if mesh is not None:
        variables, data, keys = sharding.split_batch((variables, data, keys), mesh)
        context = sharding.replicate(context, mesh)
    search = solver.method.search or functools.partial(_optimize, solver.job)
    with engine.compile_timer() as compiling:
        start = time.perf_counter()
        result = search(solver.objective, variables, data, context, keys, callback)
        seconds = time.perf_counter() - start
    if result.found is not None:
        data = {**data, "found": result.found}
    final = _render(result.variables, context, render=problem.render, step=solver.job.steps)
    if y.ndim < 5:
        final = final[:, 0]
    if solver.method.finish is not None:
        final = solver.method.finish(final, result.variables, data)
    latents = _latents_batch(result.variables, context, latents=problem.latents)
    return Solved(result, np.asarray(final), latents, data, max(seconds - sum(compiling), 0.0),
                  sum(compiling))


def _optimize(job, objective, variables, data, context, keys, callback):
    return engine.optimize(objective, variables, data, context, keys, job.steps,
                           chunk=job.chunk, callback=callback)


@functools.partial(jax.jit, static_argnames=("latents",))
def _latents_batch(variables, context, *, latents):
    return jax.vmap(lambda v: latents(v, context))(variables)


@functools.partial(jax.jit, static_argnames=("render", "step"))
def _render(variables, context, *, render, step):
    return jax.vmap(lambda v: render(v, context, REPRESENTATIVE_KEY, step))(variables)


def score(solver: Solver, final, images, y) -> dict:
    """Per-image metrics [B]: ``psnr``, ``ssim``, ``lpips`` (None without an LPIPS) and, for
    the grayscale degradation, the colorization ``auc``. Measured inputs (no ground truth) are
    compared with the degraded reconstruction; views are averaged."""
    d = solver.degradation
    final = jnp.asarray(final)
    scored, reference = ((d.operator.apply(dict(d.shared), final), jnp.asarray(images))
                         if d.measured else (final, jnp.asarray(images)))
    n = final.shape[0]
    flat = lambda a: jnp.reshape(a, (-1,) + a.shape[-3:])
    per_item = lambda m: np.asarray(m).reshape(n, -1).mean(axis=1)
    out = {"psnr": per_item(metrics.psnr(flat(scored), flat(reference))),
           "ssim": per_item(metrics.ssim(flat(scored), flat(reference)))}
    out["lpips"] = (per_item(metrics.lpips(solver.lpips_net, solver.context["lpips"],
                                           flat(scored), flat(reference)))
                    if solver.lpips_net else [None] * n)
    if d.operator.name == "grayscale":
        out["auc"] = per_item(metrics.colorization_auc(flat(final), flat(jnp.asarray(images))))
    return out


def edit(solver: Solver, variables, direction, alphas):
    """Images [len(alphas), H, W, 3] of one solution moved along a latent ``direction``: the
    method's own edit, or W+ edits for methods with a W+ sampler; ``ValueError`` otherwise."""
    problem = solver.method.problem
    if solver.method.edit is not None:
        return solver.method.edit(variables, solver.context, direction, alphas)
    if problem.sample_wplus is None:
        raise ValueError("this method has no latent edits")
    return latent_ops.edit(problem, variables, solver.context, direction, alphas)


def unbatch(tree: Any, b: int):
    """Image ``b`` of a batched pytree (as numpy arrays: indexing device arrays one leaf at a
    time would compile one slicing program per shape)."""
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[b], tree)
