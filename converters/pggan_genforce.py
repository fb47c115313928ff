"""Convert a genforce/mganprior PGGAN generator checkpoint into a jaxinv params directory.

    python converters/pggan_genforce.py INPUT.pth OUTPUT_DIR

INPUT.pth is the plain state dict genforce ships (``pggan_celebahq1024_generator.pth``,
``pggan_bedroom256_generator.pth``; a ``lod`` entry, if present, must be 0). Resolution, z_dim and
channels are inferred from the tensors. Read with PyTorch's restricted unpickler; it never runs
code from the file.
"""

from __future__ import annotations

import argparse
import re
import sys

import numpy as np

from jaxinv.generators import pggan
from jaxinv.io.checkpoints import (CheckpointError, check_shapes, convert_generator,
                                   load_torch_file, require_keys, state_dict_to_numpy)

WHAT = "a genforce PGGAN generator state dict (layer0.conv.weight, ..., outputN.conv.weight)"


def convert_state_dict(sd: dict[str, np.ndarray], path: str = "<state_dict>"):
    """Maps the state dict (numpy arrays) to ``(PGGANConfig, params)``."""
    require_keys(sd, ["layer0.conv.weight", "layer0.wscale.bias"], path, WHAT)
    if any(re.match(r"layer\d+\.weight$", k) for k in sd):
        raise CheckpointError(f"{path}: a fused_scale PGGAN (transposed convolutions), which "
                              f"jaxinv does not support yet")
    if "lod" in sd and float(np.asarray(sd["lod"])) != 0.0:
        raise CheckpointError(f"{path}: lod = {float(np.asarray(sd['lod']))}; only the final "
                              f"level of detail (lod 0) is supported")
    n = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"layer(\d+)\.conv\.weight$", k)))
    if n % 2:
        raise CheckpointError(f"{path}: not {WHAT}; found an odd number of layers ({n})")
    try:
        layers = [{"weight": np.transpose(sd[f"layer{k}.conv.weight"], (2, 3, 1, 0)),
                   "bias": sd[f"layer{k}.wscale.bias"]} for k in range(n)]
        last = n // 2 - 1
        to_rgb = {"weight": np.transpose(sd[f"output{last}.conv.weight"], (2, 3, 1, 0)),
                  "bias": sd[f"output{last}.wscale.bias"]}
    except KeyError as e:
        raise CheckpointError(f"{path}: not {WHAT}; missing key {e.args[0]}") from None
    z_dim = layers[0]["weight"].shape[2]
    channels = tuple(int(layers[2 * r]["weight"].shape[3]) for r in range(n // 2))
    cfg = pggan.PGGANConfig(4 * 2 ** (n // 2 - 1), int(z_dim), channels)
    params = {"layers": layers, "to_rgb": to_rgb}
    check_shapes(params, pggan.param_shapes(cfg), path)
    return cfg, params


def load_genforce(path: str):
    """Reads INPUT.pth safely and returns ``(PGGANConfig, params)`` as numpy arrays."""
    return convert_state_dict(state_dict_to_numpy(load_torch_file(path, WHAT), path, WHAT), path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="genforce PGGAN generator state dict (.pth)")
    parser.add_argument("output_dir", help="directory to write (params.npz + meta.json)")
    args = parser.parse_args(argv)
    return convert_generator(lambda: load_genforce(args.input), args.output_dir, "pggan",
                             "genforce", args.input)


if __name__ == "__main__":
    sys.exit(main())
