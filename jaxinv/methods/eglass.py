"""e-GLASS: many solutions of a linear inverse problem from the latent geometry at one solution.

"Exploring the Solution Space of Linear Inverse Problems with GAN Latent Geometry" (ICIP
2022; no code released). From a solution ``z0`` of ``y = A G(z)`` (any inversion), two exact
Hessians at ``z0`` (:mod:`jaxinv.geometry`):

- ``H_Y`` of the measurement error ``||A G(z) - A G(z0)||^2`` (eigenvectors ``U``): directions
  with large eigenvalues change the measurements, the (near) null ones do not;
- ``H_X`` of the perceptual distance ``LPIPS(G(z), G(z0))`` (eigenvectors ``V``): directions
  with large eigenvalues change the image as people see it.

Algorithm 1: the direction ``d`` starts at ``v^K``, the K-th top eigenvector of ``H_X``, and is
projected off every *top* eigenvector of ``H_Y`` (those of eigenvalue above ``top_fraction``
of the largest: the measurement-changing ones) whose |correlation| with ``d`` exceeds
``threshold``, renormalised, and checked again until none does. The coupling ``C = U^T V``
and the correlations of ``v^K`` and ``d`` with both eigenbases are the paper's Figure 1. New
solutions are ``G(z0 + eta d)`` for a range of ``eta`` and for K, K-1, K-2, ...

This module holds the algorithm on eigenpairs and latents and :func:`explore`, the solutions
with their feasibility report; the runner's config, the report and the PULSE-style baseline
come with it later.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxinv.geometry import Eigen


class Direction(NamedTuple):
    """A direction of Algorithm 1 and how it was made."""

    d: np.ndarray             # [n], unit norm
    start: np.ndarray         # [n], v^K
    removed: tuple            # indices of the H_Y eigenvectors projected off, in order
    rounds: int               # projection rounds until no top correlation exceeded threshold


def top_measurement_vectors(h_y: Eigen, top_fraction: float) -> np.ndarray:
    """The eigenvectors of ``H_Y`` [n, t] whose eigenvalue exceeds ``top_fraction`` times the
    largest: the directions that change the measurements."""
    values = np.asarray(h_y.values)
    keep = values > top_fraction * values[0]
    return np.asarray(h_y.vectors)[:, keep]


def direction(h_x: Eigen, h_y: Eigen, k: int, threshold: float,
              top_fraction: float = 1e-3, max_rounds: int = 100) -> Direction:
    """Algorithm 1 for the K-th top eigenvector of ``H_X`` (``k`` counts from 1)."""
    if not 1 <= k <= np.shape(h_x.vectors)[1]:
        raise ValueError(f"K = {k}: H_X has {np.shape(h_x.vectors)[1]} eigenvectors")
    u = top_measurement_vectors(h_y, top_fraction)
    start = np.asarray(h_x.vectors, np.float64)[:, k - 1]
    d, removed = start.copy(), []
    for rounds in range(max_rounds + 1):
        corr = u.T @ d
        over = np.flatnonzero(np.abs(corr) > threshold)
        if over.size == 0:
            return Direction(d, start, tuple(removed), rounds)
        d = d - u[:, over] @ corr[over]
        norm = np.linalg.norm(d)
        if norm < 1e-12:
            raise ValueError(f"K = {k}: v^K lies in the span of the measurement-changing "
                             f"eigenvectors of H_Y; no direction is left")
        d = d / norm
        removed += [int(i) for i in over]
    raise ValueError(f"K = {k}: still correlated above {threshold} after {max_rounds} rounds")


def correlations(h_y: Eigen, h_x: Eigen, vectors) -> dict:
    """|correlation| of each of ``vectors`` [n, m] with the eigenvectors of ``H_Y`` and of
    ``H_X`` (Figure 1): ``{'H_Y': [m, n], 'H_X': [m, n]}``; and the coupling ``C = U^T V``."""
    vectors = np.asarray(vectors, np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=0, keepdims=True)
    return {"H_Y": np.abs(unit.T @ np.asarray(h_y.vectors)),
            "H_X": np.abs(unit.T @ np.asarray(h_x.vectors)),
            "coupling": np.asarray(h_y.vectors).T @ np.asarray(h_x.vectors)}


def moved(z0, d, etas):
    """Latents ``z0 + eta d`` [len(etas), *z0.shape] (``d`` flattened or shaped as ``z0``)."""
    z0 = jnp.asarray(z0)
    d = jnp.reshape(jnp.asarray(d, z0.dtype), z0.shape)
    return z0[None] + jnp.asarray(etas, z0.dtype).reshape((-1,) + (1,) * z0.ndim) * d[None]


def step_for(h: np.ndarray, d, change: float) -> float:
    """The step ``eta`` along ``d`` at which the quadratic model ``eta^2 / 2 d^T H d`` of a
    distance reaches ``change`` (to compare directions at the same perceptual change)."""
    d = np.asarray(d, np.float64).ravel()
    curvature = float(d @ np.asarray(h, np.float64) @ d)
    if curvature <= 0:
        raise ValueError("the distance does not grow along this direction (d^T H d <= 0)")
    return float(np.sqrt(2.0 * change / curvature))


@dataclasses.dataclass(frozen=True)
class Settings:
    """ks: the K of each direction (1 = the top eigenvector of H_X), e.g. (K, K-1, K-2);
    etas: the steps along each direction; threshold: Algorithm 1's correlation threshold;
    top_fraction: H_Y eigenvectors above this fraction of the largest eigenvalue count as
    measurement-changing; feasibility: the largest mean squared measurement error
    ``mean((A G(z) - y)^2)`` of a feasible solution (the paper: 1e-2 for super-resolution)."""

    ks: tuple = (5, 4, 3)
    etas: tuple = (-2.0, -1.0, 1.0, 2.0)
    threshold: float = 0.1
    top_fraction: float = 1e-3
    feasibility: float = 1e-2


class Solutions(NamedTuple):
    """One row per (K, eta): latents [m, *z0.shape], images [m, H, W, 3], and per row k, eta,
    measurement_error (mean squared, against y), lpips (to the first solution G(z0)) and
    feasible (measurement_error <= the threshold; infeasible rows are kept, flagged)."""

    latents: np.ndarray
    images: np.ndarray
    k: np.ndarray
    eta: np.ndarray
    measurement_error: np.ndarray
    lpips: np.ndarray
    feasible: np.ndarray
    directions: tuple  # the Direction of each K


def explore(render, measure, perceptual, z0, y, h_x: Eigen, h_y: Eigen,
            settings: Settings) -> Solutions:
    """New solutions ``G(z0 + eta d_K)`` for every K and eta of ``settings``. ``render(z) ->
    image [H, W, 3]``, ``measure(image) -> measurement`` (the linear A), ``perceptual(x, y) ->
    scalar`` (LPIPS), ``y`` the measurements; ``h_x``/``h_y`` the eigenpairs at ``z0``."""
    import jax

    found = tuple(direction(h_x, h_y, k, settings.threshold, settings.top_fraction)
                  for k in settings.ks)
    latents = jnp.concatenate([moved(z0, f.d, settings.etas) for f in found])
    first = render(z0)

    def score(z):
        image = render(z)
        return image, jnp.mean((measure(image) - y) ** 2), perceptual(image, first)

    images, errors, distances = jax.lax.map(score, latents)
    errors = np.asarray(errors)
    return Solutions(np.asarray(latents), np.asarray(images),
                     np.repeat(np.asarray(settings.ks), len(settings.etas)),
                     np.tile(np.asarray(settings.etas, np.float64), len(settings.ks)),
                     errors, np.asarray(distances), errors <= settings.feasibility, found)
