"""jaxinv.pooling.max_pool: PyTorch's max_pool2d (values, indices of the maxima, ceil_mode),
its gradient and Hessian, and a gradient without XLA's select-and-scatter."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinv.pooling import max_pool

# (window, stride, ceil_mode, input side): AlexNet's and SqueezeNet's pools, VGG's, odd sides
CASES = [(3, 2, False, 15), (3, 2, True, 14), (3, 2, True, 15), (2, 2, False, 9),
         (2, 2, True, 9), (3, 1, False, 6)]


@pytest.mark.parametrize("window,stride,ceil_mode,side", CASES)
def test_values_gradients_and_hessians_are_pytorchs(x64, window, stride, ceil_mode, side):
    torch = pytest.importorskip("torch", reason="the reference is PyTorch's max_pool2d")
    x = np.random.default_rng(side + window).standard_normal((2, side, side, 3))
    xt = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    yt, idx = torch.nn.functional.max_pool2d(xt, window, stride, ceil_mode=ceil_mode,
                                             return_indices=True)
    (yt ** 2).sum().backward()
    f = lambda x: jnp.sum(max_pool(x, window, stride, ceil_mode) ** 2)
    np.testing.assert_array_equal(max_pool(jnp.asarray(x), window, stride, ceil_mode),
                                  yt.detach().numpy().transpose(0, 2, 3, 1))
    np.testing.assert_allclose(jax.grad(f)(jnp.asarray(x)),
                               xt.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-12)
    # the Hessian of sum(pool(x)^2) is diagonal: 2 x how many windows x is the maximum of
    wins = np.zeros(x.shape[0] * 3 * side * side)
    flat = (idx.numpy() + side * side * np.arange(2 * 3).reshape(2, 3, 1, 1)).ravel()
    np.add.at(wins, flat, 2.0)
    want = wins.reshape(2, 3, side, side).transpose(0, 2, 3, 1).ravel()
    hess = jax.hessian(f)(jnp.asarray(x)).reshape(x.size, x.size)
    np.testing.assert_allclose(hess, np.diag(want), atol=1e-12)


def test_the_gradient_has_no_select_and_scatter():
    x = jnp.zeros((1, 16, 16, 4))

    def ops(pool):
        return jax.jit(jax.grad(lambda x: jnp.sum(pool(x) ** 2))).lower(x).as_text()

    assert "stablehlo.select_and_scatter" not in ops(lambda x: max_pool(x, 3, 2))
    assert "stablehlo.select_and_scatter" in ops(lambda x: nn.max_pool(x, (3, 3), (2, 2)))
    assert max_pool(jnp.zeros((1, 2, 2, 4)), 3, 2).shape == (1, 0, 0, 4)
