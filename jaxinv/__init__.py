"""jaxinv: GAN inversion as pure JAX functions.

Images inside the library are NHWC float32 in [-1, 1] unless a function says otherwise.

The notebook API (imported on first use): :func:`load_generator`, :func:`invert`,
:func:`load_lpips`, :class:`Job`, :class:`LossWeights`, :func:`degradation`; the registries
:mod:`jaxinv.methods` and :mod:`jaxinv.generators`.

Importing jaxinv sets one XLA:CPU flag before JAX starts (:mod:`jaxinv.xla_cpu`).
"""

from jaxinv import xla_cpu

__version__ = "0.1.0"

xla_cpu.prefer_eigen_convolutions()

_EXPORTS = {"load_generator": "jaxinv.api", "invert": "jaxinv.api", "load_lpips": "jaxinv.api",
            "Inversion": "jaxinv.api", "Job": "jaxinv.methods.base",
            "LossWeights": "jaxinv.methods.problem", "degradation": "jaxinv.inversion",
            "Degradation": "jaxinv.inversion"}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'jaxinv' has no attribute {name!r}")
