"""Small pytree helpers shared by ports, tests and methods."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def cast(tree, dtype):
    """Every floating array of a pytree cast to ``dtype`` (e.g. float64 for parity checks);
    integer and boolean leaves are left as they are."""
    return jax.tree_util.tree_map(
        lambda a: jnp.asarray(a, dtype) if jnp.issubdtype(jnp.asarray(a).dtype, jnp.floating)
        else a, tree)
