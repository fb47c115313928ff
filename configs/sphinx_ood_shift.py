"""SPHInX on a geometric out-of-distribution shift of aligned faces (the paper's protocol):

    --config=configs/sphinx_ood_shift.py:rotate=20      rotation 10/20/30 degrees
    --config=configs/sphinx_ood_shift.py:scale=0.75     scaling 0.75/0.875/1.125/1.25
    --config=configs/sphinx_ood_shift.py:translate=100  translation 0/50/100/150 px at 1024
    (append ',paper' for the paper preset, e.g. rotate=20,paper)

The shift is applied reproducibly to every target (``config.target_transform``)."""

from jaxinv.experiments.config_base import sphinx_config

_KEYS = {"rotate": "rotate", "scale": "scale", "translate": "translate_px"}


def get_config(arg="rotate=20"):
    parts = arg.split(",")
    preset = parts[1] if len(parts) > 1 else "official"
    kind, value = parts[0].split("=")
    if kind not in _KEYS:
        raise ValueError(f"shift must be one of {sorted(_KEYS)}, got {kind!r}")
    c = sphinx_config(preset, name=f"sphinx_ood_{kind}{value}")
    c.target_transform[_KEYS[kind]] = float(value)
    return c
