"""Loss-curve plots (matplotlib, Agg backend), written atomically as PNG."""

from __future__ import annotations

import io

import numpy as np

from jaxinv.io.images import atomic_write_bytes


def loss_curves(path: str, curves: dict[str, np.ndarray], title: str = "loss") -> None:
    """One line per image (``curves`` maps image name to its loss per step), log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for name, losses in curves.items():
        losses = np.asarray(losses, np.float64)
        if losses.size:
            ax.plot(np.arange(1, losses.size + 1), losses, label=name, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title)
    if 0 < len(curves) <= 12:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
