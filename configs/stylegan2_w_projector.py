"""StyleGAN2 projector (Karras et al. 2020, rosinality ``projector.py``): one w, noise maps
optimised with the noise regulariser (1e5) and re-normalised every step, lr 0.1 with 5% ramp-up
and 25% cosine ramp-down, Gaussian noise on w (0.05 x std of W) decaying over 75% of the steps,
LPIPS-VGG loss (MSE weight 0), 1000 steps. Needs ``--config.lpips.path``."""

from jaxinv.experiments.config_base import baseline_config


def get_config():
    return baseline_config("stylegan2_w_projector", "w", steps=1000, latent_lr=0.1,
                           schedule="ramp", noise_lr=0.1, mse=0.0, lpips=1.0,
                           noise_regularize=1e5, normalize_noise=True, latent_noise=0.05,
                           latent_noise_ramp=0.75)
