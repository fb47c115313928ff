"""Splitting a batch of images over devices with ``jax.sharding``.

Every image of a batch is optimised independently (the engine vmaps one image's steps), so a
batch splits over a one-axis :class:`~jax.sharding.Mesh` (axis ``'data'``) with no
communication: the batched arrays (variables, per-image data, keys) are placed with their
leading axis sharded, the shared context replicated, and the compiled programs that receive
them are partitioned by XLA. An image's key is ``fold_in(seed, index in the run)``, never a
function of the device, so a run's numbers do not depend on how many devices ran it.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"


def device_count_for(batch: int, devices: int = 0) -> int:
    """How many devices a batch of ``batch`` images is split over: the largest divisor of
    ``batch`` that is at most ``devices`` (0: every local device), so that each device gets
    the same number of images."""
    available = jax.local_device_count()
    limit = available if devices <= 0 else min(devices, available)
    return max(d for d in range(1, limit + 1) if batch % d == 0)


def batch_mesh(batch: int, devices: int = 0) -> Mesh | None:
    """The mesh a batch of ``batch`` images is split over, or None when that is one device."""
    n = device_count_for(batch, devices)
    if n == 1:
        return None
    return Mesh(np.asarray(jax.local_devices()[:n]), (AXIS,))


def split_batch(tree, mesh: Mesh):
    """``tree``'s arrays (each with the batch on axis 0) placed with axis 0 split over
    ``mesh``."""
    sharding = NamedSharding(mesh, PartitionSpec(AXIS))
    return jax.device_put(tree, sharding)


def replicate(tree, mesh: Mesh):
    """``tree``'s arrays copied to every device of ``mesh``."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
