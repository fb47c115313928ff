"""The report's figures (matplotlib, Agg backend), written atomically as PNG."""

from __future__ import annotations

import io

import numpy as np

from jaxinv.io.images import atomic_write_bytes


def _figure(figsize):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize, dpi=100)


def _save(path: str, fig) -> None:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def finite_prefix(losses, diverged_at: int | None = None) -> np.ndarray:
    """The part of a loss curve to draw: up to its last finite step, and before ``diverged_at``
    (the engine keeps the last finite state after a divergence, so the values it records from
    that step on say nothing about the optimisation)."""
    losses = np.asarray(losses, np.float64)
    end = losses.size if diverged_at is None or diverged_at < 0 else min(diverged_at, losses.size)
    bad = np.flatnonzero(~np.isfinite(losses[:end]))
    return losses[:bad[0] if bad.size else end]


def loss_curves(path: str, curves: dict[str, np.ndarray], diverged: dict[str, int] | None = None,
                title: str = "loss") -> None:
    """One line per image (``curves`` maps image name to its loss per step), log scale. An
    image in ``diverged`` (name -> step) is drawn up to its last finite step and marked with a
    cross and '(diverged at step N)'."""
    diverged = diverged or {}
    fig, ax = _figure((6, 4))
    for name, losses in curves.items():
        step = diverged.get(name)
        shown = finite_prefix(losses, step)
        label = name if step is None else f"{name} (diverged at step {step})"
        line = ax.plot(np.arange(1, shown.size + 1), shown, label=label, linewidth=1)[0]
        if step is not None and shown.size:
            ax.plot([shown.size], [shown[-1]], "x", color=line.get_color(), markersize=9,
                    markeredgewidth=2)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title(title)
    if 0 < len(curves) <= 12:
        ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(path, fig)


def error_scale(path: str, top: float, colormap: str) -> None:
    """The colour bar of the error panels: ``colormap`` over mean |error| in [0, top]."""
    import matplotlib as mpl

    fig, ax = _figure((4.0, 0.9))
    mpl.colorbar.ColorbarBase(ax, cmap=mpl.colormaps[colormap], orientation="horizontal",
                              norm=mpl.colors.Normalize(0.0, top))
    ax.set_xlabel(f"error: mean |reconstruction - target| ({top:g} and above saturate)",
                  fontsize=8)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    _save(path, fig)


def block_affinity(path: str, affinity, labels, title: str) -> None:
    """A channel affinity [C, C] with the channels grouped by cluster (``labels`` [C]), the
    cluster boundaries drawn as lines, axes in channels and a colour bar."""
    labels = np.asarray(labels)
    order = np.argsort(labels, kind="stable")
    shown = np.asarray(affinity, np.float64)[np.ix_(order, order)]
    fig, ax = _figure((5.2, 4.4))
    im = ax.imshow(shown, cmap="viridis", interpolation="nearest")
    sizes = np.bincount(labels)
    for edge in np.cumsum(sizes)[:-1]:
        ax.axhline(edge - 0.5, color="white", linewidth=1)
        ax.axvline(edge - 0.5, color="white", linewidth=1)
    centres = np.cumsum(sizes) - sizes / 2.0 - 0.5
    ax.set_xticks(centres, [f"{k}\n({n})" for k, n in enumerate(sizes)], fontsize=7)
    ax.set_yticks(centres, [str(k) for k in range(sizes.size)], fontsize=7)
    ax.set_xlabel("channel, grouped by subspace (subspace index and size)")
    ax.set_ylabel("channel, grouped by subspace")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="affinity")
    fig.tight_layout()
    _save(path, fig)


def spectrum(path: str, spectra: dict, title: str = "Hessian spectrum") -> None:
    """Eigenvalues against rank on a log scale, one line per ``spectra`` entry (name ->
    eigenvalues, any order; values <= 0 are left out of the log plot), as GAN-Geometry shows
    them."""
    fig, ax = _figure((5, 3.6))
    for name, values in spectra.items():
        values = np.sort(np.asarray(values, np.float64))[::-1]
        rank = np.arange(1, values.size + 1)
        keep = values > 0
        ax.plot(rank[keep], values[keep], label=name, linewidth=1.2)
    ax.set_xlabel("rank")
    ax.set_ylabel("eigenvalue")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    _save(path, fig)
