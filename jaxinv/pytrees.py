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


@jax.jit
def batch_of_one(tree):
    """Every leaf with a new leading axis of size 1, as one compiled program (op by op, every
    leaf shape compiles a broadcast of its own: dozens for a generator's weights)."""
    return jax.tree_util.tree_map(lambda a: a[None], tree)


@jax.jit
def first_of_batch(tree):
    """Every leaf's first entry along its leading axis; the inverse of :func:`batch_of_one`."""
    return jax.tree_util.tree_map(lambda a: a[0], tree)


@jax.jit
def stacked(trees):
    """One pytree whose leaves stack the corresponding leaves of ``trees`` (a list of pytrees
    of one structure) along a new leading axis; the inverse of indexing every leaf."""
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *trees)


class _Draws:
    """Slices of one flat draw of U(-1, 1), handed out as normal or uniform arrays."""

    def __init__(self, flat=None):
        self.flat, self.position, self.shapes = flat, 0, []

    def _take(self, shape):
        import math

        shape = tuple(shape)
        if self.flat is None:  # the counting pass
            self.shapes.append(shape)
            return jnp.zeros(shape)
        size = math.prod(shape)
        u = self.flat[self.position:self.position + size].reshape(shape)
        self.position += size
        return u

    def normal(self, shape):
        """N(0, 1), by the inverse CDF as ``jax.random.normal`` does."""
        return jnp.sqrt(2.0) * jax.scipy.special.erfinv(self._take(shape))

    def uniform(self, shape, minval=0.0, maxval=1.0):
        return minval + (self._take(shape) + 1.0) * 0.5 * (maxval - minval)


def from_one_draw(key, build):
    """``build(draws)`` where every ``draws.normal(shape)`` and ``draws.uniform(shape, lo,
    hi)`` is a slice of one flat random draw.

    Random initialisers draw once per parameter; each ``jax.random`` call with its own key
    inlines one threefry kernel, which made a model's jitted init compile for seconds. One draw
    of the total size compiles in a fraction of a second. ``build`` runs twice (first only to
    count the sizes; under ``jit`` that pass is dead code)."""
    import math

    counting = _Draws()
    build(counting)
    total = sum(math.prod(s) for s in counting.shapes)
    low = jnp.nextafter(jnp.float32(-1.0), jnp.float32(0.0))
    return build(_Draws(jax.random.uniform(key, (total,), minval=low, maxval=1.0)))


def from_one_normal_draw(key, build):
    """``build(normal)`` with every ``normal(shape)`` N(0, 1) from one draw
    (:func:`from_one_draw`)."""
    return from_one_draw(key, lambda draws: build(draws.normal))
