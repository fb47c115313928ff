"""Side-by-side comparison grids and the report's image panels."""

from __future__ import annotations

import numpy as np

ERROR_SCALE = 1.0   # the error colour scale's top: mean |x - y| over channels, images in [-1, 1]
ERROR_COLORMAP = "inferno"
MIN_PANEL = 192     # the report's smallest panel side, px


def error_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-pixel absolute error, mean over channels, shown as a [-1, 1] gray image scaled so the
    largest possible error (2) is white."""
    err = np.mean(np.abs(np.asarray(x) - np.asarray(y)), axis=-1, keepdims=True)
    return np.repeat(err - 1.0, 3, axis=-1)


def error_heatmap(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-pixel mean absolute error [H, W, 3] in [-1, 1], coloured by :data:`ERROR_COLORMAP`
    over [0, :data:`ERROR_SCALE`] (larger errors saturate); the scale is drawn by
    :func:`jaxinv.report.plots.error_scale`."""
    from matplotlib import colormaps

    err = np.mean(np.abs(np.asarray(x, np.float32) - np.asarray(y, np.float32)), axis=-1)
    rgb = colormaps[ERROR_COLORMAP](np.clip(err / ERROR_SCALE, 0.0, 1.0))[..., :3]
    return (rgb * 2.0 - 1.0).astype(np.float32)


def enlarged(image: np.ndarray, min_side: int = MIN_PANEL) -> np.ndarray:
    """``image`` [H, W, C] enlarged by an integer nearest-neighbour factor so that its shorter
    side is at least ``min_side`` (unchanged when it already is)."""
    image = np.asarray(image)
    f = -(-min_side // min(image.shape[:2]))
    return image if f <= 1 else np.repeat(np.repeat(image, f, axis=0), f, axis=1)


def to_display(y: np.ndarray, shape) -> np.ndarray:
    """A measurement shown as an image of ``shape`` (H, W, 3): images are nearest-upsampled;
    vectors (e.g. compressed measurements) are shown as a gray square."""
    y = np.asarray(y)
    if y.ndim == 3 and y.shape[-1] == 3:
        fy, fx = shape[0] // y.shape[0], shape[1] // y.shape[1]
        if fy >= 1 and fx >= 1 and (fy, fx) != (1, 1):
            y = np.repeat(np.repeat(y, fy, axis=0), fx, axis=1)
        if y.shape == tuple(shape):
            return y
    return np.zeros(shape, np.float32)


def tile(images, cols: int, pad: int = 2) -> np.ndarray:
    """Images [N, H, W, 3] in [-1, 1] as one grid image, ``cols`` per row, separated by
    ``pad`` white pixels (empty cells white)."""
    images = np.clip(np.asarray(images, np.float32), -1, 1)
    n, h, w, c = images.shape
    rows = -(-n // cols)
    grid = np.ones((rows * (h + pad) - pad, cols * (w + pad) - pad, c), np.float32)
    for i, image in enumerate(images):
        r, k = divmod(i, cols)
        grid[r * (h + pad):r * (h + pad) + h, k * (w + pad):k * (w + pad) + w] = image
    return grid


def comparison(target, degraded, reconstruction, pad: int = 2) -> np.ndarray:
    """Row [target | degraded input | reconstruction | error map], each HWC in [-1, 1]."""
    shape = np.shape(target)
    panels = [np.asarray(target), to_display(degraded, shape), np.asarray(reconstruction),
              error_map(reconstruction, target)]
    sep = np.ones((shape[0], pad, 3), np.float32)
    row = []
    for p in panels:
        row += [np.clip(p, -1, 1), sep]
    return np.concatenate(row[:-1], axis=1)


def report_panels(views, degraded: bool) -> dict[str, np.ndarray]:
    """The report's columns of one image: ``views`` is a list of ``(target, degraded input,
    reconstruction)`` triples (one per view, HWC in [-1, 1]); returns ``{column label: image}``
    with the views stacked top to bottom, each panel enlarged to at least :data:`MIN_PANEL` px.
    The degraded-input column is left out when there is no degradation."""
    columns = {"target": [], "degraded input": [], "reconstruction": [], "error": []}
    for target, y, reconstruction in views:
        shape = np.shape(target)
        columns["target"].append(np.asarray(target))
        columns["degraded input"].append(to_display(y, shape))
        columns["reconstruction"].append(np.asarray(reconstruction))
        columns["error"].append(error_heatmap(reconstruction, target))
    if not degraded:
        del columns["degraded input"]
    return {label: enlarged(np.clip(np.concatenate(parts, axis=0), -1, 1))
            for label, parts in columns.items()}
