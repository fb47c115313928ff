"""PmSFC inversion on PGGAN. ``--config=configs/pmsfc_inversion.py:official`` for the released code's
preset (default ``paper``). The first run discovers the channel subspaces (saved under
``<output_dir>/subspaces`` or ``--config.method.subspaces``) and later runs reuse them. The
paper preset's perceptual loss needs ``--config.perceptual.path`` (a converted LPIPS-VGG)."""

from jaxinv.experiments.config_base import pmsfc_config


def get_config(preset="paper"):
    return pmsfc_config("inversion", preset)
