"""A batch split over several devices (8 simulated CPU devices, in a subprocess): the same
numbers as one device, and a run resumes on another number of devices."""

import json
import os
import subprocess
import sys

import numpy as np

from jaxinv.engine import sharding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))


def config(folder, devices, search="adam"):
    """8 recovery targets of a small built-in DCGAN, 12 Z steps (``search`` 'basincma': after
    3 BasinCMA generations of 2 inner steps), all in one batch."""
    from jaxinv.experiments.config_base import base_config, lr_spec, method_config

    c = base_config()
    c.builtin.family, c.builtin.size, c.builtin.channels, c.builtin.style_dim = "dcgan", 16, 16, 8
    c.method = method_config("z", search=search, outer_steps=3, inner_steps=2)
    c.lr.latent = lr_spec(0.05)
    c.output_dir, c.progress, c.steps, c.chunk = folder, False, 12, 5
    c.num_targets, c.batch_size, c.devices = 8, 8, devices
    return c


def numbers(records):
    return {r["image"]: [r["psnr"], r["loss_curve"]] for r in records}

# Runs in a fresh process, where XLA_FLAGS can still give the CPU 8 devices.
SCRIPT = r"""
import json, os, shutil, sys
import jax
from jaxinv.engine import sharding
from jaxinv.experiments import invert
from test_sharding import config, numbers

out = sys.argv[1]
splits = {f"{b},{d}": sharding.device_count_for(b, d)
          for b, d in ((8, 0), (6, 0), (5, 0), (8, 3), (1, 0))}


def run(folder, devices):
    return numbers(invert.run(config(os.path.join(out, folder), devices, search="basincma")))


one = run("one", 1)
eight = run("eight", 0)
# a run that stopped after 3 of its 8 images, on one device, resumed on 8 devices
shutil.copytree(os.path.join(out, "one"), os.path.join(out, "resumed"))
for name in sorted(os.listdir(os.path.join(out, "resumed", "images")))[3:]:
    shutil.rmtree(os.path.join(out, "resumed", "images", name))
resumed = run("resumed", 0)
print(json.dumps({"devices": jax.local_device_count(), "splits": splits, "one": one,
                  "eight": eight, "resumed": resumed}))
"""


def test_a_batch_split_over_8_devices_gives_the_single_device_numbers_and_resumes(tmp_path):
    """With BasinCMA: the images' CMA searches are split over the devices, populations
    vmapped inside."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               PYTHONPATH=os.pathsep.join((ROOT, TESTS)))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["devices"] == 8
    assert got["splits"] == {"8,0": 8, "6,0": 6, "5,0": 5, "8,3": 2, "1,0": 1}
    assert "split over 8 cpu devices" in proc.stderr
    assert "resuming: 3 of 8 images already done" in proc.stderr
    one, eight, resumed = got["one"], got["eight"], got["resumed"]
    assert sorted(one) == sorted(eight) == sorted(resumed) and len(one) == 8
    for name in one:
        # each image's key is its index in the run: the device count changes nothing beyond
        # float rounding of differently partitioned programs
        np.testing.assert_allclose(eight[name][1], one[name][1], rtol=1e-5)
        np.testing.assert_allclose(resumed[name][1], one[name][1], rtol=1e-5)
        np.testing.assert_allclose(eight[name][0], one[name][0], rtol=1e-5)
    curves = np.array([one[n][1] for n in sorted(one)])
    assert np.all(curves[:, -1] < curves[:, 0])  # the runs really optimised
    assert len({round(c[-1], 6) for c in curves}) == 8  # eight different images


def test_one_device_is_never_split():
    assert sharding.batch_mesh(8, 1) is None
    assert sharding.device_count_for(8, 1) == 1
