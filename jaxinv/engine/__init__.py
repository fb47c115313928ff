"""The optimisation engine: knows nothing about any paper.

``schedules`` builds learning-rate schedules, ``optimizers`` per-variable optax optimisers,
``regularizers`` the common latent/noise penalties and projections, ``loop`` the jit-compiled,
``lax.scan``-ned, ``vmap``-ped per-image optimisation with its non-finite guard (the chunked
driver, with an optional stopping rule), ``cma`` the CMA-ES driver over evosax with its state
kept on the device, and ``basincma`` BasinCMA on top of both.
"""

from jaxinv.engine.loop import (Checkpoint, DivergenceError, EngineState, Objective, Result,
                                Snapshot, check_finite, compile_timer, init_batch,
                                optimize)
from jaxinv.engine.optimizers import build_optimizer
from jaxinv.engine.schedules import make_schedule

__all__ = ["Checkpoint", "DivergenceError", "EngineState", "Objective", "Result", "Snapshot",
           "check_finite", "compile_timer", "init_batch", "optimize",
           "build_optimizer", "make_schedule"]
