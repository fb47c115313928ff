"""A batch split over several devices (8 simulated CPU devices, in a subprocess), and the images
of a run shared by two hosts (two processes joined by ``jax.distributed``): the same numbers as
one device, and a run resumes on another number of devices or hosts."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from jaxinv.engine import sharding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.dirname(os.path.abspath(__file__))


def config(folder, devices, batch=8, hosts=None, search="adam"):
    """8 recovery targets of a small built-in DCGAN, 12 Z steps (``search`` 'basincma': after
    3 BasinCMA generations of 2 inner steps); ``hosts``: (coordinator, processes, process_id)
    of a multi-host run."""
    from jaxinv.experiments.config_base import base_config, lr_spec, method_config

    c = base_config()
    c.builtin.family, c.builtin.size, c.builtin.channels, c.builtin.style_dim = "dcgan", 16, 16, 8
    c.method = method_config("z", search=search, outer_steps=3, inner_steps=2)
    c.lr.latent = lr_spec(0.05)
    c.output_dir, c.progress, c.steps, c.chunk = folder, False, 12, 5
    c.num_targets, c.batch_size, c.devices = 8, batch, devices
    if hosts is not None:
        c.distributed.enabled = True
        c.distributed.coordinator, c.distributed.processes, c.distributed.process_id = hosts
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


# One host of a two-host run: the same folder twice (a fresh run, then the resumed one). Host 1
# starts the second run 35 s after host 0, so host 0 waits at its first barrier longer than a
# device collective would (gloo gives up after 30 s).
HOST = r"""
import json, sys, time
from jaxinv.experiments import invert
from test_sharding import config, numbers

coordinator, process_id = sys.argv[1], int(sys.argv[2])
got = {}
for n, folder in enumerate(sys.argv[3:]):
    if n and process_id == 1:
        time.sleep(35)
    got[folder] = numbers(invert.run(config(folder, 0, 4, (coordinator, 2, process_id))))
print(json.dumps(got))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_hosts_share_the_images_give_the_single_host_numbers_and_resume(tmp_path):
    from jaxinv.experiments import invert

    one = numbers(invert.run(config(str(tmp_path / "one"), 1, 4)))
    # a run stopped after 3 of its 8 images on one host, resumed on two
    shutil.copytree(tmp_path / "one", tmp_path / "resumed")
    for name in sorted(os.listdir(tmp_path / "resumed" / "images"))[3:]:
        shutil.rmtree(tmp_path / "resumed" / "images" / name)
    os.remove(tmp_path / "resumed" / "summary.json")
    folders = [str(tmp_path / "two"), str(tmp_path / "resumed")]
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               PYTHONPATH=os.pathsep.join((ROOT, TESTS)))
    coordinator = f"localhost:{_free_port()}"
    logs = [(tmp_path / f"host{i}.out", tmp_path / f"host{i}.err") for i in range(2)]
    hosts = []
    for i, (out, err) in enumerate(logs):  # files, not pipes: a full pipe would stall a host
        with open(out, "w") as o, open(err, "w") as e:
            hosts.append(subprocess.Popen(
                [sys.executable, "-c", HOST, coordinator, str(i), *folders], env=env, cwd=ROOT,
                stdout=o, stderr=e))
    try:
        for h in hosts:
            h.wait(timeout=600)
    finally:
        for h in hosts:
            h.kill()
    outs = [(out.read_text(), err.read_text()) for out, err in logs]
    for h, (_, err) in zip(hosts, outs):
        assert h.returncode == 0, err[-3000:]
    logs = [err for _, err in outs]
    assert "host 0 of 2: 4 images" in logs[0] and "host 1 of 2: 4 images" in logs[1]
    assert "host 0 of 2: 3 images" in logs[0] and "host 1 of 2: 2 images" in logs[1]
    assert "split over 2 cpu devices" in logs[0]
    for stdout, _ in outs:
        got = json.loads(stdout.strip().splitlines()[-1])
        for folder in folders:  # every host returns the whole run's records
            assert sorted(got[folder]) == sorted(one)
            for name in one:
                np.testing.assert_allclose(got[folder][name][1], one[name][1], rtol=1e-5)
                np.testing.assert_allclose(got[folder][name][0], one[name][0], rtol=1e-5)
    for folder in folders:  # the first host wrote the summary of all 8 images
        with open(os.path.join(folder, "summary.json")) as f:
            assert json.load(f)["counts"]["done"] == 8
        assert len(os.listdir(os.path.join(folder, "images"))) == 8


@pytest.mark.parametrize("key,value,message", [
    ("process_id", 2, "config.distributed.process_id = 2: must be -1 (detected) or in [0, "
                      "processes)"),
    ("processes", -1, "config.distributed.processes = -1: must be 0 (detected) or a count"),
    ("coordinator", "host0", "config.distributed.coordinator = 'host0': must be host:port"),
])
def test_bad_host_settings_are_named_before_anything_starts(tmp_path, key, value, message):
    from jaxinv.experiments import invert

    c = config(str(tmp_path / "out"), 0, 4, ("localhost:1234", 2, 0))
    c.distributed[key] = value
    with pytest.raises(invert.ConfigError, match=re.escape(message)):
        invert.validate(c)
    assert not (tmp_path / "out").exists()
