"""(Z+, S, B): one z per W+ slot through the mapping network, the constant input S and the noise
maps B; a baseline of the SPHInX paper. Adam lr 0.01 (Z+, S) and 0.05 (B), MSE + LPIPS-VGG,
5000 steps. Needs ``--config.lpips.path`` (or ``--config.loss.lpips=0``)."""

from jaxinv.experiments.config_base import baseline_config


def get_config():
    return baseline_config("stylegan2_zplus_s_b", "z+", steps=5000, latent_lr=0.01,
                           schedule="constant", noise_lr=0.05, const_lr=0.01)
