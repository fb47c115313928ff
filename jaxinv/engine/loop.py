"""Per-image gradient optimisation over an arbitrary pytree of variables.

One image's problem is an :class:`Objective`: ``loss_fn(variables, data, context, key, step) ->
(loss, aux)``, the optax ``optimizer`` and an optional ``project`` applied after every step. The
variables are optimised, ``data`` holds that image's arrays (target, mask, operator params),
``context`` what the batch shares (generator and LPIPS params: passed to ``jit`` as arguments,
never closed over, so XLA does not constant-fold them), ``key`` a fresh key for this step and
image, ``aux`` a dict of scalars recorded every step. The step loop is a ``lax.scan``; the batch
is a ``vmap`` over variables, data and keys. Steps run in chunks so a caller can show progress
and checkpoint between chunks (or stop early, :func:`optimize`'s ``stop`` rule); the batch's
state buffers are donated to each compiled call, so it updates them in place where the backend
supports donation.

How a chunk runs can depend on the backend (:data:`STEP_MODES`; measured by
``benchmarks/side_by_side.py``, ``benchmarks/inversion_step.py --modes scan step`` and the test
suite, tables in ``benchmarks/RESULTS.md``): ``'scan'``, one compiled call per chunk, or
``'step'``, one compiled step per call. Both run the same step function and give the same
numbers. The scan wins on an H100 (1.7-2.2x for the DCGAN step) and, on the CPU, problems with
many variable leaves lose with one call per step (pix2latent's fine-tuning of every generator
weight took twice as long), while small ones gain about 10%; so every backend scans for now.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Any, Callable, NamedTuple, Protocol, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax


@dataclasses.dataclass(frozen=True)
class Objective:
    """What is optimised for one image, and how. Hashable, so it is a static argument of
    ``jit``: build it once per run so that every batch reuses one compiled step.

    loss_fn: ``(variables, data, context, key, step) -> (scalar, {name: scalar})``.
    optimizer: an optax transformation for one image's variables.
    project: optional ``(variables, context, step) -> variables`` applied after every step
      (``step``: the index of the step just taken, -1 for a start that no step produced, so a
      projection can follow a schedule).
    """

    loss_fn: Callable
    optimizer: optax.GradientTransformation
    project: Callable | None = None


class EngineState(NamedTuple):
    """Batched optimisation state: every leaf has a leading batch axis."""

    variables: Any
    opt_state: Any
    diverged_at: jax.Array  # [B] int32, -1 while finite


class Result(NamedTuple):
    variables: Any          # final variables, batched
    losses: np.ndarray      # [B, steps]
    aux: dict               # name -> [B, steps]
    diverged_at: np.ndarray  # [B], -1 where every step was finite
    found: Any = None        # a search's per-image arrays besides the variables, batched


class DivergenceError(FloatingPointError):
    """Raised by :func:`check_finite`; ``.images`` lists ``(name, step)`` pairs."""

    def __init__(self, images):
        self.images = list(images)
        shown = ", ".join(f"{name} at step {step}" for name, step in self.images)
        super().__init__(f"non-finite loss or gradient: {shown}")


def _all_finite(*trees) -> jax.Array:
    """One reduction over every leaf, concatenated. Combining per-leaf reductions with a chain
    of ``&`` instead lets XLA duplicate that chain into each fused ``where`` of the guard, which
    made a scanned step with a few hundred leaves (fine-tuning) compile 4x slower on CPU."""
    leaves = jax.tree_util.tree_leaves(trees)
    return jnp.all(jnp.isfinite(jnp.concatenate([jnp.ravel(x) for x in leaves])))


def init_state(optimizer: optax.GradientTransformation, variables) -> EngineState:
    """Optimiser state for batched ``variables`` (copied: the state is donated to
    :func:`run_chunk`, the caller's arrays are not)."""
    variables = jax.tree_util.tree_map(jnp.array, variables)
    batch = jax.tree_util.tree_leaves(variables)[0].shape[0]
    return EngineState(variables, jax.vmap(optimizer.init)(variables),
                       jnp.full((batch,), -1, jnp.int32))


@functools.partial(jax.jit, static_argnums=0)
def init_batch(init: Callable, keys, context):
    """``init(key, context)`` for each key [B, 2], as one compiled program: the batch of
    starting variables (``init`` must be hashable, e.g. a ``Problem``'s)."""
    return jax.vmap(lambda k: init(k, context))(keys)


def _one_image_steps(objective, variables, opt_state, diverged_at, data, context, key, start,
                     num_steps):
    loss_fn, optimizer, project = objective.loss_fn, objective.optimizer, objective.project
    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(carry, i):
        variables, opt_state, diverged_at = carry
        t = start + i
        (loss, aux), grads = grad_fn(variables, data, context, jax.random.fold_in(key, t), t)
        updates, new_opt = optimizer.update(grads, opt_state, variables)
        new_vars = optax.apply_updates(variables, updates)
        if project is not None:
            new_vars = project(new_vars, context, t)
        ok = _all_finite(loss, grads, new_vars) & (diverged_at < 0)
        keep = lambda new, old: jax.tree_util.tree_map(
            lambda a, b: jnp.where(ok, a, b), new, old)
        diverged_at = jnp.where((diverged_at < 0) & ~ok, t, diverged_at)
        carry = (keep(new_vars, variables), keep(new_opt, opt_state), diverged_at)
        return carry, (loss, aux)

    (variables, opt_state, diverged_at), (losses, aux) = jax.lax.scan(
        step, (variables, opt_state, diverged_at), jnp.arange(num_steps))
    return variables, opt_state, diverged_at, losses, aux


STEP_MODES: dict[str, str] = {}  # backend -> 'scan' or 'step'; absent: 'scan'


def step_mode(backend: str | None = None) -> str:
    """How :func:`optimize` runs a chunk on ``backend`` (default: JAX's default backend)."""
    return STEP_MODES.get(backend or jax.default_backend(), "scan")


@functools.partial(jax.jit, static_argnames=("objective", "num_steps"), donate_argnums=(0,))
def run_chunk(state: EngineState, data, context, keys, start, *, objective: Objective,
              num_steps: int):
    """Runs ``num_steps`` steps from step ``start`` for the whole batch. ``state`` is donated:
    use the returned one.

    Returns ``(state, losses [B, num_steps], aux {name: [B, num_steps]})``.
    """
    one = functools.partial(_one_image_steps, objective)
    variables, opt_state, diverged_at, losses, aux = jax.vmap(
        one, in_axes=(0, 0, 0, 0, None, 0, None, None))(
        state.variables, state.opt_state, state.diverged_at, data, context, keys, start,
        num_steps)
    return EngineState(variables, opt_state, diverged_at), losses, aux


class Snapshot(NamedTuple):
    """An optimisation after ``done`` steps: its state and the curves so far (numpy)."""

    state: EngineState
    done: int
    losses: np.ndarray  # [B, done]
    aux: dict           # name -> [B, done]


class Checkpoint(Protocol):
    """Where :func:`optimize` keeps snapshots so that an interrupted run resumes: ``restore
    (fresh state) -> Snapshot | None`` (the fresh state gives the structure to fill) and
    ``save(snapshot)``, called after every ``every`` steps (at chunk ends)."""

    every: int

    def restore(self, template: EngineState) -> Snapshot | None: ...

    def save(self, snapshot: Snapshot) -> None: ...


def optimize(objective: Objective, variables, data, context, keys, steps: int, *,
             chunk: int | None = None,
             callback: Callable[[int, np.ndarray], None] | None = None,
             stop: Callable[[np.ndarray, dict], bool] | None = None,
             mode: str | None = None, checkpoint: Checkpoint | None = None) -> Result:
    """Optimises a batch of images: the chunked driver every search builds on.

    Args:
      objective: one image's loss, optimiser and projection; its ``loss_fn`` must be hashable (a
        module-level function or a ``functools.partial`` of one).
      variables, data: pytrees with a leading batch axis B.
      context: pytree shared by the batch (broadcast, not vmapped).
      keys: one PRNG key per image [B, ...]; step t of image b uses ``fold_in(keys[b], t)``.
      steps: the most steps to run; ``chunk`` steps run per compiled call (default all).
      callback: called after each chunk with ``(steps_done, last_losses [B])``.
      stop: the stopping rule, called after each chunk with that chunk's ``(losses [B, n],
        aux {name: [B, n]})``; True ends the optimisation there (the result then has fewer
        than ``steps`` steps).
      mode: 'scan' (one compiled call per chunk) or 'step' (one per step); None: the
        backend's, :func:`step_mode`.
      checkpoint: resume from its snapshot when it has one, and save one every
        ``checkpoint.every`` steps; the result is then the uninterrupted run's (the keys of
        step t do not depend on where the run started).
    """
    batch = jax.tree_util.tree_leaves(variables)[0].shape[0]
    if len(keys) != batch:
        raise ValueError(f"{len(keys)} keys for a batch of {batch} images")
    state = init_state(objective.optimizer, variables)
    chunk = steps if not chunk else min(chunk, steps)
    losses, aux, done = [], [], 0
    if checkpoint is not None:
        saved = checkpoint.restore(state)
        if saved is not None:
            state, done = jax.tree_util.tree_map(jnp.asarray, saved.state), saved.done
            losses, aux = [np.asarray(saved.losses)], [dict(saved.aux)]
    last_saved = done
    mode = mode or step_mode()
    if mode not in ("scan", "step"):
        raise ValueError(f"mode {mode!r}: choose 'scan' or 'step'")
    while done < steps:
        n = min(chunk, steps - done)
        if mode == "scan":
            state, chunk_losses, chunk_aux = run_chunk(
                state, data, context, keys, jnp.int32(done), objective=objective, num_steps=n)
        else:
            parts = []
            for i in range(n):
                state, step_losses, step_aux = run_chunk(
                    state, data, context, keys, jnp.int32(done + i), objective=objective,
                    num_steps=1)
                parts.append((step_losses, step_aux))
            # numpy, not jnp: one concatenation program per chunk length would compile
            chunk_losses = np.concatenate([np.asarray(p[0]) for p in parts], axis=1)
            chunk_aux = jax.tree_util.tree_map(
                lambda *a: np.concatenate([np.asarray(x) for x in a], axis=1),
                *[p[1] for p in parts])
        losses.append(np.asarray(chunk_losses))
        aux.append(jax.tree_util.tree_map(np.asarray, chunk_aux))
        done += n
        if checkpoint is not None and done - last_saved >= checkpoint.every and done < steps:
            checkpoint.save(Snapshot(jax.tree_util.tree_map(np.asarray, state), done,
                                     np.concatenate(losses, axis=1), _joined(aux)))
            last_saved = done
        if callback is not None:
            callback(done, losses[-1][:, -1])
        if stop is not None and stop(losses[-1], aux[-1]):
            break
    aux = _joined(aux)
    return Result(state.variables, np.concatenate(losses, axis=1) if losses else
                  np.zeros((batch, 0)), aux, np.asarray(state.diverged_at))


def _joined(chunks: list[dict]) -> dict:
    """Per-chunk aux curves joined along the step axis."""
    return {k: np.concatenate([a[k] for a in chunks], axis=1) for k in chunks[0]} if chunks else {}


def check_finite(result: Result, names: Sequence[str] | None = None) -> None:
    """Raises :class:`DivergenceError` naming every image whose optimisation diverged."""
    bad = np.flatnonzero(result.diverged_at >= 0)
    if bad.size:
        if names is None:
            names = [f"image {b}" for b in range(len(result.diverged_at))]
        raise DivergenceError([(names[b], int(result.diverged_at[b])) for b in bad])


@contextlib.contextmanager
def compile_timer():
    """Yields a list that collects the durations of JAX's tracing and compilation events
    while the block runs (JAX's own monitoring events)."""
    durations = []

    def listen(event, seconds, **kwargs):
        if event.startswith("/jax/core/compile/"):
            durations.append(seconds)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield durations
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
