"""Z inversion of a DCGAN (the PyTorch tutorial's layout) by Adam, or by BasinCMA with
``--config=configs/dcgan_z.py:basincma`` (pix2latent's search without a class or a transform), or
its baselines ``:cma`` and ``:cma_adam``.

Without ``--config.checkpoint`` it runs on a built-in random 64 px DCGAN and says so; the real
face generator is ``--config.checkpoint=packaged:dcgan_digiface64`` (or converted with
``converters/dcgan_torch.py``). The real LPIPS-vgg joins the loss with
``--config.loss.lpips=1``.
"""

from jaxinv.experiments.config_base import base_config, lr_spec, method_config


def get_config(search: str = "adam"):
    c = base_config()
    c.name = f"dcgan z inversion ({search})"
    c.builtin.family = "dcgan"
    c.builtin.style_dim = 100
    c.output_dir = f"runs/dcgan_z_{search}"
    c.method = method_config("z", search=search or "adam")
    c.lr.latent = lr_spec(0.05)
    c.steps = 300
    return c
