"""The forward-operator type every degradation returns."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax


class Operator(NamedTuple):
    """A forward operator ``y = apply(op_params, x)``.

    ``adjoint(op_params, y)`` is given for linear operators (``None`` otherwise); ``image_like``
    says whether y is an image [B, h, w, 3] (so image losses such as LPIPS apply to it).
    """

    name: str
    apply: Callable[[Any, jax.Array], jax.Array]
    adjoint: Callable[[Any, jax.Array], jax.Array] | None
    image_like: bool = True

    @property
    def linear(self) -> bool:
        return self.adjoint is not None
