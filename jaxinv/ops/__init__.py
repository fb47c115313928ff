"""Forward operators (degradations) for inverse problems.

An :class:`Operator` is a pair of pure functions of ``(op_params, x)``: ``apply`` maps images
x [B, H, W, 3] in [-1, 1] to measurements y, and for linear operators ``adjoint`` maps
measurements back (``<A x, y> = <x, A^T y>``). ``op_params`` is a pytree of arrays (a mask,
random signs) so operators pass through ``jit`` and ``vmap`` as data.
"""

from jaxinv.ops.base import Operator
from jaxinv.ops.degradations import (add_gaussian_noise, brightness, build, downsample,
                                     grayscale, identity, inpaint)
from jaxinv.ops.circulant import compressed_sensing
from jaxinv.ops.spatial import (affine_grid_sample, geometric_shift, inverse_transform, rotate,
                                spatial_transform)

__all__ = ["Operator", "add_gaussian_noise", "brightness", "build", "downsample", "grayscale",
           "identity", "inpaint", "compressed_sensing", "affine_grid_sample",
           "geometric_shift", "inverse_transform", "rotate", "spatial_transform"]
