"""Convert a PyTorch DCGAN-tutorial generator checkpoint into a jaxinv params directory.

    python converters/dcgan_torch.py INPUT OUTPUT_DIR

INPUT is a ``torch.save`` file of the tutorial's generator: its state dict (``main.0.weight``,
``main.1.running_mean``, ...) or a dict holding it under ``netG_state_dict`` (as the training
loops that copy the tutorial save it, e.g. ``gan_face_generate/weights.tar``). z size, widths
and resolution are read from the tensors. Read by ``jaxinv.io.torch_zip``'s restricted unpickler
(tensors and plain containers only; it never runs code from the file), so torch is not needed.
"""

from __future__ import annotations

import argparse
import sys

from jaxinv.generators import dcgan
from jaxinv.io import torch_zip
from jaxinv.io.checkpoints import convert_generator


def load_tutorial(path: str):
    """Reads INPUT safely and returns ``(DCGANConfig, params)`` as numpy arrays."""
    return dcgan.from_saved(torch_zip.load(path, dcgan.TUTORIAL_LAYOUT), path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="the tutorial generator's torch.save file")
    parser.add_argument("output_dir", help="directory to write (params.npz + meta.json)")
    args = parser.parse_args(argv)
    return convert_generator(lambda: load_tutorial(args.input), args.output_dir, "dcgan",
                             "pytorch-dcgan-tutorial", args.input)


if __name__ == "__main__":
    sys.exit(main())
