"""The base config every file in ``configs/`` starts from (``ml_collections.ConfigDict``).

Keys:
  name: run name shown in the report.
  checkpoint: converted generator directory (``converters/``); '' = built-in random StyleGAN2.
  builtin: size, style_dim, n_mlp, channels and seed of the built-in generator.
  input: image file, folder or glob; '' = recovery targets generated from known latents
    (``num_targets`` of them, truncation ``target_truncation``).
  output_dir, seed, steps, batch_size, chunk (steps per compiled call), progress.
  method: name ('stylegan2') and the latent-space description (see ``jaxinv.methods.baselines``).
  lr: per-variable learning rates {latent, noise, const}: lr, schedule, rampup, rampdown.
  optimizer: 'adam', 'sgd' or 'adamw'.
  loss: mse, l1, lpips weights; lpips_size (images are area-downsampled to it for LPIPS).
  lpips: path (converted by ``converters/lpips_torch.py``; also enables the LPIPS metric), net.
  degradation: name (identity, grayscale, downsample, inpaint, compressed_sensing), factor,
    mode (area/bicubic), mask (file/folder/glob; '' = a centre hole), fraction (compressed
    sensing), noise_std (additive Gaussian measurement noise), clip_noisy (clip the noisy
    measurement to [-1, 1], as SPHInX).
  target_transform: rotate (degrees, counter-clockwise), scale, translate_px (pixels of a
    reference_size image, to the right): a reproducible out-of-distribution shift of every target.
  attribute: transform ('' off; 'rotate', 'scale' or 'translate') and factors: each target becomes
    its K transformed variants (SPHInX attribute discovery).
  report: robustness (LPIPS/PSNR under fresh samples and latent noise at snrs), robustness_samples,
    snrs, interpolate (frames between consecutive images; 0 = off), edit_direction (.npy file,
    [N_l, D] or [1, D]) and edit_alphas.
  method (sphinx): preset ('official'/'paper'), margin_weight (attribute discovery).
"""

from ml_collections import ConfigDict


def lr_spec(lr, schedule="constant", rampup=0.05, rampdown=0.25):
    return ConfigDict(dict(lr=lr, schedule=schedule, rampup=rampup, rampdown=rampdown))


def base_config() -> ConfigDict:
    c = ConfigDict()
    c.name = "stylegan2 W+ recovery"
    c.checkpoint = ""
    c.builtin = ConfigDict(dict(size=64, style_dim=128, n_mlp=4, channels=64, seed=0))
    c.input = ""
    c.num_targets = 4
    c.target_truncation = 0.7
    c.output_dir = "runs/default"
    c.seed = 0
    c.steps = 300
    c.batch_size = 4
    c.chunk = 50
    c.progress = True
    c.method = ConfigDict(dict(
        name="stylegan2", space="w+", optimize_noise=False, optimize_const=False,
        noise_regularize=0.0, normalize_noise=False, latent_noise=0.0, latent_noise_ramp=0.75,
        truncation_weight=0.0, clamp=0.0, preset="official", margin_weight=0.5))
    c.lr = ConfigDict(dict(latent=lr_spec(0.05, "ramp"), noise=lr_spec(0.0), const=lr_spec(0.0)))
    c.optimizer = "adam"
    c.loss = ConfigDict(dict(mse=1.0, l1=0.0, lpips=0.0, lpips_size=256, lpips_min_size=0,
                             generated_noise_std=0.0))
    c.lpips = ConfigDict(dict(path="", net="vgg"))
    c.degradation = ConfigDict(dict(name="identity", factor=4, mode="area", mask="",
                                    fraction=0.05, noise_std=0.0, clip_noisy=False))
    c.target_transform = ConfigDict(dict(rotate=0.0, scale=1.0, translate_px=0.0,
                                         reference_size=1024))
    c.attribute = ConfigDict(dict(transform="", factors=(0.0, 2.0)))
    c.report = ConfigDict(dict(robustness=False, robustness_samples=8, snrs=(30.0, 20.0, 10.0),
                               interpolate=0, edit_direction="", edit_alphas=(-3.0, 3.0)))
    return c





def baseline_config(name: str, space: str, steps: int, latent_lr: float, schedule: str,
                    noise_lr: float = 0.0, const_lr: float = 0.0, mse: float = 1.0,
                    lpips: float = 1.0, **method) -> ConfigDict:
    """A StyleGAN2 baseline: ``space`` and the method flags, with its learning rates and loss."""
    c = base_config()
    c.name = name
    c.output_dir = "runs/" + name
    c.steps = steps
    c.method.space = space
    c.method.optimize_noise = noise_lr > 0
    c.method.optimize_const = const_lr > 0
    c.method.update(method)
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
    c.method.name = "sphinx"
    c.method.preset = preset
    c.steps = PRESETS[preset].steps
    c.loss.mse = 1.0
    c.loss.lpips = 1.5
    c.loss.lpips_min_size = PRESETS[preset].lpips_min_size
    c.batch_size = 1
    c.report.robustness = True
    return c
