"""The CMA-ES driver: evosax's CMA-ES (minimising) with its state kept on the device.

Every outer step is one compiled call: CMA asks a population of candidates, a caller-given
``evaluate`` scores them (and may return the members it made of them and an updated ``carry``),
CMA is told the candidates with their scores, and the best member so far is kept. The loop
itself stays in Python so that progress can be shown, but nothing is pulled to the host between
steps unless a ``callback`` asks for it. BasinCMA (:mod:`jaxinv.engine.basincma`) and
pix2latent's transform search both run on it.

A batch of independent searches (one per image) runs as one ``vmap``-ed program, so images are
searched side by side (and split over devices with the batch) rather than one after another.

Random keys: each search has its own ``(init_key, loop_key)``; its step t splits
``fold_in(loop_key, t)`` into ``2 + settings.eval_keys`` keys: CMA's ask, CMA's tell, then the
``eval_keys`` keys handed to ``evaluate``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.pytrees import first_of_batch


@dataclasses.dataclass(frozen=True)
class CMASettings:
    """outer_steps: CMA generations; population: candidates per generation; sigma: CMA's
    initial step size; eval_keys: how many per-step keys ``evaluate`` gets."""

    outer_steps: int
    population: int
    sigma: float = 1.0
    eval_keys: int = 1


class Best(NamedTuple):
    score: jax.Array      # the lowest score seen (inf before the first step), one per search
    member: Any           # the member ``evaluate`` made of the candidate that scored it


class CMAResult(NamedTuple):
    best: Best            # per search: score [B], member (leading axis B)
    history: np.ndarray   # [B, outer_steps]: each search's best score after each step


@functools.lru_cache(maxsize=32)
def _strategy(population: int, dim: int):
    """One CMA_ES object per (population, dimension), so its compiled steps are reused."""
    from evosax.algorithms import CMA_ES

    return CMA_ES(population, jnp.zeros((dim,)))


@functools.lru_cache(maxsize=64)
def evaluator(fn: Callable, *args) -> Callable:
    """``functools.partial(fn, *args)``, the same object for equal (hashable) arguments. The
    compiled outer step is keyed by ``evaluate``, and two partials are never equal even with
    the same arguments: built afresh per image, each image would compile its own step."""
    return functools.partial(fn, *args)


@functools.partial(jax.jit, static_argnames=("strategy", "evaluate", "eval_keys"))
def _outer_step(es_state, es_params, best: Best, carry, operands, loop_keys, step, *, strategy,
                evaluate, eval_keys):
    """One generation of every search of the batch (vmapped over the leading axis of
    ``es_state``, ``best``, ``carry``, ``operands[0]`` and ``loop_keys``)."""
    per_image, shared = operands

    def one(es_state, best, carry, per_image, loop_key):
        keys = jax.random.split(jax.random.fold_in(loop_key, step), 2 + eval_keys)
        x, es_state = strategy.ask(keys[0], es_state, es_params)
        scores, members, carry = evaluate(x, (per_image, shared), carry, keys[2:], step)
        es_state, _ = strategy.tell(keys[1], x, scores, es_state, es_params)
        i = jnp.argmin(scores)
        better = scores[i] < best.score
        pick = lambda old, new: jnp.where(better, new[i], old)
        best = Best(jnp.where(better, scores[i], best.score),
                    jax.tree_util.tree_map(pick, best.member, members))
        return es_state, best, carry

    return jax.vmap(one)(es_state, best, carry, per_image, loop_keys)


@functools.partial(jax.jit, static_argnames=("strategy",))
def _init(init_keys, starts, es_params, *, strategy):
    # evosax's initial state holds weakly typed scalars that its first ``tell`` makes strong;
    # strong from the start, the outer step compiles once instead of twice.
    states = jax.vmap(lambda k, s: strategy.init(k, s, es_params))(init_keys, starts)
    return jax.tree_util.tree_map(lambda a: jax.lax.convert_element_type(a, a.dtype), states)


def minimize(evaluate: Callable, starts, operands, carry, keys, settings: CMASettings,
             callback: Callable[[int, np.ndarray], None] | None = None) -> CMAResult:
    """Runs ``settings.outer_steps`` CMA-ES generations for each of a batch of B independent
    searches (one per image), from the means ``starts`` [B, d]. The searches run together: one
    compiled call per generation, ``vmap``-ed over the batch (and sharded with it when the
    per-image operands are split over devices); search b's numbers are those it would get alone.

    Args:
      evaluate: one search's generation, ``(candidates [P, d], (per_image, shared), carry,
        keys [eval_keys], step) -> (scores [P], members (pytree, leading axis P), carry)``;
        hashable (a module-level function or a ``functools.partial`` of one with hashable
        arguments), traced once per shape. Scores must be finite (map non-finite ones to a
        large number: CMA ranks them last).
      operands: ``(per_image, shared)``: arrays ``evaluate`` reads but does not change, with a
        leading batch axis (per_image: variables, data) or without (shared: the context);
        passed to the compiled step as arguments, never closed over. The step is compiled once
        per ``evaluate`` object: build it with :func:`evaluator` so that equal arguments give
        the same object across calls.
      carry: state ``evaluate`` updates from step to step (a pytree of arrays with the batch
        axis; may be empty).
      keys: ``(init_keys [B], loop_keys [B])``.
      callback: called after each step with ``(steps done, best scores [B])`` (one host
        transfer).
    Returns the best member and score of each search and its history [B, outer_steps].
    """
    starts = jnp.asarray(starts, jnp.float32)
    starts = starts.reshape(starts.shape[0], -1)
    batch, dim = starts.shape
    strategy = _strategy(settings.population, dim)
    es_params = strategy.default_params.replace(std_init=settings.sigma)
    init_keys, loop_keys = keys
    es_state = _init(init_keys, starts, es_params, strategy=strategy)
    x_shape = jax.ShapeDtypeStruct((settings.population, dim), starts.dtype)
    key_shape = jax.eval_shape(lambda k: jax.random.split(k, settings.eval_keys), loop_keys[0])
    first = lambda x, per_image, shared, carry, keys: evaluate(
        x, (first_of_batch(per_image), shared), first_of_batch(carry), keys, 0)
    _, members, _ = jax.eval_shape(first, x_shape, *operands, carry, key_shape)
    best = Best(jnp.full((batch,), jnp.inf, jnp.float32),
                jax.tree_util.tree_map(lambda s: jnp.zeros((batch,) + s.shape[1:], s.dtype),
                                       members))
    history = []
    for t in range(settings.outer_steps):
        es_state, best, carry = _outer_step(
            es_state, es_params, best, carry, operands, loop_keys, jnp.int32(t),
            strategy=strategy, evaluate=evaluate, eval_keys=settings.eval_keys)
        history.append(best.score)
        if callback is not None:
            callback(t + 1, np.asarray(best.score))
    return CMAResult(best, np.asarray(jnp.stack(history, axis=1)) if history
                     else np.zeros((batch, 0)))
