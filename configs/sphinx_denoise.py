"""SPHInX denoising: the target gets N(0, std) noise once (clipped to [-1, 1]); as in the
official code, the generated image gets fresh noise of the same std every step before the loss
(``config.loss.generated_noise_std``; set it to 0 to switch that off).

    --config=configs/sphinx_denoise.py:0.2    noise std (default 0.2), ',paper' for the paper preset
"""

from jaxinv.experiments.config_base import sphinx_config


def get_config(arg="0.2"):
    parts = arg.split(",")
    std = float(parts[0])
    c = sphinx_config(parts[1] if len(parts) > 1 else "official", name=f"sphinx_denoise{std:g}")
    c.degradation.noise_std = std
    c.degradation.clip_noisy = True
    c.loss.generated_noise_std = std
    return c
