"""Real photographs that installed packages ship, usable as inputs with no download:
``--config.input=sample:NAME`` (``jaxinv.io.images`` reads them). Each sample names its file
inside the package (located, never imported) and the square box that frames its subject, so a
small face generator sees a face cropped as it was trained, not a whole portrait.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from jaxinv.io.installed import package_file

PREFIX = "sample:"


class Sample(NamedTuple):
    """package: import name; resource: the file inside it; box: (left, top, right, bottom)
    pixels of the square crop; description: what the photograph is."""

    package: str
    resource: str
    box: tuple[int, int, int, int]
    description: str


SAMPLES = {
    "grace_hopper": Sample(
        "matplotlib", os.path.join("mpl-data", "sample_data", "grace_hopper.jpg"),
        (140, 100, 390, 350),
        "Grace Hopper's official US Navy portrait (public domain), shipped with matplotlib; "
        "cropped to her face"),
}


def resolve(spec: str) -> tuple[str, tuple[int, int, int, int]]:
    """``(file, box)`` of ``sample:NAME``; FileNotFoundError naming the sample, the package and
    the known names when it cannot be found."""
    name = spec[len(PREFIX):]
    if name not in SAMPLES:
        raise FileNotFoundError(f"{spec}: no such sample; known: "
                                f"{', '.join(PREFIX + n for n in sorted(SAMPLES))}")
    sample = SAMPLES[name]
    path = package_file(sample.package, sample.resource)
    if path is None:
        raise FileNotFoundError(f"{spec}: the package {sample.package} that ships it is not "
                                f"installed, or has no {sample.resource}")
    return path, sample.box
