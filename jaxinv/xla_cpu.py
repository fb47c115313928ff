"""XLA:CPU convolutions from Eigen rather than YNNPACK, set when jaxinv is imported.

jaxlib 0.10 hands every convolution XLA:CPU can to YNNPACK
(``--xla_cpu_experimental_ynn_fusion_type`` is ``individual_dot,individual_convolution,reduce`` by
default). On the 2-core x86 machines jaxinv is developed on, YNNPACK runs the convolutions of its
networks slower than XLA's own Eigen convolutions: the forward and input gradient of VGG16's
64 px, 256-channel layer at batch 8 take 248 ms against 195 ms, AlexNet's 5x5 layer 34 against
20 ms. Importing jaxinv therefore adds
``--xla_cpu_experimental_ynn_fusion_type=individual_dot,reduce`` (the default without the
convolutions; YNNPACK's reductions are 10-20x faster than XLA's own) to ``XLA_FLAGS``, unless
the flag is there already: a value the user set wins. Other backends ignore the flag.

XLA reads ``XLA_FLAGS`` once, when JAX starts its first backend, so this works when jaxinv is
imported before anything runs on a JAX device; imported later, it changes nothing and warns.
XLA aborts on a flag it does not know, and this one is experimental: it is set only with the
jaxlib releases it was measured on (0.10) or is known in (0.11).
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import warnings

FLAG = "--xla_cpu_experimental_ynn_fusion_type"
VALUE = "individual_dot,reduce"
JAXLIB_RELEASES = ("0.10.", "0.11.")


def _jaxlib_version() -> str:
    try:
        return importlib.metadata.version("jaxlib")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _backends_started() -> bool:
    """Whether JAX has started a backend (JAX's internal test; False where JAX lacks it)."""
    started = getattr(sys.modules.get("jax._src.xla_bridge"), "backends_are_initialized", None)
    return started is not None and started()


def prefer_eigen_convolutions(environ=os.environ) -> str:
    """Adds ``FLAG=VALUE`` to ``environ["XLA_FLAGS"]``. Returns what happened: ``"set"``,
    ``"user"`` (XLA_FLAGS names the flag already: left alone), ``"other jaxlib"`` (a release
    outside ``JAXLIB_RELEASES``: left alone) or ``"late"`` (JAX's backends have started and
    read their flags: left alone, with a warning)."""
    flags = environ.get("XLA_FLAGS", "")
    if FLAG in flags:
        return "user"
    if not _jaxlib_version().startswith(JAXLIB_RELEASES):
        return "other jaxlib"
    if _backends_started():
        warnings.warn(f"jaxinv was imported after JAX started its backends, so XLA:CPU keeps "
                      f"YNNPACK's convolutions (slower for jaxinv's networks); import jaxinv "
                      f"first or set XLA_FLAGS={FLAG}={VALUE}", stacklevel=2)
        return "late"
    environ["XLA_FLAGS"] = f"{flags} {FLAG}={VALUE}".strip()
    return "set"
