"""StyleGAN2 training in JAX: the objectives against closed forms, the discriminator's
minibatch feature, a few hundred steps at 32 px that bring the generator towards the data,
resume after a kill (bit for bit), and a batch split over simulated devices."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import config_module, with_overrides
from jaxinv import generators
from jaxinv.io.checkpoints import load_params
from jaxinv.experiments import train
from jaxinv.train import config as train_config
from jaxinv.train import discriminator, objectives, trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DCGAN = "generator:packaged:dcgan_digiface64"


def _dcgan_source():
    from jaxinv.generators import packaged

    try:
        packaged.path("dcgan_digiface64")
    except packaged.NotInstalled as e:
        pytest.skip(str(e))
    return DCGAN


def tiny_config(out, kind="baseline", steps=8, **overrides):
    """32 px, 16 channels, batch 8: the issue's CPU scale."""
    c = train_config.stylegan2_config(kind)
    c.output_dir, c.progress, c.steps = str(out), False, steps
    c.batch_size, c.data.held_out, c.data.reference = 8, 4, 64
    c.generator.style_dim, c.generator.channels = 32, (16, 16, 16, 16)
    c.discriminator.channels = (16, 16, 16, 16)
    c.ema.half_life = 500.0
    return with_overrides(c, overrides)


def test_r1_and_path_length_against_closed_forms():
    c = jnp.arange(12.0).reshape(1, 2, 2, 3) / 10
    real = jnp.ones((3, 2, 2, 3))
    r1 = objectives.r1_penalty(lambda x: jnp.sum(x * c, axis=(1, 2, 3)) ** 2 / 2, real)
    # d/dx (s^2 / 2) = s c with s = sum(c) for x = 1
    assert float(r1) == pytest.approx(float(jnp.sum(c) ** 2 * jnp.sum(c * c)), rel=1e-5)

    a = jax.random.normal(jax.random.PRNGKey(0), (2, 5, 4 * 4 * 3))  # a linear "generator"
    ws = jax.random.normal(jax.random.PRNGKey(1), (3, 2, 5))

    def synthesis(w):
        return jnp.einsum("bld,ldp->bp", w, a).reshape(-1, 4, 4, 3)

    key = jax.random.PRNGKey(2)
    penalty, length, new_mean = objectives.path_length_penalty(synthesis, ws, key,
                                                               jnp.float32(1.0), decay=0.5)
    y = jax.random.normal(key, (3, 4, 4, 3)) / 4.0
    grad = jnp.einsum("bp,ldp->bld", y.reshape(3, -1), a)        # J^T y per layer
    lengths = jnp.sqrt(jnp.mean(jnp.sum(grad ** 2, axis=2), axis=1))
    assert float(length) == pytest.approx(float(jnp.mean(lengths)), rel=1e-5)
    assert float(new_mean) == pytest.approx(0.5 + 0.5 * float(jnp.mean(lengths)), rel=1e-5)
    assert float(penalty) == pytest.approx(float(jnp.mean((lengths - new_mean) ** 2)), rel=1e-4)
    assert objectives.discriminator_loss(jnp.zeros(4), jnp.zeros(4)) == pytest.approx(
        2 * math.log(2))


def test_discriminator_sees_its_minibatch_group_and_nothing_else():
    cfg = discriminator.DiscriminatorConfig(16, (16, 16, 8), mbstd_group=2)
    params = discriminator.init_params(cfg, jax.random.PRNGKey(0))
    images = jax.random.uniform(jax.random.PRNGKey(1), (4, 16, 16, 3), minval=-1, maxval=1)
    base = discriminator.logits(cfg, params, images)
    assert base.shape == (4,) and bool(jnp.all(jnp.isfinite(base)))
    # groups of 2 among 4 images: {0, 2} and {1, 3}; changing image 2 moves image 0's logit
    # (through the minibatch standard deviation) and leaves images 1 and 3 alone
    moved = discriminator.logits(cfg, params, images.at[2].multiply(-0.5))
    change = np.abs(np.asarray(moved - base))
    assert change[0] > 1e-4 and change[2] > 1e-4
    assert change[1] < 1e-6 and change[3] < 1e-6
    with pytest.raises(ValueError, match="16 px"):
        discriminator.logits(cfg, params, images[:, :8, :8])


def test_a_few_hundred_steps_at_32px_bring_the_generator_towards_the_faces(tmp_path):
    source = _dcgan_source()
    out = tmp_path / "baseline"
    config = tiny_config(out, steps=200, sample_every=100, checkpoint_every=200,
                         **{"data.source": source})
    assert train.run(config) == 0
    curves = json.loads((out / "curves.json").read_text())
    for name in trainer.NUMBERS:
        assert np.all(np.isfinite(curves[name])), name
    swd = curves["swd"]
    assert swd["step"] == [0, 100, 200]
    # the EMA generator's images move towards the faces: the distance falls by more than half
    assert swd["value"][-1] < 0.5 * swd["value"][0], swd
    d_loss = np.asarray(curves["d_loss"])
    assert np.mean(d_loss[-50:]) < 2 * math.log(2)  # the discriminator tells them apart
    assert np.all(np.asarray(curves["r1"]) >= 0) and np.all(np.asarray(curves["path_length"]) > 0)
    for name in ("curves.png", "summary.json", "samples/step_000000.png",
                 "samples/step_000200.png"):
        assert (out / name).is_file(), name
    assert len(os.listdir(out / "held_out")) == 4
    generator = generators.load(str(out / "generator"))   # ready for the inversion runner
    assert generator.cfg.rows == 1 and generator.cfg.n_mlp == 2 and generator.size == 32
    assert not np.any(np.concatenate([np.ravel(n) for n in generator.params["noise"]]))


