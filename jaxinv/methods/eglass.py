"""e-GLASS: many solutions of a linear inverse problem from the latent geometry at one solution.

"Exploring the Solution Space of Linear Inverse Problems with GAN Latent Geometry" (ICIP
2022; no code released). From a solution ``z0`` of ``y = A G(z)`` (any inversion), two exact
Hessians at ``z0`` (:mod:`jaxinv.geometry`):

- ``H_Y`` of the measurement error ``||A G(z) - A G(z0)||^2`` (eigenvectors ``U``): directions
  with large eigenvalues change the measurements, the (near) null ones do not;
- ``H_X`` of the perceptual distance ``LPIPS(G(z), G(z0))`` (eigenvectors ``V``): directions
  with large eigenvalues change the image as people see it.

Algorithm 1: the direction ``d`` starts at ``v^K``, the K-th top eigenvector of ``H_X``, and is
projected off every *top* eigenvector of ``H_Y`` (those of eigenvalue above ``top_fraction``
of the largest: the measurement-changing ones) whose |correlation| with ``d`` exceeds
``threshold``, renormalised, and checked again until none does. The coupling ``C = U^T V``
and the correlations of ``v^K`` and ``d`` with both eigenbases are the paper's Figure 1. New
solutions are ``G(z0 + eta d)`` for a range of ``eta`` and for K, K-1, K-2, ...

As a method of the runner (``configs/eglass.py``), e-GLASS runs a first inversion (any other
method, ``method.first``), then, per image: the two Hessians at its solution (over the
variables ``method.latent``, taken one of three ways), Algorithm 1 for each K, the solutions
with their measurement error and LPIPS, and the PULSE-style baseline (the first inversion
re-run from random starts, batched) scored the same way. Each image gets a grid of the
solutions (infeasible ones in red), the Figure 1 correlation plot, the spectra, and a row per
solution (``solutions``, ``baseline``) in ``metrics.json``, with the counts of feasible
solutions, their diversity (mean pairwise LPIPS) and the seconds each way took.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv import geometry
from jaxinv.geometry import Eigen
from jaxinv.losses import lpips as lpips_lib
from jaxinv.methods.base import (Job, Method, MethodSpec, SettingsError, check_family, get,
                                 make_settings, names)
from jaxinv.methods.problem import REPRESENTATIVE_KEY


class Direction(NamedTuple):
    """A direction of Algorithm 1 and how it was made."""

    d: np.ndarray             # [n], unit norm
    start: np.ndarray         # [n], v^K
    removed: tuple            # indices of the H_Y eigenvectors projected off, in order
    rounds: int               # projection rounds until no top correlation exceeded threshold


def top_measurement_vectors(h_y: Eigen, top_fraction: float) -> np.ndarray:
    """The eigenvectors of ``H_Y`` [n, t] whose eigenvalue exceeds ``top_fraction`` times the
    largest: the directions that change the measurements."""
    values = np.asarray(h_y.values)
    keep = values > top_fraction * values[0]
    return np.asarray(h_y.vectors)[:, keep]


def direction(h_x: Eigen, h_y: Eigen, k: int, threshold: float,
              top_fraction: float = 1e-3, max_rounds: int = 100) -> Direction:
    """Algorithm 1 for the K-th top eigenvector of ``H_X`` (``k`` counts from 1)."""
    if not 1 <= k <= np.shape(h_x.vectors)[1]:
        raise ValueError(f"K = {k}: H_X has {np.shape(h_x.vectors)[1]} eigenvectors")
    u = top_measurement_vectors(h_y, top_fraction)
    start = np.asarray(h_x.vectors, np.float64)[:, k - 1]
    d, removed = start.copy(), []
    for rounds in range(max_rounds + 1):
        corr = u.T @ d
        over = np.flatnonzero(np.abs(corr) > threshold)
        if over.size == 0:
            return Direction(d, start, tuple(removed), rounds)
        d = d - u[:, over] @ corr[over]
        norm = np.linalg.norm(d)
        if norm < 1e-12:
            raise ValueError(f"K = {k}: v^K lies in the span of the measurement-changing "
                             f"eigenvectors of H_Y; no direction is left")
        d = d / norm
        removed += [int(i) for i in over]
    raise ValueError(f"K = {k}: still correlated above {threshold} after {max_rounds} rounds")


def correlations(h_y: Eigen, h_x: Eigen, vectors) -> dict:
    """|correlation| of each of ``vectors`` [n, m] with the eigenvectors of ``H_Y`` and of
    ``H_X`` (Figure 1): ``{'H_Y': [m, n], 'H_X': [m, n]}``; and the coupling ``C = U^T V``."""
    vectors = np.asarray(vectors, np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=0, keepdims=True)
    return {"H_Y": np.abs(unit.T @ np.asarray(h_y.vectors)),
            "H_X": np.abs(unit.T @ np.asarray(h_x.vectors)),
            "coupling": np.asarray(h_y.vectors).T @ np.asarray(h_x.vectors)}


def moved(z0, d, etas):
    """Latents ``z0 + eta d`` [len(etas), *z0.shape] (``d`` flattened or shaped as ``z0``)."""
    z0 = jnp.asarray(z0)
    d = jnp.reshape(jnp.asarray(d, z0.dtype), z0.shape)
    return z0[None] + jnp.asarray(etas, z0.dtype).reshape((-1,) + (1,) * z0.ndim) * d[None]


def step_for(h: np.ndarray, d, change: float) -> float:
    """The step ``eta`` along ``d`` at which the quadratic model ``eta^2 / 2 d^T H d`` of a
    distance reaches ``change`` (to compare directions at the same perceptual change)."""
    d = np.asarray(d, np.float64).ravel()
    curvature = float(d @ np.asarray(h, np.float64) @ d)
    if curvature <= 0:
        raise ValueError("the distance does not grow along this direction (d^T H d <= 0)")
    return float(np.sqrt(2.0 * change / curvature))


@dataclasses.dataclass(frozen=True)
class Settings:
    """e-GLASS's settings (``config.method``).

    first: the inversion that gives the first solution z0, as a method block (its ``name``, a
      method of :func:`jaxinv.methods.names`, and that method's settings, e.g.
      ``method_config('z')``); it runs with the run's steps, learning rates and loss.
    latent: the names of the variables the geometry is taken over, concatenated and flattened
      (``('z',)`` for DCGAN/PGGAN; ``('z', 'embed')`` for BigGAN's [z, class embedding]); the
      other variables stay at the first solution.
    hessian: how the Hessians are taken (:data:`jaxinv.geometry.WAYS`): 'dense'
      (``jax.hessian``), 'hvp' (Hessian-vector products, ``chunk`` basis vectors at a time,
      memory bounded by the chunk) or 'lanczos' (the top ``eigenpairs`` only, never forming H;
      when every one of H_Y's is above ``top_fraction`` the record says
      ``measurement_directions_truncated``: more measurement-changing directions may exist).
    ks: the K of each direction (1 = the top eigenvector of H_X), e.g. (K, K-1, K-2).
    etas: the steps along each direction (latent units; d has unit norm).
    threshold: Algorithm 1's |correlation| threshold.
    top_fraction: H_Y eigenvectors above this fraction of the largest eigenvalue count as
      measurement-changing.
    feasibility: the largest mean squared measurement error ``mean((A G(z) - y)^2)`` of a
      feasible solution (the paper: 1e-2 for super-resolution).
    baseline_restarts: the PULSE-style baseline: the first inversion re-run from this many
      random starts on the same measurement (0 = none), scored the same way.
    """

    first: Mapping = dataclasses.field(default_factory=lambda: {"name": "z"})
    latent: tuple = ("z",)
    hessian: str = "hvp"
    chunk: int = 16
    eigenpairs: int = 40
    ks: tuple = (5, 4, 3)
    etas: tuple = (-2.0, -1.0, 1.0, 2.0)
    threshold: float = 0.1
    top_fraction: float = 1e-3
    feasibility: float = 1e-2
    baseline_restarts: int = 10


class Solutions(NamedTuple):
    """One row per (K, eta): latents [m, n], images [m, H, W, 3], and per row k, eta,
    measurement_error (mean squared, against y), lpips (to the first solution G(z0)) and
    feasible (measurement_error <= the threshold; infeasible rows are kept, flagged)."""

    latents: np.ndarray
    images: np.ndarray
    k: np.ndarray
    eta: np.ndarray
    measurement_error: np.ndarray
    lpips: np.ndarray
    feasible: np.ndarray
    directions: tuple  # the Direction of each K


def explore(score: Callable, z0, h_x: Eigen, h_y: Eigen, settings: Settings) -> Solutions:
    """New solutions ``z0 + eta d_K`` for every K and eta of ``settings``. ``score(latents
    [m, *z0.shape]) -> (images [m, H, W, 3], mean squared measurement error [m], LPIPS to
    G(z0) [m])``; ``h_x``/``h_y`` the eigenpairs at ``z0``."""
    found = tuple(direction(h_x, h_y, k, settings.threshold, settings.top_fraction)
                  for k in settings.ks)
    latents = jnp.concatenate([moved(z0, f.d, settings.etas) for f in found])
    images, errors, distances = (np.asarray(a) for a in score(latents))
    return Solutions(np.asarray(latents), images,
                     np.repeat(np.asarray(settings.ks), len(settings.etas)),
                     np.tile(np.asarray(settings.etas, np.float64), len(settings.ks)),
                     errors, distances, errors <= settings.feasibility, found)


def time_to_feasible(record: dict, n: int = 10) -> dict:
    """Seconds e-GLASS and the PULSE-style baseline take to give ``n`` feasible solutions,
    from one image's runner record (compilation excluded), each extrapolated linearly from
    what it found: e-GLASS pays the first inversion and the Hessians once, then each feasible
    solution costs its share of the exploration (more K and eta cost the same per solution);
    each baseline restart is an independent inversion, so ``n`` feasible ones cost ``n /
    baseline_feasible`` times the restarts' time. None where none was feasible."""
    out = {"eglass": None, "baseline": None}
    if record.get("feasible"):
        explore_seconds = record["eglass_seconds"] - record["hessian_seconds"]
        out["eglass"] = (record["first_seconds"] + record["hessian_seconds"] +
                         explore_seconds * n / record["feasible"])
    if record.get("baseline_feasible"):
        out["baseline"] = record["baseline_seconds"] * n / record["baseline_feasible"]
    return out


# ---------------------------------------------------------------- the method for the runner

RESTART_STREAM = 1  # the baseline's restart r of image i starts from split(fold_in(key_i, 1))[r]


def flatten(variables, names) -> jax.Array:
    """The geometry's latent: the variables ``names``, flattened and concatenated [n]."""
    return jnp.concatenate([jnp.ravel(jnp.asarray(variables[n])) for n in names])


def with_latent(variables, names, flat):
    """``variables`` with the entries ``names`` replaced by the flat latent ``flat`` [n]
    (or a batch of them [m, n]: then every variable gets a leading axis of m)."""
    flat = jnp.asarray(flat)
    lead = flat.shape[:-1]
    out = {k: jnp.broadcast_to(jnp.asarray(v), lead + jnp.shape(v)) for k, v in
           variables.items()}
    offset = 0
    for n in names:
        shape = jnp.shape(variables[n])
        size = int(np.prod(shape))
        out[n] = jnp.reshape(flat[..., offset:offset + size], lead + shape).astype(
            jnp.asarray(variables[n]).dtype)
        offset += size
    return out


class _Model(NamedTuple):
    """What the jitted geometry and scores need besides arrays (hashable, static)."""

    render: Callable  # the first inversion's Problem.render
    operator: Any
    names: tuple
    step: int
    net: str


def _measure(model: _Model, context, op_data, image):
    params = {**context.get("op", {}), **jax.tree_util.tree_map(lambda a: a[None], op_data)}
    return model.operator.apply(params, image[None])[0]


def _image(model: _Model, variables, context):
    return model.render(variables, context, REPRESENTATIVE_KEY, model.step)[0]


def _perceptual(model: _Model, context, x, y):
    return lpips_lib.distance(model.net, context["lpips"], x[None], y[None])[0]


@functools.partial(jax.jit, static_argnames=("model", "way", "chunk", "k"))
def _eigenpairs(variables, context, op_data, key, *, model, way, chunk, k):
    """(H_Y, H_X) eigenpairs at the solution ``variables``."""
    render = lambda z: _image(model, with_latent(variables, model.names, z), context)
    z0 = flatten(variables, model.names)
    measure = functools.partial(_measure, model, context, op_data)
    f_y = geometry.distance_to(lambda z: measure(render(z)), geometry.squared_error, z0)
    f_x = geometry.distance_to(render, functools.partial(_perceptual, model, context), z0)
    k_y, k_x = jax.random.split(key)
    return (geometry.eigenpairs(f_y, z0, way, chunk, k, k_y),
            geometry.eigenpairs(f_x, z0, way, chunk, k, k_x))


def _measurement_error(model: _Model, context, op_data, y, image):
    """Mean squared error of ``image``'s measurement against ``y``: what feasibility bounds."""
    return jnp.mean((_measure(model, context, op_data, image) - y) ** 2)


@functools.partial(jax.jit, static_argnames=("model",))
def _first(reference, context, op_data, y, *, model):
    """The first solution's image [H, W, 3] and measurement error."""
    image = _image(model, reference, context)
    return image, _measurement_error(model, context, op_data, y, image)


@functools.partial(jax.jit, static_argnames=("model",))
def _score(batch, first, context, op_data, y, *, model):
    """Images [m, H, W, 3] of the solutions ``batch`` (variables with a leading axis m), their
    mean squared measurement error against ``y`` and their LPIPS to the first solution's
    image ``first``."""

    def one(v):
        image = _image(model, v, context)
        return (image, _measurement_error(model, context, op_data, y, image),
                _perceptual(model, context, image, first))

    return jax.lax.map(one, batch)


@functools.partial(jax.jit, static_argnames=("net",))
def _pairwise(images, params, *, net):
    """LPIPS between every pair of ``images`` [m, H, W, 3] -> [m, m]."""
    m = images.shape[0]
    i, j = jnp.triu_indices(m, 1)
    d = jax.lax.map(lambda ab: lpips_lib.distance(net, params, ab[0][None], ab[1][None])[0],
                    (images[i], images[j]))
    return jnp.zeros((m, m), d.dtype).at[i, j].set(d).at[j, i].set(d)


def diversity(images, params, net: str) -> float:
    """Mean pairwise LPIPS of ``images`` [m, H, W, 3] (0 for fewer than two): how different
    the solutions look from each other."""
    m = len(images)
    if m < 2:
        return 0.0
    d = np.asarray(_pairwise(jnp.asarray(images), params, net=net))
    return float(d[np.triu_indices(m, 1)].mean())


@functools.partial(jax.jit, static_argnames=("init",))
def _starts(keys, context, *, init):
    return jax.vmap(lambda k: init(k, context))(keys)


def _inner_work(inner: Method, job: Job, batch: int) -> tuple[int, str]:
    return inner.work(batch) if inner.work is not None else (job.steps, "steps")


def _search(inner: Method, settings: Settings, job: Job, objective, variables, data, context,
            keys, callback=None):
    """The first inversion for the batch, then (``baseline_restarts`` > 0) the same
    inversion from that many random starts per image, all restarts of the batch in one
    batched search. ``Result.found`` holds the restarts, their final losses, and the seconds
    per image of both (compilation excluded)."""
    from jaxinv import engine

    def run(v, d, k, report):
        if inner.search is not None:
            return inner.search(objective, v, d, context, k, report)
        return engine.optimize(objective, v, d, context, k, job.steps, chunk=job.chunk,
                               callback=report)

    def timed(*args):
        with engine.compile_timer() as compiling:
            began = time.perf_counter()
            out = run(*args)
            jax.block_until_ready(out.variables)
            return out, max(time.perf_counter() - began - sum(compiling), 0.0)

    r, b = settings.baseline_restarts, len(keys)
    result, seconds = timed(variables, data, keys, callback)
    found = {"first_seconds": np.full((b,), seconds / b)}
    if r:
        done = _inner_work(inner, job, b)[0]
        later = None if callback is None else (lambda n, last: callback(done + n, last))
        starts = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, RESTART_STREAM),
                                                     r))(keys)
        starts = starts.reshape((b * r,) + starts.shape[2:])
        repeated = jax.tree_util.tree_map(lambda a: jnp.repeat(a, r, axis=0), data)
        restarts, seconds = timed(_starts(starts, context, init=inner.problem.init), repeated,
                                  starts, later)
        per_image = lambda a: np.asarray(a).reshape((b, r) + np.shape(a)[1:])
        found.update(restarts=jax.tree_util.tree_map(per_image, restarts.variables),
                     restart_loss=per_image(np.asarray(restarts.losses)[:, -1]),
                     restart_diverged_at=per_image(restarts.diverged_at),
                     baseline_seconds=np.full((b,), seconds / b))
    return result._replace(found=found)


