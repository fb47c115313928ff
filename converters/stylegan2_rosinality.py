"""Convert a rosinality/stylegan2-pytorch checkpoint into a jaxinv params directory.

    python converters/stylegan2_rosinality.py INPUT.pt OUTPUT_DIR [--lr-mlp 0.01]

INPUT.pt is ``{'g_ema': state_dict, 'latent_avg': tensor}`` as written by that repo's
``train.py`` / ``convert_weight.py`` (``latent_avg`` may be absent; it is then estimated from the
mapping network). Every size (resolution, style_dim, n_mlp, channels) is inferred from the tensors.
The file is read with PyTorch's restricted unpickler; it never runs code from the file.
"""

from __future__ import annotations

import argparse
import re
import sys

import numpy as np

from jaxinv.generators import stylegan2
from jaxinv.io.checkpoints import (CheckpointError, check_shapes, convert_generator,
                                   load_torch_file, require_keys, state_dict_to_numpy)

WHAT = "a rosinality StyleGAN2 checkpoint {'g_ema': state_dict, 'latent_avg': tensor}"


def _modulated(sd, prefix):
    weight = sd[f"{prefix}.conv.weight"][0]  # [Cout, Cin, k, k]
    return {"weight": np.transpose(weight, (2, 3, 1, 0)),
            "mod_w": sd[f"{prefix}.conv.modulation.weight"].T,
            "mod_b": sd[f"{prefix}.conv.modulation.bias"]}


def _styled_conv(sd, prefix):
    layer = _modulated(sd, prefix)
    layer["noise_strength"] = sd[f"{prefix}.noise.weight"].reshape(())
    layer["bias"] = sd[f"{prefix}.activate.bias"]
    return layer


def _to_rgb(sd, prefix):
    layer = _modulated(sd, prefix)
    layer["bias"] = sd[f"{prefix}.bias"].reshape(3)
    return layer


def convert_state_dict(sd: dict[str, np.ndarray], latent_avg, path: str = "<state_dict>",
                       lr_mlp: float = 0.01):
    """Maps a ``g_ema`` state dict (numpy arrays) to ``(StyleGAN2Config, params)``."""
    require_keys(sd, ["input.input", "conv1.conv.weight", "to_rgb1.conv.weight",
                      "style.1.weight"], path, WHAT)
    n_mlp = len({m.group(1) for k in sd if (m := re.match(r"style\.(\d+)\.weight$", k))})
    n_convs = len({m.group(1) for k in sd if (m := re.match(r"convs\.(\d+)\.conv\.weight$", k))})
    try:
        params = {
            "mapping": [{"w": sd[f"style.{i}.weight"].T, "b": sd[f"style.{i}.bias"]}
                        for i in range(1, n_mlp + 1)],
            "const": np.transpose(sd["input.input"][0], (1, 2, 0)),
            "convs": [_styled_conv(sd, "conv1")]
                     + [_styled_conv(sd, f"convs.{i}") for i in range(n_convs)],
            "to_rgbs": [_to_rgb(sd, "to_rgb1")]
                       + [_to_rgb(sd, f"to_rgbs.{i}") for i in range(n_convs // 2)],
            "noise": [np.transpose(sd[f"noises.noise_{i}"][0], (1, 2, 0))
                      for i in range(n_convs + 1)],
        }
    except KeyError as e:
        raise CheckpointError(f"{path}: not {WHAT}; missing key {e.args[0]}") from None
    try:
        cfg = stylegan2.config_from_params(params, lr_mlp)
    except ValueError as e:
        raise CheckpointError(f"{path}: inconsistent StyleGAN2 layer sizes ({e})") from None
    if latent_avg is None:
        import jax
        params["w_avg"] = np.zeros((cfg.style_dim,), np.float32)
        mean, _ = stylegan2.w_stats(cfg, params, jax.random.PRNGKey(0))
        latent_avg = np.asarray(mean)
    params["w_avg"] = np.asarray(latent_avg, np.float32).reshape(-1)
    check_shapes(params, stylegan2.param_shapes(cfg), path)
    return cfg, params


def load_rosinality(path: str, lr_mlp: float = 0.01):
    """Reads INPUT.pt safely and returns ``(StyleGAN2Config, params)`` as numpy arrays."""
    import torch

    ckpt = load_torch_file(path, WHAT)
    if not isinstance(ckpt, dict) or "g_ema" not in ckpt:
        found = sorted(ckpt)[:5] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: not {WHAT} (found {found})")
    sd = state_dict_to_numpy(ckpt["g_ema"], path, WHAT)
    latent_avg = ckpt.get("latent_avg")
    if latent_avg is not None:
        if not isinstance(latent_avg, torch.Tensor):
            raise CheckpointError(f"{path}: 'latent_avg' is a {type(latent_avg).__name__}, "
                                  f"expected a tensor")
        latent_avg = latent_avg.detach().float().numpy()
    return convert_state_dict(sd, latent_avg, path, lr_mlp)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="rosinality checkpoint (.pt)")
    parser.add_argument("output_dir", help="directory to write (params.npz + meta.json)")
    parser.add_argument("--lr-mlp", type=float, default=0.01,
                        help="mapping-network lr multiplier the model was trained with")
    args = parser.parse_args(argv)
    return convert_generator(lambda: load_rosinality(args.input, args.lr_mlp), args.output_dir,
                             "stylegan2", "rosinality", args.input)


if __name__ == "__main__":
    sys.exit(main())
