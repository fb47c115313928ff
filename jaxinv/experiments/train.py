"""Train a generator from a config: the command-line runner of :mod:`jaxinv.train`.

    python -m jaxinv.experiments.train --config=configs/train_stylegan2.py[:overparam] \\
        [--config.KEY=VALUE ...]

Every key is documented in :mod:`jaxinv.train.config`. ``output_dir`` holds::

  run.json, config.json    the run's identity and config (a run resumes only the same run)
  checkpoint/              the whole training state, every ``checkpoint_every`` steps
                           (atomic: a killed run resumes from the last one, bit for bit)
  generator/               the EMA generator as a converted checkpoint directory (pass it as
                           ``--config.checkpoint`` to the inversion runner), at every checkpoint
  held_out/                images of the data source never trained on
  samples/step_NNNNNN.png  the EMA generator's images of 16 fixed latents
  curves.json, curves.png  losses and regularisers per step, and the sliced Wasserstein
                           distance of the EMA generator's images to the data
                           (:func:`jaxinv.metrics.sliced_wasserstein`) every ``sample_every``
  summary.json             the last step's numbers

Re-running the same command resumes from the last checkpoint, on any number of devices; a
larger ``--config.steps`` extends a finished run. A folder that holds another run is refused,
naming the keys that differ, unless ``--config.overwrite=True``.

Exit status: 0 when the run finished, 1 when a loss became non-finite (the last checkpoint is
kept), 2 for a config, data or checkpoint error (one line on stderr, before anything compiles).
"""

from __future__ import annotations

import json
import math
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
from absl import app

from jaxinv.experiments import cli, run_identity
from jaxinv.generators import stylegan2
from jaxinv.train import data, discriminator, trainer

OUTPUTS = ("checkpoint", "generator", "held_out", "samples", "config.json", "run.json",
           "curves.json", "curves.png", "summary.json")
# Keys that change no trained weight: how long (a run can be extended), what is shown, where,
# and the devices the batch is split over.
COSMETIC = ("name", "output_dir", "overwrite", "progress", "devices", "steps",
            "checkpoint_every", "sample_every")
SAMPLES = 16


class TrainError(ValueError):
    """A training config or data source that cannot be used; the message names the key."""


def architectures(config):
    """``(generator config, discriminator config)`` from ``config``; TrainError naming the key."""
    g = config.generator
    try:
        channels = tuple(int(c) for c in g.channels)
        rows = int(g.rows) if int(g.rows) > 0 else max(channels)
        gcfg = stylegan2.StyleGAN2Config(int(g.size), int(g.style_dim), int(g.n_mlp), channels,
                                         float(g.lr_mlp), rows)
    except (TypeError, ValueError) as e:
        raise TrainError(f"config.generator: {e}") from None
    try:
        dcfg = discriminator.DiscriminatorConfig(
            gcfg.size, tuple(int(c) for c in config.discriminator.channels),
            int(config.discriminator.mbstd_group))
    except (TypeError, ValueError) as e:
        raise TrainError(f"config.discriminator: {e}") from None
    return gcfg, dcfg


def settings_from(config) -> trainer.Settings:
    """The compiled steps' settings; TrainError naming the key of a bad value."""
    for key in ("steps", "batch_size", "checkpoint_every", "sample_every"):
        if int(config[key]) <= 0:
            raise TrainError(f"config.{key} = {config[key]}: must be a positive integer")
    batch, group = int(config.batch_size), int(config.discriminator.mbstd_group)
    if group <= 0 or (batch > group and batch % group):
        raise TrainError(f"config.batch_size = {batch}: must be a multiple of "
                         f"config.discriminator.mbstd_group = {group} (or smaller)")
    loss = config.loss
    for key in ("d_reg_every", "g_reg_every", "pl_batch_shrink"):
        if int(loss[key]) <= 0:
            raise TrainError(f"config.loss.{key} = {loss[key]}: must be a positive integer")
    pl_batch = batch // int(loss.pl_batch_shrink)
    if pl_batch <= 0:
        raise TrainError(f"config.loss.pl_batch_shrink = {loss.pl_batch_shrink}: leaves no "
                         f"image of a batch of {batch} for the path-length regulariser")
    if not 0.0 <= float(loss.style_mixing) <= 1.0:
        raise TrainError(f"config.loss.style_mixing = {loss.style_mixing}: must be a "
                         f"probability")
    opt = config.optimizer
    return trainer.Settings(
        batch, pl_batch, float(opt.lr), (float(opt.beta1), float(opt.beta2)), float(opt.eps),
        float(loss.r1_gamma), int(loss.d_reg_every), float(loss.pl_weight),
        int(loss.g_reg_every), float(loss.pl_decay), float(loss.style_mixing),
        float(config.ema.w_avg_beta))


