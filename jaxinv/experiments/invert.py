"""Invert images with a frozen generator: the command-line runner.

    python -m jaxinv.experiments.invert --config=configs/<name>.py [--config.key=value ...]

Reads a generator (``config.checkpoint``: an OUTPUT_DIR written by a converter, or, when empty, a
seeded built-in StyleGAN2 with random weights), targets (``config.input``: one image, a folder or a
glob; when empty, images generated from known latents, a recovery benchmark that also reports the
latent error), degrades them (``config.degradation``), optimises the method's variables with the
engine and writes, under ``config.output_dir``::

  config.json                 the resolved config
  images/<name>/reconstruction.png, grid.png (target | degraded | reconstruction | error),
               latents/ (orbax: variables and W+), record.json (written last: marks it done)
  metrics.json, metrics.csv   one record per image: image, status, psnr, ssim, lpips (null
                              without an LPIPS backbone), loss, steps, seconds, [latent_error]
  summary.json                mean / median / quartiles of each metric
  loss_curves.png, report.html

Every file is written atomically. Re-running the same command resumes: images with a
``record.json`` are skipped, the rest are optimised, and the run-level files are rewritten from
all records. Unreadable images are reported and skipped; an image whose loss or gradient becomes
non-finite is reported with the step and gets no output images.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import time
from typing import NamedTuple

import numpy as np
from absl import app, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file("config", None, "Path to a config file in configs/.",
                                          lock_config=True)


class ConfigError(ValueError):
    """A config value that cannot be used; the message names the key."""


class Target(NamedTuple):
    name: str
    source: str
    image: np.ndarray | None      # [H, W, 3] in [-1, 1], None when unreadable
    truth: dict | None            # known latents for recovery targets ({'wplus': ...})
    error: str | None


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_generator(config):
    """The configured :class:`jaxinv.experiments.generators.Generator`."""
    from jaxinv.experiments import generators

    if not config.checkpoint and config.builtin.family not in generators.FAMILIES:
        raise ConfigError(f"config.builtin.family = {config.builtin.family!r}; choose one of "
                          f"{generators.FAMILIES}")
    return generators.load(config)


def load_lpips(config):
    """Returns ``(net, params)`` or ``(None, None)`` when no LPIPS is configured."""
    from jaxinv.losses import lpips

    if not config.lpips.path:
        if config.loss.lpips:
            raise ConfigError(
                f"config.loss.lpips = {config.loss.lpips} needs an LPIPS backbone: convert one "
                f"with "
                f"converters/lpips_torch.py (torchvision's "
                f"{lpips.TORCHVISION_FILES[config.lpips.net]}) and set --config.lpips.path")
        return None, None
    net, params = lpips.load(config.lpips.path)
    if config.loss.lpips and net != config.lpips.net:
        raise ConfigError(f"config.lpips.net = {config.lpips.net!r} but {config.lpips.path} holds "
                          f"LPIPS-{net}")
    return net, params


def build_operator(config, size: int):
    """Returns ``(operator, shared op params, per-image op params fn(index) -> dict or None)``."""
    import jax

    from jaxinv import ops
    from jaxinv.io.images import load_mask
    from jaxinv.ops import circulant

    d = config.degradation
    if d.name == "brightness":
        raise ConfigError("config.degradation.name = 'brightness' is a colour transform methods "
                          "search, not a degradation")
    kwargs = {"downsample": dict(factor=d.factor, mode=d.mode),
              "compressed_sensing": dict(image_shape=(size, size, 3))}.get(d.name, {})
    try:
        operator = ops.build(d.name, **kwargs)
    except ValueError as e:
        raise ConfigError(f"config.degradation: {e}") from None
    if d.name == "downsample" and size % d.factor:
        raise ConfigError(f"config.degradation.factor = {d.factor} does not divide {size}")
    if d.name == "inpaint":
        if d.mask:
            masks = [load_mask(p, size) for p in _listed(d.mask, "config.degradation.mask")]
        else:
            m = np.ones((size, size, 1), np.float32)
            q = size // 4
            m[q:size - q, q:size - q] = 0.0
            masks = [m]
        return operator, {}, lambda i: {"mask": masks[i % len(masks)]}
    if d.name == "compressed_sensing":
        shared = circulant.sample_params(jax.random.PRNGKey(config.seed + 7), (size, size, 3),
                                         d.fraction)
        return operator, shared, None
    return operator, {}, None


def _listed(spec: str, key: str) -> list[str]:
    from jaxinv.io.images import list_images

    try:
        return list_images(spec)
    except FileNotFoundError as e:
        raise ConfigError(f"{key}: {e}") from None


_SHIFT_ARGS = {"rotate": "rotate_degrees", "scale": "scale", "translate": "translate_px"}


def transform_targets(config, targets: list[Target]) -> list[Target]:
    """Applies ``config.target_transform`` to every image, then, with ``config.attribute``,
    replaces each image by its K variants [K, H, W, 3]. Known latents no longer describe a
    transformed image, so they are dropped then."""
    import jax.numpy as jnp

    from jaxinv.ops import geometric_shift

    t = config.target_transform
    shifted = (t.rotate, t.scale, t.translate_px) != (0.0, 1.0, 0.0)
    attr = config.attribute
    if attr.transform and attr.transform not in _SHIFT_ARGS:
        raise ConfigError(f"config.attribute.transform = {attr.transform!r}; choose one of "
                          f"{sorted(_SHIFT_ARGS)} or ''")
    if not shifted and not attr.transform:
        return targets
    out = []
    for target in targets:
        if target.image is None:
            out.append(target)
            continue
        image = jnp.asarray(target.image)[None]
        if shifted:
            image = geometric_shift(image, t.rotate, t.scale, t.translate_px, t.reference_size)
        if attr.transform:
            image = jnp.concatenate([geometric_shift(
                image, reference_size=t.reference_size, **{_SHIFT_ARGS[attr.transform]: f})
                for f in attr.factors])
        else:
            image = image[0]
        out.append(target._replace(image=np.asarray(image), truth=None))
    return out


def collect_targets(config, gen) -> list[Target]:
    """Images from ``config.input``, or recovery targets generated from known latents. With
    ``config.degradation.measured_input`` the files are the low-resolution measurements and are
    loaded at ``size / factor``."""
    from jaxinv.experiments.generators import recovery_targets
    from jaxinv.io.images import ImageError, load_image

    if config.input:
        size = gen.size // config.degradation.factor if _measured(config) else gen.size
        targets, seen = [], set()
        for path in _listed(config.input, "config.input"):
            name = os.path.splitext(os.path.basename(path))[0]
            while name in seen:
                name += "_"
            seen.add(name)
            try:
                targets.append(Target(name, path, load_image(path, size), None, None))
            except ImageError as e:
                targets.append(Target(name, path, None, None, str(e)))
        return targets
    images, truths = recovery_targets(config, gen)
    return [Target(f"target_{i:03d}", f"generated from seed {config.seed + 1000}, row {i}",
                   images[i], truths[i], None) for i in range(len(images))]


def _measured(config) -> bool:
    """Whether the inputs are measurements (low-resolution images) rather than ground truth."""
    if not config.degradation.measured_input:
        return False
    if config.degradation.name != "downsample":
        raise ConfigError("config.degradation.measured_input applies to 'downsample' only (give "
                          "grayscale or masked inputs as they are: those operators leave them "
                          "unchanged)")
    return bool(config.input)


_METHOD_FAMILY = {"stylegan2": "stylegan2", "sphinx": "stylegan2", "mganprior": "pggan",
                  "pmsfc": "pggan", "pix2latent": "biggan"}


def build_problem(config, gen):
    """The configured method's Problem for generator ``gen``."""
    from jaxinv.methods import baselines, mganprior, pix2latent, pmsfc, sphinx

    m, cfg = config.method, gen.cfg
    if m.name not in _METHOD_FAMILY:
        raise ConfigError(f"config.method.name = {m.name!r}; available: "
                          f"{', '.join(map(repr, _METHOD_FAMILY))}")
    if _METHOD_FAMILY[m.name] != gen.family:
        source = config.checkpoint or "config.builtin.family"
        raise ConfigError(f"config.method.name = {m.name!r} inverts {_METHOD_FAMILY[m.name]} "
                          f"generators; {source} is {gen.family}")
    lr = config.lr.to_dict()
    try:
        if m.name == "stylegan2":
            spec = baselines.Space(
                space=m.space, optimize_noise=m.optimize_noise, optimize_const=m.optimize_const,
                noise_regularize=m.noise_regularize, normalize_noise=m.normalize_noise,
                latent_noise=m.latent_noise, latent_noise_ramp=m.latent_noise_ramp,
                truncation_weight=m.truncation_weight, clamp=m.clamp, steps=config.steps)
            return baselines.build(cfg, spec, lr)
        if m.name == "sphinx":
            variants = len(config.attribute.factors) if config.attribute.transform else 1
            return sphinx.build(cfg, m.preset, num_variants=variants,
                                margin_weight=m.margin_weight)
        if m.name == "mganprior":
            return mganprior.build(cfg, m.layer, m.num_codes,
                                   {"z": lr["latent"], "alpha": lr["weights"]})
        if m.name == "pix2latent":
            if m.search not in _SEARCHES:
                raise ValueError(f"search = {m.search!r}; choose one of {_SEARCHES}")
            if m.transform_params not in (3, 4):
                raise ValueError(f"transform_params = {m.transform_params}; 3 = (s, tx, ty) or "
                                 f"4 = (sx, sy, tx, ty)")
            return pix2latent.build(cfg, m.class_index, m.truncation, m.preset,
                                    {"z": lr["latent"], "embed": lr["weights"]})
        names = ("z", "w") if pmsfc.get_preset(m.preset).composition == "tanh" else ("z", "base")
        return pmsfc.build(cfg, m.layer, m.num_subspaces, m.codes_per_subspace, m.preset,
                           {names[0]: lr["latent"], names[1]: lr["weights"]})
    except ValueError as e:
        raise ConfigError(f"config.method: {e}") from None


