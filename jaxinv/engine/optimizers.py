"""Per-variable optax optimisers.

Variables are a dict of named pytrees (``{'wplus': ..., 'noise': [...]}``); each top-level name
gets its own optimiser and learning-rate schedule, combined with ``optax.multi_transform``.
"""

from __future__ import annotations

from typing import Mapping

import optax

from jaxinv.engine.schedules import make_schedule

def _lbfgs(learning_rate, **kwargs):
    """L-BFGS with a fixed step size: the engine's step does not hand the loss to the
    optimiser, so there is no line search."""
    return optax.lbfgs(learning_rate=learning_rate, linesearch=None, **kwargs)


OPTIMIZERS = {"adam": optax.adam, "sgd": optax.sgd, "adamw": optax.adamw, "lbfgs": _lbfgs}


def build_optimizer(variables: Mapping, learning_rates: Mapping[str, Mapping], steps: int,
                    name: str = "adam", **kwargs) -> optax.GradientTransformation:
    """Builds one optimiser for a dict of variables.

    Args:
      variables: dict of named pytrees (one image's variables; only the keys are used).
      learning_rates: ``{name: {'lr': peak, 'schedule': kind, 'rampup': f, 'rampdown': f}}``;
        a name absent here, or with ``lr`` 0, is frozen.
      steps: number of optimisation steps (for the schedules).
      name: ``adam``, ``sgd``, ``adamw`` or ``lbfgs`` (fixed step, no line search);
        ``kwargs`` go to it (e.g. ``b1``).
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}")
    unknown = set(learning_rates) - set(variables)
    if unknown:
        raise ValueError(f"learning rates given for {sorted(unknown)}, which are not variables "
                         f"({sorted(variables)})")
    transforms = {"frozen": optax.set_to_zero()}
    for key, spec in learning_rates.items():
        spec = dict(spec)
        if spec.get("lr", 0.0) == 0.0:
            continue
        schedule = make_schedule(spec.pop("schedule", "constant"), spec.pop("lr"), steps, **spec)
        transforms[key] = OPTIMIZERS[name](schedule, **kwargs)
    labels = {key: key if key in transforms else "frozen" for key in variables}
    return optax.multi_transform(transforms, labels)
