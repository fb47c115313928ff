"""jaxinv.convolution: the same numbers as lax (values, gradients, Hessians), inside a scanned
gradient step every convolution is in the form XLA:CPU's library runs (b01f_01io->b01f), a
strided convolution's input gradient convolves no dilated cotangent, and the engine's loop
reverses no kernel per step."""

import collections
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxinv import engine, inversion
from jaxinv.convolution import conv2d, conv_general_dilated
from jaxinv.generators import base as generators
from jaxinv.generators import dcgan
from jaxinv.methods import Job
from jaxinv.methods.problem import LossWeights

CASES = [((1, 1), ((1, 1), (1, 1)), (1, 1)),   # 'same' 3x3
         ((2, 2), ((0, 1), (1, 0)), (1, 1)),   # strided, uneven padding
         ((3, 3), "SAME", (1, 1)),             # stride = kernel size
         ((2, 1), ((2, 0), (0, 1)), (1, 1)),   # a different stride per axis
         ((1, 1), ((2, 2), (2, 2)), (2, 2)),   # a transposed convolution (DCGAN's form)
         ((1, 1), "VALID", (1, 1))]


def _lax(x, w, strides, padding, dilation):
    return lax.conv_general_dilated(x, w, strides, padding, lhs_dilation=dilation,
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


@pytest.mark.parametrize("backend", ["cpu", "gpu"])
@pytest.mark.parametrize("strides,padding,dilation", CASES)
def test_values_gradients_and_hessians_equal_lax(x64, monkeypatch, backend, strides, padding,
                                                 dilation):
    # the derivative rule writes CPU-specific forms on the CPU backend and autodiff's own
    # elsewhere; both branches are checked here, the second by naming another backend
    monkeypatch.setattr(jax, "default_backend", lambda: backend)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 5, 3), jnp.float64)
    w = jax.random.normal(jax.random.PRNGKey(1), (3, 3, 3, 4), jnp.float64)
    ours = lambda x, w: jnp.sum(jnp.tanh(conv2d(x, w, strides, padding, dilation)) ** 2)
    ref = lambda x, w: jnp.sum(jnp.tanh(_lax(x, w, strides, padding, dilation)) ** 2)
    np.testing.assert_allclose(conv2d(x, w, strides, padding, dilation),
                               _lax(x, w, strides, padding, dilation), rtol=1e-12)
    for a, b in zip(jax.grad(ours, (0, 1))(x, w), jax.grad(ref, (0, 1))(x, w)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for argnums in (0, 1):
        np.testing.assert_allclose(jax.hessian(ours, argnums)(x[:1], w),
                                   jax.hessian(ref, argnums)(x[:1], w), rtol=1e-10, atol=1e-12)
    # the drop-in routes flax-style calls (lists, dimension numbers) to it
    np.testing.assert_allclose(
        conv_general_dilated(x, w, list(strides), padding if isinstance(padding, str) else
                             [list(p) for p in padding], lhs_dilation=dilation,
                             dimension_numbers=lax.conv_dimension_numbers(
                                 x.shape, w.shape, ("NHWC", "HWIO", "NHWC"))),
        _lax(x, w, strides, padding, dilation), rtol=1e-12)


def _kernel_layouts(conv) -> collections.Counter:
    """The dim_labels of the convolutions XLA:CPU compiles for three scanned gradient steps
    of a two-layer network with respect to its input and its kernels."""

    def loss(x, ws):
        for w in ws:
            x = jnp.tanh(conv(x, w, (1, 1), ((1, 1), (1, 1)), (1, 1)))
        return jnp.mean(x ** 2)

    def steps(x, ws):
        def body(carry, _):
            x, ws = carry
            gx, gws = jax.grad(loss, (0, 1))(x, ws)
            return (x - 0.1 * gx, [w - 0.1 * g for w, g in zip(ws, gws)]), None
        return lax.scan(body, (x, ws), None, length=3)[0]

    ws = [jax.random.normal(jax.random.PRNGKey(i), (3, 3, 8, 8)) for i in range(2)]

    x = jnp.zeros((1, 8, 8, 8))
    text = jax.jit(steps).lower(x, ws).compile().as_text()
    return collections.Counter(re.search(r"dim_labels=([^,\s]+)", line).group(1)
                               for line in text.splitlines() if " convolution(" in line)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's convolution forms")
def test_scanned_gradients_take_the_library_convolution_form_only():
    assert set(_kernel_layouts(conv2d)) == {"b01f_01io->b01f"}
    # lax's own gradients keep autodiff's forms in the loop (what this module avoids)
    assert {"b01f_01oi->b01f", "f01b_i01o->01bf"} <= set(_kernel_layouts(_lax))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's convolution forms")
def test_strided_input_gradients_convolve_the_phases_not_a_dilated_cotangent():
    def convolutions(conv):
        x = jnp.zeros((2, 64, 64, 3))
        w = jax.random.normal(jax.random.PRNGKey(0), (11, 11, 3, 16))  # AlexNet's first layer
        grad = jax.grad(lambda x: jnp.sum(conv(x, w, (4, 4), ((2, 2), (2, 2)), (1, 1)) ** 2))
        text = jax.jit(grad).lower(x).compile().as_text()
        return [line for line in text.splitlines() if " convolution(" in line]

    assert not any("lhs_dilate" in line for line in convolutions(conv2d))
    assert any("lhs_dilate=4x4" in line for line in convolutions(_lax))


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA:CPU's loop-invariant code")
def test_the_engines_loop_reverses_no_kernel_per_step():
    """Inverting an image (a DCGAN's z optimised by the engine's compiled loop; fixed
    kernels): what the input gradients read is computed once before the loop, so the loop body
    has no reverse (it reversed every kernel each step before they were stored reversed)."""
    cfg = dcgan.DCGANConfig(100, (128, 64))
    gen = generators.Generator(generators.get("dcgan"), cfg,
                               dcgan.init_params(cfg, jax.random.PRNGKey(0)))
    job = Job(steps=5, loss=LossWeights(mse=1.0))
    solver = inversion.build_solver(gen, "z", {}, job, inversion.degradation("identity", 16))
    keys = inversion.image_keys(solver, [0])
    data = inversion.batch_data(solver, jnp.zeros((1, 16, 16, 3)), {}, [0])
    state = engine.loop.init_state(solver.objective.optimizer, engine.init_batch(
        solver.method.problem.init, keys, solver.context))
    run = functools.partial(engine.loop.run_chunk, objective=solver.objective, num_steps=5)
    text = jax.jit(run).lower(state, data, solver.context, keys, 0).compile().as_text()
    name = re.search(r"body=(%[\w.\-]+)", text).group(1)
    body = text[text.index("\n" + name + " ") + 1:].split("\n}\n")[0]
    assert "kind=kCustom" in body or " convolution(" in body  # the gradient convolutions
    assert "reverse" not in body  # no reverse op, nor a fusion that wraps one
