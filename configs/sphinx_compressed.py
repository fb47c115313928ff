"""SPHInX compressed recovery: partial circulant measurements with random signs of a fraction of
the pixels (1 to 5 percent in the paper), MSE on the measurements only.

    --config=configs/sphinx_compressed.py:0.03    fraction (default 0.03)
    --config=configs/sphinx_compressed.py:0.03,paper    the paper preset
"""

from jaxinv.experiments.config_base import sphinx_config


def get_config(arg="0.03"):
    parts = arg.split(",")
    fraction = float(parts[0])
    c = sphinx_config(parts[1] if len(parts) > 1 else "official",
                      name=f"sphinx_cs{fraction:g}")
    c.degradation.name = "compressed_sensing"
    c.degradation.fraction = fraction
    c.loss.lpips = 0.0
    return c
