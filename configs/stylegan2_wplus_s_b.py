"""(W+, S, B): W+, the 4x4 constant input S and the noise maps B, the over-parameterised baseline
SPHInX compares against; Adam lr 0.01 (W+, S) and 0.05 (B), MSE + LPIPS-VGG, 5000 steps. Needs
``--config.lpips.path`` (or ``--config.loss.lpips=0``)."""

from jaxinv.experiments.config_base import baseline_config


def get_config():
    return baseline_config("stylegan2_wplus_s_b", "w+", steps=5000, latent_lr=0.01,
                           schedule="constant", noise_lr=0.05, const_lr=0.01)
