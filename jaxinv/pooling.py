"""Max pooling whose derivatives are elementwise, so its gradient runs fast on a CPU.

``flax.linen.max_pool`` is ``lax.reduce_window``; its gradient is XLA's select-and-scatter,
which XLA:CPU runs 10-60x slower than the pooling itself (VGG16's first pool at 256 px, batch
8: 11 ms forward, 319 ms gradient), and its second derivatives go through select-and-gather.
:func:`max_pool` takes the maximum of the window's strided slices instead: the same values,
and derivatives made of slices, pads and selects (faster than a reshape and a max too).
Overlapping windows (AlexNet's and SqueezeNet's 3 x 3, stride 2) are taken along the columns,
then the rows: 6 slices instead of 9, and a gradient 2-4x faster (AlexNet's first pool at
256 px, batch 8: 4.9 against 2.3 ms); for VGG16's 2 x 2 windows, stride 2, the two passes
were slower than one (84 against 47 ms at batch 8).
At ties (equal values in one window) the gradient is shared between them instead of going to
the first; after a ReLU a tie is between zeros, whose gradient the ReLU zeroes anyway.
"""

from __future__ import annotations

import itertools

import jax.numpy as jnp
from jax import lax


def _out_size(size: int, window: int, stride: int, ceil_mode: bool) -> int:
    if not ceil_mode:
        return (size - window) // stride + 1
    out = -(-(size - window) // stride) + 1
    return out - 1 if (out - 1) * stride >= size else out  # the last window starts inside


def max_pool(x, window: int, stride: int, ceil_mode: bool = False):
    """PyTorch's ``max_pool2d(x, window, stride, ceil_mode=ceil_mode)`` (no padding) of x
    [B, H, W, C]: [B, H', W', C]."""
    b, h, w, c = x.shape
    oh, ow = (_out_size(s, window, stride, ceil_mode) for s in (h, w))
    if oh <= 0 or ow <= 0:  # the window is larger than the image
        return jnp.zeros((b, max(oh, 0), max(ow, 0), c), x.dtype)
    need_h, need_w = (oh - 1) * stride + window, (ow - 1) * stride + window
    if need_h > h or need_w > w:  # ceil_mode's last window reaches past the edge
        x = jnp.pad(x, ((0, 0), (0, max(0, need_h - h)), (0, max(0, need_w - w)), (0, 0)),
                    constant_values=-jnp.inf)
    if window > stride:  # overlapping windows: along the columns, then the rows
        return _strided_max(_strided_max(x, (2,), window, stride, (ow,)), (1,), window, stride,
                            (oh,))
    return _strided_max(x, (1, 2), window, stride, (oh, ow))


def _strided_max(x, axes, window: int, stride: int, sizes):
    """The maximum of the window's strided slices of x along ``axes`` jointly, ``sizes`` long."""
    out = None
    for offsets in itertools.product(range(window), repeat=len(axes)):
        start, limit, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
        for axis, offset, size in zip(axes, offsets, sizes):
            start[axis], strides[axis] = offset, stride
            limit[axis] = offset + (size - 1) * stride + 1
        part = lax.slice(x, start, limit, strides)
        out = part if out is None else jnp.maximum(out, part)
    return out
