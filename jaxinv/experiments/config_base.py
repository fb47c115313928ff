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
    sensing), noise_std (additive Gaussian measurement noise).
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
        truncation_weight=0.0, clamp=0.0))
    c.lr = ConfigDict(dict(latent=lr_spec(0.05, "ramp"), noise=lr_spec(0.0), const=lr_spec(0.0)))
    c.optimizer = "adam"
    c.loss = ConfigDict(dict(mse=1.0, l1=0.0, lpips=0.0, lpips_size=256))
    c.lpips = ConfigDict(dict(path="", net="vgg"))
    c.degradation = ConfigDict(dict(name="identity", factor=4, mode="area", mask="",
                                    fraction=0.05, noise_std=0.0))
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
