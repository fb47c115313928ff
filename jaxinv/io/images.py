"""Reading and writing images.

Reading policy (:func:`load_image`), applied in this order:

- PNG and JPEG (anything Pillow opens) are read; a file Pillow cannot open raises
  :class:`ImageError` naming the file, which the runner reports and skips.
- 16-bit images (modes ``I;16*`` and ``I``) are scaled by 1/65535 to [0, 1]; 8-bit by 1/255.
- Grayscale (``L``, ``I;16``) is replicated to three channels; palette images are expanded.
- RGBA / LA: the alpha channel is composited over a white background (documented choice: a cut-out
  object on white, as photographs of isolated objects are usually shown), then dropped.
- ``sample:NAME`` is a photograph an installed package ships (:mod:`jaxinv.io.samples`), cropped
  to its subject's box first.
- Non-square images are centre-cropped to a square, then resized to the requested resolution with
  Lanczos filtering (area-correct for downsampling) in float precision.

The result is float32 HWC in [-1, 1].
"""

from __future__ import annotations

import glob
import os
import tempfile

import numpy as np
from PIL import Image

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class ImageError(ValueError):
    """An input image that cannot be used; the message names the file."""


def _to_unit_rgb(img: Image.Image, path: str) -> np.ndarray:
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "I;16N"):
        arr = np.asarray(img, dtype=np.float64) / 65535.0
        arr = np.repeat(np.clip(arr, 0, 1)[..., None], 3, axis=-1)
        return arr.astype(np.float32)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        return np.repeat(np.clip(arr, 0, 1)[..., None], 3, axis=-1).astype(np.float32)
    if mode in ("RGBA", "LA", "PA"):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:]
        return rgba[..., :3] * alpha + (1.0 - alpha)
    if mode not in ("RGB", "L", "1", "CMYK", "YCbCr", "LAB", "HSV"):
        raise ImageError(f"{path}: unsupported image mode {mode}")
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def _center_square(arr: np.ndarray) -> np.ndarray:
    h, w = arr.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return arr[top:top + s, left:left + s]


def _resize(arr: np.ndarray, size: int) -> np.ndarray:
    if arr.shape[0] == size:
        return arr
    channels = [np.asarray(Image.fromarray(arr[..., c], mode="F").resize(
        (size, size), Image.Resampling.LANCZOS)) for c in range(arr.shape[-1])]
    return np.stack(channels, axis=-1)


def load_image(path: str, size: int | None = None) -> np.ndarray:
    """Reads ``path`` by the policy above; returns float32 [size, size, 3] in [-1, 1]."""
    from jaxinv.io import samples

    file, box = path, None
    try:
        if path.startswith(samples.PREFIX):
            file, box = samples.resolve(path)
        with Image.open(file) as img:
            img.load()
            arr = _to_unit_rgb(img.crop(box) if box else img, path)
    except ImageError:
        raise
    except FileNotFoundError as e:
        sample = path.startswith(samples.PREFIX)
        raise ImageError(str(e) if sample else f"{path}: no such file") from None
    except Exception as e:  # Pillow raises UnidentifiedImageError, OSError, SyntaxError, ...
        raise ImageError(f"{path}: cannot be read as an image ({type(e).__name__}: {e})") from None
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"{path}: empty image")
    arr = _center_square(arr)
    if size is not None:
        arr = _resize(arr, size)
    return np.clip(arr * 2.0 - 1.0, -1.0, 1.0).astype(np.float32)


def load_mask(path: str, size: int) -> np.ndarray:
    """A mask image as float32 [size, size, 1] in [0, 1] (1 = observed): RGBA masks use alpha,
    others their luminance."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA"):
                arr = np.asarray(img.getchannel("A"), np.float32) / 255.0
            else:
                arr = np.asarray(img.convert("L"), np.float32) / 255.0
    except Exception as e:
        raise ImageError(f"{path}: cannot be read as a mask ({type(e).__name__}: {e})") from None
    arr = _resize(_center_square(arr[..., None]), size)
    return np.clip(arr, 0.0, 1.0)


def list_images(spec: str) -> list[str]:
    """Image files named by ``spec``: one file, a folder (its image files, sorted), a glob, or a
    packaged photograph ``sample:NAME`` (returned as it is; :func:`load_image` reads it)."""
    from jaxinv.io import samples

    if spec.startswith(samples.PREFIX):
        samples.resolve(spec)
        return [spec]
    if os.path.isdir(spec):
        files = [os.path.join(spec, f) for f in sorted(os.listdir(spec))]
        return [f for f in files if f.lower().endswith(EXTENSIONS) and os.path.isfile(f)]
    if os.path.isfile(spec):
        return [spec]
    files = sorted(glob.glob(spec))
    if not files:
        raise FileNotFoundError(f"{spec}: no such file or folder, and no file matches it as a glob")
    return [f for f in files if os.path.isfile(f)]


def to_uint8(x: np.ndarray) -> np.ndarray:
    """[-1, 1] float HWC -> uint8 HWC (clipped)."""
    return np.round((np.clip(np.asarray(x, np.float32), -1, 1) + 1) * 127.5).astype(np.uint8)


def default_mode(directory: bool = False) -> int:
    """The mode ``open`` or ``mkdir`` would give a new file or folder under the umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        os.fchmod(fd, default_mode())  # mkstemp makes it private to the owner
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_image(path: str, x: np.ndarray) -> None:
    """Saves a [-1, 1] HWC image (or HW / HW1 grayscale) as PNG, atomically."""
    import io

    arr = to_uint8(x)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
