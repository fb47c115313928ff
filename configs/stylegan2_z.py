"""Z-space inversion: one z ~ N(0, I) through the mapping network, Adam lr 0.05 with the
projector's ramp, MSE + LPIPS-VGG, 2000 steps. Needs ``--config.lpips.path`` (or
``--config.loss.lpips=0``)."""

from jaxinv.experiments.config_base import baseline_config


def get_config():
    return baseline_config("stylegan2_z", "z", steps=2000, latent_lr=0.05, schedule="ramp")
