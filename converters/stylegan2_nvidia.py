"""Convert an NVIDIA stylegan2-ada-pytorch network pickle into a jaxinv params directory.

    python converters/stylegan2_nvidia.py INPUT.pkl OUTPUT_DIR [--network G_ema]

INPUT.pkl is a pickle as that repository's ``train.py`` writes (``{'G', 'D', 'G_ema', ...}``):
the official FFHQ, AFHQ and MetFaces models, and those of its forks, including the
overparameterized generator of yohan-pg/stylegan2-ada-pytorch (``use_adaconv``: one latent row
per output channel, no noise inputs), whose row count is kept in the converted config. The
network (``G_ema`` by default) must be unconditional, RGB, with the 'skip' synthesis
architecture and the [1, 3, 3, 1] resampling filter; sizes, the mapping depth and lr multiplier,
``conv_clamp`` and ``w_avg`` are read from it. The file is read by
:mod:`jaxinv.io.nvidia_pickle`, which executes nothing from it (the module source NVIDIA's
pickles carry is dropped) and needs no torch.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from jaxinv.generators import stylegan2
from jaxinv.io import nvidia_pickle
from jaxinv.io.checkpoints import CheckpointError, check_shapes, convert_generator

WHAT = "an NVIDIA stylegan2-ada-pytorch network pickle {'G_ema': Generator, ...}"
_FILTER = np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0]) / 64.0


def _tensor(obj, name: str, path: str) -> np.ndarray:
    found = obj.tensor(name)
    if found is None:
        raise CheckpointError(f"{path}: {obj.class_name} has no tensor {name!r} (expected {WHAT})")
    return np.asarray(found, np.float32)


def _layer(obj, path: str) -> dict:
    """A SynthesisLayer (or a ToRGBLayer, which has no noise) in the port's layout. The
    upsampling convs need no kernel flip: NVIDIA's and the port's (rosinality's) both run the
    transposed convolution of the stored kernel, then the same blur."""
    affine = obj.module("affine")
    layer = {"weight": np.transpose(_tensor(obj, "weight", path), (2, 3, 1, 0)),  # OIHW -> HWIO
             "mod_w": _tensor(affine, "weight", path).T, "mod_b": _tensor(affine, "bias", path),
             "bias": _tensor(obj, "bias", path)}
    if obj.class_name == "SynthesisLayer":
        strength = obj.tensor("noise_strength")
        layer["noise_strength"] = np.asarray(0.0 if strength is None else strength,
                                             np.float32).reshape(())
    return layer


def _noise(obj, resolution: int) -> np.ndarray:
    noise = obj.tensor("noise_const")
    if noise is None:  # a generator without noise inputs (the overparameterized one)
        return np.zeros((resolution, resolution, 1), np.float32)
    return np.asarray(noise, np.float32)[:, :, None]


def _check(condition: bool, path: str, problem: str) -> None:
    if not condition:
        raise CheckpointError(f"{path}: {problem}")


def convert_generator_object(g, path: str = "<pickle>"):
    """Maps a pickled ``Generator`` (:class:`~jaxinv.io.nvidia_pickle.PersistentObject`) to
    ``(StyleGAN2Config, params)``."""
    _check(isinstance(g, nvidia_pickle.PersistentObject) and g.class_name == "Generator", path,
           f"the network is not a StyleGAN2 Generator (expected {WHAT})")
    state = g.state
    _check(not state.get("c_dim"), path, f"conditional generators (c_dim={state.get('c_dim')}) "
                                         f"are not supported")
    _check(state.get("img_channels", 3) == 3, path, "only RGB generators are supported")
    _check(state.get("z_dim") == state.get("w_dim"), path,
           f"z_dim {state.get('z_dim')} differs from w_dim {state.get('w_dim')}")
    try:
        mapping, synthesis = g.module("mapping"), g.module("synthesis")
        resolution = int(synthesis.state["img_resolution"])
        blocks = [synthesis.module(f"b{2 ** r}") for r in range(2, int(math.log2(resolution)) + 1)]
        fcs = [mapping.module(f"fc{i}") for i in range(int(mapping.state["num_layers"]))]
    except KeyError as e:
        raise CheckpointError(f"{path}: not {WHAT}; missing {e.args[0]!r}") from None
    for block in blocks:
        _check(block.state.get("architecture", "skip") == "skip", path,
               f"synthesis architecture {block.state.get('architecture')!r}; only 'skip' is "
               f"supported")
        _check(np.allclose(_tensor(block, "resample_filter", path), _FILTER), path,
               "a resampling filter other than [1, 3, 3, 1]")
    lr_mlp = float(fcs[0].state.get("bias_gain", 0.01))
    convs, to_rgbs, noise = [], [], []
    for r, block in enumerate(blocks):
        res = 4 * 2 ** r
        if r:
            convs.append(_layer(block.module("conv0"), path))
            noise.append(_noise(block.module("conv0"), res))
        convs.append(_layer(block.module("conv1"), path))
        noise.append(_noise(block.module("conv1"), res))
        to_rgbs.append(_layer(block.module("torgb"), path))
    params = {
        "mapping": [{"w": _tensor(fc, "weight", path).T, "b": _tensor(fc, "bias", path)}
                    for fc in fcs],
        "const": np.transpose(_tensor(blocks[0], "const", path), (1, 2, 0)),
        "convs": convs, "to_rgbs": to_rgbs, "noise": noise,
        "w_avg": _tensor(mapping, "w_avg", path).reshape(-1),
    }
    rows = int(mapping.state.get("num_adaconv_vectors") or 1) \
        if mapping.state.get("sample_for_adaconv") else 1
    clamp = blocks[0].module("conv1").state.get("conv_clamp")
    try:
        cfg = stylegan2.config_from_params(params, lr_mlp, rows,
                                           None if clamp is None else float(clamp))
    except ValueError as e:
        raise CheckpointError(f"{path}: inconsistent StyleGAN2 layer sizes ({e})") from None
    check_shapes(params, stylegan2.param_shapes(cfg), path)
    return cfg, params


def load_nvidia(path: str, network: str = "G_ema"):
    """Reads INPUT.pkl safely and returns ``(StyleGAN2Config, params)`` of ``network``."""
    data = nvidia_pickle.load(path, WHAT)
    if not isinstance(data, dict) or network not in data:
        found = sorted(data)[:6] if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: no network {network!r} (found {found}; expected {WHAT})")
    return convert_generator_object(data[network], path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="NVIDIA network pickle (.pkl)")
    parser.add_argument("output_dir", help="directory to write (params.npz + meta.json)")
    parser.add_argument("--network", default="G_ema", help="which network of the pickle")
    args = parser.parse_args(argv)
    return convert_generator(lambda: load_nvidia(args.input, args.network), args.output_dir,
                             "stylegan2", "nvidia", args.input)


if __name__ == "__main__":
    sys.exit(main())
