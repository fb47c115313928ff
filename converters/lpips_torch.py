"""Convert LPIPS v0.1 linear layers and a torchvision backbone into a jaxinv LPIPS directory.

    python converters/lpips_torch.py --net alex --linear alex.pth \
        --backbone alexnet-owt-7be5be79.pth OUTPUT_DIR

``--linear`` is a released LPIPS v0.1 file (``lin{l}.model.1.weight``; the old pickle format
saved on CUDA is fine). ``--backbone`` is a torchvision-format state dict holding at least the
``features.*`` keys (torchvision's ImageNet file, or a features-only file; float16 is cast to
float32). Without ``--backbone`` the directory holds only the linear layers and
``jaxinv.losses.lpips.load`` refuses it, naming the file to supply. Files are read with PyTorch's
restricted unpickler.
"""

from __future__ import annotations

import argparse
import sys

import jax

from jaxinv.io.checkpoints import (CheckpointError, check_shapes, load_torch_file, save_params,
                                   state_dict_to_numpy)
from jaxinv.losses import lpips


def _state_dict(path, what):
    sd = load_torch_file(path, what)
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    return state_dict_to_numpy(sd, path, what)


def convert(net: str, linear_path: str, backbone_path: str | None = None) -> dict:
    """Returns the LPIPS params pytree ``{'lin': [...], 'backbone': {...}}`` (numpy)."""
    if net not in lpips.NETS:
        raise CheckpointError(f"unknown LPIPS net {net!r}; choose one of {lpips.NETS}")
    what = f"LPIPS v0.1 linear layers for {net} (lin0.model.1.weight, ...)"
    sd = _state_dict(linear_path, what)
    try:
        lin = lpips.lin_from_state_dict(net, sd)
    except KeyError as e:
        raise CheckpointError(f"{linear_path}: not {what}; missing key {e.args[0]}") from None
    for l, (w, c) in enumerate(zip(lin, lpips.CHANNELS[net])):
        if w.shape != (c,):
            raise CheckpointError(f"{linear_path}: lin{l} has {w.shape[0]} channels, LPIPS-{net} "
                                  f"needs {c} (is this the {net} file?)")
    params = {"lin": lin}
    if backbone_path is not None:
        what = f"a torchvision {net} state dict with features.* keys"
        sd = _state_dict(backbone_path, what)
        try:
            params["backbone"] = lpips.backbone_from_state_dict(net, sd)
        except KeyError as e:
            raise CheckpointError(f"{backbone_path}: not {what}; missing key {e.args[0]}") from None
        expected = jax.eval_shape(lambda: lpips.random_params(net, jax.random.PRNGKey(0)))
        check_shapes(params["backbone"], expected["backbone"], backbone_path)
    return params


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", required=True, choices=lpips.NETS)
    parser.add_argument("--linear", required=True, help="LPIPS v0.1 linear-layer .pth")
    parser.add_argument("--backbone", help="torchvision ImageNet backbone .pth "
                        "(e.g. " + ", ".join(lpips.TORCHVISION_FILES.values()) + ")")
    parser.add_argument("output_dir")
    args = parser.parse_args(argv)
    try:
        params = convert(args.net, args.linear, args.backbone)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    save_params(args.output_dir, params, {"family": "lpips", "net": args.net,
                                          "linear": args.linear, "backbone": args.backbone})
    if args.backbone is None:
        print(f"warning: no --backbone given; {args.output_dir} cannot compute LPIPS until "
              f"converted with torchvision's {lpips.TORCHVISION_FILES[args.net]}", file=sys.stderr)
    print(f"wrote {args.output_dir}: LPIPS-{args.net}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
