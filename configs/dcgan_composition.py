"""mGANprior or PmSFC on the real face DCGAN, as ``experiments/real_dcgan.py`` runs them:

    --config=configs/dcgan_composition.py[:METHOD[,TASK]]
        METHOD: mganprior (default, 20 codes) or pmsfc (4 subspaces x 5 codes)
        TASK: inversion (default), superresolution (x4, area) or inpainting (a centre hole)

Composition after the DCGAN's second block (8x8x256), Adam lr 0.05 for 300 steps, MSE + the
real LPIPS-alex (skipped on the 16 px super-resolution measurements, too small for AlexNet).
The generator is ``packaged:dcgan_digiface64`` (gan-face-generate); without it a built-in
random DCGAN is used and the report says so. Set ``--config.input`` to your faces (64 px,
cropped like the generator's).
"""

from jaxinv.experiments.config_base import base_config, lr_spec, method_config
from jaxinv.losses.lpips import min_size

TASKS = {"inversion": dict(name="identity"),
         "superresolution": dict(name="downsample", factor=4, mode="area"),
         "inpainting": dict(name="inpaint")}
METHODS = {"mganprior": dict(num_codes=20),
           "pmsfc": dict(num_subspaces=4, codes_per_subspace=5, discovery_steps=300)}


def get_config(arg: str = "mganprior,inversion"):
    method, _, task = arg.partition(",")
    method, task = method or "mganprior", task or "inversion"
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(TASKS)}")
    c = base_config()
    c.name = f"{method} {task} on the face DCGAN"
    c.output_dir = f"runs/dcgan_{method}_{task}"
    c.checkpoint = "packaged:dcgan_digiface64"
    c.builtin_if_missing = True
    c.builtin.family = "dcgan"
    c.builtin.style_dim = 100
    c.method = method_config(method, layer=2, **METHODS[method])
    c.degradation.update(TASKS[task])
    c.steps = 300
    c.batch_size = 4
    c.lr.latent = lr_spec(0.05)
    c.lr.weights = lr_spec(0.05)
    c.loss.lpips = 1.0
    c.loss.lpips_min_size = min_size("alex")
    c.lpips.net = "alex"
    c.lpips.metric = True
    return c
