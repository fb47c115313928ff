"""The interface every method offers the runner, and the registry of methods.

A method is one module of :mod:`jaxinv.methods` that defines ``METHOD``, a :class:`MethodSpec`:
its name, its own settings (a frozen dataclass whose fields are the method's keys, with their
defaults and documentation), the generator families it applies to, and ``build(generator,
settings, job) -> Method``. A :class:`Job` carries what every run asks of any method (steps,
learning rates by role, the loss weights); a :class:`Method` is the built method: the
:class:`~jaxinv.methods.problem.Problem` the engine optimises plus optional hooks for the stages
a paper adds. The runner calls the hooks and never asks which method it runs.

Hooks of :class:`Method` (all optional):

- ``prepare(generator, job) -> (context entries, notes)``: run-level work done once before any
  image (PmSFC's subspace discovery), after the whole run has been validated.
- ``loss_fn``: one image's loss for the engine; default: the reconstruction loss of
  ``job.loss`` through the run's degradation.
- ``search(objective, variables, data, context, keys, callback) -> engine.Result``: how a
  batch is optimised; default: :func:`jaxinv.engine.optimize` for ``job.steps``.
- ``work(batch) -> (total, unit)``: the progress bar's total for a batch and the name of its
  units, for a ``search`` whose callback counts more than ``job.steps`` (pix2latent counts its
  CMA generations too); default ``(job.steps, 'steps')``.
- ``image_data(index) -> {name: array}``: per-image data besides the target (masks, transforms).
- ``views(image [H, W, 3]) -> [K, H, W, 3]``: a target made of several views (SPHInX's attribute
  discovery); the degradation must then be the identity.
- ``finish(images, variables, data) -> images``: final renders (batched) mapped into the
  target's frame (pix2latent undoes its transforms).
- ``outputs(variables, context, target, final, data) -> ({file name: image}, {record key:
  value})``: per-image extras written beside the reconstruction (edits, composites, learned
  walks); ``target`` and ``final`` are the image's target and final render.
- ``edit(variables, context, direction, alphas) -> images``: moves a solution along a latent
  direction; default: :func:`jaxinv.methods.latent_ops.edit` for methods with a W+ sampler.
- ``target_options``: what recovery targets need from the method (e.g. BigGAN's class).
- ``needs``: run-level networks the hooks use (``'lpips'``: e-GLASS's perceptual Hessian);
  a run without one is refused before anything compiles.

A ``search`` may return, in ``Result.found``, per-image arrays besides the variables (batched,
e.g. e-GLASS's baseline restarts); ``outputs`` reads image b's as ``data['found']``.

``register`` adds a method at run time (a test or a notebook can plug one in without editing the
library); the built-in methods are imported on first use.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable, Mapping

from jaxinv.methods.problem import LossWeights, Problem
from jaxinv.registry import Registry


@dataclasses.dataclass(frozen=True)
class Job:
    """What a run asks of every method besides the method's own settings.

    steps: gradient steps per image (a method with a search documents what they cover).
    chunk: steps per compiled call. seed: the run's seed.
    optimizer: 'adam', 'sgd', 'adamw' or 'lbfgs'.
    learning_rates: ``{role: {'lr', 'schedule', 'rampup', 'rampdown'}}`` with roles
      ``latent``, ``noise``, ``const`` and ``weights``; each method maps roles to its
      variables and documents how.
    loss: the data terms' weights. output_dir: where run-level work may be cached ('' = none).
    progress: show progress bars.
    devices: how many local devices a batch is split over (0 = all; the largest number of them
      that divides the batch; :mod:`jaxinv.engine.sharding`).
    operator: the run's forward model A (a :class:`jaxinv.ops.base.Operator`; its batch-shared
      params are ``context['op']``, an image's own ``data['op']``), set by
      :func:`jaxinv.inversion.build_solver` for methods that reason about the measurements
      (e-GLASS); None until then.
    """

    steps: int = 300
    chunk: int = 50
    seed: int = 0
    optimizer: str = "adam"
    learning_rates: Mapping = dataclasses.field(default_factory=dict)
    loss: LossWeights = LossWeights()
    output_dir: str = ""
    progress: bool = False
    devices: int = 0
    operator: Any = None

    def rate(self, role: str, default: float) -> dict:
        """The learning-rate spec of ``role``; ``{'lr': default}`` (the method's own default,
        constant) when the job names none."""
        return dict(self.learning_rates.get(role, {"lr": default}))


@dataclasses.dataclass(frozen=True)
class Method:
    """A built method: its problem and the optional hooks listed in the module docstring."""

    problem: Problem
    prepare: Callable | None = None
    loss_fn: Callable | None = None
    search: Callable | None = None
    work: Callable | None = None
    image_data: Callable | None = None
    views: Callable | None = None
    finish: Callable | None = None
    outputs: Callable | None = None
    edit: Callable | None = None
    target_options: Mapping = dataclasses.field(default_factory=dict)
    needs: tuple = ()


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """A registry entry. ``families``: the generator families the method inverts (None = any
    family with what the method needs, checked by ``build``)."""

    name: str
    settings: type
    build: Callable[..., Method]
    families: tuple | None = None
    summary: str = ""


class SettingsError(ValueError):
    """A method setting that does not exist or cannot be used; the message names the key."""


def make_settings(spec: MethodSpec, values: Mapping[str, Any], where: str = "method"):
    """``spec.settings`` from ``values`` (a mapping of the method's keys; ``name`` is ignored).
    An unknown key is a :class:`SettingsError` naming it, with the nearest known key."""
    fields = {f.name for f in dataclasses.fields(spec.settings)}
    given = {k: v for k, v in values.items() if k != "name"}
    for key in given:
        if key not in fields:
            near = difflib.get_close_matches(key, sorted(fields), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise SettingsError(f"{where}.{key}: {spec.name} has no such setting{hint} "
                                f"(its settings: {', '.join(sorted(fields))})")
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
    return spec.settings(**given)


def check_family(spec: MethodSpec, generator) -> None:
    """Refuses, by name, a generator family the method does not invert."""
    if spec.families is not None and generator.family.name not in spec.families:
        raise SettingsError(f"method {spec.name!r} inverts {' or '.join(spec.families)} "
                            f"generators; this generator is {generator.family.name}")


_REGISTRY = Registry("method", {"stylegan2": "jaxinv.methods.baselines",
                                "sphinx": "jaxinv.methods.sphinx",
                                "mganprior": "jaxinv.methods.mganprior",
                                "pmsfc": "jaxinv.methods.pmsfc",
                                "pix2latent": "jaxinv.methods.pix2latent",
                                "z": "jaxinv.methods.latent",
                                "eglass": "jaxinv.methods.eglass",
                                "overparam": "jaxinv.methods.overparam"}, "METHOD")
register, names, get = _REGISTRY.register, _REGISTRY.names, _REGISTRY.get
