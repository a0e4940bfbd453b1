"""Training curves as a PNG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TERMS = ("loss", "elbo", "bpr", "bpr_warm", "dcl", "co", "val_hr@5")
LABELS = {"loss": "total loss (−ELBO + weighted factor terms)", "elbo": "−ELBO per triple",
          "bpr": "BPR on e_new (Eq. 25)", "bpr_warm": "BPR on warm e_i",
          "dcl": "disentangling loss (Eq. 9–10)", "co": "co-occurrence loss (Eq. 20)",
          "val_hr@5": "validation HR@5"}


def plot_training_curves(history: pd.DataFrame, path: Path, title: str | None = None,
                         best_epoch: int | None = None, references: dict[str, float] | None = None) -> None:
    """One panel per loss term (the total first) and one for validation HR@5, against the epoch, in a grid two
    panels wide (6.8 in: a paper's full width; each panel reads at column width). A dashed line marks the epoch
    whose weights were kept; ``references`` (name → validation HR@5 of an untrained reference on the same split)
    are horizontal lines on the validation panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    columns = [c for c in TERMS if c in history]
    ncols = 2
    nrows = -(-len(columns) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.8, 2.3 * nrows), squeeze=False)
    for ax, col in zip(axes.flat, columns):
        ax.plot(history["epoch"], history[col], marker="o", ms=3, label=LABELS.get(col, col))
        ax.set_title(LABELS.get(col, col), fontsize=9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        if best_epoch:
            ax.axvline(best_epoch, ls="--", c="C3", lw=1, label=f"kept: epoch {best_epoch}")
        if col == "val_hr@5":
            for k, (name, value) in enumerate((references or {}).items()):
                ax.axhline(value, ls=":", lw=1.2, c=f"C{k + 1}", label=f"{name} {value:.4f}")
            spare = axes.flat[len(columns)] if len(columns) < axes.size else None
            if spare is not None:  # the legend in the empty neighbour panel, clear of the curve
                spare.legend(*ax.get_legend_handles_labels(), loc="center", fontsize=8, frameon=False)
            else:
                ax.legend(fontsize=7, loc="best")
    for ax in axes.flat[len(columns):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("epoch", fontsize=8)
    if len(columns) % ncols:  # the last panel of an odd count: label its axis, the empty neighbour has none
        axes.flat[len(columns) - 1].set_xlabel("epoch", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
