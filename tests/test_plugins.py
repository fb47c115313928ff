"""Methods and generator families as plug-ins: a toy family and a toy method registered here run
through the unchanged runner; unknown settings are refused by name; the README's notebook
snippet runs as written; the runner names no method."""

import dataclasses
import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import ROOT
from jaxinv import generators, methods
from jaxinv.experiments import invert
from jaxinv.experiments.config_base import base_config, method_config
from jaxinv.generators import base as generator_registry
from jaxinv.methods import base as method_registry
from jaxinv.methods.problem import Problem, no_penalty


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    size: int = 8
    z_dim: int = 6

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


def _toy_params(cfg, key):
    return {"w": jax.random.normal(key, (cfg.z_dim, cfg.size * cfg.size * 3)) / cfg.z_dim}


def _toy_generate(cfg, params, z):
    """A linear-tanh generator: images [n, size, size, 3] from z [n, z_dim]."""
    return jnp.tanh(z @ params["w"]).reshape(-1, cfg.size, cfg.size, 3)


def _toy_targets(cfg, params, key, n, options):
    z = jax.random.normal(key, (n, cfg.z_dim))
    return np.asarray(_toy_generate(cfg, params, z)), [{"z": np.asarray(v)} for v in z]


TOY_FAMILY = generators.Family(
    name="toy", config_class=ToyConfig, converter="(none: a test family)",
    init_params=_toy_params,
    param_shapes=lambda cfg: jax.eval_shape(_toy_params, cfg, jax.random.PRNGKey(0)),
    size=lambda cfg: cfg.size, latent_dim=lambda cfg: cfg.z_dim,
    builtin_config=lambda spec: ToyConfig(spec.size, spec.latent_dim),
    random_images=lambda cfg, params, key, n: _toy_generate(
        cfg, params, jax.random.normal(key, (n, cfg.z_dim))),
    recovery_targets=_toy_targets)


@dataclasses.dataclass(frozen=True)
class ToySettings:
    """The toy method's one setting: z starts at ``start`` x N(0, I)."""

    start: float = 0.5


def _toy_build(generator, settings: ToySettings, job: methods.Job) -> methods.Method:
    cfg = generator.cfg
    init = lambda key, context: {"z": settings.start * jax.random.normal(key, (cfg.z_dim,))}
    render = lambda v, context, key, step: _toy_generate(cfg, context["generator"], v["z"][None])
    problem = Problem(init=init, render=render, penalty=no_penalty, project=None,
                      latents=lambda v, context: {"z": v["z"]},
                      learning_rates={"z": job.rate("latent", 0.1)})
    return methods.Method(problem=problem)


TOY_METHOD = methods.MethodSpec("toy_z", ToySettings, _toy_build, families=("toy",))


@pytest.fixture
def toys(monkeypatch):
    """The toy family and method, registered for one test only."""
    for registry in (generator_registry._REGISTRY, method_registry._REGISTRY):
        monkeypatch.setattr(registry, "_entries", dict(registry._entries))
    generators.register(TOY_FAMILY)
    methods.register(TOY_METHOD)


def _toy_config(out, **settings):
    c = base_config()
    c.output_dir, c.progress = str(out), False
    c.builtin.family, c.builtin.size, c.builtin.style_dim = "toy", 8, 6
    c.method = method_config("toy_z", **settings)
    c.steps, c.num_targets, c.batch_size, c.chunk = 150, 3, 2, 50
    c.lr.latent.lr, c.lr.latent.schedule = 0.1, "constant"
    return c


def test_a_method_and_a_family_registered_here_run_through_the_runner(tmp_path, toys):
    records = invert.run(_toy_config(tmp_path))
    assert [r["status"] for r in records] == ["ok"] * 3
    for r in records:
        curve = r["loss_curve"]
        assert len(curve) == 150 and curve[-1] < 0.05 * curve[0]
        assert r["psnr"] > 30 and "latent_error" not in r  # the toy family reports none
        assert (tmp_path / "images" / r["image"] / "grid.png").exists()
    # the built-in note names the toy family, and the method's own setting reached it
    assert "built-in toy" in (tmp_path / "report.html").read_text()
    start = invert.run(_toy_config(tmp_path / "far", start=3.0))
    assert start[0]["loss_curve"][0] > records[0]["loss_curve"][0]