def _rows(fields: dict) -> list[dict]:
    """Per-solution rows (one dict per index) from columns of equal length."""
    n = len(next(iter(fields.values())))
    return [{k: (bool(v[i]) if isinstance(v[i], (bool, np.bool_)) else
                 int(v[i]) if isinstance(v[i], (int, np.integer)) else float(v[i]))
             for k, v in fields.items()} for i in range(n)]


def _caption(error: float, distance: float, feasible: bool) -> str:
    return (f"err {error:.2e}" + ("" if feasible else " INFEASIBLE") +
            f"\nLPIPS {distance:.3f}")


def _outputs(inner: Method, settings: Settings, job: Job, model: _Model, variables, context,
             target, final, data):
    """e-GLASS at the first solution: its Hessians, directions and solutions, the baseline's
    restarts scored the same way, the figures and one row per solution."""
    from jaxinv import engine
    from jaxinv.report import plots

    pictures, values = ({}, {}) if inner.outputs is None else inner.outputs(
        variables, context, target, final, data)
    y, op_data = jnp.asarray(data["target"]), data.get("op", {})
    reference = {k: jnp.asarray(v) for k, v in variables.items()}
    with engine.compile_timer() as compiling:
        began = time.perf_counter()
        h_y, h_x = _eigenpairs(reference, context, op_data, jax.random.PRNGKey(job.seed),
                               model=model, way=settings.hessian, chunk=settings.chunk,
                               k=settings.eigenpairs)
        h_y, h_x = (Eigen(np.asarray(e.values, np.float64), np.asarray(e.vectors, np.float64))
                    for e in (h_y, h_x))
        hessian_seconds = max(time.perf_counter() - began - sum(compiling), 0.0)
        first_image, first_error = _first(reference, context, op_data, y, model=model)
        score = lambda batch: _score(batch, first_image, context, op_data, y, model=model)
        z0 = np.asarray(flatten(reference, model.names))
        found = explore(lambda z: score(with_latent(reference, model.names, z)), z0, h_x, h_y,
                        settings)
        seconds = max(time.perf_counter() - began - sum(compiling), 0.0)
    first_image, first_error = np.asarray(first_image), float(first_error)
    net, params = model.net, context["lpips"]
    top = top_measurement_vectors(h_y, settings.top_fraction)
    feasible_images = [first_image] + list(found.images[found.feasible])
    values.update(
        first_measurement_error=first_error, feasible=int(found.feasible.sum()),
        solutions_tried=int(found.feasible.size),
        diversity_lpips=diversity(np.stack(feasible_images), params, net),
        first_seconds=float(data["found"]["first_seconds"]), hessian_seconds=hessian_seconds,
        eglass_seconds=seconds,
        measurement_directions=int(top.shape[1]),
        measurement_directions_truncated=bool(top.shape[1] == h_y.values.size and
                                              settings.hessian == "lanczos"),
        directions=[{"k": int(k), "removed": len(f.removed),
                     "rounds": f.rounds} for k, f in zip(settings.ks, found.directions)],
        solutions=_rows({"k": found.k, "eta": found.eta,
                         "measurement_error": found.measurement_error, "lpips": found.lpips,
                         "feasible": found.feasible}))
    rows = [("first solution", [(first_image, _caption(first_error, 0.0,
                                                        first_error <= settings.feasibility),
                                 first_error > settings.feasibility)])]
    for i, k in enumerate(settings.ks):
        part = slice(i * len(settings.etas), (i + 1) * len(settings.etas))
        rows.append((f"K = {k}", [
            (img, f"eta {eta:+g}: " + _caption(e, l, ok), not ok) for img, eta, e, l, ok in zip(
                found.images[part], found.eta[part], found.measurement_error[part],
                found.lpips[part], found.feasible[part])]))
    if "restarts" in data["found"]:
        rows += _baseline(settings, data["found"], values, score, first_image, params, net,
                          model.names)
    pictures["eglass_solutions.png"] = plots.as_image(plots.captioned_grid(
        rows, f"feasible: mean squared measurement error <= {settings.feasibility:g}; "
              f"LPIPS to the first solution"))
    k = settings.ks[0]
    corr = correlations(h_y, h_x, np.stack([found.directions[0].start, found.directions[0].d],
                                           axis=1))
    pictures["eglass_correlations.png"] = plots.as_image(plots.correlation_figure(
        corr, (f"v^{k}", "d"), settings.threshold, top.shape[1], corr["coupling"],
        f"Figure 1: K = {k}"))
    pictures["eglass_spectra.png"] = plots.as_image(plots.spectrum_figure(
        {"H_Y (measurement error)": h_y.values, f"H_X (LPIPS-{net})": h_x.values},
        "Hessian spectra at the first solution"))
    return pictures, values


