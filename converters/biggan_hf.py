"""Convert a pytorch-pretrained-biggan BigGAN-deep folder into a jaxinv params directory.

    python converters/biggan_hf.py INPUT_DIR OUTPUT_DIR

INPUT_DIR is the layout ``BigGAN.from_pretrained(folder)`` reads: ``pytorch_model.bin`` (a state
dict; spectral-norm layers stored as ``weight_orig`` / ``weight_u`` / ``weight_v``) and
``config.json`` (biggan-deep-128/256/512 or any smaller model of the same code). Spectral
normalisation is resolved here as PyTorch evaluates it in eval mode: ``W = W_orig / sigma`` with
``sigma = u . (W_orig v)`` from the stored u and v (in float64). The weights are read with
PyTorch's restricted unpickler and config.json as plain JSON; no code from either runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from jaxinv.generators import biggan
from jaxinv.io.checkpoints import (CheckpointError, check_shapes, convert_generator,
                                   load_torch_file, require_keys, state_dict_to_numpy)

WHAT = ("a pytorch-pretrained-biggan state dict (embeddings.weight, generator.gen_z.weight_orig, "
        "...)")


def _spectral(sd, prefix: str, dtype):
    """``W_orig / sigma`` [out, ...] of the spectral-normalised layer ``prefix``."""
    w = sd[prefix + ".weight_orig"].astype(np.float64)
    u, v = sd[prefix + ".weight_u"].astype(np.float64), sd[prefix + ".weight_v"].astype(np.float64)
    sigma = float(u @ (w.reshape(w.shape[0], -1) @ v))
    return (w / sigma).astype(dtype)


def _conv(sd, prefix, dtype, bias=True):
    out = {"weight": np.transpose(_spectral(sd, prefix, dtype), (2, 3, 1, 0))}
    if bias:
        out["bias"] = sd[prefix + ".bias"].astype(dtype)
    return out


def _cond_bn(sd, prefix, dtype):
    return {"means": sd[prefix + ".running_means"].astype(dtype),
            "vars": sd[prefix + ".running_vars"].astype(dtype),
            "scale": _spectral(sd, prefix + ".scale", dtype).T,
            "offset": _spectral(sd, prefix + ".offset", dtype).T}


def convert_state_dict(sd: dict, config: dict, path: str = "<state_dict>", dtype=np.float32):
    """Maps the state dict (numpy arrays) and config.json's dict to ``(BigGANConfig, params)``;
    ``dtype=np.float64`` gives float64 params (for parity checks)."""
    try:
        cfg = biggan.BigGANConfig.from_dict(config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: config.json is not a BigGAN-deep config ({e})") from None
    require_keys(sd, ["embeddings.weight", "generator.gen_z.weight_orig"], path, WHAT)
    g = "generator."
    blocks, torch_index = [], 0
    try:
        for i in range(len(cfg.layers)):
            if i == cfg.attention_layer_position:
                a = f"{g}layers.{torch_index}."
                attention = {name: _spectral(sd, a + f"snconv1x1_{key}", dtype)[:, :, 0, 0].T
                             for name, key in (("theta", "theta"), ("phi", "phi"), ("g", "g"),
                                               ("o", "o_conv"))}
                attention["gamma"] = sd[a + "gamma"].astype(dtype).reshape(())
                torch_index += 1
            b = f"{g}layers.{torch_index}."
            block = {f"bn_{j}": _cond_bn(sd, b + f"bn_{j}", dtype) for j in range(4)}
            block.update({f"conv_{j}": _conv(sd, b + f"conv_{j}", dtype) for j in range(4)})
            blocks.append(block)
            torch_index += 1
        params = {
            "embeddings": sd["embeddings.weight"].astype(dtype).T,
            "gen_z": {"weight": _spectral(sd, g + "gen_z", dtype).T,
                      "bias": sd[g + "gen_z.bias"].astype(dtype)},
            "blocks": blocks,
            "bn": {"means": sd[g + "bn.running_means"].astype(dtype),
                   "vars": sd[g + "bn.running_vars"].astype(dtype),
                   "weight": sd[g + "bn.weight"].astype(dtype),
                   "bias": sd[g + "bn.bias"].astype(dtype)},
            "to_rgb": _conv(sd, g + "conv_to_rgb", dtype),
        }
    except KeyError as e:
        raise CheckpointError(f"{path}: not {WHAT} for its config.json; missing key "
                              f"{e.args[0]}") from None
    if cfg.attention_layer_position < len(cfg.layers):
        params["attention"] = attention
    check_shapes(params, biggan.param_shapes(cfg), path)
    return cfg, params


def load_biggan(folder: str, dtype=np.float32):
    """Reads ``folder/{pytorch_model.bin, config.json}`` safely; returns ``(cfg, params)``."""
    weights, config_path = (os.path.join(folder, n) for n in ("pytorch_model.bin", "config.json"))
    if not os.path.isdir(folder):
        raise CheckpointError(f"{folder}: not a folder (expected pytorch_model.bin and "
                              f"config.json, as BigGAN.from_pretrained reads)")
    try:
        with open(config_path) as f:
            config = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{config_path}: no such file (BigGAN-deep's config.json)") from None
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{config_path}: unreadable JSON ({e})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path}: expected a JSON object")
    sd = state_dict_to_numpy(load_torch_file(weights, WHAT), weights, WHAT)
    return convert_state_dict(sd, config, weights, dtype)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="folder with pytorch_model.bin and config.json")
    parser.add_argument("output_dir", help="directory to write (params.npz + meta.json)")
    args = parser.parse_args(argv)
    return convert_generator(lambda: load_biggan(args.input), args.output_dir, "biggan",
                             "pytorch-pretrained-biggan", args.input)


if __name__ == "__main__":
    sys.exit(main())
