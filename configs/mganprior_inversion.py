"""mGANprior inversion (layer 6, 30 codes), genforce's settings.

The perceptual loss needs a VGG16 backbone: ``--config.perceptual.path=DIR`` (an LPIPS-VGG
converted by ``converters/lpips_torch.py --net vgg``). For real use also set
``--config.checkpoint`` (``converters/pggan_genforce.py``) and ``--config.input``.
"""

from jaxinv.experiments.config_base import mganprior_config


def get_config():
    return mganprior_config("inversion")