def load_subspaces(config, gen, out) -> tuple[np.ndarray, list[str]]:
    """PmSFC's channel masks [R, C] for ``config.method``: read from ``method.subspaces`` (default
    ``<output_dir>/subspaces``) when a discovery for this generator, layer and preset is there,
    otherwise discovered now and saved there. Returns ``(masks, notes)``."""
    import jax
    from tqdm import tqdm

    from jaxinv.methods import pmsfc

    m = config.method
    preset = pmsfc.get_preset(m.preset)
    overrides = {k: v for k, v in (("lam", m.lam), ("mu", m.mu)) if v >= 0}
    if m.sparsity:
        if m.sparsity not in ("l1", "l2"):
            raise ConfigError(f"config.method.sparsity = {m.sparsity!r}; choose 'l1' or 'l2'")
        overrides["sparsity"] = m.sparsity
    preset = dataclasses.replace(preset, **overrides)
    folder = os.path.abspath(m.subspaces or os.path.join(out, "subspaces"))
    fingerprint = pmsfc.generator_fingerprint(gen.cfg, gen.params)
    steps = m.discovery_steps if m.discovery_steps >= 0 else preset.discovery_steps
    wanted = {"layer": m.layer, "preset": m.preset, "generator": fingerprint, "steps": steps,
              "lam": preset.lam, "mu": preset.mu, "sparsity": preset.sparsity}
    curves = None  # set when S is discovered in this run (then it is saved)
    if os.path.exists(os.path.join(folder, "meta.json")):
        tree, meta = pmsfc.load_subspaces(folder)
        found = {k: meta.get(k) for k in wanted}
        if found != wanted:
            diff = ", ".join(f"{k} {found[k]!r} (wanted {wanted[k]!r})" for k in wanted
                             if found[k] != wanted[k])
            raise ConfigError(f"config.method.subspaces: {folder} holds a discovery for another "
                              f"setting: {diff}; point it elsewhere or remove it")
        s = tree["s"]
        note = f"PmSFC subspaces read from {folder} (discovered once, {steps} steps)."
    else:
        bar = tqdm(total=steps, desc="subspace discovery", unit="step", file=sys.stderr,
                   disable=not config.progress)

        def progress(done, last):
            bar.update(done - bar.n)
            bar.set_postfix(loss=f"{float(last[0]):.4g}")

        try:
            s, curves = pmsfc.discover(gen.cfg, gen.params, m.layer, preset,
                                       jax.random.PRNGKey(config.seed + 31), steps=steps,
                                       chunk=config.chunk, callback=progress)
        except FloatingPointError as e:
            raise ConfigError(f"PmSFC subspace discovery diverged: {e}") from None
        bar.close()
        note = (f"PmSFC subspaces discovered ({steps} steps, self-expressive loss "
                f"{curves['total'][0]:.4g} -> {curves['total'][-1]:.4g}) and saved to {folder}.")
    a = pmsfc.affinity(s, m.num_subspaces, preset)
    labels = pmsfc.spectral_clustering(a, m.num_subspaces, seed=config.seed)
    sizes = np.bincount(labels, minlength=m.num_subspaces)
    if not sizes.all():
        raise ConfigError(f"config.method.num_subspaces = {m.num_subspaces}: clustering "
                          f"{folder} gave an empty subspace (sizes {sizes.tolist()})")
    if curves is not None:
        pmsfc.save_subspaces(folder, s, a, labels, curves,
                             {**wanted, "num_subspaces": m.num_subspaces})
    return pmsfc.masks_from_labels(labels, m.num_subspaces), [
        note + f" Subspace sizes: {sizes.tolist()}."]


