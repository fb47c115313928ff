"""Training images: an image folder, or an endless stream rendered by a pretrained generator.

A source hands out the batch of training step ``t`` as a pure function of ``(seed, t)``, so a
run resumed from a checkpoint sees exactly the images the uninterrupted run would have seen.
Every source also keeps images the training never sees (``held_out``), for evaluating the
trained generators' inversions on images neither saw, and a fixed ``reference`` sample of the
training distribution for the distribution metric logged during training.

Spec strings (``config.data.source``):
  ``generator:SPEC``  images of the generator ``SPEC`` (``packaged:dcgan_digiface64``, the real
                      face DCGAN, or any converted checkpoint directory) from N(0, I) latents,
                      resized to the training size; endless.
  a folder or glob    its image files (sorted), centre-cropped and resized; the last
                      ``held_out`` files are never trained on; a fresh shuffle every epoch.
Images are NHWC float32 in [-1, 1].
"""

from __future__ import annotations

import functools

import jax
import numpy as np

GENERATOR_PREFIX = "generator:"


class SourceError(ValueError):
    """A data source that cannot be used; the message names it."""


def _resized(images, size: int):
    images = jax.numpy.asarray(images)
    if images.shape[1] == size and images.shape[2] == size:
        return images
    return jax.image.resize(images, (images.shape[0], size, size, 3), "linear", antialias=True)


class GeneratorStream:
    """Images of a loaded :class:`~jaxinv.generators.Generator`; training step ``t`` draws its
    latents with ``fold_in(seed stream 0, t)``, held-out images come from stream 1 and the
    reference sample from stream 2, so the three never share a latent draw."""

    def __init__(self, spec: str, generator, size: int, seed: int):
        self.description = f"images of {spec} ({generator.size} px), resized to {size} px"
        self.generator, self.size = generator, size
        self.params = jax.device_put(generator.params)
        self._key = jax.random.PRNGKey(seed)
        self._render = jax.jit(functools.partial(self._render_fn, generator.family,
                                                 generator.cfg, size), static_argnums=2)

    @staticmethod
    def _render_fn(family, cfg, size, params, key, n):
        return _resized(family.random_images(cfg, params, key, n), size)

    def _draw(self, stream: int, index: int, n: int) -> np.ndarray:
        key = jax.random.fold_in(jax.random.fold_in(self._key, stream), index)
        return np.asarray(self._render(self.params, key, n))

    def train_batch(self, step: int, batch: int) -> np.ndarray:
        return self._draw(0, step, batch)

    def held_out(self, n: int) -> np.ndarray:
        return self._draw(1, 0, n)

    def reference(self, n: int) -> np.ndarray:
        return self._draw(2, 0, n)


class ImageFolder:
    """The image files of a folder or glob; the last ``held_out`` (sorted by name) are held
    out. Batch ``t`` takes positions ``t * batch ..`` of the concatenated per-epoch shuffles
    (epoch ``e`` shuffled with ``fold_in(seed, e)``)."""

    def __init__(self, spec: str, size: int, seed: int, held_out: int):
        from jaxinv.io.images import list_images

        try:
            files = list_images(spec)
        except FileNotFoundError as e:
            raise SourceError(str(e)) from None
        if len(files) <= held_out:
            raise SourceError(f"{spec}: {len(files)} image files, but {held_out} are to be "
                              f"held out and at least one trained on")
        self.train_files = files[:len(files) - held_out]
        self.held_out_files = files[len(files) - held_out:]
        self.description = (f"{len(self.train_files)} images of {spec} ({len(files)} with "
                            f"{held_out} held out), resized to {size} px")
        self.size, self.seed = size, seed

    def _load(self, files) -> np.ndarray:
        from jaxinv.io.images import ImageError, load_image

        try:
            return np.stack([load_image(f, self.size) for f in files])
        except ImageError as e:
            raise SourceError(str(e)) from None

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.train_files))

    def train_batch(self, step: int, batch: int) -> np.ndarray:
        n = len(self.train_files)
        positions = np.arange(step * batch, (step + 1) * batch)
        orders = {e: self._permutation(e) for e in set(positions // n)}
        files = [self.train_files[orders[p // n][p % n]] for p in positions]
        return self._load(files)

    def held_out(self, n: int) -> np.ndarray:
        return self._load(self.held_out_files[:n])

    def reference(self, n: int) -> np.ndarray:
        return self._load(self.train_files[:n])


def open_source(spec: str, size: int, seed: int, held_out: int):
    """The source ``spec`` names (see the module docstring); SourceError naming it when it
    cannot be used."""
    if spec.startswith(GENERATOR_PREFIX):
        from jaxinv import generators
        from jaxinv.io.checkpoints import CheckpointError

        name = spec[len(GENERATOR_PREFIX):]
        try:
            generator = generators.load(name)
        except CheckpointError as e:
            raise SourceError(f"data source {spec}: {e}") from None
        return GeneratorStream(spec, generator, size, seed)
    return ImageFolder(spec, size, seed, held_out)
