"""Learning-rate schedules as optax schedules (``step -> lr``), built from a name.

- ``constant``: ``peak``.
- ``cosine``: linear warm-up over ``rampup`` of the steps, then cosine decay to 0.
- ``ramp``: the StyleGAN2 projector's schedule: linear ramp-up over the first ``rampup`` fraction
  and cosine ramp-down over the last ``rampdown`` fraction (rosinality ``get_lr``).
- ``linear``: linear ramp-up over ``rampup`` and linear ramp-down over ``rampdown``
  (``trapezoid`` is the same shape, the name used by SPHInX's paper).
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

KINDS = ("constant", "cosine", "ramp", "linear", "trapezoid")


def make_schedule(kind: str, peak: float, steps: int, rampup: float = 0.05,
                  rampdown: float = 0.25) -> optax.Schedule:
    """Returns ``schedule(step)``; ``rampup``/``rampdown`` are fractions of ``steps``."""
    if kind not in KINDS:
        raise ValueError(f"unknown learning-rate schedule {kind!r}; choose one of {KINDS}")
    steps = max(int(steps), 1)
    if kind == "constant":
        return optax.constant_schedule(peak)
    if kind == "cosine":
        warm = int(rampup * steps)
        return optax.warmup_cosine_decay_schedule(0.0, peak, max(warm, 1), steps, 0.0) if warm \
            else optax.cosine_decay_schedule(peak, steps)

    def schedule(step):
        t = jnp.asarray(step, jnp.float32) / steps
        up = jnp.minimum(1.0, t / rampup) if rampup > 0 else 1.0
        down = jnp.minimum(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
        if kind == "ramp":
            down = 0.5 - 0.5 * jnp.cos(down * jnp.pi)
        return peak * up * jnp.maximum(down, 0.0)

    return schedule