class Curves:
    """Per-step training numbers (a regulariser holds its last value between the steps that
    compute it) and the sliced Wasserstein distance at the sample steps."""

    def __init__(self, rows=None, swd=None):
        self.rows = [] if rows is None else [list(r) for r in np.asarray(rows)]
        self.swd = {"step": [], "value": []} if swd is None else {
            k: np.asarray(v).tolist() for k, v in swd.items()}

    def add(self, numbers: dict) -> None:
        last = self.rows[-1] if self.rows else [math.nan] * len(trainer.NUMBERS)
        self.rows.append([float(numbers[name]) if name in numbers else last[i]
                          for i, name in enumerate(trainer.NUMBERS)])

    def array(self) -> np.ndarray:
        return np.asarray(self.rows, np.float32).reshape(-1, len(trainer.NUMBERS))

    def to_json(self) -> dict:
        a = self.array()
        return {"step": list(range(1, a.shape[0] + 1)),
                **{n: a[:, i].tolist() for i, n in enumerate(trainer.NUMBERS)},
                "swd": self.swd}

    def write(self, out: str, title: str) -> None:
        """``curves.json`` and ``curves.png``."""
        from jaxinv.report.plots import training_curves
        from jaxinv.report.tables import write_json

        write_json(os.path.join(out, "curves.json"), self.to_json())
        a = self.array()
        steps = np.arange(1, a.shape[0] + 1)
        col = {name: (steps, a[:, i]) for i, name in enumerate(trainer.NUMBERS)}
        training_curves(os.path.join(out, "curves.png"), {
            "adversarial losses": {"D": col["d_loss"], "G": col["g_loss"]},
            "D logits (mean)": {"real": col["real_logit"], "fake": col["fake_logit"]},
            "regularisers": {"R1": col["r1"], "path-length penalty": col["pl_penalty"]},
            "sliced Wasserstein to the data": {
                "EMA generator": (self.swd["step"], self.swd["value"])},
        }, title)


def _open_source(config, size: int):
    try:
        return data.open_source(str(config.data.source), size, int(config.seed),
                                int(config.data.held_out))
    except data.SourceError as e:
        raise TrainError(f"config.data.source: {e}") from None


def _export(out: str, gcfg, state: trainer.TrainState, name: str, step: int) -> None:
    """The EMA generator as a converted checkpoint directory ``out/generator``."""
    from jaxinv.io.checkpoints import save_params

    params = jax.device_get(trainer.generator_params(gcfg, state.g_ema, state.w_avg))
    save_params(os.path.join(out, "generator"), params,
                {"family": stylegan2.FAMILY.name, "config": gcfg.to_dict(),
                 "format": "jaxinv.train",
                 "source": f"{out} ({name}, step {step}, EMA generator)"})


def _write_held_out(out: str, source, n: int) -> None:
    """``out/held_out``, written once: assembled beside it and renamed into place, so an
    interrupted run never leaves part of it."""
    import tempfile

    from jaxinv.io.images import default_mode, save_image

    folder = os.path.join(out, "held_out")
    if n <= 0 or os.path.isdir(folder):
        return
    staging = tempfile.mkdtemp(prefix=".tmp-held_out-", dir=out)
    os.chmod(staging, default_mode(directory=True))  # mkdtemp makes it owner-only
    for i, image in enumerate(source.held_out(n)):
        save_image(os.path.join(staging, f"held_out_{i:04d}.png"), image)
    os.replace(staging, folder)