def _generator_arrays(folder):
    params, meta = load_params(str(folder / "generator"))
    return jax.tree_util.tree_leaves(params), meta


def test_an_overparameterized_run_killed_after_a_checkpoint_resumes_bit_for_bit(tmp_path):
    source = _dcgan_source()
    overrides = {"data.source": source, "checkpoint_every": 4, "sample_every": 4}
    straight = tmp_path / "straight"
    assert train.run(tiny_config(straight, "overparam", steps=12, **overrides)) == 0
    leaves, meta = _generator_arrays(straight)
    assert meta["config"]["rows"] == 16  # one latent row per output channel of the widest layer

    killed = tmp_path / "killed"
    args = [sys.executable, "-m", "jaxinv.experiments.train",
            "--config=configs/train_stylegan2.py:overparam", f"--config.output_dir={killed}",
            "--config.progress=False", "--config.steps=12", "--config.batch_size=8",
            "--config.data.held_out=4", "--config.data.reference=64",
            "--config.generator.style_dim=32", "--config.generator.channels=(16,16,16,16)",
            "--config.discriminator.channels=(16,16,16,16)", "--config.ema.half_life=500.0",
            f"--config.data.source={source}", "--config.checkpoint_every=4",
            "--config.sample_every=4"]
    proc = subprocess.Popen(args, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    meta_file = killed / "checkpoint" / "meta.json"
    deadline = time.monotonic() + 300
    while not meta_file.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, stderr[-2000:]
    done = json.loads(meta_file.read_text())["done"]
    assert 4 <= done < 12, done  # killed mid-run, after at least one checkpoint

    resumed = tiny_config(killed, "overparam", steps=12, **overrides)
    assert train.run(resumed) == 0
    resumed_leaves, _ = _generator_arrays(killed)
    for a, b in zip(leaves, resumed_leaves):
        np.testing.assert_array_equal(a, b)
    straight_curves = json.loads((straight / "curves.json").read_text())
    resumed_curves = json.loads((killed / "curves.json").read_text())
    assert resumed_curves == straight_curves

    other = tiny_config(killed, "overparam", steps=12, **{**overrides, "loss.r1_gamma": 1.0})
    with pytest.raises(train.TrainError, match="loss.r1_gamma"):
        train.run(other)  # another run's folder is refused, naming what differs


SHARDED = r"""
import json, sys
import jax
sys.path[:0] = [sys.argv[2], sys.argv[2] + "/tests"]
from tests.test_train import tiny_config
from jaxinv.experiments import train

config = tiny_config(sys.argv[1], steps=2, checkpoint_every=2, sample_every=2,
                     **{"data.source": sys.argv[3]})
assert train.run(config) == 0
print(json.dumps({"devices": jax.local_device_count(),
                  "curves": json.load(open(f"{sys.argv[1]}/curves.json"))}))
"""


def test_a_training_batch_split_over_4_devices_gives_the_single_device_numbers(tmp_path):
    source = _dcgan_source()
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-c", SHARDED, str(tmp_path / "all"), ROOT, source],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    # meanwhile, the same run here on one device
    one = tmp_path / "one"
    assert train.run(tiny_config(one, steps=2, checkpoint_every=2, sample_every=2,
                                 **{"data.source": source})) == 0
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    got = json.loads(stdout.strip().splitlines()[-1])
    assert got["devices"] == 4 and "split over 4 cpu devices" in stderr
    expected = json.loads((one / "curves.json").read_text())
    for name in trainer.NUMBERS:
        np.testing.assert_allclose(got["curves"][name], expected[name], rtol=2e-4, atol=2e-5,
                                   err_msg=name)


def test_the_training_configs_build_and_bad_ones_are_named_before_anything_compiles(tmp_path):
    module = config_module("train_stylegan2.py")
    for kind, rows in (("baseline", 1), ("overparam", 64)):
        c = module.get_config(kind)
        gcfg, dcfg = train.architectures(c)
        settings = train.settings_from(c)
        assert (gcfg.size, gcfg.n_mlp, gcfg.rows, dcfg.size) == (32, 2, rows, 32)
        assert (settings.batch, settings.pl_batch, settings.betas) == (16, 8, (0.0, 0.99))
    with pytest.raises(ValueError, match="unknown training kind 'wide'"):
        module.get_config("wide")

    with pytest.raises(train.TrainError, match="config.batch_size = 6"):
        train.run(tiny_config(tmp_path, batch_size=6))
    with pytest.raises(train.TrainError, match="config.generator"):
        train.run(tiny_config(tmp_path, **{"generator.channels": (32, 32)}))
    with pytest.raises(train.TrainError, match="config.data.source: .*nowhere"):
        train.run(tiny_config(tmp_path, **{"data.source": str(tmp_path / "nowhere")}))
    assert not os.listdir(tmp_path)  # nothing written