def _baseline(settings: Settings, found, values: dict, score, first_image, params, net,
              names):
    """Scores the baseline's restarts into ``values`` (``baseline_distinct``: how many differ
    in the latent ``names``, to 1e-4: a first inversion whose search is deterministic from a
    fixed start gives one solution however often it runs); returns their rows of the grid."""
    restarts = {k: jnp.asarray(v) for k, v in found["restarts"].items()}
    images, errors, distances = (np.asarray(a) for a in score(restarts))
    ok = (errors <= settings.feasibility) & (np.asarray(found["restart_diverged_at"]) < 0)
    flat = np.asarray(jax.vmap(lambda v: flatten(v, names))(restarts))
    values.update(
        baseline_feasible=int(ok.sum()), baseline_tried=int(ok.size),
        baseline_distinct=int(np.unique(np.round(flat, 4), axis=0).shape[0]),
        baseline_diversity_lpips=diversity(np.stack([first_image] + list(images[ok])), params,
                                           net),
        baseline_seconds=float(found["baseline_seconds"]),
        baseline=_rows({"restart": np.arange(1, ok.size + 1), "measurement_error": errors,
                        "lpips": distances, "loss": np.asarray(found["restart_loss"]),
                        "feasible": ok}))
    cells = [(img, f"restart {i + 1}: " + _caption(e, l, f), not f)
             for i, (img, e, l, f) in enumerate(zip(images, errors, distances, ok))]
    width = max(len(settings.etas), 1)
    return [("baseline" if i == 0 else "", cells[i:i + width])
            for i in range(0, len(cells), width)]


