"""2-D convolutions (NHWC images, HWIO kernels) whose gradients run fast in loops on a CPU.

Inside a compiled loop (the engine's ``lax.scan`` of optimisation steps) XLA:CPU leaves the
gradient convolutions that autodiff makes in the forms autodiff writes them (the input
gradient with the kernel's input and output axes swapped, ``dim_labels=..._01oi->...``; the
kernel gradient with batch and feature axes swapped, ``f01b_i01o->01bf``) and emits them as
plain loops instead of calling its library convolution, which takes only ``b01f_01io->b01f``;
outside loops it transposes the operands first. A StyleGAN2 256 px W+ step ran 5x slower in a
scan than alone, and a kernel gradient 60x. :func:`conv2d` is ``lax.conv_general_dilated`` with
a derivative rule (``custom_jvp``, so forward mode and Hessians work as before) that writes
each tangent term on operands stored so that its transpose, the gradient, is already in the
library's form (kept so by optimisation barriers). Values and derivatives of every order are
unchanged. Only on the CPU backend: elsewhere the terms are autodiff's own (not measured on a
GPU with the rewrite, and cuDNN takes any of these forms).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

_NHWC = ("NHWC", "HWIO", "NHWC")
_SWAPPED = ("NHWC", "HWOI", "NHWC")


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def conv2d(x, kernel, strides=(1, 1), padding=((0, 0), (0, 0)), lhs_dilation=(1, 1)):
    """``lax.conv_general_dilated`` of x [B, H, W, Cin] with kernel [kh, kw, Cin, Cout].

    ``strides``, ``padding`` (pairs per spatial axis, or 'SAME' / 'VALID') and
    ``lhs_dilation`` as there; they must be hashable (tuples).
    """
    return lax.conv_general_dilated(x, kernel, strides, padding, lhs_dilation=lhs_dilation,
                                    dimension_numbers=_NHWC)


def _conv2d_jvp(strides, padding, lhs_dilation, primals, tangents):
    x, kernel = primals
    dx, dkernel = tangents
    conv = functools.partial(lax.conv_general_dilated, window_strides=strides, padding=padding,
                             lhs_dilation=lhs_dilation)
    y = conv2d(x, kernel, strides, padding, lhs_dilation)
    # other backends convolve in any form: the terms stay as autodiff writes them there
    cpu = jax.default_backend() == "cpu"
    dy = jnp.zeros_like(y)
    if not isinstance(dx, SymbolicZero):
        if cpu:  # the kernel stored as HWOI: the transpose (input gradient) reads it as HWIO
            swapped = lax.optimization_barrier(jnp.swapaxes(kernel, 2, 3))
            dy = dy + conv(dx, swapped, dimension_numbers=_SWAPPED)
        else:
            dy = dy + conv(dx, kernel, dimension_numbers=_NHWC)
    if not isinstance(dkernel, SymbolicZero):
        if cpu:  # x stored as CHWN, the kernel as IHWO, the output as HWNC: the transpose
            # (kernel gradient) reads x as its batch C, the cotangent as an HWIO kernel with
            # I = N, and writes C, k, k, O
            xt = lax.optimization_barrier(jnp.transpose(x, (3, 1, 2, 0)))
            dkt = lax.optimization_barrier(jnp.transpose(dkernel, (2, 0, 1, 3)))
            yt = conv(xt, dkt, dimension_numbers=("CHWN", "IHWO", "HWNC"))
            dy = dy + jnp.transpose(lax.optimization_barrier(yt), (2, 0, 1, 3))
        else:
            dy = dy + conv(x, dkernel, dimension_numbers=_NHWC)
    return y, dy


conv2d.defjvp(_conv2d_jvp, symbolic_zeros=True)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         precision=None):
    """A drop-in for ``lax.conv_general_dilated`` (e.g. ``flax.linen.Conv``'s
    ``conv_general_dilated``): NHWC / HWIO convolutions without kernel dilation or groups go
    through :func:`conv2d`, anything else to ``lax``."""
    nhwc = lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
    plain = (dimension_numbers in (None, _NHWC, nhwc) and feature_group_count == 1
             and precision is None and tuple(rhs_dilation or (1, 1)) == (1, 1)
             and lhs.ndim == 4)
    if not plain:
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                        rhs_dilation, dimension_numbers, feature_group_count,
                                        precision=precision)
    if not isinstance(padding, str):
        padding = tuple(tuple(int(p) for p in pair) for pair in padding)
    return conv2d(lhs, rhs, tuple(window_strides), padding, tuple(lhs_dilation or (1, 1)))
