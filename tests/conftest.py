"""Shared fixtures: the reference data in ../shared and small generators."""

import os
import tempfile

# One persistent XLA compilation cache per test run, shared by the xdist workers and by the CLI
# subprocesses the tests start (they inherit the environment): the same program compiled by
# two processes is compiled once. Keyed by the run, so every run starts cold, as CI does.
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), f"jaxinv-tests-xla-{_RUN}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

import jax  # noqa: E402
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("JAXINV_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))
FIXTURES = os.path.join(SHARED, "fixtures")
DATA = os.path.join(SHARED, "data")


def shared_path(*parts):
    """Path under ../shared, skipping the test with the reason when it is absent."""
    path = os.path.join(SHARED, *parts)
    if not os.path.exists(path):
        pytest.skip(f"reference data {path} is absent (../shared beside the repo, or set "
                    f"JAXINV_SHARED)")
    return path


def convert_fixture_lpips(out, net: str) -> str:
    """LPIPS-``net`` converted by its CLI from the fixtures (real v0.1 linear layers, random
    backbone: fine for exercising code, not for measuring); returns ``out``."""
    import subprocess
    import sys

    pytest.importorskip("torch", reason="converting the fixtures needs torch")
    subprocess.run([sys.executable, os.path.join(ROOT, "converters", "lpips_torch.py"), "--net",
                    net, "--linear", shared_path("fixtures", "lpips_linear_v0.1", f"{net}.pth"),
                    "--backbone", shared_path("fixtures", "lpips_lpips014",
                                              f"{net}_backbone_features_fp16.pth"),
                    str(out)], check=True, capture_output=True, cwd=ROOT)
    return str(out)


def with_overrides(config, overrides: dict):
    """``config`` with each dotted key of ``overrides`` (e.g. ``'lr.latent.lr'``) set."""
    for key, value in overrides.items():
        node = config
        for part in key.split(".")[:-1]:
            node = node[part]
        node[key.split(".")[-1]] = value
    return config


def config_module(name: str):
    """The module of ``configs/<name>`` (its ``get_config`` takes the part after a colon)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(ROOT, "configs", name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nhwc(a):
    return np.transpose(np.asarray(a), (0, 2, 3, 1))


def rel_err(port, ref):
    """max|port - ref| / max|ref|, the parity criterion of ../shared/README.md."""
    ref = np.asarray(ref, np.float64)
    return float(np.max(np.abs(np.asarray(port, np.float64) - ref)) / np.max(np.abs(ref)))


@pytest.fixture
def x64():
    """Runs the test with jax_enable_x64, restoring the previous setting."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


@pytest.fixture(scope="session")
def small_stylegan2():
    """A 16px StyleGAN2 with random weights: (cfg, params)."""
    from jaxinv.generators import stylegan2

    cfg = stylegan2.StyleGAN2Config(size=16, style_dim=32, n_mlp=2, channels=(32, 32, 32))
    return cfg, stylegan2.init_params(cfg, jax.random.PRNGKey(0))


_IMAGES_LOADED = """<script>window.addEventListener('load', () => {
  const broken = [...document.images].filter(i => !(i.complete && i.naturalWidth > 0));
  document.body.setAttribute('data-images', String(document.images.length));
  document.body.setAttribute('data-broken', broken.map(i => i.getAttribute('src')).join('|'));
});</script>"""


def render_report(out, sections=()) -> str:
    """Renders ``out/report.html`` in headless Chromium (Debian's ``chromium``) and asserts that
    every image it references loads and that each of ``sections`` (heading ids) is present;
    returns the rendered DOM. Skips without Chromium unless JAXINV_REQUIRE_CHROMIUM is set (CI
    installs it and sets it)."""
    import re
    import shutil
    import subprocess

    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("JAXINV_REQUIRE_CHROMIUM"):
            pytest.fail("JAXINV_REQUIRE_CHROMIUM is set but no chromium is installed")
        pytest.skip("headless Chromium is absent (apt-get install chromium)")
    page = os.path.join(str(out), "report_under_test.html")
    with open(os.path.join(str(out), "report.html")) as f:
        text = f.read()
    with open(page, "w") as f:
        f.write(text.replace("</body>", _IMAGES_LOADED + "</body>"))
    try:
        dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu",
                              "--dump-dom", f"file://{page}"], capture_output=True, text=True,
                             timeout=120, check=True).stdout
    finally:
        os.remove(page)
    loaded = re.search(r"<body[^>]*data-images=\"(\d+)\"[^>]*data-broken=\"([^\"]*)\"", dom)
    assert loaded, "the page's load handler did not run"
    assert int(loaded.group(1)) > 0 and loaded.group(2) == "", loaded.group(2)
    for section in sections:
        assert re.search(f"<h2 id=\"{re.escape(section)}\"", dom), f"no section {section!r}"
    return dom