def test_a_method_refuses_a_family_by_name(tmp_path, toys):
    c = _toy_config(tmp_path)
    c.method = method_config("mganprior")
    with pytest.raises(invert.ConfigError, match="'mganprior' composes features .* toy family "
                                                 "has no feature split"):
        invert.run(c)
    assert not (tmp_path / "config.json").exists()


def test_unknown_method_settings_are_refused_by_name(tmp_path):
    c = base_config()
    c.output_dir = str(tmp_path)
    c.method.spacee = "w"
    with pytest.raises(invert.ConfigError, match=r"spacee: stylegan2 has no such setting; did "
                                                 r"you mean 'space'\?"):
        invert.run(c)
    with pytest.raises(methods.SettingsError, match="num_codez"):
        methods.make_settings(methods.get("mganprior"), {"num_codez": 3})
    with pytest.raises(invert.ConfigError,
                       match="unknown method 'mgan'; available: eglass, mganprior"):
        c = base_config()
        c.method = method_config("mganprior")
        c.method.name = "mgan"
        invert.run(c)
    proc = subprocess.run([sys.executable, "-m", "jaxinv.experiments.invert",
                           f"--config={os.path.join(ROOT, 'configs', 'default.py')}",
                           "--config.method.num_codes=3", f"--config.output_dir={tmp_path}"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0 and "num_codes" in proc.stderr


def test_the_runner_names_no_method_and_no_family():
    folder = os.path.join(ROOT, "jaxinv", "experiments")
    names = "|".join(methods.names() + generators.names())
    for name in os.listdir(folder):
        if name.endswith(".py") and name != "config_base.py":
            text = open(os.path.join(folder, name)).read()
            assert not re.search(r"method\.name|method ==", text), name
            assert not re.search(rf"[\"']({names})[\"']", text), name


def _readme_snippet() -> str:
    text = open(os.path.join(ROOT, "README.md")).read()
    section = text[text.index("## Library use"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_library_snippet_runs_verbatim(capsys):
    scope = {}
    exec(compile(_readme_snippet(), "README.md", "exec"), scope)
    out = scope["out"]
    assert out.reconstructions.shape == (2, 16, 16, 3)
    assert out.latents["wplus"].shape[0] == 2
    assert np.all(out.losses[:, -1] < 0.5 * out.losses[:, 0])
    assert np.all(np.asarray(out.metrics["psnr"]) > 20)
    pm, p2l = scope["pm"], scope["p2l"]
    assert pm.losses[0, -1] < pm.losses[0, 0] and pm.diverged_at[0] == -1
    assert any("PmSFC subspaces discovered" in n for n in pm.notes)
    assert p2l.reconstructions.shape == (1, 16, 16, 3) and p2l.diverged_at[0] == -1
    assert np.abs(p2l.latents["z"]).max() <= 2.0


def test_notebook_api_matches_the_runner(tmp_path):
    """The same problem through jaxinv.invert and through the runner gives the same numbers."""
    import jaxinv

    c = base_config()
    c.output_dir, c.progress, c.steps, c.num_targets, c.batch_size = str(tmp_path), False, 20, 2, 2
    c.builtin.size, c.builtin.channels, c.builtin.style_dim, c.builtin.n_mlp = 16, 16, 32, 2
    records = invert.run(c)
    gen = jaxinv.load_generator("stylegan2", size=16, latent_dim=32, channels=16, n_mlp=2)
    targets = invert.collect_targets(c, gen, {})
    job = invert.build_job(c)
    out = jaxinv.invert(gen, np.stack([t.image for t in targets]), "stylegan2",
                        job=dataclasses.replace(job, output_dir=""))
    np.testing.assert_allclose(out.metrics["psnr"], [r["psnr"] for r in records], rtol=1e-5)
    np.testing.assert_allclose(out.losses, [r["loss_curve"] for r in records], rtol=1e-5)
    with pytest.raises(ValueError, match="images are 8x8 px; the generator makes 16x16"):
        jaxinv.invert(gen, np.zeros((1, 8, 8, 3)))
