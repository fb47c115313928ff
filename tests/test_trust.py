"""Runs a user can trust: a folder resumes only the run that made it, damaged checkpoints are
named, exit codes tell the truth, bad command lines are one line before any work, and output
files are readable and never left half-written."""

import json
import os
import stat
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT, with_overrides
from jaxinv.experiments import invert
from jaxinv.experiments.config_base import base_config
from jaxinv.io.checkpoints import CheckpointError, load_params, save_params


def _tiny(out, **overrides):
    c = base_config()
    c.output_dir = str(out)
    c.builtin.size, c.builtin.channels, c.builtin.style_dim, c.builtin.n_mlp = 16, 16, 32, 2
    c.progress, c.steps, c.num_targets, c.batch_size = False, 6, 2, 2
    return with_overrides(c, overrides)


def _stamps(out):
    return {n: os.path.getmtime(out / "images" / n / "record.json")
            for n in ("target_000", "target_001")}


def test_a_folder_resumes_only_the_run_that_made_it(tmp_path):
    out = tmp_path / "run"
    first = invert.run(_tiny(out))
    stamps = _stamps(out)
    # the same run, shown differently: resumes and optimises nothing
    again = invert.run(_tiny(out, progress=True, name="renamed", chunk=3))
    assert _stamps(out) == stamps and [r["loss"] for r in again] == [r["loss"] for r in first]
    # another run: refused before any work, naming every key that differs and the ways out
    with pytest.raises(invert.ConfigError) as err:
        invert.run(_tiny(out, steps=7, **{"lr.latent.lr": 0.01}))
    message = str(err.value)
    assert "steps: 6 -> 7" in message and "lr.latent.lr: 0.05 -> 0.01" in message
    assert "--config.output_dir" in message and "--config.overwrite=True" in message
    assert _stamps(out) == stamps
    assert json.loads((out / "config.json").read_text())["steps"] == 6  # the report stays true
    # overwrite: a clean restart under the new config
    (out / "images" / "stale_image").mkdir()
    (out / "notes.txt").write_text("mine")  # not the runner's: kept
    records = invert.run(_tiny(out, steps=7, overwrite=True))
    assert [r["steps"] for r in records] == [7, 7]
    assert not (out / "images" / "stale_image").exists() and (out / "notes.txt").exists()
    assert json.loads((out / "config.json").read_text())["steps"] == 7
    # other weights under the same config are another run too
    with pytest.raises(invert.ConfigError, match="the generator weights"):
        invert.run(_with_other_weights(out))


def _with_other_weights(out):
    """The same config, but run.json says the weights were different ones."""
    path = out / "run.json"
    stored = json.loads(path.read_text())
    stored["weights"]["generator"] = "0" * 32
    path.write_text(json.dumps(stored))
    return _tiny(out, steps=7)


def test_results_from_before_run_identities_are_not_resumed(tmp_path):
    (tmp_path / "images" / "target_000").mkdir(parents=True)
    with pytest.raises(invert.ConfigError, match="no run.json"):
        invert.run(_tiny(tmp_path))


def test_damaged_checkpoint_is_named(tmp_path):
    params = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, np.float32)}
    save_params(str(tmp_path / "good"), params, {"family": "toy"})
    flipped = dict(params, a=params["a"] + np.float32(1e-3))
    save_params(str(tmp_path / "other"), flipped, {"family": "toy"})
    os.replace(tmp_path / "other" / "params.npz", tmp_path / "good" / "params.npz")
    with pytest.raises(CheckpointError, match=r"good/params.npz: array a does not match its "
                                              r"checksum in meta.json"):
        load_params(str(tmp_path / "good"))
    meta = json.loads((tmp_path / "other" / "meta.json").read_text())
    assert set(meta["checksums"]) == {"a", "b"}


