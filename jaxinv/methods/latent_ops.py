"""Edits and interpolation in W+ for solved StyleGAN2 problems (any method with
``sample_wplus``/``render_wplus``).

- :func:`interpolate`: images along the straight line between two solutions: W+, the constant
  input and every other variable (noise maps) interpolated linearly.
- :func:`edit`: images of ``w* + alpha * D / ||D||`` (row-wise norm of the direction D
  [N_l, D] or [1, D]; a W+ with latent matrices [N_l, R, D] moves every row) for each alpha.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxinv.methods.problem import REPRESENTATIVE_KEY as _KEY


def interpolate(problem, variables_a, variables_b, context, num: int = 8):
    """Images [num, H, W, 3] from solution a (t = 0) to solution b (t = 1)."""
    ws_a, const_a = problem.sample_wplus(variables_a, context, _KEY)
    ws_b, const_b = problem.sample_wplus(variables_b, context, _KEY)

    def one(t):
        mixed = jax.tree_util.tree_map(lambda a, b: (1 - t) * a + t * b, variables_a,
                                       variables_b)
        return problem.render_wplus(mixed, context, (1 - t) * ws_a + t * ws_b,
                                    (1 - t) * const_a + t * const_b)[0]

    return jax.lax.map(one, jnp.linspace(0.0, 1.0, num))


def edit(problem, variables, context, direction, alphas):
    """Images [len(alphas), H, W, 3] of the solution moved along ``direction``."""
    ws, const = problem.sample_wplus(variables, context, _KEY)
    direction = jnp.asarray(direction, ws.dtype).reshape(-1, ws.shape[-1])
    direction = jnp.broadcast_to(direction.reshape(direction.shape[:1] + (1,) * (ws.ndim - 2)
                                                   + direction.shape[1:]), ws.shape)
    unit = direction / jnp.linalg.norm(direction, axis=-1, keepdims=True)
    alphas = jnp.asarray(alphas, ws.dtype).reshape((-1,) + (1,) * ws.ndim)
    return problem.render_wplus(variables, context, ws[None] + alphas * unit, const)