def load_perceptual(config):
    """The VGG16 backbone params of mGANprior's perceptual loss, or None when unused."""
    from jaxinv.losses import lpips

    if not config.loss.perceptual:
        return None
    path = config.perceptual.path or (config.lpips.path if config.lpips.net == "vgg" else "")
    if not path:
        raise ConfigError(
            f"config.loss.perceptual = {config.loss.perceptual} needs a VGG16 backbone: convert "
            f"torchvision's {lpips.TORCHVISION_FILES['vgg']} with converters/lpips_torch.py "
            f"--net vgg and set --config.perceptual.path (or an LPIPS-VGG --config.lpips.path)")
    net, params = lpips.load(path)
    if net != "vgg":
        raise ConfigError(f"config.perceptual.path: {path} holds LPIPS-{net}; the perceptual "
                          f"loss needs the VGG16 backbone")
    return params["backbone"]


def _record_path(out, name):
    return os.path.join(out, "images", name, "record.json")


def _load_records(out, targets):
    records = {}
    for t in targets:
        path = _record_path(out, t.name)
        if os.path.isfile(path):
            try:
                with open(path) as f:
                    records[t.name] = json.load(f)
            except (OSError, json.JSONDecodeError):
                pass  # a damaged record: the image is optimised again
    return records


def _latent_error(wplus, truth, w_avg):
    """RMS error of W+ relative to the RMS distance of the true W+ from w_avg."""
    num = np.sqrt(np.mean((wplus - truth) ** 2))
    den = np.sqrt(np.mean((truth - w_avg) ** 2))
    return float(num / max(den, 1e-12))


