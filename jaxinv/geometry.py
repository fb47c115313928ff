"""Exact latent geometry: the Hessian of an image distance at a latent, three ways.

For a render ``G: z -> image`` and an image distance ``D(x, y) -> scalar`` (MSE through an
operator, LPIPS, a perceptual loss), the metric tensor of Wang & Ponce (ICLR 2021) at ``z0`` is

    H(z0) = d^2/dz^2 D(G(z), G(z0)) at z = z0,

with ``G(z0)`` held fixed. GAN-Geometry (Animadversio/GAN-Geometry) gets it in PyTorch from
Hessian-vector products by double backprop, with ARPACK or row by row, and perturbs ``z0``
because LPIPS' gradient vanishes there; here every way is exact and composes with ``jit``:

- :func:`dense_hessian`: ``jax.hessian`` of the flattened latent (small latents);
- :func:`hessian_by_hvp`: forward-over-reverse Hessian-vector products, ``vmap``-ed over
  ``chunk`` basis vectors at a time (memory bounded by the chunk, so a 512-d latent on a large
  generator fits a GPU);
- :func:`lanczos_top`: the top-k eigenpairs by Lanczos with full reorthogonalisation on
  Hessian-vector products (very large latents such as a whole W+), never forming H.

Latents are any array (z [d], W+ [L, d], ...); Hessians are over its flattened entries
[n, n], ``n = z0.size``. Float64: enable ``jax_enable_x64`` and pass float64 params and
latents (:func:`as_float64`). :func:`eigen` sorts eigenpairs by decreasing eigenvalue, as the
spectrum plot (:func:`jaxinv.report.plots.spectrum`) shows them; :func:`eigenpairs` picks the
way by name.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp


def as_float64(tree):
    """Every floating leaf of ``tree`` as float64 (needs ``jax_enable_x64``)."""
    if not jax.config.jax_enable_x64:
        raise ValueError("float64 geometry needs jax_enable_x64 (jax.config.update("
                         "'jax_enable_x64', True))")
    return jax.tree_util.tree_map(
        lambda a: jnp.asarray(a, jnp.float64) if jnp.issubdtype(jnp.asarray(a).dtype,
                                                                jnp.floating) else a, tree)


def distance_to(render: Callable, distance: Callable, z0) -> Callable:
    """``f(z) = distance(render(z), render(z0))`` with the reference image held fixed (no
    gradient flows into it): the function whose Hessian at ``z0`` is the metric tensor."""
    reference = jax.lax.stop_gradient(render(z0))
    return lambda z: distance(render(z), reference)


def _flat(f: Callable, z0) -> tuple[Callable, jax.Array]:
    """``f`` as a function of the flattened latent, and the flattened ``z0``."""
    shape = jnp.shape(z0)
    return (lambda v: f(jnp.reshape(v, shape))), jnp.ravel(z0)


def dense_hessian(f: Callable, z0) -> jax.Array:
    """The exact Hessian [n, n] of scalar ``f`` at ``z0`` by ``jax.hessian``."""
    g, v0 = _flat(f, z0)
    return jax.hessian(g)(v0)


def hvp(f: Callable, z0, v) -> jax.Array:
    """``H(z0) v`` for a flattened direction ``v`` [n] (forward over reverse)."""
    g, v0 = _flat(f, z0)
    return jax.jvp(jax.grad(g), (v0,), (jnp.asarray(v, v0.dtype),))[1]


def hessian_by_hvp(f: Callable, z0, chunk: int = 16) -> jax.Array:
    """The exact Hessian [n, n], ``chunk`` Hessian-vector products at a time (one ``vmap``
    over that many basis vectors; ``lax.map`` over the chunks), symmetrised."""
    g, v0 = _flat(f, z0)
    n = v0.size
    chunk = max(1, min(chunk, n))
    blocks = -(-n // chunk)
    basis = jnp.eye(blocks * chunk, n, dtype=v0.dtype).reshape(blocks, chunk, n)
    grad = jax.grad(g)
    column = lambda e: jax.jvp(grad, (v0,), (e,))[1]
    rows = jax.lax.map(jax.vmap(column), basis).reshape(blocks * chunk, n)[:n]
    return 0.5 * (rows + rows.T)


class Eigen(NamedTuple):
    values: jax.Array   # [k], decreasing
    vectors: jax.Array  # [n, k], column i belongs to values[i]


def eigen(h) -> Eigen:
    """Eigenpairs of a symmetric matrix [n, n], by decreasing eigenvalue."""
    values, vectors = jnp.linalg.eigh(0.5 * (h + h.T))
    return Eigen(values[::-1], vectors[:, ::-1])


@functools.partial(jax.jit, static_argnames=("f", "k", "iterations"))
def lanczos_top(f: Callable, z0, k: int, iterations: int, key) -> Eigen:
    """The top ``k`` eigenpairs of H(z0) by ``iterations`` Lanczos steps (full
    reorthogonalisation) on Hessian-vector products. ``iterations`` >= ``k``; about 2k + 20
    gives the top eigenvalues to float precision for the spectra of generators, whose
    eigenvalues decay fast. ``f`` must be hashable (a module-level function or a
    ``functools.partial``): it is a static argument."""
    g, v0 = _flat(f, z0)
    n = v0.size
    m = min(iterations, n)
    if k > m:
        raise ValueError(f"k = {k} eigenpairs need at least {k} Lanczos iterations (got {m})")
    grad = jax.grad(g)
    apply = lambda v: jax.jvp(grad, (v0,), (v,))[1]
    q0 = jax.random.normal(key, (n,), v0.dtype)
    q0 = q0 / jnp.linalg.norm(q0)

    def step(i, carry):
        basis, alpha, beta = carry
        q = basis[i]
        w = apply(q)
        a = jnp.dot(w, q)
        # full reorthogonalisation against every vector so far (twice: classical Gram-Schmidt)
        mask = (jnp.arange(m) <= i)[:, None]
        for _ in range(2):
            w = w - (basis * mask).T @ ((basis * mask) @ w)
        b = jnp.linalg.norm(w)
        nxt = jnp.where(b > 1e-10 * jnp.maximum(1.0, jnp.abs(a)), w / b, 0.0)
        basis = basis.at[jnp.minimum(i + 1, m - 1)].set(
            jnp.where(i + 1 < m, nxt, basis[m - 1]))
        return basis, alpha.at[i].set(a), beta.at[i].set(b)

    basis = jnp.zeros((m, n), v0.dtype).at[0].set(q0)
    basis, alpha, beta = jax.lax.fori_loop(
        0, m, step, (basis, jnp.zeros((m,), v0.dtype), jnp.zeros((m,), v0.dtype)))
    tridiagonal = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
    values, vectors = jnp.linalg.eigh(tridiagonal)
    order = jnp.argsort(-values)[:k]
    ritz = basis.T @ vectors[:, order]
    return Eigen(values[order], ritz / jnp.linalg.norm(ritz, axis=0, keepdims=True))


WAYS = ("dense", "hvp", "lanczos")


def eigenpairs(f: Callable, z0, way: str = "hvp", chunk: int = 16, k: int = 0,
               key=None) -> Eigen:
    """Eigenpairs of H(z0) by decreasing eigenvalue, the Hessian taken ``way``: ``'dense'``
    (:func:`dense_hessian`) or ``'hvp'`` (:func:`hessian_by_hvp` with ``chunk``) give all n;
    ``'lanczos'`` gives the top ``k`` (:func:`lanczos_top`, 2k + 20 iterations, start drawn
    from ``key``) without forming H."""
    if way == "dense":
        return eigen(dense_hessian(f, z0))
    if way == "hvp":
        return eigen(hessian_by_hvp(f, z0, chunk))
    if way == "lanczos":
        return lanczos_top(f, z0, k, 2 * k + 20, key)
    raise ValueError(f"way {way!r}: choose one of {WAYS}")


def measurement_hessian(render: Callable, operator: Callable, z0) -> jax.Array:
    """``2 J^T A^T A J`` at ``z0`` (J the render's Jacobian, A the linear ``operator``): the
    Hessian of ``||A G(z) - A G(z0)||^2`` there, from one Jacobian (a check of the Hessians,
    and a cheaper way for linear measurements)."""
    g, v0 = _flat(lambda z: jnp.ravel(operator(render(z))), z0)
    j = jax.jacfwd(g)(v0)
    return 2.0 * j.T @ j


def squared_error(x, y):
    """``||x - y||^2``, the measurement distance whose Hessian is ``2 J^T A^T A J``."""
    return jnp.sum((x - y) ** 2)
