"""Overparameterized StyleGAN2 inversion (Poirier-Ginter et al.): the latent matrix per layer,
W+, by default; append ``:W`` (one matrix for every layer) or ``:w+`` (the baseline, one w per
layer) to the config path. Adam lr 0.05, 1000 steps from the mean of W, LPIPS-VGG, the 0.9
truncation before each step of the first half. On a standard converted checkpoint the matrix
gives every output channel its own style (no retraining needed)."""

from jaxinv.experiments.config_base import overparam_config


def get_config(space="W+"):
    return overparam_config(space)
