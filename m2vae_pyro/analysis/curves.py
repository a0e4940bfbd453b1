"""Training curves as a PNG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

TERMS = ("loss", "elbo", "bpr", "bpr_warm", "dcl", "co", "val_hr@5")
LABELS = {"loss": "total loss (−ELBO − factors)", "elbo": "−ELBO per triple", "bpr": "BPR on e_new (Eq. 25)",
          "bpr_warm": "BPR on warm e_i", "dcl": "disentangling loss (Eq. 9–10)", "co": "co-occurrence loss (Eq. 20)",
          "val_hr@5": "validation HR@5"}


def plot_training_curves(history: pd.DataFrame, path: Path, title: str | None = None,
                         best_epoch: int | None = None) -> None:
    """One panel per loss term (the total first) and one for validation HR@5, against the epoch; a dashed line
    marks the epoch whose weights were kept."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in TERMS if c in history]
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 3.0), squeeze=False)
    for ax, col in zip(axes[0], columns):
        ax.plot(history["epoch"], history[col], marker="o", ms=3)
        ax.set_title(col, fontsize=9)
        ax.set_ylabel(LABELS.get(col, col), fontsize=8)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if best_epoch:
            ax.axvline(best_epoch, ls="--", c="C3", lw=1, label=f"kept: epoch {best_epoch}")
    if best_epoch:
        axes[0][-1].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