class _Payload:
    """What a crafted archive would run on unpickling: creating the file ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_params_archives_refuse_pickled_objects_and_old_formats(tmp_path):
    save_params(str(tmp_path / "good"), {"a": np.ones(3, np.float32), "file": np.zeros(1)},
                {"family": "toy"})
    params, _ = load_params(str(tmp_path / "good"))
    assert params["file"].shape == (1,) and params["a"].dtype == np.float32
    crafted = np.array([_Payload(tmp_path / "pwned")], dtype=object)
    np.savez(tmp_path / "good" / "params.npz", a=crafted)
    with pytest.raises(CheckpointError, match=r"good/params.npz: cannot be read as a numpy "
                                              r"archive of arrays \(ValueError: Object arrays"):
        load_params(str(tmp_path / "good"))
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "good" / "params.npz").unlink()
    (tmp_path / "good" / "params").mkdir()  # what jaxinv wrote with orbax
    with pytest.raises(CheckpointError, match=r"good: written in the orbax format of jaxinv "
                                              r"before 2026-11-29 \(params/\), which is no longer "
                                              r"read; convert it again"):
        load_params(str(tmp_path / "good"))
    with pytest.raises(ValueError, match="array b has dtype bfloat16, which numpy's archive "
                                         "cannot store"):
        save_params(str(tmp_path / "bf"), {"b": np.asarray(jnp.ones(2, jnp.bfloat16))}, {})
    assert not (tmp_path / "bf").exists()


def test_files_are_readable_by_others_and_leftovers_are_removed(tmp_path):
    out = tmp_path / "run"
    old = os.umask(0o022)
    try:
        invert.run(_tiny(out, num_targets=1, batch_size=1))
        (out / "images" / "target_000" / ".tmp-abc").mkdir()  # as an interrupted write leaves
        (out / ".tmp-xyz").write_text("half")
        invert.run(_tiny(out, num_targets=1, batch_size=1))
    finally:
        os.umask(old)
    assert not (out / ".tmp-xyz").exists()
    assert not (out / "images" / "target_000" / ".tmp-abc").exists()
    for path in (out / "metrics.json", out / "images" / "target_000" / "record.json",
                 out / "images" / "target_000" / "grid.png"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, path
    latents = out / "images" / "target_000" / "latents"
    assert stat.S_IMODE(os.stat(latents).st_mode) == 0o755


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "jaxinv.experiments.invert", *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_every_image_diverging_exits_non_zero_with_a_summary(tmp_path):
    proc = _cli(f"--config={os.path.join(ROOT, 'configs', 'stylegan2_recovery.py')}",
                f"--config.output_dir={tmp_path}", "--config.builtin.size=16",
                "--config.builtin.channels=16", "--config.builtin.style_dim=32",
                "--config.builtin.n_mlp=2", "--config.steps=4", "--config.num_targets=2",
                "--config.batch_size=2", "--config.lr.latent.lr=nan", "--config.progress=False")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "done 0, diverged 2, unreadable 0 of 2 images" in proc.stderr
    assert len(json.loads((tmp_path / "metrics.json").read_text())) == 2


BAD = [
    (["--config.steps=0"], "config.steps = 0: must be a positive integer"),
    (["--config.batch_size=-1"], "config.batch_size = -1: must be a positive integer"),
    (["--config.degradation.name=blur"], "config.degradation.name = 'blur': unknown; choose "
                                         "one of identity, grayscale"),
    (["--config.method.name=mgan"], "unknown method 'mgan'; available: "),
    (["--config.checkpoint=/no/such/ckpt"], "config.checkpoint: /no/such/ckpt does not exist"),
    (["--config.lpips.path=/no/lpips"], "config.lpips.path: /no/lpips does not exist"),
    (["--config.input=/no/such.png"], "config.input: /no/such.png: no such file"),
    (["--config.report.edit_direction=/no/d.npy"], "config.report.edit_direction: /no/d.npy "
                                                   "does not exist"),
    (["--config.stepz=3"], "--config.stepz: the config has no key 'stepz'; Did you mean "
                           "\"steps\""),
    (["--config.steps=abc"], "flag --config.steps=abc: invalid literal for int()"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[b[0][0].split("=")[0] for b in BAD])
def test_bad_command_lines_are_one_line_and_write_nothing(tmp_path, args, message):
    out = tmp_path / "out"
    proc = _cli(f"--config={os.path.join(ROOT, 'configs', 'stylegan2_recovery.py')}",
                f"--config.output_dir={out}", *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], proc.stderr[-2000:]
    assert not out.exists()


def test_missing_config_file_and_help():
    proc = _cli("--config=configs/no_such_config.py")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "configs/no_such_config.py: the config file does not exist" in proc.stderr
    assert "default.py" in proc.stderr  # the configs there are listed
    helped = _cli("--help")
    assert helped.returncode == 0 and "stylegan2_recovery.py" in helped.stdout
    assert "jaxinv/experiments/config_base.py" in helped.stdout
