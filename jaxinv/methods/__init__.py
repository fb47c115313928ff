"""Inversion methods, one paper per module. Each module defines ``METHOD``
(:class:`~jaxinv.methods.base.MethodSpec`): its settings and ``build(generator, settings, job)``,
which returns a :class:`~jaxinv.methods.base.Method`, the
:class:`~jaxinv.methods.problem.Problem` the engine optimises plus the hooks the paper adds.
:func:`get` finds a method by name and :func:`register` adds one."""

from jaxinv.methods.base import (Job, Method, MethodSpec, SettingsError, get, make_settings,
                                 names, register)
from jaxinv.methods.problem import REPRESENTATIVE_KEY, LossWeights, Problem

__all__ = ["Job", "Method", "MethodSpec", "SettingsError", "get", "make_settings", "names",
           "register", "REPRESENTATIVE_KEY", "LossWeights", "Problem"]
