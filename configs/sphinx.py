"""SPHInX reconstruction (out-of-distribution images through projection heads).

    --config=configs/sphinx.py            the official preset (default)
    --config=configs/sphinx.py:paper      the paper's preset

Needs ``--config.lpips.path`` (LPIPS-VGG). Add ``--config.report.interpolate=8`` for
interpolation strips between consecutive images and ``--config.report.edit_direction=D.npy``
(``--config.report.edit_alphas='(-3,0,3)'``) for edits along a direction."""

from jaxinv.experiments.config_base import sphinx_config


def get_config(preset="official"):
    return sphinx_config(preset)
