"""BasinCMA (Huh et al., ECCV 2020): CMA-ES outside, gradient steps inside, on one image.

CMA-ES (``evosax.algorithms.CMA_ES``, minimising) searches one variable (e.g. z); every other
variable starts each outer step from its initial value. Each outer step asks the population,
runs ``inner_steps`` optimiser steps on every member from the asked point with a fresh optimiser
state (the population is the batch axis of :func:`jaxinv.engine.loop.run_chunk`: one ``vmap``-ed,
``lax.scan``-ned, jit-compiled call), and tells CMA the *asked* samples with their losses after
the inner steps (Baldwinian, as the released code does). The best member seen after its inner
steps is then optimised for ``final_steps`` more.

With ``inner_steps = 0`` this is plain CMA-ES on the loss (the paper's "CMA" baseline), and
"CMA then Adam" is ``inner_steps = 0`` with ``final_steps > 0``.

Population ``4 + floor(3 ln d)`` and initial sigma 1 are pycma's defaults (18 for d = 128).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxinv.engine.loop import Result, init_state, optimize, run_chunk


class BasinCMAResult(NamedTuple):
    result: Result            # the final optimisation of the best member (batch of 1)
    best_fitness: np.ndarray  # [outer_steps]: best post-inner-loop loss so far
    evaluations: int          # loss-and-gradient (or loss) evaluations spent, final steps included


def default_population(dim: int) -> int:
    """pycma's default population size ``4 + floor(3 ln d)``."""
    return 4 + int(math.floor(3 * math.log(dim)))


def _fitness(loss_fn, variables, data, context, keys, step):
    return jax.vmap(lambda v, d, k: loss_fn(v, d, context, jax.random.fold_in(k, step), step)[0],
                    in_axes=(0, 0, 0))(variables, data, keys)


_fitness_jit = jax.jit(_fitness, static_argnums=0)


def broadcast(tree, n: int):
    """Every leaf repeated along a new leading axis of size n (one copy per member)."""
    return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (n,) + jnp.shape(a)), tree)


def evaluate_members(loss_fn, score_fn, optimizer, project, members, data, context, keys,
                     inner_steps: int, group: int):
    """One outer step's work on a population (leading axis of ``members``, ``data``,
    ``keys``): project the asked members, run ``inner_steps`` optimiser steps of ``loss_fn``
    from a fresh optimiser state (``group`` members per compiled call), then score every member
    with ``score_fn`` (non-finite scores become the largest float, so CMA ranks them last).
    Returns ``(members after the inner steps, scores [P])``."""
    if project is not None:
        members = jax.vmap(project, in_axes=(0, None))(members, context)
    if inner_steps:
        members = _inner_loop(loss_fn, optimizer, project, members, data, context, keys,
                              inner_steps, group)
    scores = _fitness_jit(score_fn, members, data, context, keys, inner_steps)
    return members, jnp.where(jnp.isfinite(scores), scores, jnp.finfo(scores.dtype).max)


def _inner_loop(loss_fn, optimizer, project, members, data, context, keys, steps, group):
    """``steps`` optimiser steps on every member, ``group`` members per compiled call."""
    out = []
    for start in range(0, len(keys), group):
        part = lambda tree: jax.tree_util.tree_map(lambda a: a[start:start + group], tree)
        state, _, _ = run_chunk(init_state(optimizer, part(members)), part(data), context,
                                part(keys), jnp.int32(0), loss_fn=loss_fn, optimizer=optimizer,
                                project=project, num_steps=steps)
        out.append(state.variables)
    return jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *out)


def basin_cma(loss_fn: Callable, optimizer: optax.GradientTransformation, variables, name: str,
              data, context, key, *, outer_steps: int, inner_steps: int, final_steps: int,
              population: int | None = None, sigma: float = 1.0,
              project: Callable | None = None, chunk: int | None = None,
              vectorize: bool = True) -> BasinCMAResult:
    """Runs BasinCMA for one image.

    Args:
      loss_fn, optimizer, project: as for :func:`jaxinv.engine.optimize` (one image's loss).
      variables: one image's starting variables (unbatched); ``variables[name]`` is searched by
        CMA (its starting value is CMA's initial mean).
      data: one image's data (unbatched); broadcast to the population.
      key: PRNG key for CMA's samples and the losses' randomness.
      vectorize: False runs the members' inner loops one after another (the same compiled step
        on a batch of one), for benchmarking what the ``vmap`` buys.
    """
    from evosax.algorithms import CMA_ES

    start = jnp.ravel(variables[name])
    dim = start.size
    pop = population or default_population(dim)
    es = CMA_ES(pop, start)
    params = es.default_params.replace(std_init=sigma)
    k_init, k_loop, k_final = jax.random.split(key, 3)
    state = es.init(k_init, start, params)
    ask, tell = jax.jit(es.ask), jax.jit(es.tell)
    data_p = broadcast(data, pop)
    best_f, best_v, history = np.inf, variables, []
    for t in range(outer_steps):
        k_ask, k_tell, k_members = jax.random.split(jax.random.fold_in(k_loop, t), 3)
        x, state = ask(k_ask, state, params)
        members = {**broadcast(variables, pop), name: x.reshape((pop,) + variables[name].shape)}
        members, fitness = evaluate_members(
            loss_fn, loss_fn, optimizer, project, members, data_p, context,
            jax.random.split(k_members, pop), inner_steps, pop if vectorize else 1)
        state, _ = tell(k_tell, x, fitness, state, params)
        i = int(jnp.argmin(fitness))
        if float(fitness[i]) < best_f:
            best_f = float(fitness[i])
            best_v = jax.tree_util.tree_map(lambda a: a[i], members)
        history.append(best_f)
    batched = jax.tree_util.tree_map(lambda a: a[None], best_v)
    result = optimize(loss_fn, optimizer, batched,
                      jax.tree_util.tree_map(lambda a: a[None], data), context, k_final[None],
                      final_steps, project=project, chunk=chunk)
    evaluations = outer_steps * pop * (inner_steps + 1) + final_steps
    return BasinCMAResult(result, np.asarray(history), evaluations)