def _build_method(generator, settings: Settings, job: Job) -> Method:
    first = dict(settings.first)
    name = first.get("name", "")
    if name == METHOD.name or name not in names():
        raise SettingsError(f"method.first.name: {name!r}; the first inversion is one of "
                            f"{', '.join(n for n in names() if n != METHOD.name)}")
    spec = get(name)
    check_family(spec, generator)
    inner = spec.build(generator, make_settings(spec, first, where="method.first"), job)
    if inner.views is not None:
        raise SettingsError(f"method.first.name: {name!r} renders several views per target; "
                            f"e-GLASS needs one image per solution")
    _check(settings, job, generator, inner)
    model = _Model(inner.problem.render, job.operator, tuple(settings.latent), job.steps,
                   job.loss.lpips_net)
    r = settings.baseline_restarts
    return dataclasses.replace(
        inner, search=functools.partial(_search, inner, settings, job),
        work=lambda batch: (_inner_work(inner, job, batch)[0] + (
            _inner_work(inner, job, batch * r)[0] if r else 0), _inner_work(inner, job, 1)[1]),
        outputs=functools.partial(_outputs, inner, settings, job, model),
        needs=tuple(dict.fromkeys(inner.needs + ("lpips",))))


def _check(settings: Settings, job: Job, generator, inner: Method) -> None:
    """Refuses, by key, settings e-GLASS cannot use, before anything compiles."""
    operator = job.operator
    if operator is None or operator.name == "identity":
        raise SettingsError("degradation.name: e-GLASS explores the solutions of a measurement "
                            "that leaves the image undetermined (downsample, inpaint, "
                            "grayscale, compressed_sensing); identity measures all of it")
    if not operator.linear:
        raise SettingsError(f"degradation.name: e-GLASS needs a linear measurement; "
                            f"{operator.name} is not")
    if settings.hessian not in geometry.WAYS:
        raise SettingsError(f"method.hessian: {settings.hessian!r}; choose one of "
                            f"{geometry.WAYS}")
    shapes = jax.eval_shape(lambda k: inner.problem.init(k, generator.context()),
                            jax.random.PRNGKey(0))
    missing = [n for n in settings.latent if n not in shapes]
    if not settings.latent or missing:
        raise SettingsError(f"method.latent: {tuple(settings.latent)} names no variable or "
                            f"unknown ones {missing}; the first inversion's variables: "
                            f"{sorted(shapes)}")
    n = sum(int(np.prod(shapes[k].shape)) for k in settings.latent)
    most = settings.eigenpairs if settings.hessian == "lanczos" else n
    if not settings.ks or min(settings.ks) < 1 or max(settings.ks) > most:
        raise SettingsError(f"method.ks: {tuple(settings.ks)}; each K is between 1 and {most} "
                            f"(the eigenvectors of H_X the Hessian way gives)")
    if not settings.etas:
        raise SettingsError("method.etas: give at least one step")
    if not 0.0 < settings.threshold < 1.0:
        raise SettingsError(f"method.threshold: {settings.threshold}; a |correlation| in "
                            f"(0, 1)")
    if settings.baseline_restarts < 0 or settings.chunk < 1 or settings.eigenpairs < 1:
        raise SettingsError("method.baseline_restarts, chunk, eigenpairs: baseline_restarts "
                            ">= 0, chunk >= 1 and eigenpairs >= 1")
    if settings.baseline_restarts and inner.search is None:
        starts = [inner.problem.init(jax.random.PRNGKey(i), generator.context()) for i in (0, 1)]
        if all(np.array_equal(a, b) for a, b in zip(*(jax.tree_util.tree_leaves(t)
                                                     for t in starts))):
            raise SettingsError(f"method.baseline_restarts: the first inversion "
                                f"({settings.first.get('name')}) starts from the same point "
                                f"whatever the key, so every restart would give the same "
                                f"solution; use random starts or baseline_restarts = 0")
    need = lpips_lib.min_size(job.loss.lpips_net)
    if generator.size < need:
        raise SettingsError(f"lpips.net: H_X needs LPIPS-{job.loss.lpips_net} on images of at "
                            f"least {need} px; the generator makes {generator.size} px")


METHOD = MethodSpec("eglass", Settings, _build_method,
                    summary="e-GLASS: many solutions of a linear inverse problem from the "
                            "Hessians of the measurement error and LPIPS at a first solution")