def run(config) -> int:
    """Runs or resumes the training ``config`` describes; returns the exit status (0 done, 1
    non-finite). TrainError (config or data) is raised before anything is compiled."""
    from jaxinv.engine import Snapshot, sharding
    from jaxinv.io.checkpoints import OptimizationCheckpoint, tree_checksum
    from jaxinv.io.images import save_image
    from jaxinv.metrics import sliced_wasserstein
    from jaxinv.report.grids import tile
    from jaxinv.report.progress import Bar
    from jaxinv.report.tables import write_json

    settings = settings_from(config)
    gcfg, dcfg = architectures(config)
    source = _open_source(config, gcfg.size)
    out, name = os.path.abspath(config.output_dir), str(config.name)
    weights = ({"data generator": tree_checksum(source.generator.params)}
               if isinstance(source, data.GeneratorStream) else {})
    identity = run_identity.identity(config, weights, COSMETIC)
    try:
        run_identity.prepare(out, identity, config.overwrite, OUTPUTS, results="checkpoint")
    except run_identity.DifferentRun as e:
        raise TrainError(str(e)) from None
    write_json(os.path.join(out, "config.json"), json.loads(config.to_json_best_effort()))
    write_json(os.path.join(out, run_identity.FILE), identity)
    _write_held_out(out, source, int(config.data.held_out))

    # devices that divide both the batch and the path-length batch
    mesh = sharding.batch_mesh(math.gcd(settings.batch, settings.pl_batch), int(config.devices))
    if mesh is not None:
        cli.log(f"each batch of {settings.batch} images is split over {mesh.size} "
                f"{jax.default_backend()} devices")
    programs = trainer.build_programs(gcfg, dcfg, settings, mesh)
    seed = jax.random.PRNGKey(int(config.seed))
    state = trainer.init_state(gcfg, dcfg, settings, jax.random.fold_in(seed, 0))
    checkpoint = OptimizationCheckpoint(os.path.join(out, "checkpoint"), identity,
                                        int(config.checkpoint_every))
    snapshot = checkpoint.restore(state)
    done, curves = 0, Curves()
    if snapshot is not None:
        state, done = jax.tree_util.tree_map(jnp.asarray, snapshot.state), snapshot.done
        curves = Curves(snapshot.losses, snapshot.aux["swd"])
        cli.log(f"resuming {out} from step {done}")
    if mesh is not None:
        state = sharding.replicate(state, mesh)
    steps = int(config.steps)
    z_samples = stylegan2.sample_z(gcfg, jax.random.fold_in(seed, 3), SAMPLES)
    reference = jnp.asarray(source.reference(int(config.data.reference)))
    train_key = jax.random.fold_in(seed, 1)

    def evaluate(step: int) -> None:
        save_image(os.path.join(out, "samples", f"step_{step:06d}.png"),
                   tile(np.asarray(programs.samples(state, z_samples)), int(SAMPLES ** 0.5)))
        fresh = jax.random.fold_in(jax.random.fold_in(seed, 4), step)
        fakes = programs.samples(state, stylegan2.sample_z(gcfg, fresh, reference.shape[0]))
        curves.swd["step"].append(step)
        curves.swd["value"].append(float(sliced_wasserstein(fakes, reference,
                                                            jax.random.fold_in(seed, 5))))
        curves.write(out, name)

    def save(step: int) -> None:
        checkpoint.save(Snapshot(jax.device_get(state), step, curves.array(),
                                 {"swd": {k: np.asarray(v) for k, v in curves.swd.items()}}))
        _export(out, gcfg, state, name, step)

    bar = Bar(steps, name, "steps", bool(config.progress))
    status = 0
    try:
        if done == 0:
            evaluate(0)
        for step in range(done, steps):
            real = source.train_batch(step, settings.batch)
            if mesh is not None:
                real = sharding.split_batch(real, mesh)
            beta = trainer.ema_beta(step, settings.batch, float(config.ema.half_life),
                                    float(config.ema.rampup))
            state, numbers = trainer.train_step(programs, settings, state, real,
                                                jax.random.fold_in(train_key, step), step, beta)
            numbers = jax.device_get(numbers)
            bad = [k for k, v in numbers.items() if not np.isfinite(v)]
            if bad:
                cli.log(f"error: non-finite {', '.join(bad)} at step {step}; the last "
                        f"checkpoint ({checkpoint.directory}) is kept")
                status = 1
                break
            curves.add(numbers)
            bar(step + 1, extra={"D": numbers["d_loss"], "G": numbers["g_loss"]})
            if (step + 1) % int(config.sample_every) == 0 or step + 1 == steps:
                evaluate(step + 1)
            if (step + 1) % int(config.checkpoint_every) == 0 or step + 1 == steps:
                save(step + 1)
    finally:
        bar.close()
    if status:
        curves.write(out, name)  # up to the failure; a finished run wrote them at its last step
    else:
        last = curves.array()[-1] if curves.rows else [math.nan] * len(trainer.NUMBERS)
        write_json(os.path.join(out, "summary.json"),
                   {"steps": len(curves.rows), **dict(zip(trainer.NUMBERS, map(float, last))),
                    "swd": curves.swd["value"][-1], "data": source.description,
                    "generator": gcfg.to_dict()})
        cli.log(f"trained {steps} steps; sliced Wasserstein distance to the data "
                f"{curves.swd['value'][0]:.4g} -> {curves.swd['value'][-1]:.4g}; wrote "
                f"{out}/generator")
    return status


def main(argv):
    del argv
    return cli.main(run, (TrainError,))


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=cli.parse_flags)
