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
    """Returns ``(StyleGAN2Config, params, notes)``."""
    import jax

    from jaxinv.generators import stylegan2
    from jaxinv.io.checkpoints import CheckpointError, check_shapes, load_params

    if config.checkpoint:
        params, meta = load_params(config.checkpoint, family="stylegan2")
        try:
            cfg = stylegan2.StyleGAN2Config.from_dict(meta["config"])
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{config.checkpoint}/meta.json: no valid StyleGAN2 "
                                  f"architecture ({type(e).__name__}: {e})") from None
        check_shapes(params, stylegan2.param_shapes(cfg), config.checkpoint)
        return cfg, jax.tree_util.tree_map(np.asarray, params), []
    b = config.builtin
    cfg = stylegan2.StyleGAN2Config(b.size, b.style_dim, b.n_mlp, (b.channels,) * (
        int(np.log2(b.size)) - 1))
    params = stylegan2.init_params(cfg, jax.random.PRNGKey(b.seed))
    # Random RGB layers give images of std ~1.5; scale them so images span about [-1, 1].
    gain = 0.5 / float(np.std(np.asarray(stylegan2.generate(
        cfg, params, jax.random.normal(jax.random.PRNGKey(b.seed + 1), (8, cfg.style_dim))))))
    for layer in params["to_rgbs"]:
        layer["weight"] = layer["weight"] * gain
    note = (f"No pretrained model was used: config.checkpoint is empty, so this run uses a "
            f"built-in StyleGAN2 ({b.size}px, style_dim {b.style_dim}) with random weights "
            f"(seed {b.seed}). Convert a real checkpoint with converters/stylegan2_rosinality.py "
            f"and pass --config.checkpoint=OUTPUT_DIR.")
    return cfg, params, [note]


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


def collect_targets(config, cfg, params) -> list[Target]:
    """Images from ``config.input``, or recovery targets generated from known W latents."""
    import jax

    from jaxinv.generators import stylegan2
    from jaxinv.io.images import ImageError, load_image

    if config.input:
        targets, seen = [], set()
        for path in _listed(config.input, "config.input"):
            name = os.path.splitext(os.path.basename(path))[0]
            while name in seen:
                name += "_"
            seen.add(name)
            try:
                targets.append(Target(name, path, load_image(path, cfg.size), None, None))
            except ImageError as e:
                targets.append(Target(name, path, None, None, str(e)))
        return targets
    key = jax.random.PRNGKey(config.seed + 1000)
    z = jax.random.normal(key, (config.num_targets, cfg.style_dim))
    w = stylegan2.truncate(stylegan2.mapping(cfg, params, z), params["w_avg"],
                           config.target_truncation)
    ws = stylegan2.broadcast_w(cfg, w)
    images = np.asarray(stylegan2.synthesis(cfg, params, ws))
    return [Target(f"target_{i:03d}", f"generated from seed {config.seed + 1000}, row {i}",
                   images[i], {"wplus": np.asarray(ws[i])}, None)
            for i in range(config.num_targets)]


def build_problem(config, cfg):
    """The configured method's Problem for generator ``cfg``."""
    from jaxinv.methods import baselines, sphinx

    m = config.method
    try:
        if m.name == "stylegan2":
            spec = baselines.Space(
                space=m.space, optimize_noise=m.optimize_noise, optimize_const=m.optimize_const,
                noise_regularize=m.noise_regularize, normalize_noise=m.normalize_noise,
                latent_noise=m.latent_noise, latent_noise_ramp=m.latent_noise_ramp,
                truncation_weight=m.truncation_weight, clamp=m.clamp, steps=config.steps)
            return baselines.build(cfg, spec, config.lr.to_dict())
        if m.name == "sphinx":
            variants = len(config.attribute.factors) if config.attribute.transform else 1
            return sphinx.build(cfg, m.preset, num_variants=variants,
                                margin_weight=m.margin_weight)
    except ValueError as e:
        raise ConfigError(f"config.method: {e}") from None
    raise ConfigError(f"config.method.name = {m.name!r}; available: 'stylegan2', 'sphinx'")


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
    """What every batch of a run shares; built once so ``jit`` compiles once per run."""

    problem: object
    operator: object
    per_image_op: object
    loss_fn: object
    optimizer: object


def build_solver(config, context, problem, operator, per_image_op) -> Solver:
    import jax

    from jaxinv import engine
    from jaxinv.methods.problem import LossWeights, reconstruction_loss

    one = jax.eval_shape(lambda k: problem.init(k, context), jax.random.PRNGKey(0))
    optimizer = engine.build_optimizer(one, problem.learning_rates, config.steps,
                                       config.optimizer)
    loss = config.loss
    weights = LossWeights(loss.mse, loss.l1, loss.lpips, config.lpips.net, loss.lpips_size,
                          loss.lpips_min_size, loss.generated_noise_std)
    loss_fn = functools.partial(reconstruction_loss, problem, operator, weights)
    return Solver(problem, operator, per_image_op, loss_fn, optimizer)


