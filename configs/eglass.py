"""e-GLASS on the real face DCGAN (``packaged:dcgan_digiface64``): 4x super-resolution (64 px
faces measured at 16 px), a first solution by Z inversion (Adam, MSE + LPIPS-alex), then at it
the exact Hessians of the measurement error (H_Y) and of LPIPS-alex (H_X) over the 100-d z,
Algorithm 1 for K = 5, 4, 3, solutions at eta = +-2, +-4, +-8, and the PULSE-style baseline:
the same inversion (1000 Adam steps) from 10 random starts. Targets: two faces the generator
made from known z. About 6 minutes on 2 CPU cores, most of it the baseline.

``--config=configs/eglass.py:inpaint`` measures the faces through a centre hole instead.
``:biggan_superresolution`` takes the geometry over BigGAN's [z, class embedding] (256-d): the
first solution by pix2latent's BasinCMA (small: 5 generations of 8, 10 inner steps, then 200
Adam steps; its Adam search starts every run at z = 0, so restarts would coincide), through the
run's degradation, on a built-in random 32 px BigGAN unless
``--config.checkpoint`` names a converted one (``converters/biggan_torch.py``). Without
gan-face-generate the DCGAN problems fall back to a built-in random DCGAN and say so.
"""

from jaxinv.experiments.config_base import base_config, lr_spec, method_config


PROBLEMS = ("superresolution", "inpaint", "biggan_superresolution")


def get_config(problem: str = "superresolution"):
    c = base_config()
    c.name = f"e-GLASS, face DCGAN, {problem}"
    c.checkpoint = "packaged:dcgan_digiface64"
    c.builtin_if_missing = True
    c.builtin.family = "dcgan"
    c.builtin.style_dim = 100
    c.output_dir = f"runs/eglass_{problem}"
    c.num_targets = 2
    c.batch_size = 1
    c.method = method_config("eglass", first=method_config("z").to_dict(),
                             etas=(-8.0, -4.0, -2.0, 2.0, 4.0, 8.0))
    c.lr.latent = lr_spec(0.05, "ramp")
    c.steps = 1000
    c.loss.lpips = 1.0
    c.loss.lpips_min_size = 32
    c.lpips.net = "alex"
    c.lpips.metric = True
    if problem not in PROBLEMS:
        raise ValueError(f"unknown e-GLASS problem {problem!r}; choose one of {PROBLEMS}")
    if problem == "inpaint":
        c.degradation.name = "inpaint"
    else:
        c.degradation.name = "downsample"
        c.degradation.factor = 4
    if problem == "biggan_superresolution":
        c.checkpoint = ""
        c.builtin.family = "biggan"
        c.builtin.size = 32
        c.builtin.style_dim = 128
        c.method.first = method_config("pix2latent", search="basincma", outer_steps=5,
                                       inner_steps=10, population=8).to_dict()
        c.steps = 200
        c.method.latent = ("z", "embed")
        c.method.etas = (-1.0, -0.5, 0.5, 1.0)
        c.lr.weights = lr_spec(0.01)
    return c
