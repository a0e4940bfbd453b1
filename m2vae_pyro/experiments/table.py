"""``table.md``: mean ± std over seeds per model, best in bold, second underlined, and the improvement of the
highlighted model (M²VAE, or ``full`` in an ablation) over the runner-up, as in the paper's Tables 3–4."""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

COLUMNS = {"item-to-user": ("hr", "ndcg", "ndcg_std"), "user-to-item": ("recall", "ndcg_std")}


def _gain_row(mean: pd.DataFrame, highlight: str, rivals: list[str], label: str, cols: list[str]) -> str | None:
    if highlight not in mean.index or not rivals:
        return None
    best = mean.loc[rivals].max()
    gain = (mean.loc[highlight] - best) / best.where(best != 0) * 100
    return f"| {highlight} vs {label} | " + " | ".join(f"{gain[c]:+.1f}%" for c in cols) + " |"


def results_table(frame: pd.DataFrame, ks: tuple[int, ...], highlight: str = "m2vae",
                  references: Collection[str] = ()) -> str:
    """``references`` are untrained rows (``random``, ``userpop``, ...). The paper's gain is over the second-best
    *method*; when references are in the table a second gain row leaves them out, so a strong untrained reference
    neither hides nor stands in for the runner-up baseline."""
    lines = []
    n_seeds = frame["seed"].nunique()
    for protocol, names in COLUMNS.items():
        part = frame[frame["protocol"] == protocol]
        if part.empty:
            continue
        cols = [f"{m}@{k}" for m in names for k in ks]
        grouped = part.groupby("model", sort=False)[cols]
        mean, std = grouped.mean(), grouped.std(ddof=1).fillna(0.0)
        per_model = part.groupby("model", sort=False)["seed"].nunique()
        mixed = per_model.nunique() > 1  # a screened table: rows with different numbers of seeds say theirs
        what = ("mean ± std over each row's seeds (n after the name)" if mixed
                else f"mean ± std over {n_seeds} seeds" if n_seeds > 1 else "one seed")
        lines += [f"### {protocol} (test cold items, {what})", "",
                  "| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        ranks = mean.rank(ascending=False, method="min")
        for model in mean.index:
            cells = []
            for c in cols:
                text = f"{mean.at[model, c]:.4f}" + (f" ± {std.at[model, c]:.4f}" if per_model[model] > 1 else "")
                rank = ranks.at[model, c]
                cells.append(f"**{text}**" if rank == 1 else f"<u>{text}</u>" if rank == 2 else text)
            lines.append(f"| {model}{f' (n {per_model[model]})' if mixed else ''} | " + " | ".join(cells) + " |")
        others = [m for m in mean.index if m != highlight]
        trained = [m for m in others if m not in references]
        rows = [_gain_row(mean, highlight, others, "best other", cols)]
        if len(trained) < len(others):
            rows.append(_gain_row(mean, highlight, trained, "best trained model", cols))
        lines += [row for row in rows if row]
        lines.append("")
    if "note" in frame:
        notes = frame.dropna(subset=["note"])
        lines += [f"- {row.model}: {row.note}" for row in notes.itertuples()] + ([""] if len(notes) else [])
    return "\n".join(lines)
