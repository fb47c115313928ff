"""The VGG16 feature loss of mGANprior (genforce ``VGGLoss``): images in [-1, 1] are mapped to
[0, 1], normalised with the ImageNet mean and std, resized to ``size`` by nearest neighbour (as
PyTorch's ``F.interpolate(mode='nearest')``), passed through torchvision VGG16 up to relu3_3
(``features[:16]``), and compared with the mean absolute difference, times 0.001.

The backbone params are the Flax VGG16 of :mod:`jaxinv.losses.lpips` (``params['backbone']`` of
a converted LPIPS-VGG directory holds exactly torchvision's ImageNet VGG16 features).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from jaxinv.losses.lpips import VGG16Features

_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


def resize_nearest(x, size: int):
    """PyTorch-style nearest resizing of [B, H, W, C] to [B, size, size, C]
    (source index ``floor(i * H / size)``)."""
    rows = (np.arange(size) * x.shape[1]) // size
    cols = (np.arange(size) * x.shape[2]) // size
    return x[:, rows][:, :, cols]


def vgg_features(backbone, x, size: int = 256, blocks: int = 3):
    """VGG16 features (relu3_3 for ``blocks`` = 3) of images x [B, H, W, 3] in [-1, 1]."""
    x = ((x * 0.5 + 0.5) - _MEAN) / _STD
    return VGG16Features(blocks=blocks).apply({"params": backbone}, resize_nearest(x, size))[-1]


def vgg_l1(backbone, x, y, size: int = 256, y_features=None):
    """mGANprior's perceptual loss [B]; ``y_features``: y's :func:`vgg_features` when the
    caller has them already (a fixed target's are computed once, not every step)."""
    fx = vgg_features(backbone, x, size)
    fy = vgg_features(backbone, y, size) if y_features is None else y_features
    return 0.001 * jnp.mean(jnp.abs(fx - fy), axis=(1, 2, 3))
