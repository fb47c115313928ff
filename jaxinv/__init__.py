"""jaxinv: GAN inversion as pure JAX functions.

Images inside the library are NHWC float32 in [-1, 1] unless a function says otherwise.
"""

__version__ = "0.1.0"
