"""BasinCMA (Huh et al., ECCV 2020): CMA-ES outside, gradient steps inside, per image.

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
The outer loop is the CMA driver :func:`jaxinv.engine.cma.minimize` (one compiled call per
generation, state on the device); the final steps are :func:`jaxinv.engine.optimize`. A batch
of images is searched side by side: one CMA per image, the images ``vmap``-ed (and split over
devices with the batch), each image's population ``vmap``-ed inside; image b's numbers are those
it gets alone. The memory of one generation grows with batch x population.
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxinv.engine import cma
from jaxinv.engine.loop import Objective, Result, init_state, optimize, run_chunk


@dataclasses.dataclass(frozen=True)
class BasinCMASettings:
    """outer_steps: CMA generations; inner_steps: optimiser steps per member and generation
    (0 = plain CMA-ES); final_steps: optimiser steps on the best member afterwards;
    population: 0 = pycma's default; sigma: CMA's initial step size; chunk: final steps per
    compiled call (0 = all); vectorize: False runs the members' inner loops one after another
    (the same compiled step on a batch of one), for benchmarking what the ``vmap`` buys."""

    outer_steps: int
    inner_steps: int
    final_steps: int
    population: int = 0
    sigma: float = 1.0
    chunk: int = 0
    vectorize: bool = True

    @property
    def units(self) -> int:
        """The progress units one image reports: generations, then final steps."""
        return self.outer_steps + self.final_steps


class BasinCMAResult(NamedTuple):
    result: Result            # the final optimisation of each image's best member (batched)
    best_fitness: np.ndarray  # [B, outer_steps]: each image's best post-inner-loop loss so far
    evaluations: int          # loss-and-gradient (or loss) evaluations spent per image, final
                              # steps included


def default_population(dim: int) -> int:
    """pycma's default population size ``4 + floor(3 ln d)``."""
    return 4 + int(math.floor(3 * math.log(dim)))


def broadcast(tree, n: int):
    """Every leaf repeated along a new leading axis of size n (one copy per member)."""
    return jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (n,) + jnp.shape(a)), tree)


def evaluate_members(objective: Objective, score_fn, members, data, context, keys,
                     inner_steps: int, group: int):
    """One generation's work on a population (leading axis of ``members``, ``data``,
    ``keys``): project the asked members, run ``inner_steps`` optimiser steps of the objective
    from a fresh optimiser state (``group`` members per vmapped batch), then score every member
    with ``score_fn`` (non-finite scores become the largest float, so CMA ranks them last).
    Returns ``(members after the inner steps, scores [P])``."""
    if objective.project is not None:
        members = jax.vmap(objective.project, in_axes=(0, None, None))(members, context, -1)
    if inner_steps:
        members = _inner_loop(objective, members, data, context, keys, inner_steps, group)
    scores = jax.vmap(lambda v, d, k: score_fn(v, d, context, jax.random.fold_in(k, inner_steps),
                                                inner_steps)[0])(members, data, keys)
    return members, jnp.where(jnp.isfinite(scores), scores, jnp.finfo(scores.dtype).max)


def _inner_loop(objective, members, data, context, keys, steps, group):
    """``steps`` optimiser steps on every member, ``group`` members per batch."""
    out = []
    for start in range(0, len(keys), group):
        part = lambda tree: jax.tree_util.tree_map(lambda a: a[start:start + group], tree)
        state, _, _ = run_chunk(init_state(objective.optimizer, part(members)), part(data),
                                context, part(keys), jnp.int32(0), objective=objective,
                                num_steps=steps)
        out.append(state.variables)
    return jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *out)


def _evaluate_basin(objective, name, inner_steps, group, x, operands, carry, keys, step):
    """CMA's candidates x [P, d] as values of ``variables[name]``, after the inner steps."""
    (variables, data), context = operands
    pop = x.shape[0]
    members = {**broadcast(variables, pop), name: x.reshape((pop,) + variables[name].shape)}
    members, scores = evaluate_members(objective, objective.loss_fn, members, broadcast(data, pop),
                                       context, jax.random.split(keys[0], pop), inner_steps,
                                       group)
    return scores, members, carry


def basin_cma(objective: Objective, variables, name: str, data, context, keys,
              settings: BasinCMASettings, callback=None) -> BasinCMAResult:
    """Runs BasinCMA for a batch of images, side by side.

    Args:
      objective: one image's loss, optimiser and projection (as for
        :func:`jaxinv.engine.optimize`).
      variables: the images' starting variables (batched, leading axis B);
        ``variables[name]`` is searched by CMA (each image's starting value is its CMA's initial
        mean).
      data: the images' data (batched); broadcast to each image's population.
      keys: one PRNG key per image [B] for its CMA's samples and its losses' randomness.
      callback: ``(units done, last losses [B])`` after each generation (units
        1..outer_steps) and each chunk of the final steps (outer_steps + steps done).
    """
    starts = jax.vmap(jnp.ravel)(variables[name])
    pop = settings.population or default_population(starts.shape[1])
    k_init, k_loop, k_final = jnp.moveaxis(jax.vmap(lambda k: jax.random.split(k, 3))(keys),
                                           1, 0)
    evaluate = cma.evaluator(_evaluate_basin, objective, name, settings.inner_steps,
                             pop if settings.vectorize else 1)
    found = cma.minimize(evaluate, starts, ((variables, data), context), (), (k_init, k_loop),
                         cma.CMASettings(settings.outer_steps, pop, settings.sigma), callback)
    best = found.best.member if settings.outer_steps else variables
    result = optimize(objective, best, data, context, k_final, settings.final_steps,
                      chunk=settings.chunk or None,
                      callback=None if callback is None else
                      lambda n, last: callback(settings.outer_steps + n, last))
    evaluations = settings.outer_steps * pop * (settings.inner_steps + 1) + settings.final_steps
    return BasinCMAResult(result, found.history, evaluations)
