"""Files that installed packages ship (weights, photographs), found without importing them."""

from __future__ import annotations

import importlib.util
import os


def package_file(package: str, resource: str) -> str | None:
    """The path of ``resource`` (relative to the package's folder) inside the installed
    ``package``, or None when the package is not installed or lacks that file. The package is
    located by its import spec, never imported, so nothing in it runs."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], resource)
    return path if os.path.isfile(path) else None
