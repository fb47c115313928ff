"""StyleGAN2 training in JAX, for the baseline and the overparameterized generator.

As StyleGAN2 (config-e/f) is trained, without noise inputs (as the overparameterization paper):
the non-saturating logistic loss, R1 on real images every ``d_reg_every`` steps, the
path-length regulariser every ``g_reg_every`` steps (both lazy, with Adam's rate and betas
adjusted as StyleGAN2 does), style mixing, an EMA copy of the generator and a tracked mean of W
(the truncation centre). An overparameterized generator (``rows`` > 1) draws a latent matrix of
correlated rows per sample (:func:`jaxinv.generators.stylegan2.sample_z`) and modulates each
output channel with its own row.

Every step is four compiled programs (discriminator step, R1 step, path-length step, generator
step with the EMA), each a pure function of the :class:`TrainState`, the step's images and a
key ``fold_in(seed, step)``. The batch is split over the local devices with ``jax.sharding``
(a one-axis mesh over the batch: images and latents sharded, weights replicated), so the same
run trains on a CPU, a GPU or a TPU slice.

``output_dir`` holds::

  run.json, config.json    the run's identity and config (a run resumes only the same run)
  checkpoint/              the whole training state, every ``checkpoint_every`` steps
                           (atomic: a killed run resumes from the last one, bit for bit)
  generator/               the EMA generator as a converted checkpoint directory (pass it as
                           ``--config.checkpoint`` to the inversion runner)
  held_out/                images of the data source never trained on
  samples/step_NNNNNN.png  the EMA generator's images of 16 fixed latents
  curves.json, curves.png  losses, regularisers and the sliced Wasserstein distance to the
                           data (:func:`jaxinv.metrics.sliced_wasserstein`) per step
  summary.json             the last step's numbers

Exit status (``jaxinv.experiments.train``): 0 when the run finished, 1 when a loss became
non-finite (the last checkpoint is kept), 2 for a config or data error.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec

from jaxinv.engine import sharding
from jaxinv.generators import stylegan2
from jaxinv.train import discriminator, objectives

CURVES = ("d_loss", "g_loss", "real_logit", "fake_logit", "r1", "pl_penalty", "path_length")
OUTPUTS = ("checkpoint", "generator", "held_out", "samples", "config.json", "run.json",
           "curves.json", "curves.png", "summary.json")
# Keys that change no trained weight: how long (a run can be extended), what is shown, where.
COSMETIC = ("name", "output_dir", "overwrite", "progress", "devices", "steps",
            "checkpoint_every", "sample_every")
SAMPLES = 16
_BUFFERS = ("noise", "w_avg")


class TrainError(ValueError):
    """A training config or data source that cannot be used; the message names the key."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """The hyperparameters the compiled steps read (hashable: a static argument)."""

    batch: int
    pl_batch: int
    lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    eps: float = 1e-8
    r1_gamma: float = 0.01
    d_reg_every: int = 16
    pl_weight: float = 2.0
    g_reg_every: int = 4
    pl_decay: float = 0.01
    style_mixing: float = 0.9
    w_avg_beta: float = 0.995

    def adam(self, reg_every: int) -> optax.GradientTransformation:
        """Adam with StyleGAN2's lazy-regularisation adjustment: rate and betas to the power
        ``reg_every / (reg_every + 1)``."""
        c = reg_every / (reg_every + 1) if reg_every > 0 else 1.0
        return optax.adam(self.lr * c, b1=self.betas[0] ** c, b2=self.betas[1] ** c,
                          eps=self.eps)


class TrainState(NamedTuple):
    """Everything a step reads and writes; ``g``/``g_ema`` are the generator's params without
    the noise buffers and ``w_avg`` (kept apart: the noise is off, ``w_avg`` is tracked)."""

    g: Any
    d: Any
    g_ema: Any
    w_avg: jax.Array
    g_opt: Any
    d_opt: Any
    pl_mean: jax.Array


def init_state(gcfg, dcfg, settings: Settings, key) -> TrainState:
    """Fresh weights (StyleGAN2's initialisation) and optimiser states."""
    kg, kd = jax.random.split(key)
    full = stylegan2.init_params(gcfg, kg)
    g = {k: v for k, v in full.items() if k not in _BUFFERS}
    d = discriminator.init_params(dcfg, kd)
    g_ema = jax.tree_util.tree_map(jnp.copy, g)  # its own buffers: steps donate the state
    return TrainState(g, d, g_ema, full["w_avg"], settings.adam(settings.g_reg_every).init(g),
                      settings.adam(settings.d_reg_every).init(d), jnp.zeros(()))


def generator_params(gcfg, g, w_avg) -> dict:
    """The full StyleGAN2 params pytree of trained weights ``g``: zero noise buffers (trained
    without noise) and the tracked ``w_avg``."""
    noise = [jnp.zeros(s, w_avg.dtype) for s in gcfg.noise_shapes]
    return {**g, "noise": noise, "w_avg": w_avg}


def ema_beta(step: int, batch: int, half_life: float, rampup: float) -> float:
    """The EMA generator's decay at ``step``: half-life ``half_life`` images, limited to
    ``rampup`` times the images seen so far (NVIDIA's ema_kimg and ema_rampup)."""
    if rampup > 0:
        half_life = min(half_life, (step + 1) * batch * rampup)
    return 0.5 ** (batch / max(half_life, 1e-8))


class Programs(NamedTuple):
    d_step: Any
    r1_step: Any
    pl_step: Any
    g_step: Any
    samples: Any


def build_programs(gcfg, dcfg, settings: Settings, mesh) -> Programs:
    """The compiled steps for one architecture; ``mesh`` (or None) splits the batch."""
    if mesh is None:
        def split(x):
            return x
    else:
        def split(x):
            return jax.lax.with_sharding_constraint(
                x, NamedSharding(mesh, PartitionSpec(sharding.AXIS)))

    def mapped(g, key, batch):
        """W+ of ``batch`` fresh latents, mixed at a random layer with probability
        ``style_mixing``, and the unmixed W (for the tracked mean)."""
        k1, k2, k3, k4 = jax.random.split(key, 4)
        w1 = stylegan2.mapping(gcfg, g, split(stylegan2.sample_z(gcfg, k1, batch)))
        w2 = stylegan2.mapping(gcfg, g, split(stylegan2.sample_z(gcfg, k2, batch)))
        n = gcfg.n_latent
        cutoff = jnp.where(jax.random.uniform(k3) < settings.style_mixing,
                           jax.random.randint(k4, (), 1, n), n)
        layer = jnp.arange(n).reshape((1, n) + (1,) * (w1.ndim - 1))
        return jnp.where(layer < cutoff, w1[:, None], w2[:, None]), w1

    def render(g, w_avg, ws):
        return stylegan2.synthesis(gcfg, generator_params(gcfg, g, w_avg), ws)

    def logits(d, images):
        return discriminator.logits(dcfg, d, images)

    d_adam, g_adam = settings.adam(settings.d_reg_every), settings.adam(settings.g_reg_every)

    def update(adam, params, opt_state, grads):
        updates, opt_state = adam.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    @functools.partial(jax.jit, donate_argnums=0)
    def d_step(state: TrainState, real, key):
        fake = render(state.g, state.w_avg, mapped(state.g, key, settings.batch)[0])

        def loss(d):
            real_logits, fake_logits = logits(d, split(real)), logits(d, fake)
            return (objectives.discriminator_loss(real_logits, fake_logits),
                    (jnp.mean(real_logits), jnp.mean(fake_logits)))

        (value, (real_mean, fake_mean)), grads = jax.value_and_grad(loss, has_aux=True)(state.d)
        d, d_opt = update(d_adam, state.d, state.d_opt, grads)
        return state._replace(d=d, d_opt=d_opt), {"d_loss": value, "real_logit": real_mean,
                                                  "fake_logit": fake_mean}

    @functools.partial(jax.jit, donate_argnums=0)
    def r1_step(state: TrainState, real):
        def loss(d):
            r1 = objectives.r1_penalty(functools.partial(logits, d), split(real))
            return settings.r1_gamma / 2 * r1 * settings.d_reg_every, r1

        (_, r1), grads = jax.value_and_grad(loss, has_aux=True)(state.d)
        d, d_opt = update(d_adam, state.d, state.d_opt, grads)
        return state._replace(d=d, d_opt=d_opt), {"r1": r1}

    @functools.partial(jax.jit, donate_argnums=0)
    def pl_step(state: TrainState, key):
        k_w, k_y = jax.random.split(key)

        def loss(g):
            ws = mapped(g, k_w, settings.pl_batch)[0]
            penalty, length, pl_mean = objectives.path_length_penalty(
                functools.partial(render, g, state.w_avg), ws, k_y, state.pl_mean,
                settings.pl_decay)
            return settings.pl_weight * settings.g_reg_every * penalty, (penalty, length,
                                                                         pl_mean)

        (_, (penalty, length, pl_mean)), grads = jax.value_and_grad(
            loss, has_aux=True)(state.g)
        g, g_opt = update(g_adam, state.g, state.g_opt, grads)
        return (state._replace(g=g, g_opt=g_opt, pl_mean=pl_mean),
                {"pl_penalty": penalty, "path_length": length})

    @functools.partial(jax.jit, donate_argnums=0)
    def g_step(state: TrainState, key, beta):
        def loss(g):
            ws, w = mapped(g, key, settings.batch)
            fake_logits = logits(state.d, render(g, state.w_avg, ws))
            return objectives.generator_loss(fake_logits), jnp.mean(
                w.reshape(-1, w.shape[-1]), axis=0)

        (value, w_mean), grads = jax.value_and_grad(loss, has_aux=True)(state.g)
        g, g_opt = update(g_adam, state.g, state.g_opt, grads)
        g_ema = jax.tree_util.tree_map(lambda new, old: new + beta * (old - new), g,
                                       state.g_ema)
        w_avg = w_mean + settings.w_avg_beta * (state.w_avg - w_mean)
        return state._replace(g=g, g_opt=g_opt, g_ema=g_ema, w_avg=w_avg), {"g_loss": value}

    @jax.jit
    def samples(state: TrainState, z):
        ws = stylegan2.broadcast_w(gcfg, stylegan2.mapping(gcfg, state.g_ema, z))
        return render(state.g_ema, state.w_avg, ws)

    return Programs(d_step, r1_step, pl_step, g_step, samples)


def train_step(programs: Programs, settings: Settings, state: TrainState, real, key, step: int,
               beta: float):
    """One training iteration: D, R1 (every ``d_reg_every``), path length (every
    ``g_reg_every``), then G with the EMA. Returns the new state and the step's numbers (device
    scalars; the regularisers only on the steps that ran them)."""
    k_d, k_pl, k_g = jax.random.split(key, 3)
    state, numbers = programs.d_step(state, real, k_d)
    if step % settings.d_reg_every == 0:
        state, more = programs.r1_step(state, real)
        numbers.update(more)
    if step % settings.g_reg_every == 0:
        state, more = programs.pl_step(state, k_pl)
        numbers.update(more)
    state, more = programs.g_step(state, k_g, jnp.float32(beta))
    numbers.update(more)
    return state, numbers


# ----------------------------------------------------------------------------- the run


class _Curves:
    """Per-step training numbers; a regulariser holds its last value between the steps that
    compute it. ``swd`` is measured at the sample steps."""

    def __init__(self, rows=None, swd=None):
        self.rows = [] if rows is None else [list(r) for r in np.asarray(rows)]
        self.swd = {"step": [], "value": []} if swd is None else {
            k: [float(x) for x in np.asarray(v)] for k, v in swd.items()}

    def add(self, numbers: dict) -> None:
        last = self.rows[-1] if self.rows else [math.nan] * len(CURVES)
        self.rows.append([float(numbers[name]) if name in numbers else last[i]
                          for i, name in enumerate(CURVES)])

    def array(self) -> np.ndarray:
        return np.asarray(self.rows, np.float32).reshape(-1, len(CURVES))

    def to_json(self) -> dict:
        a = self.array()
        return {"step": list(range(a.shape[0])), **{n: a[:, i].tolist() for i, n in
                                                     enumerate(CURVES)},
                "swd": self.swd}


def _config_error(key: str, e: Exception) -> TrainError:
    return TrainError(f"config.{key}: {e}")


def architectures(config):
    """``(generator config, discriminator config)`` from ``config``; TrainError naming the key."""
    g = config.generator
    try:
        channels = tuple(int(c) for c in g.channels)
        rows = int(g.rows) if int(g.rows) > 0 else max(channels)
        gcfg = stylegan2.StyleGAN2Config(int(g.size), int(g.style_dim), int(g.n_mlp), channels,
                                         float(g.lr_mlp), rows)
    except (TypeError, ValueError) as e:
        raise _config_error("generator", e) from None
    try:
        dcfg = discriminator.DiscriminatorConfig(
            gcfg.size, tuple(int(c) for c in config.discriminator.channels),
            int(config.discriminator.mbstd_group))
    except (TypeError, ValueError) as e:
        raise _config_error("discriminator", e) from None
    return gcfg, dcfg


def settings_from(config) -> Settings:
    """The compiled steps' :class:`Settings`; TrainError naming the key of a bad value."""
    batch = int(config.batch_size)
    for key in ("steps", "batch_size", "checkpoint_every", "sample_every"):
        if int(config[key]) <= 0:
            raise TrainError(f"config.{key} = {config[key]}: must be a positive integer")
    group = int(config.discriminator.mbstd_group)
    if group <= 0 or (batch > group and batch % group):
        raise TrainError(f"config.batch_size = {batch}: must be a multiple of "
                         f"config.discriminator.mbstd_group = {group} (or smaller)")
    loss = config.loss
    pl_batch = batch // int(loss.pl_batch_shrink) if int(loss.pl_batch_shrink) > 0 else 0
    if pl_batch <= 0:
        raise TrainError(f"config.loss.pl_batch_shrink = {loss.pl_batch_shrink}: must be a "
                         f"positive integer at most batch_size")
    for key in ("d_reg_every", "g_reg_every"):
        if int(loss[key]) <= 0:
            raise TrainError(f"config.loss.{key} = {loss[key]}: must be a positive integer")
    if not 0.0 <= float(loss.style_mixing) <= 1.0:
        raise TrainError(f"config.loss.style_mixing = {loss.style_mixing}: a probability")
    opt = config.optimizer
    return Settings(batch, pl_batch, float(opt.lr), (float(opt.beta1), float(opt.beta2)),
                    float(opt.eps), float(loss.r1_gamma), int(loss.d_reg_every),
                    float(loss.pl_weight), int(loss.g_reg_every), float(loss.pl_decay),
                    float(loss.style_mixing), float(config.ema.w_avg_beta))


def _split_for(config, settings: Settings):
    """The batch mesh: devices dividing both the batch and the path-length batch."""
    return sharding.batch_mesh(math.gcd(settings.batch, settings.pl_batch), int(config.devices))


def _log(msg: str) -> None:
    from jaxinv.experiments.cli import log

    log(msg)


def train(config) -> int:
    """Runs or resumes the training ``config`` describes; returns the exit status (0 done, 1
    non-finite). TrainError (config or data) is raised before anything is compiled."""
    from jaxinv.engine import Snapshot
    from jaxinv.experiments import run_identity
    from jaxinv.io.checkpoints import OptimizationCheckpoint, tree_checksum
    from jaxinv.report.progress import Bar
    from jaxinv.report.tables import write_json
    from jaxinv.train import data

    settings = settings_from(config)
    gcfg, dcfg = architectures(config)
    try:
        source = data.open_source(str(config.data.source), gcfg.size, int(config.seed),
                                  int(config.data.held_out))
    except data.SourceError as e:
        raise TrainError(f"config.data.source: {e}") from None
    out = os.path.abspath(config.output_dir)
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

    mesh = _split_for(config, settings)
    if mesh is not None:
        _log(f"each batch of {settings.batch} images is split over {mesh.size} "
             f"{jax.default_backend()} devices")
    programs = build_programs(gcfg, dcfg, settings, mesh)
    seed = jax.random.PRNGKey(int(config.seed))
    state = init_state(gcfg, dcfg, settings, jax.random.fold_in(seed, 0))
    checkpoint = OptimizationCheckpoint(os.path.join(out, "checkpoint"), identity,
                                        int(config.checkpoint_every))
    snapshot = checkpoint.restore(state)
    done, curves = 0, _Curves()
    if snapshot is not None:
        state, done = jax.tree_util.tree_map(jnp.asarray, snapshot.state), snapshot.done
        curves = _Curves(snapshot.losses, snapshot.aux["swd"])
        _log(f"resuming {out} from step {done}")
    if mesh is not None:
        state = sharding.replicate(state, mesh)
    steps = int(config.steps)
    z_samples = stylegan2.sample_z(gcfg, jax.random.fold_in(seed, 3), SAMPLES)
    reference = source.reference(int(config.data.reference))
    train_key = jax.random.fold_in(seed, 1)
    bar = Bar(steps, str(config.name), "steps", bool(config.progress))

    def evaluate(step: int) -> None:
        images = np.asarray(programs.samples(state, z_samples))
        from jaxinv.io.images import save_image
        from jaxinv.report.grids import tile

        save_image(os.path.join(out, "samples", f"step_{step:06d}.png"),
                   tile(images, int(math.sqrt(SAMPLES))))
        fresh = jax.random.fold_in(jax.random.fold_in(seed, 4), step)
        fakes = programs.samples(state, stylegan2.sample_z(gcfg, fresh, reference.shape[0]))
        curves.swd["step"].append(step)
        curves.swd["value"].append(float(_swd(fakes, reference, seed)))
        _write_curves(out, curves, str(config.name))

    def save(step: int) -> None:
        checkpoint.save(Snapshot(jax.device_get(state), step, curves.array(),
                                 {"swd": {k: np.asarray(v) for k, v in curves.swd.items()}}))
        _export(out, gcfg, state, config, step)

    status = 0
    try:
        if done == 0:
            evaluate(0)
        for step in range(done, steps):
            real = source.train_batch(step, settings.batch)
            if mesh is not None:
                real = sharding.split_batch(real, mesh)
            beta = ema_beta(step, settings.batch, float(config.ema.half_life),
                            float(config.ema.rampup))
            state, numbers = train_step(programs, settings, state, real,
                                        jax.random.fold_in(train_key, step), step, beta)
            numbers = jax.device_get(numbers)
            if not all(np.isfinite(v) for v in numbers.values()):
                bad = ", ".join(k for k, v in numbers.items() if not np.isfinite(v))
                _log(f"error: non-finite {bad} at step {step}; the last checkpoint "
                     f"({checkpoint.directory}) is kept")
                status = 1
                break
            curves.add(numbers)
            bar(step + 1, np.asarray([numbers["g_loss"]]))
            if (step + 1) % int(config.sample_every) == 0 or step + 1 == steps:
                evaluate(step + 1)
            if (step + 1) % int(config.checkpoint_every) == 0 or step + 1 == steps:
                save(step + 1)
    finally:
        bar.close()
    _write_curves(out, curves, str(config.name))
    if status == 0:
        last = curves.array()[-1] if curves.rows else [math.nan] * len(CURVES)
        write_json(os.path.join(out, "summary.json"),
                   {"steps": len(curves.rows), **dict(zip(CURVES, map(float, last))),
                    "swd": curves.swd["value"][-1], "data": source.description,
                    "generator": gcfg.to_dict()})
        _log(f"trained {steps} steps; sliced Wasserstein distance to the data "
             f"{curves.swd['value'][0]:.4g} -> {curves.swd['value'][-1]:.4g}; wrote "
             f"{out}/generator")
    return status


def _swd(fakes, reference, seed):
    from jaxinv.metrics import sliced_wasserstein

    return sliced_wasserstein(fakes, jnp.asarray(reference), jax.random.fold_in(seed, 5))


def _export(out: str, gcfg, state: TrainState, config, step: int) -> None:
    """The EMA generator as a converted checkpoint directory ``out/generator``."""
    from jaxinv.io.checkpoints import save_params

    params = jax.device_get(generator_params(gcfg, state.g_ema, state.w_avg))
    save_params(os.path.join(out, "generator"), params,
                {"family": "stylegan2", "config": gcfg.to_dict(), "format": "jaxinv.train",
                 "source": f"{out} ({config.name}, step {step}, EMA generator)"})


def _write_held_out(out: str, source, n: int) -> None:
    from jaxinv.io.images import save_image

    folder = os.path.join(out, "held_out")
    if n <= 0 or os.path.isdir(folder):
        return
    for i, image in enumerate(source.held_out(n)):
        save_image(os.path.join(folder, f"held_out_{i:04d}.png"), image)


def _write_curves(out: str, curves: _Curves, title: str) -> None:
    from jaxinv.report.plots import training_curves
    from jaxinv.report.tables import write_json

    write_json(os.path.join(out, "curves.json"), curves.to_json())
    a = curves.array()
    steps = np.arange(1, a.shape[0] + 1)
    col = {name: (steps, a[:, i]) for i, name in enumerate(CURVES)}
    training_curves(os.path.join(out, "curves.png"), {
        "adversarial losses": {"D": col["d_loss"], "G": col["g_loss"]},
        "D logits (mean)": {"real": col["real_logit"], "fake": col["fake_logit"]},
        "regularisers": {"R1": col["r1"], "path-length penalty": col["pl_penalty"]},
        "sliced Wasserstein to the data": {"EMA generator": (curves.swd["step"],
                                                            curves.swd["value"])},
    }, title)