def _invert_batch(config, context, solver: Solver, batch, indices, lpips_net):
    """Optimises one batch; returns a record per target (and writes their outputs)."""
    import jax
    import jax.numpy as jnp
    from tqdm import tqdm

    from jaxinv import engine, metrics
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
    y = images if images.ndim == 5 else operator.apply({**shared_op, **op_data}, images)
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
    result = engine.optimize(solver.loss_fn, solver.optimizer, variables,
                             {"target": y, "op": op_data}, context,
                             keys, config.steps, project=problem.project, chunk=config.chunk,
                             callback=progress)
    bar.close()
    # The final image is the representative draw, as are the saved latents, edits and
    # interpolations (it matters for stochastic methods such as SPHInX).
    final = jax.vmap(lambda v: problem.render(v, context, REPRESENTATIVE_KEY, config.steps))(
        result.variables)
    final = np.asarray(final if images.ndim == 5 else final[:, 0])
    latents = jax.vmap(lambda v: problem.latents(v, context))(result.variables)
    flat = lambda a: jnp.reshape(a, (-1,) + a.shape[-3:])
    per_item = lambda m: np.asarray(m).reshape(len(batch_p), -1).mean(axis=1)
    psnr = per_item(metrics.psnr(flat(final), flat(images)))
    ssim = per_item(metrics.ssim(flat(final), flat(images)))
    lp = (per_item(metrics.lpips(lpips_net, context["lpips"], flat(final), flat(images)))
          if lpips_net else [None] * len(batch_p))
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
            views = (t.image, np.asarray(y[b]), final[b])
            if images.ndim == 5:
                save_image(os.path.join(folder, "reconstruction.png"),
                           np.concatenate(list(final[b]), axis=1))
                grid = np.concatenate([comparison(*v) for v in zip(*views)], axis=0)
                record["alpha"] = [float(a) for a in np.asarray(variables_b["alpha"])]
            else:
                save_image(os.path.join(folder, "reconstruction.png"), final[b])
                grid = comparison(*views)
            save_image(os.path.join(folder, "grid.png"), grid)
            record.update(_post_process(config, context, problem, variables_b, t, folder,
                                        keys[b], lpips_net))
            tree = {"variables": jax.tree_util.tree_map(np.asarray, variables_b),
                    "latents": {k: np.asarray(v[b]) for k, v in latents.items()}}
            save_params(os.path.join(folder, "latents"), tree, {"family": "latents",
                                                                "image": t.name})
            record.update(status="ok", psnr=float(psnr[b]), ssim=float(ssim[b]),
                          lpips=None if lp[b] is None else float(lp[b]),
                          grid=os.path.join("images", t.name, "grid.png"))
            if t.truth is not None and "wplus" in latents:
                record["latent_error"] = _latent_error(
                    np.asarray(latents["wplus"][b]), t.truth["wplus"],
                    np.asarray(context["generator"]["w_avg"]))
        record["loss_curve"] = [float(v) for v in result.losses[b]]
        write_json(_record_path(out, t.name), record)
        records.append(record)
    return records


def _post_process(config, context, problem, variables, target, folder, key, lpips_net) -> dict:
    """Per-image reports: robustness, edits along a direction, the learned attribute walk."""
    from jaxinv.io.images import save_image
    from jaxinv.methods import latent_ops, robustness

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
        strip = latent_ops.edit(problem, variables, context, direction, tuple(rep.edit_alphas))
        save_image(os.path.join(folder, "edit.png"), np.concatenate(list(np.asarray(strip)), 1))
    if "alpha" in variables:
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


def write_interpolations(config, out, targets, records, context, problem):
    """Strips between consecutive finished images, from their saved variables."""
    import jax

    from jaxinv.io.checkpoints import load_params
    from jaxinv.io.images import save_image
    from jaxinv.methods import latent_ops

    done = [t.name for t in targets if records.get(t.name, {}).get("status") == "ok"]
    for a, b in zip(done[:-1], done[1:]):
        path = os.path.join(out, "interpolations", f"{a}__{b}.png")
        if os.path.exists(path):
            continue
        va, vb = (jax.tree_util.tree_map(
            jax.numpy.asarray, load_params(os.path.join(out, "images", n, "latents"))[0][
                "variables"]) for n in (a, b))
        strip = latent_ops.interpolate(problem, va, vb, context, config.report.interpolate)
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
    import jax

    from jaxinv.report.tables import write_json

    out = os.path.abspath(config.output_dir)
    os.makedirs(out, exist_ok=True)
    cfg, params, notes = load_generator(config)
    for note in notes:
        _log(f"NOTE: {note}")
    lpips_net, lpips_params = load_lpips(config)
    problem = build_problem(config, cfg)
    operator, shared_op, per_image_op = build_operator(config, cfg.size)
    if config.attribute.transform and operator.name != "identity":
        raise ConfigError("config.attribute needs config.degradation.name = 'identity'")
    if config.loss.lpips and not operator.image_like:
        raise ConfigError(f"config.loss.lpips needs image-like measurements; "
                          f"{operator.name} gives vectors")
    from jaxinv.generators import stylegan2

    context = {"generator": params, "op": shared_op,
               "w_std": stylegan2.w_stats(cfg, params, jax.random.PRNGKey(0))[1]}
    if lpips_params is not None:
        context["lpips"] = lpips_params
    targets = transform_targets(config, collect_targets(config, cfg, params))
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
    if config.report.interpolate:
        write_interpolations(config, out, targets, records, context, problem)
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
