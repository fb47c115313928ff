"""Image2StyleGAN++ (Abdal et al. 2020): W+ and the per-layer noise maps optimised jointly
(the paper alternates them), Adam lr 0.01 for W+ and 0.05 for the noise, MSE + LPIPS-VGG,
5000 steps. Needs ``--config.lpips.path`` (or ``--config.loss.lpips=0``)."""

from jaxinv.experiments.config_base import baseline_config


def get_config():
    return baseline_config("stylegan2_wplus_noise", "w+", steps=5000, latent_lr=0.01,
                           schedule="constant", noise_lr=0.05)
