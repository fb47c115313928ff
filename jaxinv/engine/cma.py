"""The CMA-ES driver: evosax's CMA-ES (minimising) with its state kept on the device.

Every outer step is one compiled call: CMA asks a population of candidates, a caller-given
``evaluate`` scores them (and may return the members it made of them and an updated ``carry``),
CMA is told the candidates with their scores, and the best member so far is kept. The loop
itself stays in Python so that progress can be shown, but nothing is pulled to the host between
steps unless a ``callback`` asks for it. BasinCMA (:mod:`jaxinv.engine.basincma`) and
pix2latent's transform search both run on it.

Random keys: step t splits ``fold_in(loop_key, t)`` into ``2 + settings.eval_keys`` keys:
CMA's ask, CMA's tell, then the ``eval_keys`` keys handed to ``evaluate``.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class CMASettings:
    """outer_steps: CMA generations; population: candidates per generation; sigma: CMA's
    initial step size; eval_keys: how many per-step keys ``evaluate`` gets."""

    outer_steps: int
    population: int
    sigma: float = 1.0
    eval_keys: int = 1


class Best(NamedTuple):
    score: jax.Array      # scalar: the lowest score seen (inf before the first step)
    member: Any           # the member ``evaluate`` made of the candidate that scored it


class CMAResult(NamedTuple):
    best: Best
    history: np.ndarray   # [outer_steps]: the best score after each step


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
def _outer_step(es_state, es_params, best: Best, carry, operands, step_key, step, *, strategy,
                evaluate, eval_keys):
    keys = jax.random.split(step_key, 2 + eval_keys)
    x, es_state = strategy.ask(keys[0], es_state, es_params)
    scores, members, carry = evaluate(x, operands, carry, keys[2:], step)
    es_state, _ = strategy.tell(keys[1], x, scores, es_state, es_params)
    i = jnp.argmin(scores)
    better = scores[i] < best.score
    pick = lambda old, new: jnp.where(better, new[i], old)
    best = Best(jnp.where(better, scores[i], best.score),
                jax.tree_util.tree_map(pick, best.member, members))
    return es_state, best, carry


def minimize(evaluate: Callable, start, operands, carry, keys, settings: CMASettings,
             callback: Callable[[int, float], None] | None = None) -> CMAResult:
    """Runs ``settings.outer_steps`` CMA-ES generations from the mean ``start`` [d].

    Args:
      evaluate: ``(candidates [P, d], operands, carry, keys [eval_keys], step) -> (scores [P],
        members (pytree, leading axis P), carry)``; hashable (a module-level function or a
        ``functools.partial`` of one with hashable arguments), traced once per shape. Scores
        must be finite (map non-finite ones to a large number: CMA ranks them last).
      operands: arrays ``evaluate`` reads but does not change (variables, data, context), passed
        to the compiled step as arguments, never closed over. The step is compiled once per
        ``evaluate`` object: build it with :func:`evaluator` so that equal arguments give the
        same object across calls.
      carry: state ``evaluate`` updates from step to step (a pytree of arrays; may be empty).
      keys: ``(init_key, loop_key)``.
      callback: called after each step with ``(steps done, best score)`` (one host transfer).
    """
    start = jnp.ravel(jnp.asarray(start, jnp.float32))
    strategy = _strategy(settings.population, start.size)
    es_params = strategy.default_params.replace(std_init=settings.sigma)
    init_key, loop_key = keys
    # evosax's initial state holds weakly typed scalars that its first ``tell`` makes strong;
    # strong from the start, the outer step compiles once instead of twice.
    es_state = jax.tree_util.tree_map(lambda a: jax.lax.convert_element_type(a, a.dtype),
                                      strategy.init(init_key, start, es_params))
    x_shape = jax.ShapeDtypeStruct((settings.population, start.size), start.dtype)
    key_shape = jax.eval_shape(lambda k: jax.random.split(k, settings.eval_keys), loop_key)
    _, members, _ = jax.eval_shape(evaluate, x_shape, operands, carry, key_shape, 0)
    best = Best(jnp.asarray(jnp.inf, jnp.float32),
                jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape[1:], s.dtype), members))
    history = []
    for t in range(settings.outer_steps):
        es_state, best, carry = _outer_step(
            es_state, es_params, best, carry, operands, jax.random.fold_in(loop_key, t),
            jnp.int32(t), strategy=strategy, evaluate=evaluate, eval_keys=settings.eval_keys)
        history.append(best.score)
        if callback is not None:
            callback(t + 1, float(best.score))
    return CMAResult(best, np.asarray(jnp.stack(history)) if history else np.zeros((0,)))
