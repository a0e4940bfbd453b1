"""Regenerate the opening of benchmarks/RESULTS.md: one table per experiment directory under benchmarks/experiments/.

    python benchmarks/make_results.py            # rewrite the block between the markers of RESULTS.md
    python benchmarks/make_results.py --check    # exit 1 when RESULTS.md is not what the cells say (a test runs it)

Each table is computed from the experiment's ``results.csv`` (the cells' figures, as its ``table.md`` is): per model
the number of seeds, test cold items' HR@5 / NDCG@5 / HR@10 (item-to-user) and Recall@5 (user-to-item) as mean ±
std, the mean validation HR@5 (what chose each epoch), the best epochs (flagged when within 5 of the cap), the
core-seconds per cell, and where the model's settings came from. Models are ordered by test HR@5; the best trained
and the best untrained value of each column are named under the table. Hand-written findings follow the block.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "RESULTS.md"
BEGIN, END = "<!-- generated tables: begin -->", "<!-- generated tables: end -->"
UNTRAINED = ("userpop", "random", "content_activity", "content_activity_v1")


def settings_source(model: str, dataset: str, meta: dict) -> str:
    from m2vae_pyro.baselines.registry import BASELINE_NAMES
    from m2vae_pyro.baselines.registry import settings_source as source

    if model in BASELINE_NAMES:
        return source(model, dataset)
    preset = meta.get("defaults", {}).get("m2vae", {}).get("preset", "default")
    return f"M²VAE, preset {model if model in ('v2', 'paper-literal') else preset}"


def mean_sd(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "—"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}" if len(values) > 1 else f"{values.mean():.4f}"


def experiment_table(exp: Path) -> str:
    meta = json.loads((exp / "experiment.json").read_text())
    frame = pd.read_csv(exp / "results.csv")
    dataset, cap = meta["dataset"], meta.get("epochs")
    i2u, u2i = frame[frame["protocol"] == "item-to-user"], frame[frame["protocol"] == "user-to-item"]
    rows = []
    notes_na = [f"{r.model}: {r.note.removeprefix('not run: ')}" for r in frame[frame["protocol"].isna()].itertuples()]
    for model, cells in i2u.groupby("model", sort=False):
        recall = u2i[u2i["model"] == model]["recall@5"]
        if cells["hr@5"].isna().all():  # no figures (a model that is not available has no protocol rows)
            continue
        epochs = [] if model in UNTRAINED else cells["best_epoch"].dropna().astype(int).tolist()
        shown = ",".join(f"{e}{'*' if cap and e >= cap - 5 else ''}" for e in epochs) or "—"
        rows.append({"model": model, "seeds": len(cells), "HR@5": mean_sd(cells["hr@5"]),
                     "NDCG@5": mean_sd(cells["ndcg@5"]), "HR@10": mean_sd(cells["hr@10"]),
                     "user-to-item Recall@5": mean_sd(recall),
                     "validation HR@5": f"{cells['val_hr@5'].mean():.4f}" if cells["val_hr@5"].notna().any() else "—",
                     "best epochs": shown, "core-s per cell": f"{cells['seconds'].mean():.0f}",
                     "settings": settings_source(model, dataset, meta), "_hr": cells["hr@5"].mean()})
    rows.sort(key=lambda r: -r["_hr"])
    cols = [c for c in rows[0] if not c.startswith("_")] if rows else []
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    trained = [r for r in rows if r["model"] not in UNTRAINED]
    untrained = [r for r in rows if r["model"] in UNTRAINED]
    provenance = [json.loads(line) for line in (exp / "provenance.jsonl").read_text().splitlines() if line.strip()] \
        if (exp / "provenance.jsonl").is_file() else []
    commits = sorted({p.get("git", {}).get("commit", "")[:7] for p in provenance} - {""})
    dates = sorted(p.get("started", p.get("start", ""))[:10] for p in provenance if p.get("started", p.get("start")))
    head = (f"### {dataset} — `{exp.relative_to(ROOT.parent)}`\n\n"
            f"{len(i2u)} cells, {frame.drop_duplicates(['model', 'seed'])['seconds'].sum() / 3600:.1f} core-hours; "
            f"epoch cap {cap}, overrides {json.dumps(meta.get('overrides', {}))}; "
            f"code {', '.join(commits) or 'not recorded'}"
            + (f", {dates[0]} → {dates[-1]}" if dates else "") + ". Test cold items, mean ± std over the seeds; "
            "`*`: best epoch within 5 of the cap. All columns and k: "
            f"[`table.md`]({exp.relative_to(ROOT)}/table.md).\n")
    notes = []
    if trained:
        notes.append(f"Best trained model by test HR@5: **{trained[0]['model']}** ({trained[0]['HR@5']})"
                     + (f", then {trained[1]['model']} ({trained[1]['HR@5']})" if len(trained) > 1 else "") + ".")
    if untrained:
        notes.append(f"Best untrained reference: {untrained[0]['model']} ({untrained[0]['HR@5']}).")
    ours = next((r for r in trained if r["model"] == "m2vae"), None)
    others = [r for r in trained if r["model"] not in ("m2vae", "v2", "paper-literal")]
    if ours and others:
        gap = 100 * (ours["_hr"] / others[0]["_hr"] - 1)
        notes.append(f"M²VAE (the default preset) against the best other trained model, {others[0]['model']}: "
                     f"{gap:+.1f} % test HR@5" + (" — M²VAE does not win here." if gap < 0 else "."))
    notes += [f"Not run — {n}." for n in notes_na]
    return head + "\n" + "\n".join(lines) + "\n\n" + " ".join(notes) + "\n"


def generated_block() -> str:
    exps = sorted(p.parent for p in (ROOT / "experiments").glob("*/results.csv")
                  if (p.parent / "experiment.json").is_file())
    parts = [BEGIN, "## Current tables (generated by `python benchmarks/make_results.py` from "
                    "`benchmarks/experiments/*/results.csv`; do not edit by hand)\n"]
    parts += [experiment_table(e) for e in exps]
    parts.append(END)
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when RESULTS.md is out of date")
    args = parser.parse_args()
    text = RESULTS.read_text()
    if BEGIN not in text or END not in text:
        print(f"{RESULTS}: the markers {BEGIN} / {END} are missing", file=sys.stderr)
        return 2
    new = text[: text.index(BEGIN)] + generated_block() + text[text.index(END) + len(END):]
    if args.check:
        if new != text:
            print(f"{RESULTS} is out of date: run python benchmarks/make_results.py", file=sys.stderr)
            return 1
        print(f"{RESULTS}: up to date")
        return 0
    RESULTS.write_text(new)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
