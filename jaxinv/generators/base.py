"""What every generator family offers the runner and the methods, and the registry of families.

A family is one module of :mod:`jaxinv.generators` that defines ``FAMILY``, a :class:`Family`:
its architecture config class, how to make random params and the built-in random model, how to
render random images and recovery targets (images from known latents), and, where the network
has one, its :class:`FeatureSplit` (z -> features at layer k -> image) for methods that compose
features. Nothing outside a family's module asks which family it is: the runner and the methods
call these functions. A :class:`Generator` is one loaded model: the family, its static config
and its params.

``register`` adds a family at run time (a test or a notebook can plug one in without editing
the library); the built-in families are imported on first use.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, NamedTuple

import numpy as np

from jaxinv.registry import Registry


@dataclasses.dataclass(frozen=True)
class BuiltinSpec:
    """The seeded random model a family builds when no checkpoint is given: output ``size``,
    latent size ``latent_dim``, widest ``channels``, mapping depth ``n_mlp`` (where the family
    has a mapping network) and ``seed``."""

    size: int = 64
    latent_dim: int = 128
    channels: int = 64
    n_mlp: int = 4
    seed: int = 0


class FeatureSplit(NamedTuple):
    """The network split at conv layer k (1-based): ``features(cfg, params, z [n, z_dim], k) ->
    [n, h, w, C]`` runs the first k layers, ``from_features(cfg, params, f, k) -> images
    [n, H, W, 3]`` the rest; ``channels(cfg, k)`` is C; layers k run over
    ``1..num_layers(cfg)``."""

    num_layers: Callable
    channels: Callable
    features: Callable
    from_features: Callable


@dataclasses.dataclass(frozen=True)
class Family:
    """A generator family's interface (all functions pure; params are never closed over).

    name: what converters write into ``meta.json`` and ``config.builtin.family`` names.
    config_class: the static architecture (``from_dict`` / ``to_dict``, hashable).
    converter: the script that converts the original checkpoints.
    init_params(cfg, key) -> params; param_shapes(cfg) -> ShapeDtypeStruct pytree.
    size(cfg) -> output resolution; latent_dim(cfg) -> size of one z.
    builtin_config(spec: BuiltinSpec) -> cfg of the built-in random model.
    random_images(cfg, params, key, n) -> images [n, H, W, 3] of random latents.
    recovery_targets(cfg, params, key, n, options) -> (images [n, H, W, 3], truths: one dict
      of known latents per image); ``options`` carries ``truncation`` and whatever the method
      asks for (e.g. ``class_index``); unknown options are ignored.
    rgb_layers(params) -> the ToRGB layer dicts (``weight`` scaled so the built-in model's
      images span about [-1, 1]); None when the family's output is bounded already.
    context(cfg, params) -> extra context entries the family's methods read (e.g. W's spread).
    latent_error(latents, truth, params) -> float or None: how far a solution's latents are
      from the known ones (recovery targets), when the family can say.
    split: the :class:`FeatureSplit`, or None.
    from_saved(obj, where) -> (cfg, params): the original checkpoint as loaded (plain
      containers of numpy arrays, e.g. by :mod:`jaxinv.io.torch_zip`) in the family's released
      layout; what :mod:`jaxinv.generators.packaged` uses for weights shipped in a package.
    """

    name: str
    config_class: type
    converter: str
    init_params: Callable
    param_shapes: Callable
    size: Callable
    latent_dim: Callable
    builtin_config: Callable
    random_images: Callable
    recovery_targets: Callable
    rgb_layers: Callable | None = None
    context: Callable | None = None
    latent_error: Callable | None = None
    split: FeatureSplit | None = None
    from_saved: Callable | None = None


class Generator(NamedTuple):
    """One loaded model: its family, static ``cfg``, ``params`` (numpy or jax arrays) and the
    notes a report must show (e.g. that the weights are random)."""

    family: Family
    cfg: Any
    params: Any
    notes: tuple = ()

    @property
    def size(self) -> int:
        return self.family.size(self.cfg)

    def context(self) -> dict:
        """The shared context every method gets: ``{'generator': params, ...family extras}``
        (the extras computed by one compiled call, not op by op)."""
        import jax

        extra = (jax.jit(self.family.context, static_argnums=0)(self.cfg, self.params)
                 if self.family.context else {})
        return {"generator": self.params, **extra}


_REGISTRY = Registry("generator family", {"stylegan2": "jaxinv.generators.stylegan2",
                                           "pggan": "jaxinv.generators.pggan",
                                           "biggan": "jaxinv.generators.biggan",
                                           "dcgan": "jaxinv.generators.dcgan"}, "FAMILY")
register, names, get = _REGISTRY.register, _REGISTRY.names, _REGISTRY.get


def _packaged_names():
    from jaxinv.generators import packaged

    return sorted(packaged.MODELS)


def gaussian_z(generate: Callable, latent_dim: Callable) -> tuple[Callable, Callable, Callable]:
    """``(random_images, recovery_targets, latent_error)`` of a family whose image is
    ``generate(cfg, params, z [n, latent_dim(cfg)])`` with z ~ N(0, I) (PGGAN, DCGAN); truths
    are ``{'z': [z_dim]}``, and the latent error is ``||z - z*|| / ||z*||`` for a solution
    with one z (None for others, e.g. mGANprior's many codes)."""
    import jax

    def random_images(cfg, params, key, n: int):
        return generate(cfg, params, jax.random.normal(key, (n, latent_dim(cfg))))

    def recovery_targets(cfg, params, key, n: int, options: dict):
        z = jax.random.normal(key, (n, latent_dim(cfg)))
        return (np.asarray(generate(cfg, params, z)),
                [{"z": np.asarray(z_i)} for z_i in z])

    def latent_error(latents: dict, truth: dict, params):
        if "z" not in latents or "z" not in truth or np.shape(latents["z"]) != truth["z"].shape:
            return None
        return float(np.linalg.norm(np.asarray(latents["z"]) - truth["z"])
                     / max(float(np.linalg.norm(truth["z"])), 1e-12))

    return random_images, recovery_targets, latent_error


def builtin(family: Family, spec: BuiltinSpec) -> Generator:
    """The seeded random model of ``family``, its RGB layers scaled so images span about
    [-1, 1] (random RGB layers give a std of ~1.5 or more)."""
    import jax

    cfg = family.builtin_config(spec)
    params = family.init_params(cfg, jax.random.PRNGKey(spec.seed))
    if family.rgb_layers is not None:
        images = family.random_images(cfg, params, jax.random.PRNGKey(spec.seed + 1), 8)
        gain = 0.5 / float(np.std(np.asarray(images)))
        for layer in family.rgb_layers(params):
            layer["weight"] = layer["weight"] * gain
    note = (f"No pretrained model was used: this run uses a built-in {family.name} "
            f"({family.size(cfg)}px, latent size {family.latent_dim(cfg)}) with random weights "
            f"(seed {spec.seed}). Convert a real checkpoint with {family.converter} and pass "
            f"its output directory (--config.checkpoint=OUTPUT_DIR).")
    return Generator(family, cfg, params, (note,))


def load(directory: str) -> Generator:
    """A converted checkpoint of any registered family (the family is read from its
    ``meta.json``), or ``packaged:NAME``, weights an installed package ships
    (:mod:`jaxinv.generators.packaged`); ``CheckpointError`` naming the file when it is not
    one."""
    import jax

    from jaxinv.io.checkpoints import CheckpointError, check_shapes, load_params

    if directory.startswith("packaged:"):
        from jaxinv.generators import packaged

        return packaged.load(directory[len("packaged:"):])
    if not os.path.exists(directory):
        raise CheckpointError(f"{directory}: does not exist (expected a directory written by "
                              f"a converter, or packaged:NAME with NAME one of "
                              f"{', '.join(_packaged_names())})")

    params, meta = load_params(directory)
    name = meta.get("family")
    try:
        family = get(name)
    except KeyError:
        raise CheckpointError(f"{directory}: holds a {name!r} checkpoint; the known generator "
                              f"families are {', '.join(names())}") from None
    try:
        cfg = family.config_class.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{directory}/meta.json: no valid {name} architecture "
                              f"({type(e).__name__}: {e})") from None
    check_shapes(params, family.param_shapes(cfg), directory)
    return Generator(family, cfg, jax.tree_util.tree_map(np.asarray, params))
