"""Side-by-side comparison grids."""

from __future__ import annotations

import numpy as np


def error_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-pixel absolute error, mean over channels, shown as a [-1, 1] gray image scaled so the
    largest possible error (2) is white."""
    err = np.mean(np.abs(np.asarray(x) - np.asarray(y)), axis=-1, keepdims=True)
    return np.repeat(err - 1.0, 3, axis=-1)


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
