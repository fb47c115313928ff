"""Train a tiny 32 px StyleGAN2 on the real face DCGAN's images (an endless stream from
``packaged:dcgan_digiface64``): the baseline by default, or the overparameterized generator
(one latent row per output channel) with ``:overparam`` after the config path. Every key is
documented in jaxinv/train/config.py.

    python -m jaxinv.experiments.train --config=configs/train_stylegan2.py:overparam
"""

from jaxinv.train.config import stylegan2_config


def get_config(kind="baseline"):
    return stylegan2_config(kind)
