"""Image reading policy."""

import numpy as np
import pytest
from PIL import Image

from jaxinv.io.images import ImageError, list_images, load_image, load_mask, save_image


def test_rgba_composited_over_white(tmp_path):
    arr = np.zeros((8, 8, 4), np.uint8)
    arr[..., 0] = 255
    arr[:4, ..., 3] = 255  # top half opaque red, bottom transparent
    Image.fromarray(arr, "RGBA").save(tmp_path / "a.png")
    x = load_image(str(tmp_path / "a.png"))
    np.testing.assert_allclose(x[0, 0], [1, -1, -1])
    np.testing.assert_allclose(x[-1, 0], [1, 1, 1])


def test_grayscale_and_16bit(tmp_path):
    Image.fromarray(np.full((6, 6), 51, np.uint8), "L").save(tmp_path / "g.png")
    np.testing.assert_allclose(load_image(str(tmp_path / "g.png")), 51 / 255 * 2 - 1, atol=1e-6)
    Image.fromarray(np.full((6, 6), 65535 // 4, np.uint16)).save(tmp_path / "h.png")
    x = load_image(str(tmp_path / "h.png"))
    assert x.shape == (6, 6, 3)
    np.testing.assert_allclose(x, (65535 // 4) / 65535 * 2 - 1, atol=1e-5)


def test_center_crop_and_resize(tmp_path):
    arr = np.zeros((10, 20, 3), np.uint8)
    arr[:, 5:15] = 255
    Image.fromarray(arr).save(tmp_path / "wide.png")
    x = load_image(str(tmp_path / "wide.png"), size=4)
    assert x.shape == (4, 4, 3) and float(x.min()) > 0.9


def test_bad_files_raise_image_error(tmp_path):
    (tmp_path / "text.png").write_text("not an image")
    (tmp_path / "trunc.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    for name in ["text.png", "trunc.png", "missing.png"]:
        with pytest.raises(ImageError, match=name):
            load_image(str(tmp_path / name))


def test_listing_and_roundtrip(tmp_path):
    x = np.linspace(-1, 1, 4 * 4 * 3).reshape(4, 4, 3).astype(np.float32)
    save_image(str(tmp_path / "b.png"), x)
    save_image(str(tmp_path / "a.png"), x)
    (tmp_path / "notes.txt").write_text("x")
    assert [p.split("/")[-1] for p in list_images(str(tmp_path))] == ["a.png", "b.png"]
    assert len(list_images(str(tmp_path / "*.png"))) == 2
    np.testing.assert_allclose(load_image(str(tmp_path / "a.png")), x, atol=1 / 127)
    with pytest.raises(FileNotFoundError):
        list_images(str(tmp_path / "nothing*"))


def test_mask_uses_alpha(tmp_path):
    arr = np.zeros((8, 8, 4), np.uint8)
    arr[..., 3] = 255
    arr[2:6, 2:6, 3] = 0
    Image.fromarray(arr, "RGBA").save(tmp_path / "m.png")
    m = load_mask(str(tmp_path / "m.png"), 8)
    assert m.shape == (8, 8, 1) and m[0, 0, 0] == 1.0 and m[3, 3, 0] == 0.0
