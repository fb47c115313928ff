"""PULSE-style 8x upsampling with the overparameterized latent (sec. 5.1): the input is the
high-resolution image, measured through area downsampling by 8; the latent matrix per layer
(append ``:W`` or ``:w+`` for the others) with the 0.9 truncation kept on for every step; the
loss is PULSE's MSE on the downsampled image, plus LPIPS-VGG where it has 32 px or more."""

from jaxinv.experiments.config_base import overparam_config


def get_config(space="W+"):
    return overparam_config(space, "upsample")