class Solver(NamedTuple):
    """What every batch of a run shares; built once so ``jit`` compiles once per run.
    ``search(variables, data, context, keys, callback) -> engine.Result`` optimises a batch;
    ``image_data(index)`` gives an image's data besides its target (or None)."""

    problem: object
    operator: object
    per_image_op: object
    loss_fn: object
    optimizer: object
    search: object
    image_data: object = None


def build_solver(config, context, problem, operator, per_image_op) -> Solver:
    import jax

    from jaxinv import engine
    from jaxinv.methods.problem import LossWeights, reconstruction_loss

    one = jax.eval_shape(lambda k: problem.init(k, context), jax.random.PRNGKey(0))
    optimizer = engine.build_optimizer(one, problem.learning_rates, config.steps,
                                       config.optimizer)
    loss = config.loss
    if config.method.name == "pix2latent":
        from jaxinv.methods import pix2latent

        loss_fn = functools.partial(pix2latent.projection_loss, problem, config.lpips.net,
                                    loss.lpips)
        score_fn = functools.partial(loss_fn, original_frame=True)
        return Solver(problem, operator, per_image_op, loss_fn, optimizer,
                      functools.partial(_projection_search, config, loss_fn, score_fn,
                                        optimizer, problem.project),
                      _projection_data(config, problem))
    weights = LossWeights(loss.mse, loss.l1, loss.lpips, config.lpips.net, loss.lpips_size,
                          loss.lpips_min_size, loss.generated_noise_std, loss.perceptual,
                          config.perceptual.size)
    loss_fn = functools.partial(reconstruction_loss, problem, operator, weights)

    def search(variables, data, context, keys, callback):
        return engine.optimize(loss_fn, optimizer, variables, data, context, keys, config.steps,
                               project=problem.project, chunk=config.chunk, callback=callback)

    return Solver(problem, operator, per_image_op, loss_fn, optimizer, search)


_SEARCHES = ("basincma", "adam", "lbfgs", "cma", "cma_adam")


