"""Generator families as pure functions of a params pytree: ``stylegan2``, ``pggan``,
``biggan``, ``dcgan``. Each module defines ``FAMILY`` (:class:`~jaxinv.generators.base.Family`), the
interface the runner and the methods use; :func:`get` finds a family by name, :func:`register`
adds one, :func:`load` reads a converted checkpoint or a pretrained model an installed package ships
(``packaged:NAME``, :mod:`jaxinv.generators.packaged`) and :func:`builtin` makes a seeded random
model."""

from jaxinv.generators.base import (BuiltinSpec, Family, FeatureSplit, Generator, builtin, get,
                                    load, names, register)

__all__ = ["BuiltinSpec", "Family", "FeatureSplit", "Generator", "builtin", "get", "load",
           "names", "register"]
