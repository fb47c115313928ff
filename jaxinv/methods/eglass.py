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

This module holds the algorithm on eigenpairs and latents; it is the first part of the
method (the runner's config, the report and the PULSE-style baseline come with it later).
"""

from __future__ import annotations

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
