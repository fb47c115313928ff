"""The training config (``configs/train_stylegan2.py``): every key, documented.

    name              the run's name (shown only)
    output_dir        where the run writes (see :mod:`jaxinv.experiments.train`)
    overwrite         delete another run's results in ``output_dir`` instead of refusing
    seed              weights, latents and data order all derive from it
    steps             training iterations (one D step, one G step, and the lazy regularisers)
    batch_size        images per step, split over ``devices``
    devices           local devices the batch is split over (0: all that divide the batch)
    progress          show a progress bar
    checkpoint_every  steps between resumable checkpoints (and exports of the EMA generator)
    sample_every      steps between sample grids, the distribution metric and the curves

    data.source       ``generator:SPEC`` (an endless stream of that generator's images, e.g.
                      ``generator:packaged:dcgan_digiface64``, the real 64 px face DCGAN) or an
                      image folder / glob (:mod:`jaxinv.train.data`)
    data.held_out     images never trained on, written to ``output_dir/held_out``
    data.reference    training-distribution images the sliced Wasserstein distance of the EMA
                      generator's samples is measured against

    generator.size, style_dim, n_mlp, channels (one per resolution 4..size), lr_mlp
                      the StyleGAN2 architecture (the paper: a 2-layer mapping, no noise)
    generator.rows    1: StyleGAN2; 0: the overparameterized generator with one latent row per
                      output channel of the widest layer; any other count >= that width
    discriminator.channels (one per resolution 4..size), mbstd_group

    optimizer.lr, beta1, beta2, eps   Adam for both networks (StyleGAN2: 0.002, 0, 0.99, 1e-8),
                      adjusted for the lazy regularisers as StyleGAN2 does
    loss.r1_gamma, d_reg_every        R1 weight and interval (lazy regularisation)
    loss.pl_weight, g_reg_every, pl_batch_shrink, pl_decay   the path-length regulariser
    loss.style_mixing probability of mixing two latents at a random layer
    ema.half_life     the EMA generator's half-life in images, ramped up over the first
    ema.rampup        ``rampup`` times the images seen (NVIDIA's ema_kimg and ema_rampup)
    ema.w_avg_beta    decay of the tracked mean of W (the truncation centre)
"""

from __future__ import annotations

from ml_collections import ConfigDict


def stylegan2_config(kind: str = "baseline") -> ConfigDict:
    """A tiny 32 px StyleGAN2 trained on the real face DCGAN's images; ``kind`` 'baseline'
    (one latent row) or 'overparam' (one row per output channel of the widest layer)."""
    if kind not in ("baseline", "overparam"):
        raise ValueError(f"unknown training kind {kind!r}; choose baseline or overparam")
    c = ConfigDict()
    c.name = f"train_stylegan2_{kind}"
    c.output_dir = f"runs/{c.name}"
    c.overwrite = False
    c.seed = 0
    c.steps = 2000
    c.batch_size = 16
    c.devices = 0
    c.progress = True
    c.checkpoint_every = 250
    c.sample_every = 250
    c.data = ConfigDict(dict(source="generator:packaged:dcgan_digiface64", held_out=16,
                             reference=256))
    c.generator = ConfigDict(dict(size=32, style_dim=64, n_mlp=2, channels=(64, 64, 64, 32),
                                  lr_mlp=0.01, rows=0 if kind == "overparam" else 1))
    c.discriminator = ConfigDict(dict(channels=(64, 64, 64, 32), mbstd_group=4))
    c.optimizer = ConfigDict(dict(lr=0.002, beta1=0.0, beta2=0.99, eps=1e-8))
    # NVIDIA's automatic gamma: 0.0002 * size^2 / batch
    c.loss = ConfigDict(dict(r1_gamma=0.0002 * 32 ** 2 / 16, d_reg_every=16, pl_weight=2.0,
                             g_reg_every=4, pl_batch_shrink=2, pl_decay=0.01, style_mixing=0.9))
    c.ema = ConfigDict(dict(half_life=5000.0, rampup=0.05, w_avg_beta=0.995))
    return c
