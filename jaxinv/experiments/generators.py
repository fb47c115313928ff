"""The runner's view of a generator family: loading, the built-in random model, recovery targets.

A :class:`Generator` is what the runner needs of any family: its static architecture ``cfg``,
params, output size and the notes to show in the report. Families:

- ``stylegan2``: converted by ``converters/stylegan2_rosinality.py``; recovery targets are
  generated from known W latents (truncated towards ``w_avg``), so the latent error is reported.
- ``pggan``: converted by ``converters/pggan_genforce.py``; recovery targets come from known z.
- ``biggan``: converted by ``converters/biggan_hf.py``; recovery targets come from known z
  (truncated normal) of class ``config.method.class_index`` at ``config.method.truncation``.

With ``config.checkpoint`` empty, ``config.builtin.family`` names a seeded random model of that
family (a smoke test, never a pretrained result: every run then says so).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

FAMILIES = ("stylegan2", "pggan", "biggan")
CONVERTERS = {"stylegan2": "converters/stylegan2_rosinality.py",
              "pggan": "converters/pggan_genforce.py", "biggan": "converters/biggan_hf.py"}


class Generator(NamedTuple):
    family: str
    cfg: object
    params: dict
    size: int
    notes: list


def _module(family: str):
    from jaxinv.generators import biggan, pggan, stylegan2

    return {"stylegan2": stylegan2, "pggan": pggan, "biggan": biggan}[family]


def _config_class(family: str):
    from jaxinv.generators import biggan, pggan, stylegan2

    return {"stylegan2": stylegan2.StyleGAN2Config, "pggan": pggan.PGGANConfig,
            "biggan": biggan.BigGANConfig}[family]


def _size(family: str, cfg) -> int:
    return {"stylegan2": lambda: cfg.size, "pggan": lambda: cfg.resolution,
            "biggan": lambda: cfg.output_dim}[family]()


def _random_images(family: str, cfg, params, key, n: int):
    """Images [n, H, W, 3] of random latents."""
    import jax

    if family == "stylegan2":
        from jaxinv.generators import stylegan2

        return stylegan2.generate(cfg, params, jax.random.normal(key, (n, cfg.style_dim)))
    if family == "biggan":
        from jaxinv.generators import biggan

        classes = jax.random.randint(key, (n,), 0, cfg.num_classes)
        return biggan.generate(cfg, params, jax.random.normal(key, (n, cfg.z_dim)),
                               biggan.one_hot(cfg, classes), 1.0)
    from jaxinv.generators import pggan

    return pggan.generate(cfg, params, jax.random.normal(key, (n, cfg.z_dim)))


def _rgb_layers(family: str, params) -> list:
    return params["to_rgbs"] if family == "stylegan2" else [params["to_rgb"]]


def builtin(config) -> Generator:
    """The seeded random model ``config.builtin`` describes, its RGB layers scaled so images
    span about [-1, 1] (random RGB layers give a std of ~1.5 or more)."""
    import jax

    b = config.builtin
    if b.family not in FAMILIES:
        raise ValueError(f"config.builtin.family = {b.family!r}; choose one of {FAMILIES}")
    log = int(np.log2(b.size))
    if b.family == "stylegan2":
        from jaxinv.generators import stylegan2

        cfg = stylegan2.StyleGAN2Config(b.size, b.style_dim, b.n_mlp, (b.channels,) * (log - 1))
    elif b.family == "biggan":
        from jaxinv.generators import biggan

        # channels is the widest layer, 16 * channel_width; at least 3 channels reach RGB
        cfg = biggan.BigGANConfig.small(b.size, max(4, b.channels // 16), b.style_dim)
    else:
        from jaxinv.generators import pggan

        cfg = pggan.PGGANConfig(b.size, b.style_dim, (b.channels,) * (log - 1))
    module = _module(b.family)
    params = module.init_params(cfg, jax.random.PRNGKey(b.seed))
    if b.family != "biggan":  # BigGAN ends in tanh: its images are in range already
        images = _random_images(b.family, cfg, params, jax.random.PRNGKey(b.seed + 1), 8)
        gain = 0.5 / float(np.std(np.asarray(images)))
        for layer in _rgb_layers(b.family, params):
            layer["weight"] = layer["weight"] * gain
    note = (f"No pretrained model was used: config.checkpoint is empty, so this run uses a "
            f"built-in {b.family} ({b.size}px, latent size {b.style_dim}) with random weights "
            f"(seed {b.seed}). Convert a real checkpoint with {CONVERTERS[b.family]} and pass "
            f"--config.checkpoint=OUTPUT_DIR.")
    return Generator(b.family, cfg, params, b.size, [note])


def load(config) -> Generator:
    """``config.checkpoint`` (any family, read from its meta.json) or the built-in model."""
    import jax

    from jaxinv.io.checkpoints import CheckpointError, check_shapes, load_params

    if not config.checkpoint:
        return builtin(config)
    params, meta = load_params(config.checkpoint)
    family = meta.get("family")
    if family not in FAMILIES:
        raise CheckpointError(f"{config.checkpoint}: holds a {family!r} checkpoint; the runner "
                              f"inverts {', '.join(FAMILIES)}")
    try:
        cfg = _config_class(family).from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{config.checkpoint}/meta.json: no valid {family} architecture "
                              f"({type(e).__name__}: {e})") from None
    check_shapes(params, _module(family).param_shapes(cfg), config.checkpoint)
    return Generator(family, cfg, jax.tree_util.tree_map(np.asarray, params),
                     _size(family, cfg), [])


def recovery_targets(config, gen: Generator):
    """``config.num_targets`` images [n, H, W, 3] from known latents (seed ``config.seed +
    1000``) and one truth dict per image: ``{'wplus': [N_l, D]}`` (StyleGAN2, W truncated by
    ``config.target_truncation``) or ``{'z': [z_dim]}`` (PGGAN)."""
    import jax

    key = jax.random.PRNGKey(config.seed + 1000)
    if gen.family == "stylegan2":
        from jaxinv.generators import stylegan2

        z = jax.random.normal(key, (config.num_targets, gen.cfg.style_dim))
        w = stylegan2.truncate(stylegan2.mapping(gen.cfg, gen.params, z), gen.params["w_avg"],
                               config.target_truncation)
        ws = stylegan2.broadcast_w(gen.cfg, w)
        images = stylegan2.synthesis(gen.cfg, gen.params, ws)
        truths = [{"wplus": np.asarray(w_i)} for w_i in ws]
    elif gen.family == "biggan":
        from jaxinv.generators import biggan

        t = config.method.truncation
        z = biggan.truncated_noise(key, (config.num_targets, gen.cfg.z_dim), t)
        classes = biggan.one_hot(gen.cfg, [config.method.class_index] * config.num_targets)
        images = biggan.generate(gen.cfg, gen.params, z, classes, t)
        truths = [{"z": np.asarray(z_i)} for z_i in z]
    else:
        from jaxinv.generators import pggan

        z = jax.random.normal(key, (config.num_targets, gen.cfg.z_dim))
        images = pggan.generate(gen.cfg, gen.params, z)
        truths = [{"z": np.asarray(z_i)} for z_i in z]
    return np.asarray(images), truths


def method_context(gen: Generator) -> dict:
    """What the family's methods read from the context besides the params."""
    import jax

    if gen.family == "stylegan2":
        from jaxinv.generators import stylegan2

        return {"w_std": stylegan2.w_stats(gen.cfg, gen.params, jax.random.PRNGKey(0))[1]}
    return {}
