"""Edits and interpolation in W+ for solved StyleGAN2 problems (any method with
``sample_wplus``/``render_wplus``).

- :func:`interpolate`: images along the straight line between two solutions: W+, the constant
  input and every other variable (noise maps) interpolated linearly.
- :func:`edit`: images of ``w* + alpha * D / ||D||`` (row-wise norm of the direction D
  [N_l, D] or [1, D]; a W+ with latent matrices [N_l, R, D] moves every row) for each alpha.
- :func:`interpolation_quality`: the overparameterization paper's interpolation protocol
  (sec. 5.2): the midpoint image between two solutions and the perceptual path length of the
  line between them.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxinv.losses import lpips as lpips_lib
from jaxinv.methods.problem import REPRESENTATIVE_KEY as _KEY


def interpolate(problem, variables_a, variables_b, context, num: int = 8):
    """Images [num, H, W, 3] from solution a (t = 0) to solution b (t = 1)."""
    return _line(problem.sample_wplus, problem.render_wplus, variables_a, variables_b, context,
                 jnp.linspace(0.0, 1.0, num))


def _line(sample_wplus, render_wplus, variables_a, variables_b, context, ts):
    """Images [len(ts), H, W, 3] at the fractions ``ts`` of the way from solution a to b."""
    ws_a, const_a = sample_wplus(variables_a, context, _KEY)
    ws_b, const_b = sample_wplus(variables_b, context, _KEY)

    def one(t):
        mixed = jax.tree_util.tree_map(lambda a, b: (1 - t) * a + t * b, variables_a,
                                       variables_b)
        return render_wplus(mixed, context, (1 - t) * ws_a + t * ws_b,
                            (1 - t) * const_a + t * const_b)[0]

    return jax.lax.map(one, jnp.asarray(ts))


def interpolation_quality(problem, variables_a, variables_b, context, lpips_params,
                          lpips_net: str, segments: int = 5, lpips_size: int = 256):
    """The midpoint image [H, W, 3] of the line from solution a to b, and its perceptual path
    length: the LPIPS distances (on images resized to ``lpips_size``, as the loss) between
    consecutive points of ``segments`` equal segments, summed (scalar)."""
    return _interpolation_quality(variables_a, variables_b, context, lpips_params,
                                  sample_wplus=problem.sample_wplus,
                                  render_wplus=problem.render_wplus, lpips_net=lpips_net,
                                  segments=segments, lpips_size=lpips_size)


@functools.partial(jax.jit, static_argnames=("sample_wplus", "render_wplus", "lpips_net",
                                             "segments", "lpips_size"))
def _interpolation_quality(variables_a, variables_b, context, lpips_params, *, sample_wplus,
                           render_wplus, lpips_net, segments, lpips_size):
    ts = jnp.concatenate([jnp.linspace(0.0, 1.0, segments + 1), jnp.array([0.5])])
    frames = _line(sample_wplus, render_wplus, variables_a, variables_b, context, ts)
    path = lpips_lib.resize_for_lpips(frames[:-1], lpips_size)
    steps = lpips_lib.distance(lpips_net, lpips_params, path[:-1], path[1:])
    return frames[-1], jnp.sum(steps)


def edit(problem, variables, context, direction, alphas):
    """Images [len(alphas), H, W, 3] of the solution moved along ``direction``."""
    ws, const = problem.sample_wplus(variables, context, _KEY)
    rows = (1,) * (ws.ndim - 2)  # latent-matrix rows, if any, all move alike
    direction = jnp.broadcast_to(jnp.asarray(direction, ws.dtype).reshape(
        (-1,) + rows + ws.shape[-1:]), ws.shape)
    unit = direction / jnp.linalg.norm(direction, axis=-1, keepdims=True)
    alphas = jnp.asarray(alphas, ws.dtype).reshape((-1,) + (1,) * ws.ndim)
    return problem.render_wplus(variables, context, ws[None] + alphas * unit, const)
