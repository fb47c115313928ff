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
library's form (kept so by optimisation barriers). A strided convolution's input term is
written on the input's phases (space to depth, :func:`_phases`) as a stride-1 convolution, whose
transpose is again a plain convolution: autodiff's transpose convolves the cotangent dilated by
the stride (AlexNet's first layer, 256 px, batch 8: 46 ms, against 11 ms for the phases and 6 ms
for the forward). Values and derivatives of every order are unchanged. Only on the CPU
backend: elsewhere the terms are autodiff's own (not measured on a GPU with the rewrite, and
cuDNN takes any of these forms).
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
        if cpu and strides != (1, 1) and lhs_dilation == (1, 1):
            # as a stride-1 convolution of dx's phases: the transpose of a strided convolution
            # dilates the cotangent, which XLA:CPU convolves 7x slower than the forward
            dx, k = _phases(dx, kernel, strides, padding)
            dy = dy + lax.conv_general_dilated(dx, _swapped(k), (1, 1), "VALID",
                                               dimension_numbers=_SWAPPED)
        elif cpu:
            dy = dy + conv(dx, _swapped(kernel), dimension_numbers=_SWAPPED)
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


def _swapped(kernel):
    """The kernel as HWOI for an input tangent term, whose transpose (the input gradient) then
    reads it as HWIO. It is stored spatially reversed behind the barrier: the transpose reverses
    the kernel again, the two reversals cancel, and what is left depends on the kernel alone, so
    XLA computes it once outside the engine's loop instead of reversing every kernel each step."""
    stored = lax.optimization_barrier(jnp.swapaxes(kernel, 2, 3)[::-1, ::-1])
    return stored[::-1, ::-1]


def _phases(x, kernel, strides, padding):
    """``(x', kernel')`` with ``conv(x, kernel, strides, padding)`` equal to the stride-1 VALID
    ``conv(x', kernel')``: the padded x split into its s x t phases along the channels (space
    to depth, [B, H/s, W/t, s t C]) and the kernel alike (zero taps appended to a multiple of
    the stride)."""
    (s, t), (kh, kw) = strides, kernel.shape[:2]
    b, h, w, c = x.shape
    if isinstance(padding, str):
        padding = lax.padtype_to_pads((h, w), (kh, kw), strides, padding)
    (top, bottom), (left, right) = padding
    ah, aw = -(-kh // s), -(-kw // t)  # kernel taps per phase
    hn = ((h + top + bottom - kh) // s + ah) * s  # the rows the phases cover
    wn = ((w + left + right - kw) // t + aw) * t
    x = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (top, hn - h - top, 0),
                                            (left, wn - w - left, 0), (0, 0, 0)))
    x = x.reshape(b, hn // s, s, wn // t, t, c).transpose(0, 1, 3, 2, 4, 5)
    k = jnp.pad(kernel, ((0, ah * s - kh), (0, aw * t - kw), (0, 0), (0, 0)))
    k = k.reshape(ah, s, aw, t, c, -1).transpose(0, 2, 1, 3, 4, 5)
    return x.reshape(b, hn // s, wn // t, s * t * c), k.reshape(ah, aw, s * t * c, -1)


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
