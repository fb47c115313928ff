"""jaxinv.xla_cpu: importing jaxinv gives XLA:CPU's convolutions to Eigen, not YNNPACK, unless
the user chose or the jaxlib release may not know the flag, and says so when it comes too late
to take effect."""

import glob
import os
import subprocess
import sys

import jax.numpy as jnp
import pytest

from jaxinv import xla_cpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _compiled_debug_options(tmp_path, xla_flags: str) -> str:
    """The debug options XLA compiled a program with, in a fresh process that imports jaxinv
    first (XLA dumps the options that differ from its defaults)."""
    dump = tmp_path / "dump"
    code = ("import jaxinv, jax, jax.numpy as jnp\n"
            "jax.jit(lambda x: x + 1)(jnp.ones(2)).block_until_ready()\n")
    env = dict(os.environ, XLA_FLAGS=f"--xla_dump_to={dump} {xla_flags}".strip(),
               JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=120)
    (path,) = glob.glob(str(dump / "*jit__lambda*.debug_options"))
    return open(path).read()


def test_import_takes_the_convolutions_from_ynnpack_alone(tmp_path):
    options = _compiled_debug_options(tmp_path, "")
    assert "xla_cpu_experimental_ynn_fusion_type: LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT" in options
    assert "xla_cpu_experimental_ynn_fusion_type: LIBRARY_FUSION_TYPE_REDUCE" in options
    assert "INDIVIDUAL_CONVOLUTION" not in options


def test_the_users_flag_wins(tmp_path):
    options = _compiled_debug_options(
        tmp_path, "--xla_cpu_experimental_ynn_fusion_type=individual_convolution")
    assert "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION" in options
    assert "INDIVIDUAL_DOT" not in options


def test_too_late_warns_and_changes_nothing():
    jnp.ones(1).block_until_ready()  # this process's backend has started
    environ = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    with pytest.warns(UserWarning, match="import jaxinv first"):
        assert xla_cpu.prefer_eigen_convolutions(environ) == "late"
    assert environ == {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}


def test_other_jaxlib_releases_are_left_alone(monkeypatch):
    """XLA aborts on a flag it does not know: no flag for a release it was not known in."""
    monkeypatch.setattr(xla_cpu, "_jaxlib_version", lambda: "0.12.0")
    environ = {}
    assert xla_cpu.prefer_eigen_convolutions(environ) == "other jaxlib"
    assert environ == {}
