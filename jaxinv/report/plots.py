"""The report's figures (matplotlib, Agg backend), written atomically as PNG."""

from __future__ import annotations

import io

import numpy as np

from jaxinv.io.images import atomic_write_bytes


def _figure(figsize, rows: int = 1, cols: int = 1, **options):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(rows, cols, figsize=figsize, dpi=100, **options)


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _save(path: str, fig) -> None:
    atomic_write_bytes(path, _png(fig))


def as_image(fig) -> np.ndarray:
    """A figure as an image [H, W, 3] in [-1, 1] (for a method's ``outputs``, which the runner
    saves with the image files)."""
    from PIL import Image

    rgb = np.asarray(Image.open(io.BytesIO(_png(fig))).convert("RGB"), np.float32)
    return rgb / 127.5 - 1.0


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


def training_curves(path: str, panels: dict[str, dict[str, tuple]], title: str = "") -> None:
    """One panel per entry of ``panels`` (panel title -> {line label: (steps, values)}), side
    by side, linear scales; non-finite values are left out."""
    fig, axes = _figure((4.2 * len(panels), 3.4), 1, len(panels), squeeze=False)
    for ax, (name, lines) in zip(axes[0], panels.items()):
        for label, (steps, values) in lines.items():
            steps, values = np.asarray(steps), np.asarray(values, np.float64)
            keep = np.isfinite(values)
            ax.plot(steps[keep], values[keep], label=label, linewidth=1)
        ax.set_xlabel("step")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        if len(lines) > 1:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
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
    """Writes :func:`spectrum_figure` to ``path``."""
    _save(path, spectrum_figure(spectra, title))


def spectrum_figure(spectra: dict, title: str = "Hessian spectrum"):
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
    return fig


def captioned_grid(rows, title: str = ""):
    """Images in rows with a caption under each: ``rows`` is a list of ``(row label, [(image
    [H, W, 3] in [-1, 1], caption, flagged)])``; flagged captions and frames are red."""
    cols = max(len(cells) for _, cells in rows)
    fig, axes = _figure((1.75 * cols + 0.6, 2.1 * len(rows) + 0.4), len(rows), cols,
                        squeeze=False)
    for r, (label, cells) in enumerate(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(cells):
                ax.axis("off")
                continue
            image, caption, flagged = cells[c]
            ax.imshow(np.clip((np.asarray(image, np.float32) + 1.0) / 2.0, 0.0, 1.0),
                      interpolation="nearest")
            ax.set_xlabel(caption, fontsize=7, color="red" if flagged else "black")
            for spine in ax.spines.values():
                spine.set_edgecolor("red" if flagged else "black")
        axes[r][0].set_ylabel(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def correlation_figure(correlations: dict, labels, threshold: float, top: int, coupling,
                       title: str = ""):
    """e-GLASS's Figure 1: |correlation| of each vector (``labels``) with the eigenvectors of
    H_Y and of H_X against their rank (``correlations``: {'H_Y': [m, n], 'H_X': [m, n]}),
    the threshold and the ``top`` measurement-changing H_Y eigenvectors marked; and |C| =
    |U^T V|, the coupling of the two eigenbases."""
    fig, axes = _figure((12, 3.6), 1, 3)
    im = axes[0].imshow(np.abs(np.asarray(coupling)), cmap="viridis", interpolation="nearest",
                        vmin=0.0, vmax=1.0)
    axes[0].set_xlabel("eigenvector of H_X (rank)")
    axes[0].set_ylabel("eigenvector of H_Y (rank)")
    axes[0].set_title("|C| = |U^T V|", fontsize=9)
    fig.colorbar(im, ax=axes[0])
    for ax, name in zip(axes[1:], ("H_Y", "H_X")):
        values = np.asarray(correlations[name])
        rank = np.arange(1, values.shape[1] + 1)
        for label, row in zip(labels, values):
            ax.plot(rank, row, ".-", label=label, linewidth=0.8, markersize=3)
        ax.set_xlabel(f"eigenvector of {name} (rank)")
        ax.set_ylabel("|correlation|")
        ax.set_ylim(0.0, 1.0)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[1].axhline(threshold, color="gray", linestyle="--", linewidth=0.8)
    axes[1].axvspan(0.5, top + 0.5, color="orange", alpha=0.12)
    axes[1].set_title(f"with H_Y (shaded: its {top} measurement-changing; dashed: threshold)",
                      fontsize=8)
    axes[2].set_title("with H_X", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
