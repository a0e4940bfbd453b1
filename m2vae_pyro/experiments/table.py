"""``table.md``: mean ± std over seeds per model, best in bold, second underlined, and the improvement of the
highlighted model (M²VAE, or ``full`` in an ablation) over the runner-up, as in the paper's Tables 3–4."""

from __future__ import annotations

import pandas as pd

COLUMNS = {"item-to-user": ("hr", "ndcg", "ndcg_std"), "user-to-item": ("recall", "ndcg_std")}


def results_table(frame: pd.DataFrame, ks: tuple[int, ...], highlight: str = "m2vae") -> str:
    lines = []
    n_seeds = frame["seed"].nunique()
    for protocol, names in COLUMNS.items():
        part = frame[frame["protocol"] == protocol]
        if part.empty:
            continue
        cols = [f"{m}@{k}" for m in names for k in ks]
        grouped = part.groupby("model", sort=False)[cols]
        mean, std = grouped.mean(), grouped.std(ddof=1).fillna(0.0)
        lines += [f"### {protocol} (test cold items, mean ± std over {n_seeds} seed(s))", "",
                  "| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        ranks = mean.rank(ascending=False, method="min")
        for model in mean.index:
            cells = []
            for c in cols:
                text = f"{mean.at[model, c]:.4f} ± {std.at[model, c]:.4f}"
                rank = ranks.at[model, c]
                cells.append(f"**{text}**" if rank == 1 else f"<u>{text}</u>" if rank == 2 else text)
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        if highlight in mean.index and len(mean) > 1:
            others = mean.drop(index=highlight).max()
            gain = (mean.loc[highlight] - others) / others.where(others != 0) * 100
            lines.append(f"| {highlight} vs best other | " + " | ".join(f"{gain[c]:+.1f}%" for c in cols) + " |")
        lines.append("")
    return "\n".join(lines)
