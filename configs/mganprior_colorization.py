"""mGANprior colorization on PGGAN with genforce's settings (see ``jaxinv.experiments.config_base``).
Needs a VGG16 backbone for the perceptual loss: ``--config.perceptual.path=DIR`` (a
converted LPIPS-VGG, ``converters/lpips_torch.py --net vgg``), and for real use
``--config.checkpoint`` (``converters/pggan_genforce.py``) and ``--config.input``."""

from jaxinv.experiments.config_base import mganprior_config


def get_config():
    return mganprior_config("colorization")