def _projection_search(config, loss_fn, score_fn, optimizer, project, variables, data,
                       context, keys, callback):
    """pix2latent's searches, one image at a time: BasinCMA, or the paper's baselines Adam,
    L-BFGS, CMA and CMA then Adam, optionally after the transform search (stage 1; the found
    transform is returned as variable ``t``) and followed by fine-tuning the generator (its
    weights are returned as variable ``generator``). The loss curve is stage 1's best score
    per outer step, then CMA's best loss per outer step, the final gradient steps
    (``config.steps``) and the fine-tuning's reconstruction loss."""
    import jax
    import jax.numpy as jnp

    from jaxinv import engine
    from jaxinv.engine.basincma import basin_cma
    from jaxinv.methods import pix2latent

    m = config.method
    gradient_only = m.search in ("adam", "lbfgs")  # config.optimizer picks the optimiser
    if gradient_only and not m.transform_search and not m.finetune_steps:
        return engine.optimize(loss_fn, optimizer, variables, data, context, keys, config.steps,
                               project=project, chunk=config.chunk, callback=callback)
    inner = m.inner_steps if m.search == "basincma" else 0
    final = 0 if m.search == "cma" else config.steps
    outer = 0 if gradient_only else m.outer_steps
    batch = len(keys)
    rows = []
    for b in range(batch):
        one = lambda tree: jax.tree_util.tree_map(lambda a: a[b], tree)
        v, d, curve = one(variables), one(data), []
        if m.transform_search:
            t0 = d["t"] if m.transform_params == 3 else jnp.concatenate([d["t"][:1], d["t"]])
            t, bright, v, curve = pix2latent.transform_search(
                loss_fn, score_fn, optimizer, v, d, context, keys[b], t0=t0,
                outer_steps=m.transform_steps, inner_steps=m.inner_steps, project=project,
                color=m.color_transform)
            d = dict(d, t=jnp.asarray(t))
            if m.color_transform:
                d["brightness"] = jnp.float32(bright)
            curve = list(curve)
        r = basin_cma(loss_fn, optimizer, v, "z", d, context, keys[b], outer_steps=outer,
                      inner_steps=inner, final_steps=final, population=m.population or None,
                      sigma=m.sigma, project=project, chunk=config.chunk)
        found = dict(jax.tree_util.tree_map(lambda a: a[0], r.result.variables))
        curve += list(r.best_fitness) + list(r.result.losses[0])
        if m.finetune_steps:
            found, tuned = pix2latent.fine_tune(
                loss_fn, found, d, context, keys[b], threshold=m.finetune_threshold,
                max_steps=m.finetune_steps, weight=m.finetune_weight, lr=m.finetune_lr,
                latent_rates={"z": config.lr.latent.to_dict(),
                              "embed": config.lr.weights.to_dict()},
                chunk=config.chunk, project=project)
            curve += list(tuned)
        if m.transform_search:
            found["t"] = d["t"]
            found["brightness"] = d.get("brightness", jnp.float32(1.0))
        rows.append((found, curve, r.result.aux, r.result.diverged_at[0]))
        if callback is not None:
            callback(config.steps * (b + 1) // batch, np.array([rows[-1][1][-1]] * batch))
    return engine.Result(
        variables=jax.tree_util.tree_map(lambda *a: jnp.stack(a), *[r[0] for r in rows]),
        losses=np.array([r[1] for r in rows]),
        aux={k: np.concatenate([r[2][k] for r in rows]) for k in rows[0][2]},
        diverged_at=np.array([r[3] for r in rows]))


def _projection_data(config, problem):
    """pix2latent's per-image loss weight (the mask clamped to [0.3, 1]; '' = all ones) and
    transform t0 (``method.transform``: 'none' or 'mask_box')."""
    from jaxinv.io.images import load_mask
    from jaxinv.methods import pix2latent

    m = config.method
    size = problem.latents.args[0].cfg.output_dim
    if m.transform not in ("none", "mask_box"):
        raise ConfigError(f"config.method.transform = {m.transform!r}; choose 'none' or "
                          f"'mask_box'")
    masks = ([load_mask(p, size) for p in _listed(m.mask, "config.method.mask")] if m.mask
             else [np.ones((size, size, 1), np.float32)])
    if m.transform == "mask_box" and not m.mask:
        raise ConfigError("config.method.transform = 'mask_box' needs config.method.mask")

    def data(i):
        mask = masks[i % len(masks)]
        t = (pix2latent.initial_transform(mask) if m.transform == "mask_box"
             else np.array([1.0, 0.0, 0.0], np.float32))
        return {"weight": np.asarray(pix2latent.loss_weight(mask)), "t": t}

    return data


def _invert_batch(config, context, solver: Solver, batch, indices, lpips_net):
    """Optimises one batch; returns a record per target (and writes their outputs)."""
    import jax
    import jax.numpy as jnp
    from tqdm import tqdm

    from jaxinv import metrics
    from jaxinv.io.checkpoints import save_params
    from jaxinv.io.images import save_image
    from jaxinv.methods.problem import REPRESENTATIVE_KEY
    from jaxinv.ops import add_gaussian_noise
    from jaxinv.report.grids import comparison
    from jaxinv.report.tables import write_json

    problem, operator, per_image_op = solver.problem, solver.operator, solver.per_image_op
    out = os.path.abspath(config.output_dir)
    n_real = len(batch)
    pad = config.batch_size - n_real
    batch_p = batch + [batch[-1]] * pad
    idx_p = list(indices) + [indices[-1]] * pad
    images = jnp.asarray(np.stack([t.image for t in batch_p]))
    root = jax.random.PRNGKey(config.seed)
    keys = jnp.stack([jax.random.fold_in(root, i) for i in idx_p])
    op_data = ({k: jnp.asarray(np.stack([per_image_op(i)[k] for i in idx_p]))
                for k in per_image_op(0)} if per_image_op else {})
    shared_op = context.get("op", {})
    measured = _measured(config)
    y = images if images.ndim == 5 or measured else operator.apply({**shared_op, **op_data},
                                                                   images)
    if config.degradation.noise_std:
        noise_root = jax.random.PRNGKey(config.seed + 17)
        noise_keys = jnp.stack([jax.random.fold_in(noise_root, i) for i in idx_p])
        y = jax.vmap(lambda k, yi: add_gaussian_noise(k, yi, config.degradation.noise_std))(
            noise_keys, y)
        if config.degradation.clip_noisy:
            y = jnp.clip(y, -1.0, 1.0)
    variables = jax.vmap(lambda k: problem.init(k, context))(keys)
    names = [t.name for t in batch]
    bar = tqdm(total=config.steps, desc=", ".join(names)[:60], unit="step", file=sys.stderr,
               disable=not config.progress)

    def progress(done, last):
        bar.update(done - bar.n)
        bar.set_postfix(loss=f"{float(np.mean(last[:n_real])):.4g}")

    start = time.time()
    data = {"target": y, "op": op_data}
    if solver.image_data is not None:
        data.update({k: jnp.asarray(np.stack([solver.image_data(i)[k] for i in idx_p]))
                     for k in solver.image_data(0)})
    result = solver.search(variables, data, context, keys, progress)
    bar.close()
    # The final image is the representative draw, as are the saved latents, edits and
    # interpolations (it matters for stochastic methods such as SPHInX).
    final = jax.vmap(lambda v: problem.render(v, context, REPRESENTATIVE_KEY, config.steps))(
        result.variables)
    final = np.asarray(final if images.ndim == 5 else final[:, 0])
    if solver.image_data is not None and "t" in data:
        # pix2latent optimises in the transformed frame; reports compare in the original one
        from jaxinv.methods.pix2latent import to_original_frame

        ts = result.variables["t"] if "t" in result.variables else data["t"]
        final = np.asarray(to_original_frame(jnp.asarray(final), ts))
        if "brightness" in result.variables:  # undo the searched colour transform too
            from jaxinv.methods.pix2latent import brightness

            final = np.asarray(jax.vmap(brightness)(
                jnp.asarray(final), 1.0 / jnp.asarray(result.variables["brightness"])))
    latents = jax.vmap(lambda v: problem.latents(v, context))(result.variables)
    flat = lambda a: jnp.reshape(a, (-1,) + a.shape[-3:])
    per_item = lambda m: np.asarray(m).reshape(len(batch_p), -1).mean(axis=1)
    # Without ground truth (measured inputs) the metrics compare the degraded reconstruction
    # with the measurement.
    scored, reference = ((operator.apply({**shared_op, **op_data}, jnp.asarray(final)), images)
                         if measured else (final, images))
    psnr = per_item(metrics.psnr(flat(scored), flat(reference)))
    ssim = per_item(metrics.ssim(flat(scored), flat(reference)))
    lp = (per_item(metrics.lpips(lpips_net, context["lpips"], flat(scored), flat(reference)))
          if lpips_net else [None] * len(batch_p))
    auc = (per_item(metrics.colorization_auc(flat(final), flat(images)))
           if operator.name == "grayscale" else None)
    seconds = (time.time() - start) / n_real
    records = []
    for b, t in enumerate(batch):
        folder = os.path.join(out, "images", t.name)
        record = {"image": t.name, "source": t.source, "steps": config.steps,
                  "seconds": seconds, "loss": float(result.losses[b, -1])}
        if result.diverged_at[b] >= 0:
            step = int(result.diverged_at[b])
            record.update(status="diverged", error=f"{t.name}: non-finite loss or gradient at "
                          f"step {step}; no output written", diverged_at=step, psnr=None,
                          ssim=None, lpips=None)
            _log(f"error: {record['error']}")
        else:
            variables_b = jax.tree_util.tree_map(lambda a: a[b], result.variables)
            views = ((_upsampled(t.image, final.shape[-2]),) * 2 + (final[b],) if measured
                     else (t.image, np.asarray(y[b]), final[b]))
            if images.ndim == 5:
                save_image(os.path.join(folder, "reconstruction.png"),
                           np.concatenate(list(final[b]), axis=1))
                grid = np.concatenate([comparison(*v) for v in zip(*views)], axis=0)
                record["alpha"] = [float(a) for a in np.asarray(variables_b["alpha"])]
            else:
                save_image(os.path.join(folder, "reconstruction.png"), final[b])
                grid = comparison(*views)
            save_image(os.path.join(folder, "grid.png"), grid)
            if config.method.name == "pix2latent":
                save_image(os.path.join(folder, "composite.png"),
                           _composite(final[b], t.image, solver.image_data(indices[b])))
            record.update(_post_process(config, context, problem, variables_b, t, folder,
                                        keys[b], lpips_net))
            tree = {"variables": jax.tree_util.tree_map(np.asarray, variables_b),
                    "latents": {k: np.asarray(v[b]) for k, v in latents.items()}}
            save_params(os.path.join(folder, "latents"), tree, {"family": "latents",
                                                                "image": t.name})
            record.update(status="ok", psnr=float(psnr[b]), ssim=float(ssim[b]),
                          lpips=None if lp[b] is None else float(lp[b]),
                          grid=os.path.join("images", t.name, "grid.png"))
            if measured:
                record["metrics_on"] = "measurement"
            if auc is not None:
                record["auc"] = float(auc[b])
            if t.truth is not None and "wplus" in t.truth and "wplus" in latents:
                record["latent_error"] = _latent_error(
                    np.asarray(latents["wplus"][b]), t.truth["wplus"],
                    np.asarray(context["generator"]["w_avg"]))
        record["loss_curve"] = [float(v) for v in result.losses[b]]
        write_json(_record_path(out, t.name), record)
        records.append(record)
    return records


def _composite(projection, original, image_data):
    """pix2latent's output: the projection (already in the original frame) pasted over the
    original with the object mask (the weight's object part, > 0.3)."""
    from jaxinv.methods import pix2latent

    mask = (np.asarray(image_data["weight"]) > 0.3).astype(np.float32)
    return np.asarray(pix2latent.composite(projection, original, mask))


def _upsampled(image, size: int):
    """Nearest-neighbour enlargement of a measurement [h, w, 3] to [size, size, 3] for grids."""
    f = size // image.shape[0]
    return np.repeat(np.repeat(image, f, axis=0), f, axis=1)


def _post_process(config, context, problem, variables, target, folder, key, lpips_net) -> dict:
    """Per-image reports: robustness, edits along a direction, the learned attribute walk."""
    from jaxinv.io.images import save_image
    from jaxinv.methods import latent_ops, pix2latent, robustness

    rep, extra = config.report, {}
    if rep.robustness:
        first = target.image if target.image.ndim == 3 else target.image[0]
        r = robustness.report(problem, variables, context, first, key, rep.robustness_samples,
                              tuple(rep.snrs), lpips_net)
        extra["robustness"] = r
        for case, scores in r.items():
            for metric, stats in scores.items():
                extra[f"robust_{case}_{metric}"] = stats["mean"]
    if rep.edit_direction:
        direction = _load_direction(rep.edit_direction)
        if config.method.name == "pix2latent":
            strip = pix2latent.edit_z(problem, variables, context, direction,
                                      tuple(rep.edit_alphas))
        else:
            strip = latent_ops.edit(problem, variables, context, direction,
                                    tuple(rep.edit_alphas))
        save_image(os.path.join(folder, "edit.png"), np.concatenate(list(np.asarray(strip)), 1))
    if rep.edit_classes:
        if config.method.name != "pix2latent":
            raise ConfigError("config.report.edit_classes applies to class-conditional "
                              "generators (method 'pix2latent')")
        strip = pix2latent.change_class(problem, variables, context, tuple(rep.edit_classes))
        save_image(os.path.join(folder, "edit_classes.png"),
                   np.concatenate(list(np.asarray(strip)), 1))
    if "direction" in variables:  # SPHInX attribute discovery
        top = float(np.max(np.asarray(variables["alpha"])))
        strip = latent_ops.edit(problem, variables, context, variables["direction"],
                                tuple(np.linspace(0.0, top, 2 * variables["alpha"].shape[0] + 1)))
        save_image(os.path.join(folder, "attribute_walk.png"),
                   np.concatenate(list(np.asarray(strip)), 1))
    return extra


def _load_direction(path):
    try:
        return np.load(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"config.report.edit_direction: {path}: cannot be read as a .npy "
                          f"array ({e})") from None


def write_pair_reports(config, out, targets, records, context, problem):
    """Strips between consecutive finished images, from their saved variables: interpolations
    (``config.report.interpolate`` frames) and, for methods that define one, the part-by-part
    exchange (``config.report.exchange``; PmSFC: a's image with each subspace taken from b)."""
    import jax

    from jaxinv.io.checkpoints import load_params
    from jaxinv.io.images import save_image
    from jaxinv.methods import latent_ops

    kinds = {}
    if config.report.interpolate:
        kinds["interpolations"] = lambda va, vb: latent_ops.interpolate(
            problem, va, vb, context, config.report.interpolate)
    if config.report.exchange:
        if problem.exchange is None:
            raise ConfigError(f"config.report.exchange: method {config.method.name!r} has no "
                              f"feature exchange")
        kinds["exchanges"] = lambda va, vb: problem.exchange(va, vb, context)
    done = [t.name for t in targets if records.get(t.name, {}).get("status") == "ok"]
    for a, b in zip(done[:-1], done[1:]):
        todo = {kind: os.path.join(out, kind, f"{a}__{b}.png") for kind in kinds}
        todo = {kind: path for kind, path in todo.items() if not os.path.exists(path)}
        if not todo:
            continue
        va, vb = (jax.tree_util.tree_map(
            jax.numpy.asarray, load_params(os.path.join(out, "images", n, "latents"))[0][
                "variables"]) for n in (a, b))
        for kind, path in todo.items():
            strip = kinds[kind](va, vb)
            save_image(path, np.concatenate(list(np.asarray(strip)), axis=1))


def write_run_outputs(config, out, targets, records, notes):
    from jaxinv.report import html, plots, tables

    ordered = [records[t.name] for t in targets if t.name in records]
    slim = [{k: v for k, v in r.items() if k != "loss_curve"} for r in ordered]
    tables.write_metrics(os.path.join(out, "metrics.json"), os.path.join(out, "metrics.csv"),
                         slim)
    summary = tables.summarize(ordered)
    tables.write_json(os.path.join(out, "summary.json"), {"notes": notes, "metrics": summary})
    curves = {r["image"]: r["loss_curve"] for r in ordered if r.get("loss_curve")}
    plot = None
    if curves:
        plots.loss_curves(os.path.join(out, "loss_curves.png"), curves)
        plot = "loss_curves.png"
    html.write_report(os.path.join(out, "report.html"), f"jaxinv: {config.name}", notes, summary,
                      slim, config.to_json_best_effort(indent=1), plot)
    return summary


def run(config) -> list[dict]:
    """Runs (or resumes) an inversion; returns the per-image records."""
    from jaxinv.experiments.generators import method_context
    from jaxinv.report.tables import write_json

    out = os.path.abspath(config.output_dir)
    os.makedirs(out, exist_ok=True)
    gen = load_generator(config)
    notes = list(gen.notes)
    lpips_net, lpips_params = load_lpips(config)
    perceptual_params = load_perceptual(config)
    problem = build_problem(config, gen)
    operator, shared_op, per_image_op = build_operator(config, gen.size)
    if config.attribute.transform and operator.name != "identity":
        raise ConfigError("config.attribute needs config.degradation.name = 'identity'")
    if config.loss.lpips and not operator.image_like:
        raise ConfigError(f"config.loss.lpips needs image-like measurements; "
                          f"{operator.name} gives vectors")
    context = {"generator": gen.params, "op": shared_op, **method_context(gen)}
    if lpips_params is not None:
        context["lpips"] = lpips_params
    if perceptual_params is not None:
        context["perceptual"] = perceptual_params
    if config.method.name == "pmsfc":
        context["subspaces"], subspace_notes = load_subspaces(config, gen, out)
        notes += subspace_notes
    for note in notes:
        _log(f"NOTE: {note}")
    targets = transform_targets(config, collect_targets(config, gen))
    write_json(os.path.join(out, "config.json"), json.loads(config.to_json_best_effort()))
    records = _load_records(out, targets)
    if records:
        _log(f"resuming: {len(records)} of {len(targets)} images already done in {out}")
    for i, t in enumerate(targets):
        if t.error and t.name not in records:
            _log(f"skipped: {t.error}")
            records[t.name] = {"image": t.name, "source": t.source, "status": "unreadable",
                               "error": t.error, "psnr": None, "ssim": None, "lpips": None,
                               "loss": None, "steps": 0, "seconds": 0.0}
    todo = [i for i, t in enumerate(targets) if t.name not in records]
    solver = build_solver(config, context, problem, operator, per_image_op)
    for start in range(0, len(todo), config.batch_size):
        idx = todo[start:start + config.batch_size]
        batch_records = _invert_batch(config, context, solver, [targets[i] for i in idx], idx,
                                      lpips_net)
        for r in batch_records:
            records[r["image"]] = r
        write_run_outputs(config, out, targets, records, notes)
    write_pair_reports(config, out, targets, records, context, problem)
    summary = write_run_outputs(config, out, targets, records, notes)
    for k, s in summary.items():
        _log(f"{k}: mean {s['mean']:.4g}, median {s['median']:.4g} over {s['n']} images")
    _log(f"wrote {out}/report.html")
    return [records[t.name] for t in targets]


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)  # orbax reports every save at INFO
    config = _CONFIG.value
    if config is None:
        raise app.UsageError("--config=configs/<name>.py is required")
    from jaxinv.io.checkpoints import CheckpointError

    try:
        run(config)
    except (ConfigError, CheckpointError, FileNotFoundError) as e:
        _log(f"error: {e}")
        return 2
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)))
