"""Image2StyleGAN (Abdal et al. 2019): W+ from w_avg, Adam lr 0.01, 5000 steps, MSE + perceptual
loss (LPIPS-VGG stands in for the paper's VGG16 feature loss), noise fixed to the checkpoint's
buffers. Needs ``--config.lpips.path`` (or ``--config.loss.lpips=0`` for MSE only)."""

from jaxinv.experiments.config_base import baseline_config


def get_config():
    return baseline_config("stylegan2_wplus", "w+", steps=5000, latent_lr=0.01,
                           schedule="constant")
