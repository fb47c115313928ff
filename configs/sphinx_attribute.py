"""SPHInX simultaneous inversion and attribute discovery (appendix B): each image is replaced by
K transformed variants (default: rotations by 0 and 2 degrees, the official code's default);
they share w* = P_s(z+), variant k renders w* + alpha_k D / ||D||, and a margin loss (tau = 2,
weight 0.5) keeps alpha increasing. Writes ``attribute_walk.png`` per image.

    --config=configs/sphinx_attribute.py:rotate        or scale / translate
    --config.method.factors='(0,10,20)'                the K transform factors
"""

from jaxinv.experiments.config_base import sphinx_config


def get_config(arg="rotate"):
    parts = arg.split(",")
    c = sphinx_config(parts[1] if len(parts) > 1 else "official",
                      name=f"sphinx_attribute_{parts[0]}")
    c.method.attribute = parts[0]
    c.method.factors = {"rotate": (0.0, 2.0), "scale": (1.0, 1.125),
                           "translate": (0.0, 50.0)}[parts[0]]
    c.report.robustness = False
    return c
