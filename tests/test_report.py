"""The report's pieces: panels, curves of diverged images, progress with ETA."""

import time

import numpy as np
from matplotlib import colormaps

from jaxinv.report import grids, plots, progress


def test_panels_are_labelled_enlarged_and_the_error_is_coloured():
    rng = np.random.default_rng(0)
    target = rng.uniform(-1, 1, (16, 16, 3)).astype(np.float32)
    y = target[::2, ::2]
    views = [(target, y, target), (target, y, -target)]
    shown = grids.report_panels(views, degraded=True)
    assert list(shown) == ["target", "degraded input", "reconstruction", "error"]
    for panel in shown.values():
        assert panel.shape == (2 * 16 * 12, 16 * 12, 3)  # two views, 16 px enlarged x12
    assert list(grids.report_panels(views, degraded=False)) == [
        "target", "reconstruction", "error"]
    # the first view is exact: the colour map's bottom; the second is not
    bottom = np.asarray(colormaps[grids.ERROR_COLORMAP](0.0)[:3]) * 2 - 1
    np.testing.assert_allclose(shown["error"][:192, :, :], np.broadcast_to(bottom, (192, 192, 3)),
                               atol=1e-6)
    assert np.abs(shown["error"][192:] - bottom).max() > 0.1
    assert grids.enlarged(np.zeros((200, 300, 3))).shape == (200, 300, 3)


def test_a_diverged_curve_ends_at_its_last_finite_step(tmp_path):
    curve = np.array([3.0, 2.0, 1.0, 1.0, 1.0])
    assert plots.finite_prefix(curve, 2).tolist() == [3.0, 2.0]
    assert plots.finite_prefix(np.array([3.0, np.nan, 1.0])).tolist() == [3.0]
    assert plots.finite_prefix(curve, -1).size == 5
    plots.loss_curves(str(tmp_path / "c.png"), {"a": curve, "b": curve}, {"b": 2})
    assert (tmp_path / "c.png").stat().st_size > 0


def test_progress_says_compiling_then_shows_an_eta_that_leaves_compilation_out(capsys):
    assert progress.eta_seconds(100, (10, 0.0), (20, 1.0)) == 8.0  # 80 left at 10 per s
    assert progress.eta_seconds(100, (10, 0.0), (10, 1.0)) is None
    bar = progress.Bar(40, "job", "steps", enabled=True, tick=0.05)
    time.sleep(0.3)  # "compiling": nothing done yet
    bar(10, np.array([1.0, 3.0]))
    bar(20, np.array([0.5, 0.5]))
    bar.close()
    err = capsys.readouterr().err
    assert "compiling, 0 s" in err and "loss 2" in err and "ETA 00:00:0" in err
