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

:mod:`jaxinv.experiments.train` runs these steps from a config, with checkpoints, samples and
curves.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec

from jaxinv.engine import sharding
from jaxinv.generators import stylegan2
from jaxinv.train import discriminator, objectives

# What :func:`train_step` reports (the regularisers only on the steps that run them).
NUMBERS = ("d_loss", "g_loss", "real_logit", "fake_logit", "r1", "pl_penalty", "path_length")
_BUFFERS = ("noise", "w_avg")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The hyperparameters the compiled steps read (hashable: a static argument)."""

    batch: int
    pl_batch: int
    lr: float
    betas: tuple[float, float]
    eps: float
    r1_gamma: float
    d_reg_every: int
    pl_weight: float
    g_reg_every: int
    pl_decay: float
    style_mixing: float
    w_avg_beta: float

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
    """The compiled programs of :func:`build_programs` (the four steps donate the state):
    ``d_step(state, real, key)``, ``r1_step(state, real)``, ``pl_step(state, key)``,
    ``g_step(state, key, ema_beta)``, each ``-> (state, {name: scalar})``; and
    ``samples(state, z) -> images`` of the EMA generator (no truncation)."""

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
        return stylegan2.generate(gcfg, generator_params(gcfg, state.g_ema, state.w_avg), z)

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
