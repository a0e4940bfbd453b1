"""Training curves as a PNG."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def plot_training_curves(history: pd.DataFrame, path: Path) -> None:
    """One panel per loss term and one for validation HR@5, against the epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [c for c in ("elbo", "bpr", "dcl", "co", "val_hr@5") if c in history]
    fig, axes = plt.subplots(1, len(columns), figsize=(3.2 * len(columns), 2.8), squeeze=False)
    for ax, col in zip(axes[0], columns):
        ax.plot(history["epoch"], history[col], marker="o", ms=3)
        ax.set_title(col)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
